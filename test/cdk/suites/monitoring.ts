import { describe, expect, it } from 'vitest';
import { ACCOUNT, asList, eachSite, flatten, resourcesOf, type Synthesized } from '../fixture';

interface Statement {
  Action: string | string[];
  Resource: unknown;
}

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

    describe('alerts from the functions that record events', () => {
      const region = config.sites[i].region;
      const keyId = Object.keys(resourcesOf(template, 'AWS::KMS::Key'))[0];
      const envOf = (role: string) => {
        const fn = Object.values(resourcesOf(template, 'AWS::Lambda::Function')).find(
          (f) => f.Properties.FunctionName === `${config.prefix}-${name}-${role}`,
        );
        if (!fn) throw new Error(`no ${role} function`);
        return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      };
      const statementsOf = (role: string): Statement[] => {
        const fn = `${role[0].toUpperCase()}${role.slice(1)}`;
        const entry = Object.entries(resourcesOf(template, 'AWS::IAM::Policy')).find(([id]) =>
          id.startsWith(`${fn}FunctionRoleDefaultPolicy`),
        );
        if (!entry) throw new Error(`no default policy for the ${role} function`);
        return (entry[1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      };
      const grantOf = (role: string, action: string) =>
        statementsOf(role)
          .filter((st) => asList(st.Action).includes(action))
          .flatMap((st) => asList(st.Resource).map(flatten));

      it.each(['api', 'sync', 'scheduler'])('%s publishes to this site topic only', (role) => {
        expect(grantOf(role, 'sns:Publish')).toEqual([`<${topicId}>`]);
      });

      it.each(['api', 'sync', 'scheduler'])('%s may encrypt with the topic key only', (role) => {
        expect(grantOf(role, 'kms:GenerateDataKey')).toEqual([`<${keyId}.Arn>`]);
        expect(grantOf(role, 'kms:Decrypt')).toEqual([`<${keyId}.Arn>`]);
      });

      it.each(['api', 'sync', 'scheduler'])(
        '%s puts and deletes only the deployment per-group alarms',
        (role) => {
          const alarmArn = `arn:aws:cloudwatch:${region}:${ACCOUNT}:alarm:volmirror-${config.prefix}-*`;
          expect(grantOf(role, 'cloudwatch:PutMetricAlarm')).toEqual([alarmArn]);
          expect(grantOf(role, 'cloudwatch:DeleteAlarms')).toEqual([alarmArn]);
        },
      );

      it.each(['api', 'sync', 'scheduler'])('%s is told the topic ARN and the deployment', (role) => {
        expect(envOf(role).VOLMIRROR_ALERT_TOPIC_ARN).toEqual({ Ref: topicId });
        expect(envOf(role).VOLMIRROR_DEPLOYMENT).toBe(config.prefix);
      });

      it.each(['ingest', 'copy'])('%s records no events: no alert grant and no alert environment', (role) => {
        for (const action of ['sns:Publish', 'kms:GenerateDataKey', 'cloudwatch:PutMetricAlarm']) {
          expect(grantOf(role, action)).toEqual([]);
        }
        expect(envOf(role).VOLMIRROR_ALERT_TOPIC_ARN).toBeUndefined();
        expect(envOf(role).VOLMIRROR_DEPLOYMENT).toBeUndefined();
      });
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
