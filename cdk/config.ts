import { RetentionDays } from 'aws-cdk-lib/aws-logs';

/** One site: a region's bucket, queues, functions, API and alarms. */
export interface SiteSettings {
  /** Lowercase letters and digits; names resources and is the site the API and CLI speak of. */
  name: string;
  region: string;
}

/**
 * The control table. `mrsc`: a global table with multi-region strong consistency, a replica in
 * each site's region and a witness in a third region, so role changes go on when one region is
 * lost (all three regions must be in one MRSC region set). `single-region`: one table in one
 * region for simple setups; while that region is down no role can change.
 */
export type ControlTableSettings =
  | { mode: 'mrsc'; witnessRegion: string }
  | { mode: 'single-region'; region: string };

export interface AlertSettings {
  /** Subscribed to each site's needs-attention topic (each address confirms once per topic). */
  emails: string[];
  /** The newest recovery point of a group older than this raises the RP-age alarm. */
  recoveryPointAgeSeconds: number;
}

/** Lambda concurrency: how far each site may scale each kind of work. */
export interface ConcurrencySettings {
  /** Reserved for the API function (taken from the account's unreserved pool). */
  api: number;
  /** Reserved for the sync function. */
  sync: number;
  /** Most concurrent ingest batches (SQS event source maximum concurrency, at least 2). */
  ingest: number;
  /** Most concurrent copy tasks (SQS event source maximum concurrency, at least 2). */
  copy: number;
}

export interface DeploymentConfig {
  /** Starts every physical name; two deployments in one account need two prefixes. */
  prefix: string;
  /** Account to deploy to; omitted, the account of the CLI's credentials. */
  account?: string;
  /** The first site holds the control stack and the dashboard; roles are per group and can change. */
  sites: [SiteSettings, SiteSettings];
  control: ControlTableSettings;
  /** Lease length for gateways and for cuts taken by a sync. */
  leaseSeconds: number;
  /** Recovery points kept per group. */
  retention: number;
  /**
   * Days after which S3 deletes a chunk or manifest version that is no longer current, or null
   * to never. See ChunkBucket for why a long value keeps every version a recovery point uses.
   */
  noncurrentVersionExpirationDays: number | null;
  alerts: AlertSettings;
  /** API Gateway stage throttling, per site: steady requests per second and burst. */
  api: { rateLimit: number; burstLimit: number };
  concurrency: ConcurrencySettings;
  /** Retention of function logs, API access logs and S3 server access logs. */
  logRetentionDays: RetentionDays;
}

const SITE_NAME = /^[a-z][a-z0-9]{1,15}$/;
const PREFIX = /^[a-z][a-z0-9-]{1,19}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/;
const ACCOUNT = /^\d{12}$/;
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const MIN_NONCURRENT_DAYS = 30;

const isInt = (n: unknown, min: number): boolean => Number.isInteger(n) && (n as number) >= min;

/** Every problem of a config at once, so one synth shows them all. */
export function configProblems(c: DeploymentConfig): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };
  need(PREFIX.test(c.prefix), `prefix must match ${PREFIX.source}`);
  need(c.account === undefined || ACCOUNT.test(c.account), 'account must be 12 digits');
  need(Array.isArray(c.sites) && c.sites.length === 2, 'exactly two sites are required');
  for (const s of c.sites ?? []) {
    need(SITE_NAME.test(s.name), `site name ${JSON.stringify(s.name)} must match ${SITE_NAME.source}`);
    need(REGION.test(s.region), `site ${s.name}: region ${JSON.stringify(s.region)} is not a region name`);
  }
  const [a, b] = c.sites ?? [];
  need(a?.name !== b?.name, 'the two sites need different names');
  // A site is a region's deployment; two in one region would also share its API Gateway account settings.
  need(a?.region !== b?.region, 'the two sites need different regions');
  if (c.control.mode === 'mrsc') {
    need(REGION.test(c.control.witnessRegion), 'control.witnessRegion is not a region name');
    need(
      c.control.witnessRegion !== a?.region && c.control.witnessRegion !== b?.region,
      'control.witnessRegion must differ from both site regions',
    );
  } else {
    need(REGION.test(c.control.region), 'control.region is not a region name');
  }
  need(isInt(c.leaseSeconds, 5), 'leaseSeconds must be an integer of at least 5');
  need(isInt(c.retention, 1), 'retention must be an integer of at least 1');
  need(
    c.noncurrentVersionExpirationDays === null ||
      isInt(c.noncurrentVersionExpirationDays, MIN_NONCURRENT_DAYS),
    `noncurrentVersionExpirationDays must be null or an integer of at least ${MIN_NONCURRENT_DAYS}`,
  );
  // A group that keeps its RPO commits `retention` RPs in retention x threshold seconds; the
  // versions its oldest RP references must outlive that (see ChunkBucket).
  need(
    c.noncurrentVersionExpirationDays === null ||
      c.noncurrentVersionExpirationDays * 86_400 > c.retention * c.alerts.recoveryPointAgeSeconds,
    'noncurrentVersionExpirationDays must exceed retention x alerts.recoveryPointAgeSeconds',
  );
  for (const e of c.alerts.emails)
    need(EMAIL.test(e), `alerts.emails: ${JSON.stringify(e)} is not an address`);
  need(isInt(c.alerts.recoveryPointAgeSeconds, 60), 'alerts.recoveryPointAgeSeconds must be at least 60');
  need(
    isInt(c.api.rateLimit, 1) && isInt(c.api.burstLimit, 1),
    'api.rateLimit and api.burstLimit must be >= 1',
  );
  need(isInt(c.concurrency.api, 1) && isInt(c.concurrency.sync, 1), 'concurrency.api and .sync must be >= 1');
  need(
    isInt(c.concurrency.ingest, 2) && isInt(c.concurrency.copy, 2),
    'concurrency.ingest and .copy must be >= 2 (the SQS event source minimum)',
  );
  need(
    Object.values(RetentionDays).includes(c.logRetentionDays),
    'logRetentionDays is not a RetentionDays value',
  );
  return problems;
}

export function checkConfig(c: DeploymentConfig): DeploymentConfig {
  const problems = configProblems(c);
  if (problems.length > 0) throw new Error(`volmirror deployment config:\n  - ${problems.join('\n  - ')}`);
  return c;
}

/** The control table's region: MRSC tables live in the first site's region, with a replica in the second. */
export const controlRegion = (c: DeploymentConfig): string =>
  c.control.mode === 'mrsc' ? c.sites[0].region : c.control.region;
