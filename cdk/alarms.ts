import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { RestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CUSTOM_METRICS, deploymentMetric, loggedErrorsMetric } from './metrics';
import type { MirrorFunction } from './mirror-function';

export interface SiteAlarmsProps {
  /** Names the alarms and the topic: `<prefix>-<site>`. */
  namePrefix: string;
  deployment: string;
  topicName: string;
  emails: string[];
  recoveryPointAgeSeconds: number;
  sync: MirrorFunction;
  scheduler: MirrorFunction;
  api: RestApi;
  deadLetterQueues: Record<string, Queue>;
}

/**
 * A site's needs-attention topic and the alarms that publish to it. Both sites raise the
 * deployment-wide alarms (RP age, paused groups) from their own region, so they still fire
 * when the other region is down.
 */
export class SiteAlarms extends Construct {
  readonly topic: Topic;
  /** Encrypts the topic: whoever publishes to it needs GenerateDataKey and Decrypt on it. */
  readonly key: Key;
  private readonly props: SiteAlarmsProps;

  constructor(scope: Construct, id: string, props: SiteAlarmsProps) {
    super(scope, id);
    this.props = props;
    const region = Stack.of(this).region;

    this.key = new Key(this, 'TopicKey', {
      description: `Encrypts ${props.topicName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    const key = this.key;
    // Alarm notifications are published by CloudWatch, which must be able to encrypt them.
    key.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'Topic', {
      topicName: props.topicName,
      displayName: `volmirror ${props.namePrefix}: needs attention`,
      masterKey: key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    );
    for (const email of props.emails) this.topic.addSubscription(new EmailSubscription(email));

    this.alarm('RecoveryPointAge', {
      metric: deploymentMetric(CUSTOM_METRICS.recoveryPointAge, props.deployment, region, 'Maximum').with({
        period: Duration.minutes(5),
      }),
      threshold: props.recoveryPointAgeSeconds,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      description: `A group's newest recovery point is older than ${props.recoveryPointAgeSeconds} s (RPO at risk).`,
      missing: TreatMissingData.MISSING,
    });
    this.alarm('PausedGroups', {
      metric: deploymentMetric(CUSTOM_METRICS.pausedGroups, props.deployment, region, 'Maximum').with({
        period: Duration.minutes(5),
      }),
      threshold: 1,
      description:
        'A group is paused: its sync cannot reach a site and retries with backoff (see its events).',
      missing: TreatMissingData.MISSING,
    });
    this.alarm('SyncErrors', {
      metric: new MathExpression({
        expression: 'failed + logged',
        usingMetrics: {
          failed: props.sync.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          logged: loggedErrorsMetric(props.sync.function.functionName, region),
        },
        period: Duration.minutes(5),
        label: 'sync errors',
      }),
      threshold: 1,
      description: 'The sync function failed or logged errors.',
    });
    this.alarm('SchedulerErrors', {
      metric: props.scheduler.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      description: 'The one-minute tick failed: scheduled and continuous syncs are not started or driven.',
    });
    this.alarm('ApiServerErrors', {
      metric: props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 5,
      description: 'The API answered 5xx repeatedly.',
    });
    for (const [name, dlq] of Object.entries(props.deadLetterQueues)) {
      this.alarm(`${name}DeadLetters`, {
        metric: dlq.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: 'Maximum',
        }),
        threshold: 1,
        description: `Messages gave up on ${dlq.queueName}; inspect them, then redrive them to the source queue.`,
      });
    }
  }

  private alarm(
    id: string,
    o: {
      metric: IMetric;
      threshold: number;
      description: string;
      comparison?: ComparisonOperator;
      missing?: TreatMissingData;
    },
  ): void {
    const alarm = new Alarm(this, id, {
      alarmName: `${this.props.namePrefix}-${id}`,
      alarmDescription: o.description,
      metric: o.metric,
      threshold: o.threshold,
      comparisonOperator: o.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: o.missing ?? TreatMissingData.NOT_BREACHING,
    });
    const action = new SnsAction(this.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
  }
}
