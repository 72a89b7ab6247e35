import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { Deps } from '../shared/deps';
import { parseCopyMessage, runCopyTask, type StopCheck, WorkerStopped } from '../shared/usecases/copy-worker';
import { lambdaDeps } from './deps';
import { type InvocationContext, invocationLogger, logger } from './observability';
import { type FailureSink, processRecords } from './sqs-records';

/**
 * Copy queue -> chunk copies into this site's bucket. `shouldStop` lets the local runtime kill
 * the worker between chunk copies; the stop ends the invocation like a crash, so the task is
 * received again and resumes from the chunks already recorded.
 */
export function makeCopyHandler(
  getDeps: () => Deps,
  opts: { shouldStop?: StopCheck; logger?: Logger; onFailure?: FailureSink } = {},
): (event: SQSEvent, context?: InvocationContext) => Promise<SQSBatchResponse> {
  return (event, context) => {
    const deps = getDeps();
    const log = invocationLogger(opts.logger ?? logger, context);
    // One task after another: a task already copies several chunks side by side.
    return processRecords(
      event,
      log,
      'copy task',
      async (record, recordLog) => {
        const task = parseCopyMessage(record.body);
        recordLog.appendKeys({ groupId: task.groupId, syncId: task.syncId, taskNo: task.taskNo });
        const copied = await runCopyTask(deps, task, opts.shouldStop);
        recordLog.info('copy task done', { chunksCopied: copied });
      },
      { parallel: false, fatal: (e) => e instanceof WorkerStopped, onFailure: opts.onFailure },
    );
  };
}

export const handler = makeCopyHandler(lambdaDeps);
