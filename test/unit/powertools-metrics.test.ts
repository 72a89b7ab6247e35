import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { checkConfig, controlRegion } from '../../cdk/config';
import twoRegion from '../../cdk/config/two-region';
import { ControlStack } from '../../cdk/control-stack';
import { SiteStack } from '../../cdk/site-stack';
import cdkJson from '../../cdk.json';
import { groupMetricsPublisher, publishGroupMetrics } from '../../lambdas/group-metrics';
import { logger } from '../../lambdas/observability';
import type { GroupMetrics } from '../../shared/usecases/group-metrics';
import { jsonLinesOf } from '../support/stdout';

interface EmfRecord {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

const GROUPS: GroupMetrics[] = [
  { groupId: 'grp-00000000000a', recoveryPointAgeSeconds: 30, backlogBytes: 10, paused: false },
  { groupId: 'grp-00000000000b', backlogBytes: 0, paused: true },
];

async function emfOf(deployment: string, groups: GroupMetrics[]): Promise<EmfRecord[]> {
  const metrics = groupMetricsPublisher(logger);
  const { lines } = await jsonLinesOf(() => publishGroupMetrics(metrics, deployment, groups));
  return lines.filter((l) => '_aws' in l) as EmfRecord[];
}

/** `metric|dimension,names` for every series a record feeds (each metric under each dimension set). */
const seriesOf = (records: EmfRecord[]) =>
  new Set(
    records.flatMap((r) =>
      r._aws.CloudWatchMetrics.flatMap((d) =>
        d.Metrics.flatMap((m) => d.Dimensions.map((dims) => `${d.Namespace}|${m.Name}|${[...dims].sort()}`)),
      ),
    ),
  );

describe('group metrics through Powertools Metrics (EMF on stdout)', () => {
  it('one record per group with RP age and backlog under both dimension sets, and one with the paused count', async () => {
    const records = await emfOf('prod', GROUPS);
    expect(records).toHaveLength(3);
    const [a, b, paused] = records;
    for (const r of records) {
      expect(r._aws.CloudWatchMetrics).toHaveLength(1);
      expect(r._aws.CloudWatchMetrics[0].Namespace).toBe('Volmirror');
      expect(r._aws.Timestamp).toBeGreaterThan(Date.now() - 60_000);
      // No `service` dimension: CloudWatch keys a series by its exact dimension set.
      expect(r._aws.CloudWatchMetrics[0].Dimensions.flat()).not.toContain('service');
      expect(r.service).toBeUndefined();
    }
    expect(a._aws.CloudWatchMetrics[0].Dimensions.map((d) => [...d].sort())).toEqual(
      expect.arrayContaining([['Deployment'], ['Deployment', 'GroupId']]),
    );
    expect(a._aws.CloudWatchMetrics[0].Dimensions).toHaveLength(2);
    expect(a._aws.CloudWatchMetrics[0].Metrics).toEqual([
      { Name: 'VolmirrorRecoveryPointAgeSeconds', Unit: 'Seconds' },
      { Name: 'VolmirrorBacklogBytes', Unit: 'Bytes' },
    ]);
    expect(a).toMatchObject({
      Deployment: 'prod',
      GroupId: 'grp-00000000000a',
      VolmirrorRecoveryPointAgeSeconds: 30,
      VolmirrorBacklogBytes: 10,
    });
    // A group with no RP yet reports no age rather than a made-up one.
    expect(b.VolmirrorRecoveryPointAgeSeconds).toBeUndefined();
    expect(b._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'VolmirrorBacklogBytes', Unit: 'Bytes' }]);
    expect(b).toMatchObject({ Deployment: 'prod', GroupId: 'grp-00000000000b', VolmirrorBacklogBytes: 0 });
    expect(paused._aws.CloudWatchMetrics[0]).toMatchObject({
      Dimensions: [['Deployment']],
      Metrics: [{ Name: 'VolmirrorPausedGroups', Unit: 'Count' }],
    });
    expect(paused).toEqual({ _aws: paused._aws, Deployment: 'prod', VolmirrorPausedGroups: 1 });
  });

  it('carries nothing from one invocation into the next', async () => {
    const metrics = groupMetricsPublisher(logger);
    await jsonLinesOf(() => publishGroupMetrics(metrics, 'prod', GROUPS));
    const { lines } = await jsonLinesOf(() => publishGroupMetrics(metrics, 'prod', []));
    expect(lines).toEqual([expect.objectContaining({ Deployment: 'prod', VolmirrorPausedGroups: 0 })]);
    expect(lines[0].GroupId).toBeUndefined();
  });

  it('emits every metric and dimension set the alarms and the dashboard read', async () => {
    // The stacks as cdk/deployment.ts builds them, without bundling or cdk-nag (test/cdk covers
    // both): only the templates' metric references matter here.
    const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
    const config = checkConfig(twoRegion);
    const env = (region: string) => ({ account: '123456789012', region });
    const deployment = {
      control: new ControlStack(app, 'control', { env: env(controlRegion(config)), config }),
      // Every site builds the same alarms: one is enough (and synthesis is most of this test's time).
      sites: config.sites
        .slice(0, 1)
        .map((site) => new SiteStack(app, `site-${site.name}`, { env: env(site.region), config, site })),
    };
    const read = new Set<string>();
    const readMetric = (m: { Namespace?: string; MetricName?: string; Dimensions?: { Name: string }[] }) => {
      if (m.Namespace === 'Volmirror')
        read.add(`Volmirror|${m.MetricName}|${(m.Dimensions ?? []).map((d) => d.Name).sort()}`);
    };
    for (const stack of deployment.sites) {
      const template = Template.fromStack(stack);
      for (const { Properties: p } of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
        readMetric(p);
        for (const m of p.Metrics ?? []) if (m.MetricStat) readMetric(m.MetricStat.Metric);
      }
      // Every function is told the namespace the alarms read (and the service its log lines name).
      const functions = Object.values(template.findResources('AWS::Lambda::Function'));
      expect(functions).toHaveLength(5);
      for (const { Properties: p } of functions)
        expect(p.Environment.Variables).toMatchObject({
          POWERTOOLS_METRICS_NAMESPACE: 'Volmirror',
          POWERTOOLS_SERVICE_NAME: 'volmirror',
        });
    }
    const alarmSeries = new Set(read);
    expect([...alarmSeries].sort()).toEqual([
      'Volmirror|VolmirrorPausedGroups|Deployment',
      'Volmirror|VolmirrorRecoveryPointAgeSeconds|Deployment',
    ]);

    const dashboards = Template.fromStack(deployment.control).findResources('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(Object.values(dashboards).map((d) => d.Properties.DashboardBody));
    for (const [, dims, name] of body.matchAll(/\{Volmirror,([A-Za-z,]+)\}.*?MetricName=\\+"(\w+)/g))
      read.add(`Volmirror|${name}|${dims.split(',').sort()}`);
    for (const [, name, dims] of body.matchAll(/\[\\+"Volmirror\\+",\\+"(\w+)\\+",\\+"(\w+)\\+"/g))
      read.add(`Volmirror|${name}|${dims}`);

    const emitted = seriesOf(await emfOf('volmirror', GROUPS));
    // Bytes replicated is drawn on the dashboard before the copy worker emits it (cdk/metrics.ts).
    const notYetEmitted = 'Volmirror|VolmirrorBytesReplicated|Deployment,GroupId';
    expect(read).toContain(notYetEmitted);
    expect(read.size).toBeGreaterThanOrEqual(5);
    for (const series of read) if (series !== notYetEmitted) expect(emitted).toContain(series);
  });
});
