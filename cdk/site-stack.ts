import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { Construct } from 'constructs';
import { CONFIG_ENV } from '../shared/config';
import { SiteAlarms } from './alarms';
import { ChunkBucket } from './chunk-bucket';
import { controlRegion, type DeploymentConfig, type SiteSettings } from './config';
import { MirrorApi } from './mirror-api';
import { mirrorConfigFor } from './mirror-config';
import { MirrorFunction } from './mirror-function';
import { acknowledgeWildcardResources } from './nag';
import { type FunctionRole, Names } from './naming';
import {
  alertPermissions,
  type DataPlane,
  groupAlarmArn,
  permissions,
  wildcardResources,
} from './permissions';
import { WorkQueue } from './work-queue';

export interface SiteStackProps extends StackProps {
  config: DeploymentConfig;
  site: SiteSettings;
}

interface FunctionSpec {
  description: string;
  memorySize: number;
  timeout: Duration;
  reservedConcurrentExecutions?: number;
}

const INGEST_TIMEOUT = Duration.seconds(30);
// A copy task is at most 64 chunks (CHUNKS_PER_TASK in shared/tuning.ts); a timed-out task resumes where it stopped.
const COPY_TIMEOUT = Duration.minutes(5);

/** One site: its bucket, queues, the five functions, the one-minute tick, the API and the alarms. */
export class SiteStack extends Stack {
  constructor(scope: Construct, id: string, props: SiteStackProps) {
    super(scope, id, props);
    const { config, site } = props;
    const names = new Names(this, config);

    new ChunkBucket(this, 'Chunks', {
      bucketName: names.bucket(site.name),
      accessLogBucketName: names.accessLogBucket(site.name),
      noncurrentVersionExpirationDays: config.noncurrentVersionExpirationDays,
      accessLogDays: config.logRetentionDays,
    });
    const changes = new WorkQueue(this, 'ChangeRecords', {
      queueName: names.changeQueue(site.name),
      deadLetterQueueName: names.deadLetterQueue(names.changeQueue(site.name)),
      // AWS's advice for Lambda consumers: six times the function timeout.
      visibilityTimeout: Duration.seconds(INGEST_TIMEOUT.toSeconds() * 6),
      // An ingest failure is mostly a control-table outage: keep retrying for about an hour.
      maxReceiveCount: 20,
    });
    const copies = new WorkQueue(this, 'CopyTasks', {
      queueName: names.copyQueue(site.name),
      deadLetterQueueName: names.deadLetterQueue(names.copyQueue(site.name)),
      // Longer than a run so no task has two workers, yet short because a failed task (site
      // unreachable) is retried only when this expires; maxConcurrency keeps Lambda from
      // throttling, which is what the six-times advice guards against.
      visibilityTimeout: Duration.seconds(COPY_TIMEOUT.toSeconds() * 2),
      maxReceiveCount: 10,
    });

    const environment = { [CONFIG_ENV]: this.toJsonString(mirrorConfigFor(config, names, site)) };
    const fn = (role: FunctionRole, spec: FunctionSpec, extra: Record<string, string> = {}) =>
      new MirrorFunction(this, `${role[0].toUpperCase()}${role.slice(1)}Function`, {
        ...spec,
        functionName: names.function(site.name, role),
        entry: `${role}.ts`,
        environment: { ...environment, ...extra },
        logRetention: config.logRetentionDays,
      });
    const api = fn('api', {
      description: 'volmirror REST API (API Gateway proxy integration)',
      memorySize: 512,
      // API Gateway gives up on an integration after 29 s.
      timeout: Duration.seconds(29),
      reservedConcurrentExecutions: config.concurrency.api,
    });
    const ingest = fn('ingest', {
      description: 'Stores change records from the change-record queue in the control table',
      memorySize: 256,
      timeout: INGEST_TIMEOUT,
    });
    const copy = fn('copy', {
      description: 'Copies chunk versions from the other site into this one (copy queue)',
      // Lambda network bandwidth grows with memory; chunks up to 64 MiB pass through when streamed.
      memorySize: 1024,
      timeout: COPY_TIMEOUT,
    });
    const sync = fn('sync', {
      description: 'Drives one sync (cut, delta, copy fan-out, commit) until it commits or time runs out',
      memorySize: 1024,
      timeout: Duration.minutes(15),
      reservedConcurrentExecutions: config.concurrency.sync,
    });
    const scheduler = fn(
      'scheduler',
      {
        description: 'One-minute tick: starts due syncs and hands running ones to the sync function',
        memorySize: 256,
        timeout: Duration.seconds(55),
        // One tick at a time: a slow tick makes the next one wait rather than overlap.
        reservedConcurrentExecutions: 1,
      },
      { VOLMIRROR_SYNC_FUNCTION: names.function(site.name, 'sync') },
    );

    const data: DataPlane = {
      names,
      sites: config.sites.map((s) => s.name),
      here: site.name,
      tableArn: names.tableArn(config.control.mode === 'mrsc' ? site.region : controlRegion(config)),
    };
    const functions = { api, ingest, copy, sync, scheduler };
    for (const [role, f] of Object.entries(functions) as [FunctionRole, MirrorFunction][]) {
      f.grant(...permissions[role](data));
      acknowledgeWildcardResources(
        f,
        wildcardResources(data),
        'Object ARNs end in a key-prefix wildcard (volumes/* or manifests/*): chunk and manifest keys are made per volume at run time.',
      );
    }
    scheduler.grant(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [sync.function.functionArn] }),
    );
    // The next tick drives the sync again anyway: retrying a lost invocation would only start a second driver.
    sync.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.minutes(2) });

    ingest.function.addEventSource(
      new SqsEventSource(changes.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: config.concurrency.ingest,
      }),
    );
    copy.function.addEventSource(
      new SqsEventSource(copies.queue, {
        // One task per invocation: a task already fills most of the timeout.
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: config.concurrency.copy,
      }),
    );

    new Rule(this, 'Tick', {
      ruleName: `${names.function(site.name, 'scheduler')}-tick`,
      description: 'volmirror one-minute tick for scheduled and continuous groups',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [
        new LambdaFunction(scheduler.function, { retryAttempts: 0, maxEventAge: Duration.minutes(1) }),
      ],
    });

    const restApi = new MirrorApi(this, 'Api', {
      restApiName: names.api(site.name),
      handler: api.function,
      rateLimit: config.api.rateLimit,
      burstLimit: config.api.burstLimit,
      logRetention: config.logRetentionDays,
    });

    const alarms = new SiteAlarms(this, 'Alarms', {
      namePrefix: names.api(site.name),
      deployment: config.prefix,
      topicName: names.topic(site.name),
      emails: config.alerts.emails,
      recoveryPointAgeSeconds: config.alerts.recoveryPointAgeSeconds,
      sync,
      scheduler,
      api: restApi.api,
      deadLetterQueues: { ChangeRecords: changes.deadLetterQueue, CopyTasks: copies.deadLetterQueue },
    });

    const alertPlane = {
      topicArn: alarms.topic.topicArn,
      keyArn: alarms.key.keyArn,
      alarmArn: groupAlarmArn(this, config.prefix),
    };
    for (const f of [api, sync, scheduler]) {
      f.sendAlerts(alarms.topic.topicArn, config.prefix, alertPermissions(alertPlane));
      acknowledgeWildcardResources(
        f,
        [alertPlane.alarmArn],
        'Per-group alarms are created at run time with the group id in their name; the grant is scoped to the deployment name prefix.',
      );
    }

    new CfnOutput(this, 'ApiUrl', { value: restApi.api.url, description: 'Base URL of this site REST API' });
    new CfnOutput(this, 'BucketName', { value: names.bucket(site.name) });
    new CfnOutput(this, 'ChangeQueueUrl', {
      value: changes.queue.queueUrl,
      description: 'Where a gateway writing at this site publishes change records',
    });
    new CfnOutput(this, 'AlertTopicArn', { value: alarms.topic.topicArn });
  }
}
