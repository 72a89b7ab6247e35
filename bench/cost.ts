/**
 * Estimated AWS cost of a measured workload from its counted requests, next to S3 Cross-Region
 * Replication with Replication Time Control for the same writes. Prices: us-east-1 list prices
 * as published on the AWS pricing pages, stated with the date they were taken for.
 */
export const PRICES = {
  region: 'us-east-1',
  date: '2026-11-22',
  's3 PUT, COPY, POST, LIST per 1,000': 0.005,
  's3 GET and other per 1,000': 0.0004,
  'sqs standard per million requests (64 KiB each)': 0.4,
  'dynamodb on-demand per million write request units': 0.625,
  'dynamodb on-demand per million read request units': 0.125,
  'lambda per GB-second (x86)': 0.0000166667,
  'lambda per million requests': 0.2,
  'inter-region transfer per GB (US regions)': 0.02,
  's3 replication time control per GB': 0.015,
} as const;

/** Lambda estimate: each handled SQS batch is one invocation of 512 MB for 300 ms. */
const LAMBDA_GB = 0.5;
const LAMBDA_SECONDS = 0.3;
const GB = 1024 ** 3;

export interface Usage {
  /** `service Operation` -> requests, counted at the wire over the whole workload. */
  requests: Record<string, number>;
  chunkWrites: number;
  /** The writers' chunk PutObjects into the primary: the same under both schemes, so left out. */
  gatewayPuts: number;
  /** The writers' reads of the chunks their small writes patch: also the same under both. */
  gatewayGets: number;
  versions: number;
  versionBytes: number;
  /** Bytes volmirror PUT into the secondary (crossing regions). */
  replicatedBytes: number;
}

const S3_CHEAP = new Set(['GetObject', 'HeadObject', 'HeadBucket', 'GetBucketLocation']);
const DDB_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

/**
 * Dollars of volmirror's replication and of CRR + RTC for one workload. A DynamoDB request is
 * taken as one request unit (items here are under 1 KB; a batch or query may use more).
 */
export function estimate(u: Usage) {
  let s3Put = 0;
  let s3Get = 0;
  let sqs = 0;
  let ddbW = 0;
  let ddbR = 0;
  let invocations = 0;
  for (const [key, n] of Object.entries(u.requests)) {
    const [service, op] = key.split(' ');
    if (service === 's3') {
      if (S3_CHEAP.has(op)) s3Get += n;
      else s3Put += n;
    } else if (service === 'sqs') {
      sqs += n;
      if (op === 'DeleteMessageBatch' || op === 'DeleteMessage') invocations += n;
    } else if (service === 'dynamodb') {
      if (DDB_WRITES.has(op)) ddbW += n;
      else ddbR += n;
    }
  }
  // The primary's own chunk writes happen under both schemes.
  s3Put -= u.gatewayPuts;
  s3Get -= u.gatewayGets;
  const volmirror =
    (s3Put / 1000) * PRICES['s3 PUT, COPY, POST, LIST per 1,000'] +
    (s3Get / 1000) * PRICES['s3 GET and other per 1,000'] +
    (sqs / 1e6) * PRICES['sqs standard per million requests (64 KiB each)'] +
    (ddbW / 1e6) * PRICES['dynamodb on-demand per million write request units'] +
    (ddbR / 1e6) * PRICES['dynamodb on-demand per million read request units'] +
    invocations * LAMBDA_GB * LAMBDA_SECONDS * PRICES['lambda per GB-second (x86)'] +
    (invocations / 1e6) * PRICES['lambda per million requests'] +
    (u.replicatedBytes / GB) * PRICES['inter-region transfer per GB (US regions)'];
  // CRR replicates every version: one PUT at the destination each, its bytes across regions, RTC per GB.
  const crr =
    (u.versions / 1000) * PRICES['s3 PUT, COPY, POST, LIST per 1,000'] +
    (u.versionBytes / GB) *
      (PRICES['inter-region transfer per GB (US regions)'] + PRICES['s3 replication time control per GB']);
  const perGB = (d: number, bytes: number) => round6(d / (bytes / GB));
  const perMillion = (d: number) => round6((d * 1e6) / u.chunkWrites);
  return {
    'chunk writes': u.chunkWrites,
    'volmirror: S3 PUT-class / GET-class, SQS, DynamoDB W / R, Lambda invocations (est.)': `${s3Put} / ${s3Get}, ${sqs}, ${ddbW} / ${ddbR}, ${invocations}`,
    'volmirror $ for the workload': round6(volmirror),
    'CRR+RTC $ for the workload': round6(crr),
    'volmirror $ per GB replicated (its own bytes)': perGB(volmirror, u.replicatedBytes),
    'CRR+RTC $ per GB replicated (its own bytes)': perGB(crr, u.versionBytes),
    'volmirror $ per million chunk writes': perMillion(volmirror),
    'CRR+RTC $ per million chunk writes': perMillion(crr),
    'cost ratio (CRR+RTC / volmirror)': Math.round((crr / volmirror) * 100) / 100,
  };
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
