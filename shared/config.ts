/**
 * Where each site's resources live. The same shape is used by Lambda (from the
 * VOLMIRROR_CONFIG environment variable, set by CDK) and by the local runtime.
 */
export interface SiteConfig {
  name: string;
  region: string;
  bucket: string;
  changeQueueUrl: string;
  copyQueueUrl: string;
  /** AWS-compatible endpoint for this site's S3 and SQS; absent on real AWS. */
  endpoint?: string;
  /**
   * Sites naming the same S3 service can copy server-side. Defaults to the endpoint, so
   * real AWS (no endpoint) is one service across regions.
   */
  s3Service?: string;
}

export interface ControlConfig {
  region: string;
  table: string;
  endpoint?: string;
}

/**
 * Where a site's functions send alerts: its needs-attention topic and the per-group CloudWatch
 * alarms, both in that site's region (and on its endpoint locally).
 */
export interface AlertsConfig {
  region: string;
  endpoint?: string;
  /** Warning and error events are published here as well; absent: they are only recorded. */
  topicArn?: string;
  /**
   * Names the per-group alarms (`volmirror-<deployment>-<group>-<kind>`) and matches the
   * Deployment dimension the metrics carry; absent: no per-group alarms.
   */
  deployment?: string;
}

export interface MirrorConfig {
  sites: SiteConfig[];
  control: ControlConfig;
  alerts?: AlertsConfig;
  /** Lease length for gateways and for cuts taken by a sync. */
  leaseSeconds: number;
  /**
   * How long a sync driver's claim lasts: another driver takes over a sync whose driver died
   * after this (default 30).
   */
  driverLeaseSeconds?: number;
  /** Recovery points kept per group; older ones expire with the object versions only they reference. */
  retention: number;
  /** How long a batch named by a sealed barrier may stay unstored before the sync scans instead. */
  trackingTimeoutSeconds?: number;
  /**
   * Chunks one sync step may handle (change records folded, copy tasks planned, manifest
   * entries written), so that every step fits a Lambda invocation. Absent: the default.
   */
  stepBudgetChunks?: number;
  /** How long a pair add or removal may hold the group's member lock (default 60). */
  memberLockSeconds?: number;
}

/** One manifest part's worth (about 2.5 MB of manifest text): a step stays well inside a Lambda. */
export const DEFAULT_STEP_BUDGET_CHUNKS = 65_536;

export const stepBudgetChunks = (config: MirrorConfig) =>
  Math.max(1, config.stepBudgetChunks ?? DEFAULT_STEP_BUDGET_CHUNKS);

export const CONFIG_ENV = 'VOLMIRROR_CONFIG';
/** Set by CDK on the functions that record events: the site's needs-attention topic. */
export const ALERT_TOPIC_ENV = 'VOLMIRROR_ALERT_TOPIC_ARN';
/** Set by CDK on the same functions: the deployment the per-group alarms are named for. */
export const DEPLOYMENT_ENV = 'VOLMIRROR_DEPLOYMENT';

export function parseConfig(json: string): MirrorConfig {
  const raw = JSON.parse(json) as Partial<MirrorConfig>;
  if (!Array.isArray(raw.sites) || raw.sites.length !== 2) {
    throw new Error(`${CONFIG_ENV}: exactly two sites are required`);
  }
  if (!raw.control?.table || !raw.control.region) {
    throw new Error(`${CONFIG_ENV}: control.table and control.region are required`);
  }
  return { leaseSeconds: 10, retention: 8, ...raw } as MirrorConfig;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): MirrorConfig {
  const json = env[CONFIG_ENV];
  if (!json) throw new Error(`${CONFIG_ENV} is not set`);
  const config = parseConfig(json);
  const topicArn = env[ALERT_TOPIC_ENV];
  const deployment = env[DEPLOYMENT_ENV];
  if (!topicArn && !deployment) return config;
  // The topic is in the function's own region (arn:aws:sns:<region>:...), as are its alarms.
  const region = topicArn?.split(':')[3] || env.AWS_REGION || config.control.region;
  return { ...config, alerts: { region, ...(topicArn && { topicArn }), ...(deployment && { deployment }) } };
}

/** Both sites behind one S3 service: a server-side CopyObject can reach across. */
export function sameS3Service(a: SiteConfig, b: SiteConfig): boolean {
  const service = (s: SiteConfig) => s.s3Service ?? s.endpoint ?? 'aws';
  return service(a) === service(b);
}
