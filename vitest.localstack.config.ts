import { defineConfig } from 'vitest/config';

/**
 * The integration tests that make sense against one external endpoint, run against LocalStack
 * (S3, SQS) with DynamoDB Local behind one loopback endpoint: `npm run test:localstack`.
 */
export default defineConfig({
  test: {
    include: [
      'test/localstack/**/*.test.ts',
      'test/integration/replication.test.ts',
      'test/integration/deltas.test.ts',
      'test/integration/consistency.test.ts',
      'test/integration/modes.test.ts',
      'test/integration/faults.test.ts',
      'test/integration/api.test.ts',
    ],
    globalSetup: ['test/localstack/global-setup.ts'],
    setupFiles: ['test/localstack/endpoint-setup.ts'],
    // Left out, as they need what one external endpoint cannot give:
    // - a cut link: it needs a proxy in front of each site's own emulator;
    // - the "(shared emulators)" variants: with one endpoint they are the same runs as the per-site ones;
    // - the external-endpoint test of modes.test.ts: it starts its own moto as that endpoint.
    testNamePattern: /^(?!.*(a cut link pauses|\(shared emulators\)|works against one external endpoint))/,
    testTimeout: 180_000,
    hookTimeout: 60_000,
    // One file at a time: every file shares the one LocalStack and the one DynamoDB Local, and two
    // at once on two cores delayed lease renewals past the tests' 3 s leases.
    maxWorkers: 1,
    fileParallelism: false,
  },
});
