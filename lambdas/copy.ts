import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { parseCopyMessage, runCopyTask } from '../shared/usecases/copy-worker';
import { lambdaDeps } from './deps';

/** Copy queue -> chunk copies into this site's bucket. */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const deps = lambdaDeps();
  const failures: { itemIdentifier: string }[] = [];
  for (const record of event.Records) {
    try {
      await runCopyTask(deps, parseCopyMessage(record.body));
    } catch (e) {
      console.error(
        JSON.stringify({ level: 'error', msg: 'copy failed', messageId: record.messageId, error: String(e) }),
      );
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures };
}
