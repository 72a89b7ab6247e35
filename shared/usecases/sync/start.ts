import { keys } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import { conflict, notFound } from '../../domain/errors';
import { checkId, newId } from '../../domain/ids';
import type { Group, SyncJob } from '../../domain/model';
import { recordEvent } from '../events';
import { loadGroup, loadPairs } from '../groups';
import { settleMemberChange } from '../pairs';
import { syncProgress } from '../sync-progress';
import { failSync, inRecoveryPoint, lastRecoveryPoint, rpIdOf } from './job';

export interface SyncView {
  syncId: string;
  groupId: string;
  state: 'running' | 'paused' | 'committed' | 'failed';
  phase: SyncJob['state'];
  initial: boolean;
  chunksTotal: number;
  chunksCopied: number;
  bytesCopied: number;
  recoveryPointId: string;
  cutEpoch?: number;
  error?: string;
  /** Why a paused sync waits (the site it cannot reach). */
  pausedReason?: string;
}

/**
 * Starts a sync of the group: one at a time, taken by a conditional write on the group. A
 * planned role change starts its final sync with its id: only that sync runs while it is pending.
 */
export async function startSync(
  deps: Deps,
  groupId: unknown,
  roleChangeId?: string,
): Promise<{ syncId: string; recoveryPointId: string }> {
  const read = await loadGroup(deps, groupId);
  // A member change whose process died is settled first: the sync must not plan a half-added pair.
  await settleMemberChange(deps, read);
  const group = read.memberLock ? await loadGroup(deps, read.id) : read;
  const status = roleChangeId ? 'role-change-pending' : 'optimal';
  if (roleChangeId && group.roleChange?.id !== roleChangeId)
    throw conflict(`group ${group.id} is not in role change ${roleChangeId}`, 'wrong-state');
  if (group.status !== status)
    throw conflict(`group ${group.id} is ${group.status}; resume it first`, 'wrong-state');
  if (group.activeSync)
    throw conflict(`group ${group.id} already runs sync ${group.activeSync.id}`, 'sync-running');
  if (group.preserveWrites)
    throw conflict(
      `group ${group.id} waits for ${group.preserveWrites.site} to answer: its writes after a forced promotion are kept first`,
      'preservation-pending',
    );
  const pairs = await loadPairs(deps, group.id);
  if (pairs.length === 0) throw conflict(`group ${group.id} has no mirrored pairs`, 'group-empty');
  const last = await lastRecoveryPoint(deps, group);
  const initial = pairs.some((p) => !inRecoveryPoint(last, p));
  const syncId = newId('sync');
  const now = deps.now();
  const rpNumber = group.rpCounter + 1;
  const job: SyncJob = {
    id: syncId,
    groupId: group.id,
    rpNumber,
    rpId: rpIdOf(rpNumber),
    state: 'cutting',
    initial,
    roleEpoch: group.roleEpoch,
    fromEpoch: (group.lastRp?.epoch ?? 0) + 1,
    startedAt: isoNow(deps),
    ...(group.resyncByScan && { scan: true, resyncToken: group.resyncByScan.token }),
  };
  // The job exists before the group points at it, so whoever sees the pointer finds the job.
  await deps.table.put(keys.sync(group.id, syncId), job);
  const claimed = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: {
        activeSync: { id: syncId, initial },
        lastSyncStartedAt: isoNow(deps),
        rpCounter: rpNumber,
        openSyncs: [...(group.openSyncs ?? []), syncId],
      },
    },
    {
      expr: 'attribute_not_exists(activeSync) AND attribute_not_exists(preserveWrites) AND #s = :ok AND roleEpoch = :re AND rpCounter = :n AND (attribute_not_exists(memberLock) OR (memberLock.expiresAt < :now AND attribute_not_exists(memberLock.adding) AND attribute_not_exists(memberLock.removing)))',
      names: { '#s': 'status' },
      values: { ':ok': status, ':re': group.roleEpoch, ':n': group.rpCounter, ':now': now },
    },
  );
  if (!claimed) {
    await deps.table.delete(keys.sync(group.id, syncId));
    throw conflict(`group ${group.id} changed while starting the sync; try again`, 'sync-running');
  }
  await recordEvent(
    deps,
    group.id,
    'sync-started',
    'info',
    `${initial ? 'initial' : 'delta'} sync ${syncId} started for ${job.rpId}`,
  );
  return { syncId, recoveryPointId: job.rpId };
}

export async function getSync(deps: Deps, groupId: unknown, syncId: unknown): Promise<SyncView> {
  const gid = checkId(groupId, 'groupId');
  const sid = checkId(syncId, 'syncId');
  const job = await deps.table.get<SyncJob>(keys.sync(gid, sid));
  if (!job) throw notFound('sync', sid);
  const progress = await syncProgress(deps, sid);
  const state =
    job.state === 'committed' || job.state === 'failed' ? job.state : job.pause ? 'paused' : 'running';
  return {
    syncId: job.id,
    groupId: job.groupId,
    state,
    phase: job.state,
    initial: job.initial,
    chunksTotal: job.chunksTotal ?? progress.chunksTotal,
    chunksCopied:
      job.state === 'committed' ? (job.chunksTotal ?? progress.chunksCopied) : progress.chunksCopied,
    bytesCopied: job.state === 'committed' ? (job.bytesTotal ?? progress.bytesCopied) : progress.bytesCopied,
    recoveryPointId: job.rpId,
    ...(job.cutEpoch !== undefined && { cutEpoch: job.cutEpoch }),
    ...(job.error && { error: job.error }),
    ...(job.pause && { pausedReason: job.pause.reason }),
  };
}

/**
 * Aborts a running sync: it ends as failed, the group is released and the last RP stays the
 * one served. The change records stay, so the next sync copies what this one would have.
 */
export async function abortSync(deps: Deps, groupId: unknown, syncId: unknown): Promise<SyncView> {
  const gid = checkId(groupId, 'groupId');
  const sid = checkId(syncId, 'syncId');
  const job = await deps.table.get<SyncJob>(keys.sync(gid, sid));
  if (!job) throw notFound('sync', sid);
  const ended = () => conflict(`sync ${sid} has already ended (${job.state})`, 'sync-ended');
  if (job.state === 'committed' || job.state === 'failed') throw ended();
  // 'progress': the commit won the race (the group already lists this sync's RP).
  if ((await failSync(deps, job, 'aborted by the user', 'sync-aborted')) === 'progress') {
    throw conflict(`sync ${sid} has already committed`, 'sync-ended');
  }
  const view = await getSync(deps, gid, sid);
  if (view.error !== 'aborted by the user')
    throw conflict(`sync ${sid} has already ended (${view.state})`, 'sync-ended');
  return view;
}
