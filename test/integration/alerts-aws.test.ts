import { CloudWatchClient, DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { buildClients, type Clients } from '../../shared/aws/clients';
import type { MirrorConfig } from '../../shared/config';
import { buildDeps } from '../../shared/deps';
import { CUSTOM_METRICS, DIMENSIONS, NAMESPACE } from '../../shared/telemetry-names';
import { createGroup, deleteGroup, patchGroup } from '../../shared/usecases/groups';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';

const CHUNK = 64 * 1024;
const DEPLOYMENT = 'it';
// The emulator's credentials rule (shared/aws/clients.ts) without an AWS_ACCESS_KEY_ID set.
const CREDENTIALS = { accessKeyId: 'volmirrorlocal', secretAccessKey: 'volmirrorlocal' };

describe('alerts deployed: SNS notifications and per-group CloudWatch alarms on the emulator', () => {
  let h: Harness | undefined;
  let alertClients: Clients | undefined;
  const raw: { destroy(): void }[] = [];
  afterEach(async () => {
    await h?.stop();
    alertClients?.destroy();
    for (const c of raw.splice(0)) c.destroy();
    h = undefined;
    alertClients = undefined;
  });

  it('group thresholds become alarms (put, updated, deleted) and a raised alert reaches a subscribed queue', async () => {
    h = await startHarness();
    const harness = h;
    // The alert services live on the control emulator: a cut site link must not silence them.
    const endpoint = harness.stack.config.control.endpoint as string;
    const region = harness.stack.config.control.region;
    const opts = { region, endpoint, credentials: CREDENTIALS };
    const sns = new SNSClient(opts);
    const sqs = new SQSClient(opts);
    const cloudwatch = new CloudWatchClient(opts);
    raw.push(sns, sqs, cloudwatch);

    const { TopicArn: topicArn } = await sns.send(new CreateTopicCommand({ Name: 'it-needs-attention' }));
    const { QueueUrl: queueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'it-subscriber' }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    await sns.send(
      new SubscribeCommand({
        TopicArn: topicArn,
        Protocol: 'sqs',
        Endpoint: Attributes?.QueueArn,
        Attributes: { RawMessageDelivery: 'true' },
      }),
    );

    const config: MirrorConfig = {
      ...harness.stack.config,
      alerts: { region, endpoint, topicArn, deployment: DEPLOYMENT },
    };
    alertClients = buildClients(config);
    harness.deps = buildDeps(config, alertClients);
    expect(harness.deps.notifier).toBeDefined();
    expect(harness.deps.alarms).toBeDefined();

    const alarmsOf = async (groupId: string): Promise<MetricAlarm[]> => {
      const out = await cloudwatch.send(
        new DescribeAlarmsCommand({ AlarmNamePrefix: `volmirror-${DEPLOYMENT}-${groupId}-` }),
      );
      return (out.MetricAlarms ?? []).sort((a, b) => (a.AlarmName ?? '').localeCompare(b.AlarmName ?? ''));
    };
    const summary = (a: MetricAlarm) => ({
      name: a.AlarmName,
      namespace: a.Namespace,
      metric: a.MetricName,
      dimensions: a.Dimensions,
      threshold: a.Threshold,
      comparison: a.ComparisonOperator,
      actions: a.AlarmActions,
      ok: a.OKActions,
    });
    const expected = (groupId: string, kind: string, metric: string, threshold: number) => ({
      name: `volmirror-${DEPLOYMENT}-${groupId}-${kind}`,
      namespace: NAMESPACE,
      metric,
      dimensions: [
        { Name: DIMENSIONS.deployment, Value: DEPLOYMENT },
        { Name: DIMENSIONS.groupId, Value: groupId },
      ],
      threshold,
      comparison: 'GreaterThanThreshold',
      actions: [topicArn],
      ok: [topicArn],
    });

    // Created with thresholds: one alarm per threshold, at the user's values.
    const g = await createGroup(harness.deps, {
      name: 'alarmed',
      primarySite: 'east',
      secondarySite: 'west',
      thresholds: { recoveryPointAgeAlertSeconds: 300, backlogWarningBytes: 4096 },
    });
    expect((await alarmsOf(g.id)).map(summary)).toEqual([
      expect.objectContaining(expected(g.id, 'backlog', CUSTOM_METRICS.backlogBytes, 4096)),
      expect.objectContaining(expected(g.id, 'recovery-point-age', CUSTOM_METRICS.recoveryPointAge, 300)),
    ]);

    // Changed: the alarms carry the new thresholds.
    await patchGroup(harness.deps, g.id, {
      thresholds: { recoveryPointAgeAlertSeconds: 900, backlogWarningBytes: 1 << 20 },
    });
    expect((await alarmsOf(g.id)).map((a) => [a.MetricName, a.Threshold])).toEqual([
      [CUSTOM_METRICS.backlogBytes, 1 << 20],
      [CUSTOM_METRICS.recoveryPointAge, 900],
    ]);

    // Deleted: its alarms are gone.
    await deleteGroup(harness.deps, g.id);
    expect(await alarmsOf(g.id)).toEqual([]);

    // A backlog above a tiny threshold: the tick raises the alert, and SNS delivers it.
    startRuntime(harness);
    const m = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    await patchGroup(harness.deps, m.groupId, { thresholds: { backlogWarningBytes: CHUNK } });
    const gw = await openGateway(harness, m.primaries[0]);
    await gw.write(m.primaries[0], 0, randomBytesOf(4 * CHUNK, 7));
    await gw.close();

    const delivered: Message[] = [];
    await waitFor('the backlog alert on the subscribed queue', async () => {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          MessageAttributeNames: ['All'],
          WaitTimeSeconds: 1,
        }),
      );
      delivered.push(...(out.Messages ?? []));
      return delivered.some((d) => JSON.parse(d.Body ?? '{}').kind === 'alert-raised');
    });
    const alert = delivered.find((d) => JSON.parse(d.Body ?? '{}').kind === 'alert-raised') as Message;
    const body = JSON.parse(alert.Body as string);
    expect(body).toEqual({
      groupId: m.groupId,
      kind: 'alert-raised',
      severity: 'warning',
      message: expect.stringContaining('backlog'),
      at: expect.any(String),
    });
    expect(Date.parse(body.at)).not.toBeNaN();
    expect(alert.MessageAttributes?.severity).toEqual(
      expect.objectContaining({ DataType: 'String', StringValue: 'warning' }),
    );
    expect(alert.MessageAttributes?.groupId).toEqual(
      expect.objectContaining({ DataType: 'String', StringValue: m.groupId }),
    );
    // Only warnings and errors are published: no info event reached the queue.
    for (const d of delivered) expect(JSON.parse(d.Body ?? '{}').severity).not.toBe('info');
  }, 120_000);

  it('the embedded stack (volmirror up) creates the site topics and turns the adapters on', async () => {
    h = await startHarness({ alerts: true });
    const { alerts, sites } = h.stack.config;
    expect(alerts).toEqual({
      region: sites[0].region,
      endpoint: sites[0].endpoint,
      topicArn: expect.stringMatching(
        new RegExp(`^arn:aws:sns:${sites[0].region}:\\d+:.+-east-needs-attention$`),
      ),
      deployment: expect.any(String),
    });
    const g = await createGroup(h.deps, {
      name: 'up',
      primarySite: 'east',
      secondarySite: 'west',
      thresholds: { recoveryPointAgeAlertSeconds: 120 },
    });
    const out = await h.clients.alerts?.cloudwatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: `volmirror-${alerts?.deployment}-${g.id}-` }),
    );
    expect(out?.MetricAlarms?.map((a) => [a.MetricName, a.Threshold, a.AlarmActions])).toEqual([
      [CUSTOM_METRICS.recoveryPointAge, 120, [alerts?.topicArn]],
    ]);
  }, 120_000);
});
