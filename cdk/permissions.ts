import { ArnFormat, type Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { alarmNamePrefix } from '../shared/aws/alarms';
import type { Names } from './naming';

/** What a site's functions reach: both sites' buckets and queues, and one control-table replica. */
export interface DataPlane {
  names: Names;
  sites: string[];
  here: string;
  tableArn: string;
}

// Key prefixes of shared/domain/chunks.ts and the manifest keys of shared/usecases.
const CHUNKS = 'volumes/';
const MANIFESTS = 'manifests/';

const table = (d: DataPlane, ...actions: string[]) =>
  new PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [d.tableArn] });

const objects = (d: DataPlane, sites: string[], prefix: string, ...actions: string[]) =>
  new PolicyStatement({ actions, resources: sites.map((s) => objectArn(d, s, prefix)) });

const otherSites = (d: DataPlane) => d.sites.filter((s) => s !== d.here);

/** The object ARNs a prefix covers: the only wildcard resources any function gets. */
export const objectArn = (d: DataPlane, site: string, prefix: string) =>
  `${d.names.bucketArn(site)}/${prefix}*`;

/** Every wildcard resource the statements below use, for one cdk-nag acknowledgement each. */
export const wildcardResources = (d: DataPlane): string[] =>
  d.sites.flatMap((s) => [objectArn(d, s, CHUNKS), objectArn(d, s, MANIFESTS)]);

/**
 * Each function's actions, read off the code it runs (shared/usecases via lambdas/*.ts).
 * Writes that the app makes conditional are still plain PutItem/UpdateItem/DeleteItem here.
 */
export const permissions = {
  /** ingestChangeBatch: one conditional put per change batch. */
  ingest: (d: DataPlane) => [table(d, 'PutItem')],

  /** runCopyTask: reads its task, records each chunk; copies the other site's versions into this bucket. */
  copy: (d: DataPlane) => [
    table(d, 'GetItem', 'UpdateItem'),
    // CopyObject with a source versionId needs GetObjectVersion on the source.
    objects(d, otherSites(d), CHUNKS, 's3:GetObject', 's3:GetObjectVersion'),
    objects(d, [d.here], CHUNKS, 's3:PutObject'),
  ],

  /** driveSync: the whole job, commit and RP expiry, with either site as primary. */
  sync: (d: DataPlane) => [
    table(d, 'GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'),
    objects(d, d.sites, MANIFESTS, 's3:GetObject', 's3:PutObject', 's3:DeleteObject'),
    // RP expiry deletes the chunk versions only the expired RP referenced.
    objects(d, d.sites, CHUNKS, 's3:DeleteObjectVersion'),
    new PolicyStatement({
      actions: ['sqs:SendMessage', 'sqs:GetQueueAttributes'],
      resources: d.sites.map((s) => d.names.queueArn(s, d.names.copyQueue(s))),
    }),
    // The change-queue depth tells whether an epoch's records have all been ingested.
    new PolicyStatement({
      actions: ['sqs:GetQueueAttributes'],
      resources: d.sites.map((s) => d.names.queueArn(s, d.names.changeQueue(s))),
    }),
  ],

  /** The REST API: volumes, groups, pairs (base manifests), sync start and status. */
  api: (d: DataPlane) => [
    table(d, 'GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem'),
    // Listing a volume's chunks (pair add) and its versions (volume delete).
    new PolicyStatement({
      actions: ['s3:ListBucketVersions'],
      resources: d.sites.map((s) => d.names.bucketArn(s)),
      conditions: { StringLike: { 's3:prefix': [`${CHUNKS}*`] } },
    }),
    objects(d, d.sites, MANIFESTS, 's3:PutObject'),
    objects(d, d.sites, CHUNKS, 's3:DeleteObjectVersion'),
  ],

  /** tick: reads groups, starts due syncs (conditional update, job and event items). */
  scheduler: (d: DataPlane) => [table(d, 'GetItem', 'Query', 'PutItem', 'UpdateItem')],
};

/** Where the functions that record events send alerts: this site's topic and its key. */
export interface AlertPlane {
  topicArn: string;
  keyArn: string;
  /** The deployment's per-group alarms, in this site's region. */
  alarmArn: string;
}

/** The per-group alarm ARNs (`volmirror-<deployment>-*`): the one wildcard the alert grants use. */
export const groupAlarmArn = (stack: Stack, deployment: string) =>
  stack.formatArn({
    service: 'cloudwatch',
    resource: 'alarm',
    resourceName: `${alarmNamePrefix(deployment)}*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });

/**
 * api, sync and scheduler record warning and error events (published to the topic, encrypted
 * with its key) and put or delete a group's alarms when its thresholds change.
 */
export const alertPermissions = (a: AlertPlane) => [
  new PolicyStatement({ actions: ['sns:Publish'], resources: [a.topicArn] }),
  new PolicyStatement({ actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [a.keyArn] }),
  new PolicyStatement({
    actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'],
    resources: [a.alarmArn],
  }),
];
