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

/**
 * Copies the chunks of one task that are not copied yet. Each copied chunk is recorded on
 * the task item at once, so a worker killed midway leaves a task that resumes without
 * copying any chunk twice; a duplicate message finds the chunks done and copies nothing.
 */
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
  const updated = await deps.table.update(
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
  return updated !== null;
}

/**
 * A request the site refused for good (a missing source version, access denied): retrying
 * cannot mend it. Throttling and timeouts are not refusals.
 */
function isRefused(e: unknown): boolean {
  const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

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
  let copied = 0;
  // The record of one slice overlaps the copies of the next; it is always awaited before a stop.
  let recording: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; i < todo.length; i += COPIES_IN_FLIGHT) {
      const slice = todo.slice(i, i + COPIES_IN_FLIGHT);
      if (shouldStop()) {
        await recording;
        throw new WorkerStopped(`stopped before chunk ${slice[0][0]} of task ${task.taskNo}`);
      }
      const versions = await Promise.all(
        slice.map(([index, versionId]) =>
          target.copyChunkFrom(source, task.sourceVolumeId, task.targetVolumeId, index, versionId),
        ),
      );
      await recording;
      const copiedSlice = slice.map(([index], j): [number, string] => [index, versions[j]]);
      recording = recordSlice(deps, task, key, copiedSlice);
      copied += slice.length;
    }
    await recording;
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
