import { isTransient, isUnreachable } from '../../aws/errors';
import { barrierRange, changeRange, groupPartition, keys } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import type { Group, SyncJob } from '../../domain/model';
import { expireRecoveryPoints } from '../recovery-points';
import { clearScanResync } from '../resync';
import { tidyCommitted } from './garbage';
import { closeOpenSync, type StepResult } from './job';

/**
 * What follows a commit: removal of what the RP consumed, expiry of old RPs. A
 * separate, idempotent step: the RP is committed and the group released before it, so a site
 * unreachable here leaves the job 'committed' without finishedAt, and the tick drives it
 * again (see Group.openSyncs) while the next sync may already run. It never rewrites the job's
 * state or the RP item.
 */
export async function finishCommit(deps: Deps, groupId: string, job: SyncJob): Promise<void> {
  try {
    await finish(deps, groupId, job);
  } catch (e) {
    // Left for the retry: the commit itself stands.
    if (!isUnreachable(e) && !isTransient(e)) throw e;
  }
}

/** Retries the post-commit work of a committed job (the driver calls it from the tick). */
export async function retryFinish(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  try {
    await finish(deps, group.id, job);
  } catch (e) {
    if (isUnreachable(e) || isTransient(e)) return 'waiting';
    throw e;
  }
  return 'done';
}

async function finish(deps: Deps, groupId: string, job: SyncJob): Promise<void> {
  await cleanUp(deps, groupId, job);
  await clearScanResync(deps, groupId, job);
  await expireRecoveryPoints(deps, groupId);
  // Last: objects only, so a site lost here holds back no table clean-up or expiry.
  const current = await deps.table.get<Group>(keys.group(groupId));
  if (current) await tidyCommitted(deps, current, job);
  await deps.table.update(
    keys.sync(groupId, job.id),
    { set: { finishedAt: isoNow(deps) } },
    {
      expr: '#st = :c AND attribute_not_exists(finishedAt)',
      names: { '#st': 'state' },
      values: { ':c': 'committed' },
    },
  );
  const group = await deps.table.get<Group>(keys.group(groupId));
  if (group) await closeOpenSync(deps, group, job.id);
}

/** Removes what the committed RP consumed: change batches, barriers, copy tasks. */
async function cleanUp(deps: Deps, groupId: string, job: SyncJob): Promise<void> {
  const cutEpoch = job.cutEpoch ?? 0;
  const pk = groupPartition(groupId);
  const [cFrom, cTo] = changeRange(1, cutEpoch);
  const [bFrom, bTo] = barrierRange(1, cutEpoch);
  const doomed = [
    ...(await deps.table.queryKeys(pk, cFrom, cTo)),
    ...(await deps.table.queryKeys(pk, bFrom, bTo)),
    // Planning is deterministic and numbers the tasks from 0: their keys need no read.
    ...Array.from({ length: job.tasksTotal ?? 0 }, (_, taskNo) => keys.copyTask(job.id, taskNo)),
  ];
  await deps.table.deleteMany(doomed);
}
