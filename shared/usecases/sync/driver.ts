import { isUnreachable } from '../../aws/errors';
import { keys } from '../../aws/keys';
import type { Deps } from '../../deps';
import { newId } from '../../domain/ids';
import type { Group, SyncJob } from '../../domain/model';
import { collect } from './collect';
import { commit } from './commit';
import { copy } from './copy';
import { cut } from './cut';
import { failSync, pause, type StepResult } from './job';

/**
 * Moves a sync one step along cutting -> collecting -> copying -> committing -> committed.
 * Every step reads its state from the table and is safe to repeat, so a sync killed at any
 * line resumes where it stopped when any process calls this again.
 */
export async function advanceSync(deps: Deps, groupId: string, syncId: string): Promise<StepResult> {
  const job = await deps.table.get<SyncJob>(keys.sync(groupId, syncId));
  const group = await deps.table.get<Group>(keys.group(groupId));
  if (!group || !job) return 'done';
  if (job.state === 'committed' || job.state === 'failed') return 'done';
  if (group.activeSync?.id !== job.id && group.lastRp?.number !== job.rpNumber) {
    return failSync(deps, job, 'the group no longer runs this sync');
  }
  if (group.roleEpoch !== job.roleEpoch) return failSync(deps, job, 'the role epoch changed during the sync');
  if (group.status === 'user-suspended') return 'waiting';
  try {
    switch (job.state) {
      case 'cutting':
        return await cut(deps, group, job);
      case 'collecting':
        return await collect(deps, group, job);
      case 'copying':
      case 'paused':
        return await copy(deps, group, job);
      case 'committing':
        return await commit(deps, group, job);
    }
  } catch (e) {
    if (isUnreachable(e)) return pause(deps, group, job, (e as Error).message);
    throw e;
  }
}

const DRIVER_LEASE_MS = 30_000;

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
    { set: { driver: { holder, expiresAt: now + DRIVER_LEASE_MS } } },
    {
      expr: 'attribute_exists(pk) AND (attribute_not_exists(driver) OR driver.holder = :h OR driver.expiresAt < :now)',
      values: { ':h': holder, ':now': now },
    },
  );
  return held !== null;
}

/**
 * Drives a sync until it commits, fails, or the deadline passes (a Lambda's time budget).
 * Returns 'waiting' at once when another driver holds the sync.
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
  for (let i = 0; i < 1_000_000 && Date.now() < deadline && !cancelled(); i++) {
    if (Date.now() - renewedAt > DRIVER_LEASE_MS / 3) {
      if (!(await holdDriverLease(deps, groupId, syncId, holder))) return 'waiting';
      renewedAt = Date.now();
    }
    result = await advanceSync(deps, groupId, syncId);
    if (result === 'done') return result;
    if (result === 'waiting') await new Promise((r) => setTimeout(r, pollMs));
  }
  // Let the next tick's driver take over at once instead of waiting out the lease.
  await deps.table.update(
    keys.sync(groupId, syncId),
    { remove: ['driver'] },
    {
      expr: 'driver.holder = :h',
      values: { ':h': holder },
    },
  );
  return result;
}
