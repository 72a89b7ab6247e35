import { buildClients } from '../shared/aws/clients';
import { configFromEnv } from '../shared/config';
import { buildDeps, type Deps } from '../shared/deps';

let deps: Deps | undefined;

/** Built once per Lambda container from VOLMIRROR_CONFIG and reused across invocations. */
export function lambdaDeps(): Deps {
  deps ??= buildDeps(configFromEnv(), buildClients(configFromEnv()));
  return deps;
}
