import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { DeploymentConfig } from '../config';

/**
 * Production shape: sites in two regions, control table as an MRSC global table with a
 * witness in a third region of the same MRSC region set (here: the US set).
 */
const config: DeploymentConfig = {
  prefix: 'volmirror',
  sites: [
    { name: 'east', region: 'us-east-1' },
    { name: 'west', region: 'us-west-2' },
  ],
  control: { mode: 'mrsc', witnessRegion: 'us-east-2' },
  leaseSeconds: 10,
  retention: 8,
  noncurrentVersionExpirationDays: 365,
  alerts: { emails: [], recoveryPointAgeSeconds: 3600 },
  api: { rateLimit: 50, burstLimit: 100 },
  concurrency: { api: 10, sync: 10, ingest: 5, copy: 20 },
  logRetentionDays: RetentionDays.THREE_MONTHS,
};

export default config;
