import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DomainError } from '../shared/domain/errors';

export type FailureSink = (messageId: string, error: unknown) => void;

export interface RecordsOptions {
  /** Handle the records side by side (cheap, independent records) or one after another. */
  parallel: boolean;
  /** Errors that end the whole invocation, as a crash would: no record of the batch is reported done. */
  fatal?: (e: unknown) => boolean;
  /** Told of each failed record, besides the ERROR line logged for it. */
  onFailure?: FailureSink;
}

/**
 * Runs `work` on every record of an SQS batch with Powertools' BatchProcessor, which names the
 * records that failed in the partial batch response, so only those are received again. Each
 * record logs through its own child logger keyed by its messageId (`work` adds what it learns).
 * A batch whose every record failed is reported the same way rather than thrown, so Lambda's
 * Errors metric counts failed invocations only and a one-task copy batch backs off as any other.
 */
export async function processRecords(
  event: SQSEvent,
  log: Logger,
  what: string,
  work: (record: SQSRecord, log: Logger) => Promise<void>,
  opts: RecordsOptions,
): Promise<SQSBatchResponse> {
  let fatal: { error: unknown } | undefined;
  const handle = async (record: SQSRecord): Promise<void> => {
    if (fatal) throw fatal.error;
    const recordLog = log.createChild();
    recordLog.appendKeys({ messageId: record.messageId });
    try {
      await work(record, recordLog);
    } catch (e) {
      if (opts.fatal?.(e)) fatal = { error: e };
      else {
        // A conflict (a copy task claimed by a later delivery) is retried, not broken.
        if (e instanceof DomainError && e.status === 409) recordLog.warn(`${what} deferred`, e as Error);
        else recordLog.error(`${what} failed`, e as Error);
        opts.onFailure?.(record.messageId, e);
      }
      throw e;
    }
  };
  // A processor per batch: it holds the batch's outcomes, and the local runtime runs batches side by side.
  const response = await processPartialResponse(event, handle, new BatchProcessor(EventType.SQS), {
    processInParallel: opts.parallel,
    throwOnFullBatchFailure: false,
  });
  if (fatal) throw fatal.error;
  return response;
}
