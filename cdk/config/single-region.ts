import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { DeploymentConfig } from '../config';

/**
 * Simple setup: the control table is one regional table beside the first site. Any two
 * regions work (no MRSC region set applies), but while the table's region is down no role can
 * change, so a forced promotion of the other site waits for it.
 */
const config: DeploymentConfig = {
  prefix: 'volmirror',
  sites: [
    { name: 'primary', region: 'eu-central-1' },
    { name: 'secondary', region: 'eu-north-1' },
  ],
  control: { mode: 'single-region', region: 'eu-central-1' },
  leaseSeconds: 10,
  retention: 8,
  noncurrentVersionExpirationDays: 365,
  alerts: { emails: [], recoveryPointAgeSeconds: 3600 },
  api: { rateLimit: 20, burstLimit: 40 },
  concurrency: { api: 5, sync: 5, ingest: 2, copy: 10 },
  logRetentionDays: RetentionDays.ONE_MONTH,
};

export default config;
