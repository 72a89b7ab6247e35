import { buildClients } from '../shared/aws/clients';
import { configFromEnv } from '../shared/config';
import { buildDeps, type Deps } from '../shared/deps';

let deps: Deps | undefined;

/**
 * Built once per Lambda container from VOLMIRROR_CONFIG (and the alert topic and deployment
 * CDK sets on the functions that record events) and reused across invocations.
 */
export function lambdaDeps(): Deps {
  if (!deps) {
    const config = configFromEnv();
    deps = buildDeps(config, buildClients(config));
  }
  return deps;
}
