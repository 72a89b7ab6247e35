import { CreateTopicCommand } from '@aws-sdk/client-sns';
import { ChunkStore } from '../shared/aws/chunk-store';
import { buildClients } from '../shared/aws/clients';
import { ControlTable } from '../shared/aws/control-table';
import { Queue } from '../shared/aws/queues';
import type { MirrorConfig, SiteConfig } from '../shared/config';

export interface SitePlan {
  name: string;
  region: string;
  endpoint: string;
  s3Service?: string;
}

export interface ProvisionOptions {
  sites: SitePlan[];
  control: { region: string; endpoint: string };
  /** Makes names unique, so that several stacks can share one endpoint. */
  prefix: string;
  leaseSeconds?: number;
  retention?: number;
  copyVisibilitySeconds?: number;
  /**
   * Creates each site's needs-attention topic, as CDK does, and turns the alert adapters on:
   * events go to the first site's topic and per-group alarms to that site's CloudWatch.
   */
  alerts?: boolean;
}

/**
 * Creates what CDK creates in AWS, on an emulator endpoint: the control table, and per site
 * a versioned bucket, a change-record queue and a copy queue. Returns the config naming them.
 */
export async function provision(opts: ProvisionOptions): Promise<MirrorConfig> {
  const draft: MirrorConfig = {
    sites: opts.sites.map((s) => ({
      name: s.name,
      region: s.region,
      endpoint: s.endpoint,
      ...(s.s3Service && { s3Service: s.s3Service }),
      bucket: `${opts.prefix}-${s.name}`,
      changeQueueUrl: '',
      copyQueueUrl: '',
    })),
    control: {
      region: opts.control.region,
      endpoint: opts.control.endpoint,
      table: `${opts.prefix}-control`,
    },
    leaseSeconds: opts.leaseSeconds ?? 10,
    retention: opts.retention ?? 8,
  };
  const clients = buildClients(draft);
  const topics: string[] = [];
  try {
    await new ControlTable(clients.control, draft.control.table).create();
    for (const site of draft.sites) {
      const c = clients.sites[site.name];
      await new ChunkStore(site, c.s3).createBucket();
      site.changeQueueUrl = await Queue.create(c.sqs, `${opts.prefix}-${site.name}-changes`, 30);
      site.copyQueueUrl = await Queue.create(
        c.sqs,
        `${opts.prefix}-${site.name}-copy`,
        opts.copyVisibilitySeconds ?? 30,
      );
      if (opts.alerts)
        topics.push(await createTopic(draft, site, `${opts.prefix}-${site.name}-needs-attention`));
    }
  } finally {
    clients.destroy();
  }
  if (!opts.alerts) return draft;
  const [first] = draft.sites;
  return {
    ...draft,
    alerts: { region: first.region, endpoint: first.endpoint, topicArn: topics[0], deployment: opts.prefix },
  };
}

/** On the site's own endpoint and region, where CDK puts the site's topic. */
async function createTopic(draft: MirrorConfig, site: SiteConfig, name: string): Promise<string> {
  const clients = buildClients({ ...draft, alerts: { region: site.region, endpoint: site.endpoint } });
  try {
    const out = await clients.alerts?.sns.send(new CreateTopicCommand({ Name: name }));
    if (!out?.TopicArn) throw new Error(`no ARN for topic ${name}`);
    return out.TopicArn;
  } finally {
    clients.destroy();
  }
}
