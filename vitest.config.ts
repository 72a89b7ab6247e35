import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration files each start their own emulators; two at a time fits two cores.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
