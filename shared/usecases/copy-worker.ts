import type { Key } from '../aws/control-table';
import { isTransient, isUnreachable } from '../aws/errors';
import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { copiedVersions, decodeChunkRefs, encodeChunkRefs } from '../domain/chunk-ref-text';
import { chunkKey } from '../domain/chunks';
import { badInput, DomainError } from '../domain/errors';
import { checkId } from '../domain/ids';
import type { ChunkRef } from '../domain/model';
import { COPIES_IN_FLIGHT } from '../tuning';
import type { CopyTaskItem } from './sync-progress';

export interface CopyMessage {
  syncId: string;
  groupId: string;
  taskNo: number;
}

export function parseCopyMessage(body: string): CopyMessage {
  let m: Partial<CopyMessage>;
  try {
    m = JSON.parse(body);
  } catch {
    throw badInput('copy task message is not JSON');
  }
  if (!Number.isInteger(m.taskNo)) throw badInput('copy task message has no taskNo');
  return {
    syncId: checkId(m.syncId, 'syncId'),
    groupId: checkId(m.groupId, 'groupId'),
    taskNo: m.taskNo as number,
  };
}

/** Lets a test or the runtime stop a worker between two chunk copies, as a kill would. */
export type StopCheck = () => boolean;

export class WorkerStopped extends Error {}

/** A later delivery claimed the task: this one's message is received again once that one is done. */
export class TaskSuperseded extends DomainError {
  constructor(taskNo: number) {
    super(409, 'task-superseded', `copy task ${taskNo} was claimed by a later delivery, or cancelled`);
  }
}

/** Transient failures a copy task may see before it is reported as a site fault (which pauses). */
export const TASK_TRANSIENT_LIMIT = 5;

/**
 * Takes the task for this delivery and reads what is recorded on it. A later claim (a duplicate
 * delivery, or the task received again while this worker still runs) takes it over: from then
 * on this worker's records fail, so every chunk is recorded by one worker only. Null when there
 * is nothing to do: the task is finished, cancelled or gone.
 */
async function claim(deps: Deps, key: Key): Promise<CopyTaskItem | null> {
  return deps.table.update<CopyTaskItem>(
    key,
    { add: { claims: 1 } },
    { expr: 'attribute_exists(pk) AND attribute_not_exists(cancelled) AND doneCount < chunkCount' },
  );
}

/**
 * Records a slice of landed copies, unless the task was claimed again or cancelled since this
 * worker claimed it; then the copies are garbage and are deleted, and false is returned.
 */
async function recordSlice(deps: Deps, task: CopyTaskItem, key: Key, copied: ChunkRef[]): Promise<boolean> {
  const recorded = await deps.table.apply(
    key,
    {
      append: { copied: [encodeChunkRefs(copied)] },
      add: { doneCount: copied.length, doneBytes: copied.length * task.chunkSizeBytes },
    },
    { expr: 'claims = :mine AND attribute_not_exists(cancelled)', values: { ':mine': task.claims } },
  );
  if (!recorded)
    await deps.stores[task.targetSite].deleteVersions(
      copied.map(([index, versionId]) => ({ key: chunkKey(task.targetVolumeId, index), versionId })),
    );
  return recorded;
}

/**
 * A request the site refused for good (a missing source version, access denied): retrying
 * cannot mend it. Throttling and timeouts are not refusals.
 */
