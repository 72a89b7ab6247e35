import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSEvent } from 'aws-lambda';
import type { Deps } from '../../shared/deps';
import type { ChangeBatch } from '../../shared/domain/model';

/** A logger that prints every level, injected where the handlers' shared one is silent in tests. */
export const verboseLogger = () => new Logger({ serviceName: 'volmirror', logLevel: 'DEBUG' });

export function changeBatchBody(groupId: string, batch: number, volumeId = 'vol-000000000001'): string {
  const b: ChangeBatch = {
    groupId,
    session: 'gw-000000000001',
    epoch: 1,
    batch,
    records: [
      {
        pairId: 'pair-000000000001',
        volumeId,
        chunk: batch,
        versionId: `v${batch}`,
        sha256: 'x',
        bytes: 1,
        seq: batch,
      },
    ],
  };
  return JSON.stringify(b);
}

export function sqsBatch(bodies: string[], prefix = 'msg'): SQSEvent {
  return {
    Records: bodies.map((body, i) => ({
      messageId: `${prefix}-${i}`,
      receiptHandle: `rh-${i}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '0',
        SenderId: '123456789012',
        ApproximateFirstReceiveTimestamp: '0',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:changes',
      awsRegion: 'us-east-1',
    })),
  };
}

/** Deps whose control table stores change batches in memory and refuses groups named in `failing`. */
export function tableDeps(opts: { failing?: string[]; get?: (key: unknown) => unknown } = {}) {
  const puts: string[] = [];
  const reads: unknown[] = [];
  const table = {
    put: async (key: { pk: string; sk: string }) => {
      if (opts.failing?.some((g) => key.pk.includes(g))) throw new Error('table unavailable');
      puts.push(`${key.pk}/${key.sk}`);
      return true;
    },
    get: async (key: unknown) => {
      reads.push(key);
      return opts.get?.(key);
    },
    // A copy worker's claim: the task as it is, or null when there is none.
    update: async (key: unknown) => {
      reads.push(key);
      return opts.get?.(key) ?? null;
    },
  };
  return { deps: { table, stores: {}, now: () => Date.now() } as unknown as Deps, puts, reads };
}
