import { keys } from '../../aws/keys';
import type { Deps } from '../../deps';
import { copyLanes } from '../../domain/group-rules';
import type { Group, SyncJob } from '../../domain/model';
import { recordEvent } from '../events';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { pause, type StepResult, setJob } from './job';

const BASE_LANES = 2;

export async function copy(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (job.state === 'paused') {
    if ((job.retryAt ?? 0) > deps.now()) return 'waiting';
    await probeSites(deps, group);
    // Messages may have been lost to the DLQ while the link was down: enqueue the rest again.
    for (const t of await loadUnfinished(deps, job.id)) {
      if (t.error) await deps.table.update(keys.copyTask(job.id, t.taskNo), { remove: ['error'] });
    }
    await setJob(deps, job, { state: 'copying', tasksEnqueued: 0, retries: 0 }, 'paused');
    await deps.table.update(
      keys.group(group.id),
      { set: { status: 'optimal' }, remove: ['pausedReason'] },
      {
        expr: '#s = :p',
        names: { '#s': 'status' },
        values: { ':p': 'paused' },
      },
    );
    await recordEvent(
      deps,
      group.id,
      'link-up',
      'info',
      `${group.secondarySite} reachable again; sync ${job.id} resumes`,
    );
    return 'progress';
  }
  const total = job.tasksTotal ?? 0;
  const enqueued = job.tasksEnqueued ?? 0;
  const unfinished = await loadUnfinished(deps, job.id);
  const failing = unfinished.find((t) => t.error);
  if (failing?.error) return pause(deps, group, job, failing.error);
  if (unfinished.length === 0 && enqueued >= total) {
    await setJob(deps, job, { state: 'committing' });
    return 'progress';
  }
  const inFlight = unfinished.filter((t) => t.taskNo < enqueued).length;
  const lanes = BASE_LANES * copyLanes(group.priority);
  const room = Math.max(0, lanes - inFlight);
  if (room === 0 || enqueued >= total) return 'waiting';
  const next = unfinished.filter((t) => t.taskNo >= enqueued).slice(0, room);
  const upTo = next.length ? next[next.length - 1].taskNo + 1 : total;
  await deps.copyQueues[group.secondarySite].sendAll(
    next.map((t) => JSON.stringify({ syncId: job.id, groupId: group.id, taskNo: t.taskNo })),
  );
  await deps.table.update(keys.sync(group.id, job.id), { set: { tasksEnqueued: upTo } });
  return 'progress';
}

async function loadUnfinished(deps: Deps, syncId: string) {
  const tasks = await deps.table.queryPrefix<
    Pick<CopyTaskItem, 'taskNo' | 'chunkCount' | 'doneCount' | 'error'>
  >(taskPartition(syncId), 'TASK#', ['taskNo', 'chunkCount', 'doneCount', 'error']);
  return tasks.filter((t) => t.doneCount < t.chunkCount);
}

async function probeSites(deps: Deps, group: Group): Promise<void> {
  await Promise.all([group.primarySite, group.secondarySite].map((s) => deps.copyQueues[s].depth()));
}