function isRefused(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Copies the chunks of one task that are not copied yet. Copied chunks are recorded on the
 * task item in batches as they land, and the copies in flight are recorded before the task
 * stops or fails, so a worker stopped midway or a task retried after an error copies no chunk
 * twice. A duplicate message received after the task finished copies nothing; one received
 * while it runs takes the task over, and the worker it took it from deletes its unrecorded
 * copies and ends with TaskSuperseded, so that its message is received again, not deleted.
 */
export async function runCopyTask(
  deps: Deps,
  message: CopyMessage,
  shouldStop: StopCheck = () => false,
): Promise<number> {
  const key = keys.copyTask(message.syncId, message.taskNo);
  const task = await claim(deps, key);
  if (!task) return 0;
  const source = deps.stores[task.sourceSite];
  const target = deps.stores[task.targetSite];
  const recorded = copiedVersions(task);
  const todo = decodeChunkRefs(task.chunks).filter(([index]) => !recorded.has(index));
  try {
    return await copyAll(todo, shouldStop, {
      copy: ([index, versionId]) =>
        target.copyChunkFrom(source, task.sourceVolumeId, task.targetVolumeId, index, versionId),
      record: (copied) => recordSlice(deps, task, key, copied),
      stopped: (index) => new WorkerStopped(`stopped before chunk ${index} of task ${task.taskNo}`),
      superseded: () => new TaskSuperseded(task.taskNo),
    });
  } catch (e) {
    if (!isUnreachable(e) && isTransient(e)) {
      await noteTransient(deps, key, e as Error);
      throw e;
    }
    const note = isUnreachable(e)
      ? { error: `cannot reach a site: ${(e as Error).message}` }
      : isRefused(e)
        ? { failed: `${(e as Error).name}: ${(e as Error).message}` }
        : undefined;
    if (note) {
      await deps.table.update(key, { set: note }, { expr: 'attribute_exists(pk)' }).catch(() => undefined);
    }
    throw e;
  }
}

/**
 * Copies `todo` with COPIES_IN_FLIGHT copies always in flight (a slow copy holds up only its
 * own lane) and records them in batches of about as many, one record at a time, overlapping
 * the copies. When a copy fails or the worker is stopped, no new copy starts, the copies in
 * flight settle and every one that landed is recorded before the error is thrown: a rerun
 * recopies nothing that was copied.
 */
async function copyAll(
  todo: ChunkRef[],
  shouldStop: StopCheck,
  io: {
    copy: (chunk: ChunkRef) => Promise<string>;
    record: (copied: ChunkRef[]) => Promise<boolean>;
    stopped: (index: number) => Error;
    superseded: () => Error;
  },
): Promise<number> {
  const unrecorded: ChunkRef[] = [];
  let halt: Error | undefined;
  let recording: Promise<void> = Promise.resolve();
  const recordPending = () => {
    const batch = unrecorded.splice(0);
    if (batch.length > 0)
      recording = recording.then(async () => {
        // Later batches are still handed over after a refused one: each deletes its own copies.
        if (!(await io.record(batch))) halt ??= io.superseded();
      });
    return recording;
  };
  let next = 0;
  let copied = 0;
  const lane = async () => {
    while (halt === undefined && next < todo.length) {
      if (shouldStop()) {
        halt = io.stopped(todo[next][0]);
        return;
      }
      const chunk = todo[next++];
      try {
        unrecorded.push([chunk[0], await io.copy(chunk)]);
      } catch (e) {
        halt ??= e as Error;
        return;
      }
      copied += 1;
      if (unrecorded.length >= COPIES_IN_FLIGHT)
        recordPending().catch((e: Error) => {
          halt ??= e;
        });
    }
  };
  await Promise.all(Array.from({ length: Math.min(COPIES_IN_FLIGHT, todo.length) }, lane));
  await recordPending();
  if (halt) throw halt;
  return copied;
}

/**
 * Throttling or a server error: the message comes back after its visibility timeout and the
 * task is retried. Only a task that keeps failing is reported as a site fault (the sync pauses
 * and re-offers it), so a lasting outage never leaves its messages to die in the DLQ unnoticed.
 */
async function noteTransient(deps: Deps, key: Key, e: Error): Promise<void> {
  const counted = await deps.table
    .update<CopyTaskItem>(key, { add: { transientErrors: 1 } }, { expr: 'attribute_exists(pk)' })
    .catch(() => null);
  if ((counted?.transientErrors ?? 0) < TASK_TRANSIENT_LIMIT) return;
  await deps.table
    .update(key, { set: { error: `${e.name}: ${e.message}` } }, { expr: 'attribute_exists(pk)' })
    .catch(() => undefined);
}
