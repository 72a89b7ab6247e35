import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Deps } from '../shared/deps';
import { ingestChangeBatch } from '../shared/usecases/ingest';
import { lambdaDeps } from './deps';
import { type FailureSink, partialBatch } from './sqs-batch';

/** Change-record queue -> control table. Failed messages are retried alone (partial batch response). */
export function makeIngestHandler(
  getDeps: () => Deps,
  opts: { onFailure?: FailureSink } = {},
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return (event) => {
    const deps = getDeps();
    // Each batch is stored under its own key, so the records of one event are independent.
    return partialBatch(event, 'ingest', (record) => ingestChangeBatch(deps, record.body), {
      concurrent: true,
      onFailure: opts.onFailure,
    });
  };
}

export const handler = makeIngestHandler(lambdaDeps);
