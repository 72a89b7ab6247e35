import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Deps } from '../shared/deps';
import { ingestChangeBatch, parseChangeBatch } from '../shared/usecases/ingest';
import { lambdaDeps } from './deps';
import { type InvocationContext, invocationLogger, logger } from './observability';
import { type FailureSink, processRecords } from './sqs-records';

/** Change-record queue -> control table. Failed messages are retried alone (partial batch response). */
export function makeIngestHandler(
  getDeps: () => Deps,
  opts: { logger?: Logger; onFailure?: FailureSink } = {},
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  return (event, context) => {
    const deps = getDeps();
    const log = invocationLogger(opts.logger ?? logger, context);
    // Each batch is stored under its own key, so the records of one event are independent.
    return processRecords(
      event,
      log,
      'ingest',
      async (record, recordLog) => {
        const batch = parseChangeBatch(record.body);
        const volumes = new Set(batch.records.map((r) => r.volumeId));
        recordLog.appendKeys({
          groupId: batch.groupId,
          volumeId: volumes.size === 1 ? [...volumes][0] : undefined,
        });
        const outcome = await ingestChangeBatch(deps, record.body);
        recordLog.debug('change batch ingested', { outcome, epoch: batch.epoch, batch: batch.batch });
      },
      { parallel: true, onFailure: opts.onFailure },
    );
  };
}

export const handler = makeIngestHandler(lambdaDeps);
