import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    reporters: ['default', './test/support/closing-line-reporter.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Integration files each start their own emulators; two at a time fits two cores.
    maxWorkers: 2,
    fileParallelism: true,
    // The handlers' Powertools Logger stays quiet in tests unless a run asks for a level.
    env: { POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT' },
  },
});
