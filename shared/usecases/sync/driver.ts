import { isTransient, isUnreachable } from '../../aws/errors';
import { keys } from '../../aws/keys';
import type { Deps } from '../../deps';
import { newId } from '../../domain/ids';
import type { Group, SyncJob } from '../../domain/model';
import { retryTransient } from '../transient';
import { retryFinish } from './cleanup';
import { collect } from './collect';
import { commit } from './commit';
import { copy } from './copy';
import { cut } from './cut';
import {
  closeOpenSync,
  type DrivenJob,
  driverLeaseLost,
  failSync,
  isDriverLeaseLost,
  pause,
  resume,
  type StepResult,
  updateJob,
} from './job';

/**
 * Consecutive steps that may throw the same error before the sync fails with it: enough to
 * ride out a transient fault, few enough that a deterministic one ends the sync soon.
 */
export const MAX_STEP_FAILURES = 5;

/**
 * Moves a sync one step along cutting -> collecting -> copying -> committing -> committed,
 * then finishes it (post-commit work). Every step reads its state from the table and is safe
 * to repeat, so a sync killed at any line resumes where it stopped when any process calls
 * this again.
 */
export async function advanceSync(
  deps: Deps,
  groupId: string,
  syncId: string,
  driver?: string,
): Promise<StepResult> {
  const job = await deps.table.get<DrivenJob>(keys.sync(groupId, syncId));
  const group = await deps.table.get<Group>(keys.group(groupId));
  if (!group || !job) return 'done';
  // Taken over between the lease renewal and this read: nothing read here is this driver's.
  if (driver !== undefined && job.driver?.holder !== driver && !['committed', 'failed'].includes(job.state))
    throw driverLeaseLost(syncId);
  if (job.state === 'committed' && !job.finishedAt) return retryFinish(deps, group, job);
  // A failed job is failed again: that finishes a failSync killed midway, then closes the job.
  if (job.state === 'failed') return failSync(deps, job, job.error ?? 'failed');
  if (job.state === 'committed') {
    await closeOpenSync(deps, group, job.id);
    return 'done';
  }
  // A listed RP is this sync's commit, landed before its job said so: the commit step finishes it.
  const published = group.lastRp?.number === job.rpNumber || group.recoveryPoints?.includes(job.rpNumber);
  if (group.activeSync?.id !== job.id && !published) {
    return failSync(deps, job, 'the group no longer runs this sync');
  }
  if (group.roleEpoch !== job.roleEpoch) return failSync(deps, job, 'the role epoch changed during the sync');
  if (group.status === 'user-suspended') return 'waiting';
  // Resync policy manual: a paused sync waits for the user's resume (pause.userResumed).
  if (job.pause && !job.pause.userResumed && group.status === 'paused' && group.resyncPolicy === 'manual')
    return 'waiting';
  try {
    const result = await step(deps, group, job);
    if (job.failures || job.transientFailures)
      await updateJob(deps, job, { remove: ['failures', 'transientFailures'] });
    return result;
  } catch (e) {
    // A stale driver stops quietly: its failure is not the sync's.
    if (isDriverLeaseLost(e)) throw e;
    if (isUnreachable(e)) return pause(deps, group, job, (e as Error).message);
    if (isTransient(e)) return retryTransient(deps, group, job, e as Error);
    return countFailure(deps, job, e as Error);
  }
}

function step(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (job.pause) return resume(deps, group, job);
  switch (job.state) {
    case 'cutting':
      return cut(deps, group, job);
    case 'collecting':
      return collect(deps, group, job);
    case 'copying':
      return copy(deps, group, job);
    case 'committing':
      return commit(deps, group, job);
    default:
      return Promise.resolve('done');
  }
}

/** A step that keeps throwing (not a link fault) fails the sync instead of being retried forever. */
async function countFailure(deps: Deps, job: DrivenJob, e: Error): Promise<StepResult> {
  const counted = await updateJob(
    deps,
    job,
    { add: { failures: 1 } },
    { expr: '#st = :st', names: { '#st': 'state' }, values: { ':st': job.state } },
  );
  const failures = counted?.failures ?? 0;
  if (failures >= MAX_STEP_FAILURES) {
    return failSync(deps, job, `${job.state} failed ${failures} times in a row: ${e.message}`);
  }
  throw e;
}

/**
 * Takes or renews the right to drive a sync. The scheduler hands every running sync to a new
 * invocation each tick; with this lease, one drives and the others return at once.
 */
async function holdDriverLease(
  deps: Deps,
  groupId: string,
  syncId: string,
  holder: string,
): Promise<boolean> {
  const now = deps.now();
  const held = await deps.table.update(
    keys.sync(groupId, syncId),
    { set: { driver: { holder, expiresAt: now + driverLeaseMs(deps) } } },
    {
      expr: 'attribute_exists(pk) AND (attribute_not_exists(driver) OR driver.holder = :h OR driver.expiresAt < :now)',
      values: { ':h': holder, ':now': now },
    },
  );
  return held !== null;
}

const driverLeaseMs = (deps: Deps) => (deps.config.driverLeaseSeconds ?? 30) * 1000;

/**
 * Drives a sync until it ends (committed and finished, or failed), or the deadline passes
 * (a Lambda's time budget). Returns 'waiting' at once when another driver holds the sync.
 */
export async function driveSync(
  deps: Deps,
  groupId: string,
  syncId: string,
  deadline: number,
  pollMs = 100,
  cancelled: () => boolean = () => false,
): Promise<StepResult> {
  const holder = newId('gw');
  let renewedAt = 0;
  let result: StepResult = 'progress';
  try {
    for (let i = 0; i < 1_000_000 && Date.now() < deadline && !cancelled(); i++) {
      if (Date.now() - renewedAt > driverLeaseMs(deps) / 3) {
        if (!(await holdDriverLease(deps, groupId, syncId, holder))) return 'waiting';
        renewedAt = Date.now();
      }
      try {
        result = await advanceSync(deps, groupId, syncId, holder);
      } catch (e) {
        // Another driver took the sync over while this one stalled: it goes on, this one stops.
        if (isDriverLeaseLost(e)) return 'waiting';
        throw e;
      }
      if (result === 'done') return result;
      if (result === 'waiting') await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    // Let the next tick's driver take over at once instead of waiting out the lease.
    await deps.table
      .update(
        keys.sync(groupId, syncId),
        { remove: ['driver'] },
        {
          expr: 'driver.holder = :h',
          values: { ':h': holder },
        },
      )
      .catch(() => undefined);
  }
  return result;
}
