import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { isAlive, type LocalConfig, localConfigPath } from '../local/local-config';
import type { MirrorConfig } from '../shared/config';
import { CliError } from './errors';

/** Names the deployment config file when `--config` is not given. */
export const CONFIG_FILE_ENV = 'VOLMIRROR_CONFIG_FILE';

const name = z.string().min(1);

/** One site as the deployed functions' VOLMIRROR_CONFIG names it (`endpoint` only off AWS). */
const siteSchema = z.strictObject({
  name,
  region: name,
  bucket: name,
  changeQueueUrl: z.url(),
  copyQueueUrl: z.url(),
  endpoint: z.url().optional(),
  s3Service: name.optional(),
});

/**
 * The deployment's VOLMIRROR_CONFIG. Strict, so a key that is not a resource name (an access
 * key, a typo) is refused: credentials come from the default provider chain only. The lease
 * length is required, not defaulted: a gateway fenced on another lease than the deployment's
 * could write after a takeover.
 */
const configSchema = z.strictObject({
  sites: z.tuple([siteSchema, siteSchema]),
  control: z.strictObject({ region: name, table: name, endpoint: z.url().optional() }),
  leaseSeconds: z.number().positive(),
  retention: z.number().int().positive().default(8),
  driverLeaseSeconds: z.number().positive().optional(),
  trackingTimeoutSeconds: z.number().positive().optional(),
  stepBudgetChunks: z.number().int().positive().optional(),
  memberLockSeconds: z.number().positive().optional(),
});

/** Parses a deployment config file's text; the error names the file and every bad field. */
export function parseDeploymentConfig(text: string, path: string): MirrorConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path} is not JSON: ${(e as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new CliError(`${path} is not a volmirror deployment config: ${why.join('; ')}`);
  }
  return parsed.data;
}

export function readDeploymentConfig(path: string): MirrorConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read the deployment config ${path}: ${(e as Error).message}`);
  }
  return parseDeploymentConfig(text, path);
}

export interface DataPlaneConfig {
  config: MirrorConfig;
  /** The file the config came from, or `local` for the running embedded stack. */
  source: string;
}

/**
 * Where the data plane's clients point: the file named by `--config`, else by
 * $VOLMIRROR_CONFIG_FILE (an explicit choice wins over whatever stack runs locally), else the
 * running embedded stack's resources. The error names both ways when there is neither.
 */
export function resolveDataPlaneConfig(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  readLocal: () => LocalConfig | undefined,
): DataPlaneConfig {
  const path = flag ?? env[CONFIG_FILE_ENV];
  if (path) return { config: readDeploymentConfig(path), source: path };
  let local: LocalConfig | undefined;
  try {
    local = readLocal();
  } catch (e) {
    throw new CliError(`cannot read ${localConfigPath(env)}: ${(e as Error).message}`);
  }
  if (local && isAlive(local.pid)) return { config: local.config, source: 'local' };
  const stack = local
    ? `the local stack (pid ${local.pid}) is not running any more`
    : 'no local stack is running (`volmirror up`)';
  throw new CliError(
    `no storage to serve from: ${stack}, and no deployment config was given (--config FILE or ${CONFIG_FILE_ENV}=FILE, the deployment's VOLMIRROR_CONFIG: control table and region, each site's bucket, queue URLs and region)`,
  );
}
