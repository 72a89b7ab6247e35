import { type AlarmSettings, CloudWatchAlarmStore } from './aws/alarms';
import { ChunkStore } from './aws/chunk-store';
import type { Clients } from './aws/clients';
import { ControlTable } from './aws/control-table';
import { type Notifier, SnsNotifier } from './aws/notifications';
import { Queue } from './aws/queues';
import type { MirrorConfig } from './config';

/** Everything a use case touches, built once per process from the config and the clients. */
export interface Deps {
  config: MirrorConfig;
  table: ControlTable;
  stores: Record<string, ChunkStore>;
  changeQueues: Record<string, Queue>;
  copyQueues: Record<string, Queue>;
  /** Where warning and error events are published as well (SNS), when config.alerts names a topic. */
  notifier?: Notifier;
  /** Per-group CloudWatch alarms, when config.alerts names the deployment. */
  alarms?: AlarmSettings;
  now(): number;
}

export function buildDeps(config: MirrorConfig, clients: Clients): Deps {
  const stores: Record<string, ChunkStore> = {};
  const changeQueues: Record<string, Queue> = {};
  const copyQueues: Record<string, Queue> = {};
  for (const site of config.sites) {
    const c = clients.sites[site.name];
    stores[site.name] = new ChunkStore(site, c.s3);
    changeQueues[site.name] = new Queue(c.sqs, site.changeQueueUrl);
    copyQueues[site.name] = new Queue(c.sqs, site.copyQueueUrl);
  }
  return {
    config,
    table: new ControlTable(clients.control, config.control.table),
    stores,
    changeQueues,
    copyQueues,
    ...alertAdapters(config, clients),
    now: () => Date.now(),
  };
}

function alertAdapters(config: MirrorConfig, clients: Clients): Pick<Deps, 'notifier' | 'alarms'> {
  const a = config.alerts;
  if (!a || !clients.alerts) return {};
  const { sns, cloudwatch } = clients.alerts;
  return {
    ...(a.topicArn && { notifier: new SnsNotifier(sns, a.topicArn) }),
    ...(a.deployment && {
      alarms: { store: new CloudWatchAlarmStore(cloudwatch), deployment: a.deployment, topicArn: a.topicArn },
    }),
  };
}

export const siteNames = (deps: Deps) => deps.config.sites.map((s) => s.name);
export const isoNow = (deps: Deps) => new Date(deps.now()).toISOString();
