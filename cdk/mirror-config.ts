import type { MirrorConfig } from '../shared/config';
import { controlRegion, type DeploymentConfig, type SiteSettings } from './config';
import type { Names } from './naming';

/**
 * The VOLMIRROR_CONFIG of one site's functions. With an MRSC table each site talks to the
 * replica in its own region, so a site keeps its control plane when the other region is lost.
 */
export function mirrorConfigFor(config: DeploymentConfig, names: Names, here: SiteSettings): MirrorConfig {
  return {
    sites: config.sites.map((s) => ({
      name: s.name,
      region: s.region,
      bucket: names.bucket(s.name),
      changeQueueUrl: names.queueUrl(s.name, names.changeQueue(s.name)),
      copyQueueUrl: names.queueUrl(s.name, names.copyQueue(s.name)),
    })),
    control: {
      region: config.control.mode === 'mrsc' ? here.region : controlRegion(config),
      table: names.table,
    },
    leaseSeconds: config.leaseSeconds,
    retention: config.retention,
  };
}
