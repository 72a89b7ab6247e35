import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export interface BatchOptions {
  /** Handle the records side by side (cheap, independent records) or one after another. */
  concurrent: boolean;
  /** Errors that end the whole invocation, as a crash would: no record of the batch is reported done. */
  fatal?: (e: unknown) => boolean;
  /** Told of each failed record; by default a JSON line on stderr (the function's log). */
  onFailure?: FailureSink;
}

export type FailureSink = (messageId: string, error: unknown) => void;

const logFailure =
  (what: string): FailureSink =>
  (messageId, error) =>
    console.error(JSON.stringify({ level: 'error', msg: `${what} failed`, messageId, error: String(error) }));

/**
 * Runs `handle` on every record of an SQS batch and names the records that failed in a partial
 * batch response, so only those are received again; the others are deleted by the trigger.
 */
export async function partialBatch(
  event: SQSEvent,
  what: string,
  handle: (record: SQSRecord) => Promise<unknown>,
  opts: BatchOptions,
): Promise<SQSBatchResponse> {
  const failed = async (record: SQSRecord): Promise<string | undefined> => {
    try {
      await handle(record);
      return undefined;
    } catch (e) {
      if (opts.fatal?.(e)) throw e;
      (opts.onFailure ?? logFailure(what))(record.messageId, e);
      return record.messageId;
    }
  };
  const outcomes: (string | undefined)[] = [];
  if (opts.concurrent) outcomes.push(...(await Promise.all(event.Records.map(failed))));
  else for (const record of event.Records) outcomes.push(await failed(record));
  return {
    batchItemFailures: outcomes
      .filter((id): id is string => id !== undefined)
      .map((id) => ({ itemIdentifier: id })),
  };
}
