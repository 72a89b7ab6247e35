import type { TestProject } from 'vitest/node';
import { HostLocalStack } from '../../local/localstack-host';

declare module 'vitest' {
  export interface ProvidedContext {
    localstackEndpoint: string;
  }
}

/**
 * The one endpoint the tests run against: VOLMIRROR_LOCALSTACK_ENDPOINT when the caller has
 * a stack running (scripts/test-localstack.ts, or LocalStack in Docker), else a host stack
 * started here for the run and stopped after it.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.VOLMIRROR_LOCALSTACK_ENDPOINT;
  if (given) {
    project.provide('localstackEndpoint', given);
    return async () => {};
  }
  const host = await HostLocalStack.start();
  project.provide('localstackEndpoint', host.endpoint);
  return () => host.stop();
}
