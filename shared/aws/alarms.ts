import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  PutMetricAlarmCommand,
} from '@aws-sdk/client-cloudwatch';
import type { Group } from '../domain/model';

/**
 * CloudWatch alarms per group, with the thresholds the user set. Groups are created at run
 * time, so the use cases put and delete these alarms (PutMetricAlarm / DeleteAlarms) on group
 * create, change and delete; CDK only grants the permission. The metrics are the ones the
 * scheduler tick emits in embedded metric format (lambdas/emf.ts): namespace `Volmirror`,
 * dimensions Deployment and GroupId.
 */
export interface AlarmSpec {
  AlarmName: string;
  AlarmDescription: string;
  Namespace: string;
  MetricName: string;
  Dimensions: { Name: string; Value: string }[];
  Statistic: 'Maximum';
  Period: number;
  EvaluationPeriods: number;
  Threshold: number;
  ComparisonOperator: 'GreaterThanThreshold';
  TreatMissingData: 'notBreaching';
  AlarmActions: string[];
  OKActions: string[];
}

/** The port: the AWS adapter sends PutMetricAlarm and DeleteAlarms; locally there is none. */
export interface AlarmStore {
  put(spec: AlarmSpec): Promise<void>;
  delete(names: string[]): Promise<void>;
}

/** Where a deployment keeps its per-group alarms (Deps.alarms); absent locally. */
export interface AlarmSettings {
  store: AlarmStore;
  deployment: string;
  /** The site's needs-attention topic the alarms notify. */
  topicArn?: string;
}

const NAMESPACE = 'Volmirror';
const KINDS = ['recovery-point-age', 'backlog'] as const;

/** What every per-group alarm name of a deployment starts with: the IAM grant is scoped by it. */
export const alarmNamePrefix = (deployment: string) => `volmirror-${deployment}-`;

export const alarmName = (deployment: string, groupId: string, kind: (typeof KINDS)[number]) =>
  `${alarmNamePrefix(deployment)}${groupId}-${kind}`;

/** Every alarm name a group may have, for deletion whatever its thresholds were. */
export const alarmNames = (deployment: string, groupId: string) =>
  KINDS.map((k) => alarmName(deployment, groupId, k));

/** The alarms the group's thresholds ask for; a threshold not set means no alarm of that kind. */
export function alarmSpecs(deployment: string, group: Group, topicArn?: string): AlarmSpec[] {
  const t = group.thresholds;
  const actions = topicArn ? [topicArn] : [];
  const base = (
    kind: (typeof KINDS)[number],
    metric: string,
    threshold: number,
    what: string,
  ): AlarmSpec => ({
    AlarmName: alarmName(deployment, group.id, kind),
    AlarmDescription: `volmirror group ${group.name} (${group.id}): ${what}`,
    Namespace: NAMESPACE,
    MetricName: metric,
    Dimensions: [
      { Name: 'Deployment', Value: deployment },
      { Name: 'GroupId', Value: group.id },
    ],
    Statistic: 'Maximum',
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: threshold,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'notBreaching',
    AlarmActions: actions,
    OKActions: actions,
  });
  const specs: AlarmSpec[] = [];
  if (t.recoveryPointAgeAlertSeconds) {
    specs.push(
      base(
        'recovery-point-age',
        'VolmirrorRecoveryPointAgeSeconds',
        t.recoveryPointAgeAlertSeconds,
        `last recovery point older than ${t.recoveryPointAgeAlertSeconds}s`,
      ),
    );
  }
  if (t.backlogWarningBytes) {
    specs.push(
      base(
        'backlog',
        'VolmirrorBacklogBytes',
        t.backlogWarningBytes,
        `more than ${t.backlogWarningBytes} bytes not yet replicated`,
      ),
    );
  }
  return specs;
}

/** Puts the alarms the group asks for and deletes the kinds it no longer has. */
export async function syncGroupAlarms(
  store: AlarmStore,
  deployment: string,
  group: Group,
  topicArn?: string,
): Promise<void> {
  const specs = alarmSpecs(deployment, group, topicArn);
  for (const spec of specs) await store.put(spec);
  const kept = new Set(specs.map((s) => s.AlarmName));
  const gone = alarmNames(deployment, group.id).filter((n) => !kept.has(n));
  if (gone.length) await store.delete(gone);
}

/** Collects alarms in memory: the port's test double. */
export class MemoryAlarmStore implements AlarmStore {
  readonly alarms = new Map<string, AlarmSpec>();
  async put(spec: AlarmSpec): Promise<void> {
    this.alarms.set(spec.AlarmName, spec);
  }
  async delete(names: string[]): Promise<void> {
    for (const n of names) this.alarms.delete(n);
  }
}

/** The CloudWatch adapter, in the region of the site whose functions manage the alarms. */
export class CloudWatchAlarmStore implements AlarmStore {
  constructor(private readonly cloudwatch: CloudWatchClient) {}

  async put(spec: AlarmSpec): Promise<void> {
    await this.cloudwatch.send(new PutMetricAlarmCommand(spec));
  }

  async delete(names: string[]): Promise<void> {
    // Deleting an alarm that does not exist succeeds, so a group without some kind is fine.
    if (names.length) await this.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: names }));
  }
}
