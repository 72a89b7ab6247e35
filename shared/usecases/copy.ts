import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { badInput } from '../domain/errors';
import { checkId } from '../domain/ids';
import { isUnreachable } from './sync';
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

const COPIES_IN_FLIGHT = 4;

/**
 * Copies the chunks of one task that are not copied yet. Each copied chunk is recorded on
 * the task item at once, so a worker killed midway leaves a task that resumes without
 * copying any chunk twice; a duplicate message finds the chunks done and copies nothing.
 */
export async function runCopyTask(
  deps: Deps,
  message: CopyMessage,
  shouldStop: StopCheck = () => false,
): Promise<number> {
  const key = keys.copyTask(message.syncId, message.taskNo);
  const task = await deps.table.get<CopyTaskItem>(key);
  if (!task) return 0;
  const source = deps.stores[task.sourceSite];
  const target = deps.stores[task.targetSite];
  const todo = task.chunks.filter(([index]) => !task.done?.[`c${index}`]);
  let copied = 0;
  // Copies overlap; their records go to the task item one after another, which keeps the
  // item's updates simple for every DynamoDB implementation (emulators included).
  let records: Promise<unknown> = Promise.resolve();
  const copyOne = async ([index, versionId]: [number, string]) => {
    if (shouldStop()) throw new WorkerStopped(`stopped before chunk ${index} of task ${task.taskNo}`);
    const newVersion = await target.copyChunkFrom(
      source,
      task.sourceVolumeId,
      task.targetVolumeId,
      index,
      versionId,
    );
    const record = records.then(() =>
      deps.table.update(
        key,
        { set: { [`done.c${index}`]: newVersion }, add: { doneCount: 1, doneBytes: task.chunkSizeBytes } },
        { expr: 'attribute_not_exists(done.#c)', names: { '#c': `c${index}` } },
      ),
    );
    records = record.catch(() => undefined);
    await record;
    copied++;
  };
  try {
    // A few chunks at a time: each is recorded as soon as it lands, so a kill loses no copy.
    for (let i = 0; i < todo.length; i += COPIES_IN_FLIGHT) {
      await Promise.all(todo.slice(i, i + COPIES_IN_FLIGHT).map(copyOne));
    }
  } catch (e) {
    if (isUnreachable(e)) {
      await deps.table
        .update(key, { set: { error: `cannot reach a site: ${(e as Error).message}` } })
        .catch(() => undefined);
    }
    throw e;
  }
  return copied;
}
