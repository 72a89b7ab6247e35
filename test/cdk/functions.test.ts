import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../shared/config';
import { flatten, resourcesOf, singleRegion, synth, twoRegion } from './fixture';

const ROLES = ['api', 'ingest', 'copy', 'sync', 'scheduler'];

const functionsOf = (config: typeof twoRegion, site: number) =>
  Object.values(resourcesOf(synth(config).sites[site], 'AWS::Lambda::Function'));

const byName = (config: typeof twoRegion, site: number, name: string) => {
  const fn = functionsOf(config, site).find((f) => f.Properties.FunctionName === name);
  if (!fn) throw new Error(`no function ${name}`);
  return fn.Properties;
};

describe.each(twoRegion.sites.map((s, i) => [s.name, i] as const))('site %s functions', (site, i) => {
  it('runs the five handlers on ARM64 with Node 22 or newer and JSON logs', () => {
    const fns = functionsOf(twoRegion, i);
    expect(fns.map((f) => f.Properties.FunctionName).sort()).toEqual(ROLES.map((r) => `volmirror-${site}-${r}`).sort());
    for (const { Properties: p } of fns) {
      expect(p.Architectures).toEqual(['arm64']);
      expect(Number(/^nodejs(\d+)\.x$/.exec(p.Runtime as string)?.[1])).toBeGreaterThanOrEqual(22);
      expect(p.Handler).toBe('index.handler');
      expect(p.LoggingConfig).toEqual(expect.objectContaining({ LogFormat: 'JSON' }));
    }
  });

  it('gives sync 15 minutes, the API less than the gateway 29 s, one scheduler at a time', () => {
    expect(byName(twoRegion, i, `volmirror-${site}-sync`).Timeout).toBe(900);
    expect(byName(twoRegion, i, `volmirror-${site}-api`).Timeout).toBeLessThanOrEqual(29);
    expect(byName(twoRegion, i, `volmirror-${site}-scheduler`).ReservedConcurrentExecutions).toBe(1);
    expect(byName(twoRegion, i, `volmirror-${site}-sync`).ReservedConcurrentExecutions).toBe(twoRegion.concurrency.sync);
  });

  it('hands the scheduler the sync function name and ticks it every minute', () => {
    const env = byName(twoRegion, i, `volmirror-${site}-scheduler`).Environment as { Variables: Record<string, unknown> };
    expect(env.Variables.VOLMIRROR_SYNC_FUNCTION).toBe(`volmirror-${site}-sync`);
    const rules = Object.values(resourcesOf(synth(twoRegion).sites[i], 'AWS::Events::Rule'));
    expect(rules).toHaveLength(1);
    expect(rules[0].Properties.ScheduleExpression).toBe('rate(1 minute)');
    expect(JSON.stringify(rules[0].Properties.Targets)).toContain('SchedulerFunction');
  });

  it('feeds ingest and copy from their queues with partial batch failures', () => {
    const mappings = Object.values(resourcesOf(synth(twoRegion).sites[i], 'AWS::Lambda::EventSourceMapping'));
    expect(mappings).toHaveLength(2);
    for (const m of mappings) {
      expect(m.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect((m.Properties.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency).toBeGreaterThanOrEqual(2);
    }
    const sources = mappings.map((m) => JSON.stringify([m.Properties.FunctionName, m.Properties.EventSourceArn]));
    expect(sources.some((s) => s.includes('IngestFunction') && s.includes('ChangeRecordsQueue'))).toBe(true);
    expect(sources.some((s) => s.includes('CopyFunction') && s.includes('CopyTasksQueue'))).toBe(true);
  });

  it('keeps each queue visible longer than its consumer may run', () => {
    const template = synth(twoRegion).sites[i];
    const queue = (name: string) =>
      Object.values(resourcesOf(template, 'AWS::SQS::Queue')).find((q) => q.Properties.QueueName === name);
    expect(queue(`volmirror-${site}-changes`)?.Properties.VisibilityTimeout).toBeGreaterThan(
      byName(twoRegion, i, `volmirror-${site}-ingest`).Timeout as number,
    );
    expect(queue(`volmirror-${site}-copy`)?.Properties.VisibilityTimeout).toBeGreaterThan(
      byName(twoRegion, i, `volmirror-${site}-copy`).Timeout as number,
    );
  });
});

describe.each([
  ['two-region (MRSC)', twoRegion],
  ['single-region', singleRegion],
])('%s: VOLMIRROR_CONFIG', (_, config) => {
  const { sites } = synth(config);
  const configOf = (site: number) => {
    const env = byName(config, site, `volmirror-${config.sites[site].name}-api`).Environment as {
      Variables: Record<string, unknown>;
    };
    return parseConfig(flatten(env.Variables.VOLMIRROR_CONFIG));
  };

  it('parses with the app parser and is the same in every function of a site', () => {
    for (let i = 0; i < 2; i++) {
      const values = functionsOf(config, i).map((f) =>
        flatten((f.Properties.Environment as { Variables: Record<string, unknown> }).Variables.VOLMIRROR_CONFIG),
      );
      expect(new Set(values).size).toBe(1);
      expect(configOf(i).retention).toBe(config.retention);
    }
  });

  it('names the buckets and queues each site stack really creates', () => {
    for (let i = 0; i < 2; i++) {
      for (const [j, site] of configOf(i).sites.entries()) {
        const buckets = Object.values(resourcesOf(sites[j], 'AWS::S3::Bucket')).map((b) => flatten(b.Properties.BucketName));
        expect(buckets).toContain(site.bucket);
        expect(site.region).toBe(config.sites[j].region);
        const queues = Object.values(resourcesOf(sites[j], 'AWS::SQS::Queue')).map((q) => q.Properties.QueueName);
        for (const url of [site.changeQueueUrl, site.copyQueueUrl]) {
          expect(url).toMatch(new RegExp(`^https://sqs\\.${site.region}\\.amazonaws\\.com/123456789012/`));
          expect(queues).toContain(url.split('/').pop());
        }
      }
    }
  });

  it('points each site at a control-table replica that exists', () => {
    const table = Object.values(resourcesOf(synth(config).control, 'AWS::DynamoDB::GlobalTable'))[0];
    const replicaRegions = (table.Properties.Replicas as { Region: string }[]).map((r) => r.Region);
    for (let i = 0; i < 2; i++) {
      const control = configOf(i).control;
      expect(control.table).toBe(table.Properties.TableName);
      expect(replicaRegions).toContain(control.region);
      if (config.control.mode === 'mrsc') expect(control.region).toBe(config.sites[i].region);
    }
  });
});
