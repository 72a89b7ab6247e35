import type { Deps } from '../../deps';
import { copyLanes } from '../../domain/group-rules';
import type { Group, SyncJob } from '../../domain/model';
import { suspendForMemberFailure } from '../resync';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { pause, type StepResult, setJob, updateJob } from './job';

const BASE_LANES = 2;

export async function copy(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const total = job.tasksTotal ?? 0;
  const enqueued = job.tasksEnqueued ?? 0;
  const unfinished = await loadUnfinished(deps, job.id);
  const broken = unfinished.find((t) => t.failed);
  if (broken?.failed) return suspendForMemberFailure(deps, group, job, broken.taskNo, broken.failed);
  const failing = unfinished.find((t) => t.error);
  if (failing?.error) return pause(deps, group, job, failing.error);
  if (unfinished.length === 0 && enqueued >= total) {
    await setJob(deps, job, { state: 'committing' });
    return 'progress';
  }
  const inFlight = unfinished.filter((t) => t.taskNo < enqueued).length;
  const lanes = BASE_LANES * copyLanes(group.priority);
  const room = Math.max(0, lanes - inFlight);
  if (room === 0 || enqueued >= total) {
    // Waiting on tasks already queued touches no site: probe the secondary, so that a link lost
    // now pauses the sync (the probe throws "unreachable") instead of waiting unseen.
    await deps.copyQueues[group.secondarySite].depth();
    return 'waiting';
  }
  const next = unfinished.filter((t) => t.taskNo >= enqueued).slice(0, room);
  const upTo = next.length ? next[next.length - 1].taskNo + 1 : total;
  await deps.copyQueues[group.secondarySite].sendAll(
    next.map((t) => JSON.stringify({ syncId: job.id, groupId: group.id, taskNo: t.taskNo })),
  );
  await updateJob(deps, job, { set: { tasksEnqueued: upTo } });
  return 'progress';
}

async function loadUnfinished(deps: Deps, syncId: string) {
  const tasks = await deps.table.queryPrefix<
    Pick<CopyTaskItem, 'taskNo' | 'chunkCount' | 'doneCount' | 'error' | 'failed'>
  >(taskPartition(syncId), 'TASK#', ['taskNo', 'chunkCount', 'doneCount', 'error', 'failed']);
  return tasks.filter((t) => t.doneCount < t.chunkCount);
}
