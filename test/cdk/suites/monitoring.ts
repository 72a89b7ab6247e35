import { describe, expect, it } from 'vitest';
import { eachSite, resourcesOf, type Synthesized } from '../fixture';

export function monitoringSuite(s: Synthesized): void {
  const { config } = s;
  describe.each(eachSite(s))('site %s monitoring', (name, i) => {
    const template = s.sites[i];
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const alarm = (id: string) => {
      const found = alarms.find((a) => a.AlarmName === `${config.prefix}-${name}-${id}`);
      if (!found) throw new Error(`no alarm ${id}`);
      return found;
    };
    const topicId = Object.keys(resourcesOf(template, 'AWS::SNS::Topic'))[0];

    it('raises RP age above the configured threshold from the EMF metric of the deployment', () => {
      expect(alarm('RecoveryPointAge')).toEqual(
        expect.objectContaining({
          Namespace: 'Volmirror',
          MetricName: 'VolmirrorRecoveryPointAgeSeconds',
          Dimensions: [{ Name: 'Deployment', Value: config.prefix }],
          Statistic: 'Maximum',
          Threshold: config.alerts.recoveryPointAgeSeconds,
          ComparisonOperator: 'GreaterThanThreshold',
        }),
      );
    });

    it('raises paused groups from the EMF metric', () => {
      expect(alarm('PausedGroups')).toEqual(
        expect.objectContaining({
          Namespace: 'Volmirror',
          MetricName: 'VolmirrorPausedGroups',
          Threshold: 1,
        }),
      );
    });

    it('raises sync errors from failed invocations plus logged errors', () => {
      const metrics = alarm('SyncErrors').Metrics as {
        Expression?: string;
        MetricStat?: { Metric: unknown };
      }[];
      expect(metrics.find((m) => m.Expression)?.Expression).toBe('failed + logged');
      const watched = JSON.stringify(metrics.map((m) => m.MetricStat?.Metric));
      expect(watched).toContain('"MetricName":"Errors"');
      expect(watched).toContain('"Namespace":"Volmirror/LoggedErrors"');
    });

    it('raises the depth of both dead-letter queues', () => {
      for (const queue of ['ChangeRecords', 'CopyTasks']) {
        expect(alarm(`${queue}DeadLetters`)).toEqual(
          expect.objectContaining({
            Namespace: 'AWS/SQS',
            MetricName: 'ApproximateNumberOfMessagesVisible',
            Threshold: 1,
            ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          }),
        );
      }
    });

    it('sends every alarm and its recovery to the needs-attention topic', () => {
      expect(alarms.length).toBeGreaterThanOrEqual(7);
      for (const a of alarms) {
        expect(a.AlarmActions).toEqual([{ Ref: topicId }]);
        expect(a.OKActions).toEqual([{ Ref: topicId }]);
      }
    });

    it('encrypts the topic with a rotated key CloudWatch may use, and mails the configured addresses', () => {
      const topic = resourcesOf(template, 'AWS::SNS::Topic')[topicId].Properties;
      expect(topic.TopicName).toBe(`${config.prefix}-${name}-needs-attention`);
      expect(topic.KmsMasterKeyId).toBeDefined();
      template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
      const key = Object.values(resourcesOf(template, 'AWS::KMS::Key'))[0].Properties;
      expect(JSON.stringify(key.KeyPolicy)).toContain('cloudwatch.amazonaws.com');
      for (const email of config.alerts.emails) {
        template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: email });
      }
    });

    it('counts ERROR lines of every function log', () => {
      const filters = Object.values(resourcesOf(template, 'AWS::Logs::MetricFilter')).map(
        (f) => f.Properties,
      );
      expect(filters).toHaveLength(5);
      for (const f of filters) expect(f.FilterPattern).toBe('{ $.level = "ERROR" }');
    });
  });

  describe('dashboard', () => {
    it('shows RP age per group, backlog, bytes replicated and errors from both regions', () => {
      const dashboards = Object.values(resourcesOf(s.control, 'AWS::CloudWatch::Dashboard'));
      expect(dashboards).toHaveLength(1);
      const body = JSON.stringify(dashboards[0].Properties.DashboardBody);
      const expected = [
        'VolmirrorRecoveryPointAgeSeconds',
        'VolmirrorBacklogBytes',
        'VolmirrorBytesReplicated',
      ];
      for (const site of config.sites) expected.push(site.region, `${config.prefix}-${site.name}-sync`);
      for (const text of expected) expect(body).toContain(text);
    });
  });
}
