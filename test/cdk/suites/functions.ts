import { describe, expect, it } from 'vitest';
import { eachSite, resourcesOf, type Synthesized } from '../fixture';

const ROLES = ['api', 'ingest', 'copy', 'sync', 'scheduler'];

export function functionsSuite(s: Synthesized): void {
  const { config } = s;
  describe.each(eachSite(s))('site %s functions', (site, i) => {
    const template = s.sites[i];
    const fns = Object.values(resourcesOf(template, 'AWS::Lambda::Function'));
    const fn = (role: string) => {
      const found = fns.find((f) => f.Properties.FunctionName === `${config.prefix}-${site}-${role}`);
      if (!found) throw new Error(`no ${role} function`);
      return found.Properties;
    };

    it('runs the five handlers on ARM64 with Node 22 or newer and JSON logs', () => {
      expect(fns.map((f) => f.Properties.FunctionName).sort()).toEqual(
        ROLES.map((r) => `${config.prefix}-${site}-${r}`).sort(),
      );
      for (const { Properties: p } of fns) {
        expect(p.Architectures).toEqual(['arm64']);
        expect(Number(/^nodejs(\d+)\.x$/.exec(p.Runtime as string)?.[1])).toBeGreaterThanOrEqual(22);
        expect(p.Handler).toBe('index.handler');
        expect(p.LoggingConfig).toEqual(expect.objectContaining({ LogFormat: 'JSON' }));
      }
    });

    it('gives sync 15 minutes, the API at most the gateway 29 s, one scheduler at a time', () => {
      expect(fn('sync').Timeout).toBe(900);
      expect(fn('sync').ReservedConcurrentExecutions).toBe(config.concurrency.sync);
      expect(fn('api').Timeout).toBeLessThanOrEqual(29);
      expect(fn('scheduler').ReservedConcurrentExecutions).toBe(1);
    });

    it('does not retry a lost sync invocation (the next tick drives the sync again)', () => {
      template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumRetryAttempts: 0 });
    });

    it('hands the scheduler the sync function name and ticks it every minute', () => {
      const env = fn('scheduler').Environment as { Variables: Record<string, unknown> };
      expect(env.Variables.VOLMIRROR_SYNC_FUNCTION).toBe(`${config.prefix}-${site}-sync`);
      const rules = Object.values(resourcesOf(template, 'AWS::Events::Rule'));
      expect(rules).toHaveLength(1);
      expect(rules[0].Properties.ScheduleExpression).toBe('rate(1 minute)');
      expect(JSON.stringify(rules[0].Properties.Targets)).toContain('SchedulerFunction');
    });

    it('feeds ingest and copy from their queues with partial batch failures', () => {
      const mappings = Object.values(resourcesOf(template, 'AWS::Lambda::EventSourceMapping'));
      expect(mappings).toHaveLength(2);
      for (const m of mappings) {
        expect(m.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
        const scaling = m.Properties.ScalingConfig as { MaximumConcurrency: number };
        expect(scaling.MaximumConcurrency).toBeGreaterThanOrEqual(2);
      }
      const wiring = mappings.map((m) =>
        JSON.stringify([m.Properties.FunctionName, m.Properties.EventSourceArn]),
      );
      expect(wiring.some((w) => w.includes('IngestFunction') && w.includes('ChangeRecordsQueue'))).toBe(true);
      expect(wiring.some((w) => w.includes('CopyFunction') && w.includes('CopyTasksQueue'))).toBe(true);
    });

    it('keeps each queue message invisible for longer than its consumer may run', () => {
      const queue = (name: string) =>
        Object.values(resourcesOf(template, 'AWS::SQS::Queue')).find((q) => q.Properties.QueueName === name);
      expect(queue(`${config.prefix}-${site}-changes`)?.Properties.VisibilityTimeout).toBeGreaterThan(
        fn('ingest').Timeout as number,
      );
      expect(queue(`${config.prefix}-${site}-copy`)?.Properties.VisibilityTimeout).toBeGreaterThan(
        fn('copy').Timeout as number,
      );
    });
  });
}
