import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ingestChangeBatch } from '../shared/usecases/ingest';
import { lambdaDeps } from './deps';

/** Change-record queue -> control table. Failed messages are retried alone (partial batch response). */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const deps = lambdaDeps();
  const failures: { itemIdentifier: string }[] = [];
  for (const record of event.Records) {
    try {
      await ingestChangeBatch(deps, record.body);
    } catch (e) {
      console.error(
        JSON.stringify({
          level: 'error',
          msg: 'ingest failed',
          messageId: record.messageId,
          error: String(e),
        }),
      );
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}
