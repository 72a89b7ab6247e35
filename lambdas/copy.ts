import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Deps } from '../shared/deps';
import { parseCopyMessage, runCopyTask, type StopCheck, WorkerStopped } from '../shared/usecases/copy-worker';
import { lambdaDeps } from './deps';
import { type FailureSink, partialBatch } from './sqs-batch';

/**
 * Copy queue -> chunk copies into this site's bucket. `shouldStop` lets the local runtime kill
 * the worker between chunk copies; the stop ends the invocation like a crash, so the task is
 * received again and resumes from the chunks already recorded.
 */
export function makeCopyHandler(
  getDeps: () => Deps,
  opts: { shouldStop?: StopCheck; onFailure?: FailureSink } = {},
): (event: SQSEvent) => Promise<SQSBatchResponse> {
  return (event) => {
    const deps = getDeps();
    const copy = (body: string) => runCopyTask(deps, parseCopyMessage(body), opts.shouldStop);
    // One task after another: a task already copies several chunks side by side.
    return partialBatch(event, 'copy', (record) => copy(record.body), {
      concurrent: false,
      fatal: (e) => e instanceof WorkerStopped,
      onFailure: opts.onFailure,
    });
  };
}

export const handler = makeCopyHandler(lambdaDeps);
