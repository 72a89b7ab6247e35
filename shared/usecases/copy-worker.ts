import type { Key } from '../aws/control-table';
import { isTransient, isUnreachable } from '../aws/errors';
import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { chunkKey } from '../domain/chunks';
import { badInput } from '../domain/errors';
import { checkId } from '../domain/ids';
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

/** Transient failures a copy task may see before it is reported as a site fault (which pauses). */
export const TASK_TRANSIENT_LIMIT = 5;

/** Records a slice in one write; if a duplicate delivery got to some of it first, the rest one by one. */
async function recordSlice(
  deps: Deps,
  task: CopyTaskItem,
  key: Key,
  copied: [number, string][],
): Promise<void> {
  if (await record(deps, key, task.chunkSizeBytes, copied)) return;
  const unrecorded = [];
  for (const chunk of copied)
    if (!(await record(deps, key, task.chunkSizeBytes, [chunk]))) unrecorded.push(chunk);
  // A copy nobody records (a duplicate delivery's, or one made for a sync that ended) is garbage.
  await deps.stores[task.targetSite].deleteVersions(
    unrecorded.map(([index, versionId]) => ({ key: chunkKey(task.targetVolumeId, index), versionId })),
  );
}

/** Records copied chunks on the task item, unless any of them is recorded already. */
async function record(deps: Deps, key: Key, chunkSize: number, copied: [number, string][]): Promise<boolean> {
  const names = Object.fromEntries(copied.map(([index], j) => [`#c${j}`, `c${index}`]));
  return deps.table.apply(
    key,
    {
      set: Object.fromEntries(copied.map(([index, version]) => [`done.c${index}`, version])),
      add: { doneCount: copied.length, doneBytes: copied.length * chunkSize },
    },
    // A task removed or cancelled meanwhile (its sync failed or was aborted) records nothing more.
    {
      expr: [
        'attribute_exists(pk) AND attribute_not_exists(cancelled)',
        ...copied.map((_, j) => `attribute_not_exists(done.#c${j})`),
      ].join(' AND '),
      names,
    },
  );
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
 * twice; a duplicate message finds the chunks done and copies nothing.
 */
export async function runCopyTask(
  deps: Deps,
  message: CopyMessage,
  shouldStop: StopCheck = () => false,
): Promise<number> {
  const key = keys.copyTask(message.syncId, message.taskNo);
  const task = await deps.table.get<CopyTaskItem>(key);
  if (!task || task.cancelled) return 0;
  const source = deps.stores[task.sourceSite];
  const target = deps.stores[task.targetSite];
  const todo = task.chunks.filter(([index]) => !task.done?.[`c${index}`]);
  try {
    return await copyAll(todo, shouldStop, {
      copy: ([index, versionId]) =>
        target.copyChunkFrom(source, task.sourceVolumeId, task.targetVolumeId, index, versionId),
      record: (copied) => recordSlice(deps, task, key, copied),
      stopped: (index) => new WorkerStopped(`stopped before chunk ${index} of task ${task.taskNo}`),
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
  todo: [number, string][],
  shouldStop: StopCheck,
  io: {
    copy: (chunk: [number, string]) => Promise<string>;
    record: (copied: [number, string][]) => Promise<void>;
    stopped: (index: number) => Error;
  },
): Promise<number> {
  const unrecorded: [number, string][] = [];
  let recording: Promise<void> = Promise.resolve();
  const recordPending = () => {
    const batch = unrecorded.splice(0);
    if (batch.length > 0) recording = recording.then(() => io.record(batch));
    return recording;
  };
  let next = 0;
  let copied = 0;
  let halt: Error | undefined;
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
