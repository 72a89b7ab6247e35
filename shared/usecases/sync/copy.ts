import { keys } from '../../aws/keys';
import type { Deps } from '../../deps';
import { copyLanes } from '../../domain/group-rules';
import type { Group, SyncJob } from '../../domain/model';
import { suspendForMemberFailure } from '../resync';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { pause, type StepResult, setJob, updateJob } from './job';

/**
 * Offers the copy tasks a few lanes at a time and waits for them. Every task below the job's
 * `tasksLow` is finished, so a call reads only the tasks offered since (about the lanes in
 * flight), whatever the sync's size: the driver polls this step several times a second.
 */
export async function copy(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const total = job.tasksTotal ?? 0;
  const low = job.tasksLow ?? 0;
  const enqueued = Math.max(job.tasksEnqueued ?? 0, low);
  const unfinished = await loadUnfinished(deps, job.id, low, enqueued);
  const broken = unfinished.find((t) => t.failed);
  if (broken?.failed) return suspendForMemberFailure(deps, group, job, broken.taskNo, broken.failed);
  const failing = unfinished.find((t) => t.error);
  if (failing?.error) return pause(deps, group, job, failing.error);
  if (unfinished.length === 0 && enqueued >= total) {
    await setJob(deps, job, { state: 'committing' });
    return 'progress';
  }
  const finishedBelow = unfinished[0]?.taskNo ?? enqueued;
  const room = Math.max(0, copyLanes(group.priority) - unfinished.length);
  if (room === 0 || enqueued >= total) {
    if (finishedBelow > low) await updateJob(deps, job, { set: { tasksLow: finishedBelow } });
    // Waiting on tasks already queued touches no site: probe the secondary, so that a link lost
    // now pauses the sync (the probe throws "unreachable") instead of waiting unseen.
    await deps.copyQueues[group.secondarySite].depth();
    return 'waiting';
  }
  const upTo = Math.min(total, enqueued + room);
  const offered = Array.from({ length: upTo - enqueued }, (_, i) => enqueued + i);
  await deps.copyQueues[group.secondarySite].sendAll(
    offered.map((taskNo) => JSON.stringify({ syncId: job.id, groupId: group.id, taskNo })),
  );
  await updateJob(deps, job, { set: { tasksEnqueued: upTo, tasksLow: finishedBelow } });
  return 'progress';
}

/** The unfinished tasks among those offered, `from` (inclusive) to `to` (exclusive). */
async function loadUnfinished(deps: Deps, syncId: string, from: number, to: number) {
  if (to <= from) return [];
  const tasks = deps.table.query<
    Pick<CopyTaskItem, 'taskNo' | 'chunkCount' | 'doneCount' | 'error' | 'failed'>
  >(taskPartition(syncId), keys.copyTask(syncId, from).sk, keys.copyTask(syncId, to - 1).sk, [
    'taskNo',
    'chunkCount',
    'doneCount',
    'error',
    'failed',
  ]);
  const unfinished = [];
  for await (const t of tasks) if (t.doneCount < t.chunkCount) unfinished.push(t);
  return unfinished;
}
