import type { ChunkStore } from '../aws/chunk-store';
import { keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { chunkKey } from '../domain/chunks';
import { conflict } from '../domain/errors';
import { canTakeOver, fencing } from '../domain/fencing';
import { newId } from '../domain/ids';
import type { Group, Pair, RecoveryPoint, RoleChange, SyncJob, Volume } from '../domain/model';
import {
  divergentChunks,
  flippedPair,
  flippedRoles,
  flipRecoveryPoint,
  forcedPromotionRefusal,
  nextRoleStep,
  parseRoleRequest,
  plannedRefusal,
  type RoleStep,
  refOf,
  requestedPrimary,
} from '../domain/roles';
import { recordEvent } from './events';
import { type GroupView, groupView, loadGroup, loadPairs } from './groups';
import { inRecoveryPoint, lastRecoveryPoint, rpIdOf, startSync } from './sync/index';
import { failSync } from './sync/job';

/**
 * A role request: a planned change (the group goes role-change-pending and the tick drives
 * drain, final sync and flip) or a forced promotion of the secondary (role-change-in-progress
 * at once, only when the forced-promotion rules allow it). Either starts with one conditional
 * write on the role epoch and status read, so of two concurrent requests exactly one starts.
 */
export async function requestRoleChange(
  deps: Deps,
  groupId: unknown,
  input: Record<string, unknown>,
): Promise<GroupView> {
  const group = await loadGroup(deps, groupId);
  const req = parseRoleRequest(input, group);
  const toPrimary = requestedPrimary(group, req);
  const change: RoleChange = {
    id: newId('role'),
    toPrimary,
    force: req.force,
    fromRoleEpoch: group.roleEpoch,
    requestedAt: isoNow(deps),
  };
  if (req.force) {
    const pairs = await loadPairs(deps, group.id);
    const last = await lastRecoveryPoint(deps, group);
    const refusal = forcedPromotionRefusal({
      status: group.status,
      pairs: pairs.length,
      pairsWithoutRp: pairs.filter((p) => !inRecoveryPoint(last, p)).length,
      initialSyncRunning: group.activeSync?.initial === true,
    });
    if (refusal) throw refusal;
  } else {
    const refusal = plannedRefusal(group.status);
    if (refusal) throw refusal;
    if (group.preserveWrites) {
      throw conflict(
        `${group.preserveWrites.site} has not answered since the forced promotion: its writes must be kept first`,
        'preservation-pending',
      );
    }
  }
  const status = req.force ? 'role-change-in-progress' : 'role-change-pending';
  // Conditional on what the rules were checked against: the status, the role epoch, the member
  // list (and no pair add or removal under way, which the member lock's condition refuses in
  // turn while a change is recorded) and whether an initial sync runs.
  const started = await deps.table.update<Group>(
    keys.group(group.id),
    { set: { status, roleChange: change } },
    {
      expr: `#s = :s AND roleEpoch = :re AND attribute_not_exists(roleChange) AND (attribute_not_exists(memberLock) OR memberLock.expiresAt < :now) AND ${
        group.membersVersion === undefined ? 'attribute_not_exists(membersVersion)' : 'membersVersion = :mv'
      } AND ${group.activeSync?.initial ? 'activeSync.initial = :t' : '(attribute_not_exists(activeSync) OR activeSync.initial = :f)'}`,
      names: { '#s': 'status' },
      values: {
        ':s': group.status,
        ':re': group.roleEpoch,
        ':now': deps.now(),
        ':mv': group.membersVersion,
        ':t': true,
        ':f': false,
      },
    },
  );
  if (!started) {
    throw conflict(
      `group ${group.id} changed while the role change was requested; try again`,
      'role-change-raced',
    );
  }
  await recordEvent(
    deps,
    group.id,
    req.force ? 'forced-promotion' : 'role-change-requested',
    req.force ? 'warning' : 'info',
    `${req.force ? 'forced promotion' : 'planned role change'} ${change.id}: ${toPrimary} becomes primary`,
  );
  return groupView(deps, started);
}

/**
 * Runs role-change steps until one has to wait (for the gateway, a sync) or the change is
 * done, at most `maxSteps`; returns the final syncs started, for the caller to drive.
 */
export async function driveRoleChange(deps: Deps, groupId: string, maxSteps = 8): Promise<string[]> {
  const started: string[] = [];
  for (let i = 0; i < maxSteps; i++) {
    const { step, syncId } = await advanceRoleChange(deps, groupId);
    if (syncId) started.push(syncId);
    if (!step || step === 'finish' || step === 'start-final-sync' || step.startsWith('wait-')) break;
  }
  return started;
}

export interface RoleStepResult {
  step?: RoleStep;
  /** A final sync the step started: the caller drives it. */
  syncId?: string;
}

/**
 * Moves the group's role change one step on, as read from the table. Every step is
 * conditional or idempotent, so concurrent and repeated calls (the tick, a killed process's
 * successor) converge: a killed role change resumes where it stopped.
 */
export async function advanceRoleChange(deps: Deps, groupId: string): Promise<RoleStepResult> {
  const group = await deps.table.get<Group>(keys.group(groupId));
  const change = group?.roleChange;
  if (!group || !change) return {};
  const now = deps.now();
  const f = fencing(deps.config.leaseSeconds);
  const finalJob = change.finalSyncId
    ? await deps.table.get<SyncJob>(keys.sync(group.id, change.finalSyncId))
    : undefined;
  const flipped = group.roleEpoch > change.fromRoleEpoch;
  const step = nextRoleStep({
    status: group.status,
    force: change.force,
    roleEpoch: group.roleEpoch,
    fromRoleEpoch: change.fromRoleEpoch,
    // Planned: a live gateway drains and releases; one that crashed is waited out like a forced one.
    leaseHeld: group.lease !== undefined && !canTakeOver(group.lease, now, f),
    activeSyncId: group.activeSync?.id,
    finalSyncId: change.finalSyncId,
    finalSync: finalJob
      ? finalJob.state === 'committed' || finalJob.state === 'failed'
        ? finalJob.state
        : 'running'
      : undefined,
    membersFlipped: flipped && (await membersFlipped(deps, group)),
  });
  switch (step) {
    case 'wait-for-gateway':
    case 'wait-for-sync':
      return { step };
    case 'start-final-sync':
      if ((await loadPairs(deps, group.id)).length === 0) {
        // Nothing to mirror: no final sync, the flip may happen.
        await beginFlip(deps, group, change, now - f.takeoverDelayMs);
        return { step: 'begin-flip' };
      }
      return { step, syncId: await startFinalSync(deps, group, change) };
    case 'begin-flip':
      await beginFlip(deps, group, change, now - f.takeoverDelayMs);
      return { step };
    case 'abort-sync': {
      const job =
        group.activeSync && (await deps.table.get<SyncJob>(keys.sync(group.id, group.activeSync.id)));
      if (job) await failSync(deps, job, `aborted by forced promotion ${change.id}`, 'sync-aborted');
      return { step };
    }
    case 'flip':
      await flip(deps, group, change, now - f.takeoverDelayMs);
      return { step };
    case 'flip-members':
      await flipMembers(deps, group);
      return { step };
    case 'finish':
      await finish(deps, group, change);
      return { step };
  }
}

async function startFinalSync(deps: Deps, group: Group, change: RoleChange): Promise<string> {
  const { syncId } = await startSync(deps, group.id, change.id);
  await deps.table.update(
    keys.group(group.id),
    { set: { 'roleChange.finalSyncId': syncId } },
    { expr: 'roleChange.id = :id', values: { ':id': change.id } },
  );
  return syncId;
}

/** After the final sync committed, with no writer and no sync: the flip may happen. */
async function beginFlip(deps: Deps, group: Group, change: RoleChange, stale: number): Promise<void> {
  await deps.table.update(
    keys.group(group.id),
    { set: { status: 'role-change-in-progress' } },
    {
      expr: '#s = :p AND roleChange.id = :id AND attribute_not_exists(activeSync) AND (attribute_not_exists(lease) OR lease.expiresAt < :stale)',
      names: { '#s': 'status' },
      values: { ':p': 'role-change-pending', ':id': change.id, ':stale': stale },
    },
  );
}

/**
 * The flip: the promoted site's volumes are reverted to the last RP (chunks a half-copied
 * sync left newer than it), the RP the new direction starts from is written, then ONE
 * conditional write swaps the sites and bumps the role epoch (condition: role epoch and RP
 * list unchanged, status role-change-in-progress, this change, no live lease, no sync).
 */
async function flip(deps: Deps, group: Group, change: RoleChange, stale: number): Promise<void> {
  if (change.toPrimary !== group.secondarySite)
    throw new Error(`role change ${change.id} names no secondary`);
  const last = await lastRecoveryPoint(deps, group);
  const roles = flippedRoles(group);
  const number = group.rpCounter + 1;
  const set: Record<string, unknown> = {
    ...roles,
    // The old primary may hold writes no RP has: they are kept before anything copies over them.
    ...(change.force && { preserveWrites: { site: group.primarySite, changeId: change.id } }),
    // Epochs up to the old one belong to the old primary: the new direction starts after them.
    epoch: group.epoch + 1,
    rpCounter: number,
  };
  if (last) {
    for (const pair of await loadPairs(deps, group.id)) await revertSecondary(deps, group, last, pair);
    const rp = flipRecoveryPoint(last, {
      id: rpIdOf(number),
      number,
      roleEpoch: roles.roleEpoch,
      epoch: group.epoch,
      newSecondarySite: roles.secondarySite,
      committedAt: isoNow(deps),
    });
    const written = await deps.table.put(keys.recoveryPoint(group.id, number), rp, {
      expr: 'attribute_not_exists(pk)',
    });
    if (!written) {
      const stored = await deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, number));
      // An earlier attempt of this same flip wrote it; anything else means the group moved on.
      if (stored?.roleEpoch !== rp.roleEpoch || stored.site !== rp.site || stored.epoch !== rp.epoch) return;
    }
    set.lastRp = refOf(rp);
    set.recoveryPoints = [...(group.recoveryPoints ?? []), number];
  }
  const done = await deps.table.update<Group>(
    keys.group(group.id),
    { set, remove: ['lease', 'cutRequest', 'cutRequestScan', 'cutDone'] },
    {
      expr: `roleEpoch = :re AND #s = :ip AND #e = :e AND roleChange.id = :id AND attribute_not_exists(activeSync) AND rpCounter = :n AND (attribute_not_exists(lease) OR lease.expiresAt < :stale) AND ${
        group.recoveryPoints ? 'recoveryPoints = :rps' : 'attribute_not_exists(recoveryPoints)'
      }`,
      names: { '#s': 'status', '#e': 'epoch' },
      values: {
        ':re': group.roleEpoch,
        ':e': group.epoch,
        ':ip': 'role-change-in-progress',
        ':id': change.id,
        ':n': group.rpCounter,
        ':stale': stale,
        ':rps': group.recoveryPoints,
      },
    },
  );
  if (done) {
    await recordEvent(
      deps,
      group.id,
      'role-flipped',
      'info',
      `${roles.primarySite} is primary from role epoch ${roles.roleEpoch}${last ? `, starting from ${rpIdOf(number)}` : ''}`,
    );
  }
}

/**
 * Makes the live image of a secondary volume exactly its RP image: a chunk newer than the
 * RP (from a sync that never committed) gets the RP's version back as its latest, and a chunk
 * the RP does not hold is hidden by a delete marker. Nothing is deleted, so repeating is safe.
 */
async function revertSecondary(deps: Deps, group: Group, rp: RecoveryPoint, pair: Pair): Promise<number> {
  const entry = rp.volumes.find((v) => v.pairId === pair.id);
  if (!entry) return 0;
  const store = deps.stores[group.secondarySite];
  const volumeId = pair.secondaryVolumeId;
  let reverted = 0;
  for await (const d of divergentChunks(
    store.listChunks(volumeId),
    store.readManifest(entry.secondaryManifestKey),
  )) {
    if (d.rp && d.live && (await sameContent(store, volumeId, d.index, d.live, d.rp))) continue;
    if (d.rp) await store.copyChunkFrom(store, volumeId, volumeId, d.index, d.rp);
    else await store.deleteVersions([{ key: chunkKey(volumeId, d.index) }]);
    reverted++;
  }
  if (reverted > 0) {
    await recordEvent(
      deps,
      group.id,
      'secondary-reverted',
      'warning',
      `${reverted} chunk(s) of volume ${volumeId} reverted to ${rp.id} (left by a sync that did not commit)`,
    );
  }
  return reverted;
}

/**
 * Whether two versions of a chunk hold the same bytes: a chunk restored by an earlier revert
 * is a copy of the RP's version under a new version id, and is not copied again.
 */
async function sameContent(store: ChunkStore, volumeId: string, index: number, a: string, b: string) {
  const [x, y] = await Promise.all([store.getChunk(volumeId, index, a), store.getChunk(volumeId, index, b)]);
  return x !== undefined && y !== undefined && Buffer.from(x).equals(Buffer.from(y));
}

/** Whether the pair items and volume roles follow the group's (flipped) sites. */
async function membersFlipped(deps: Deps, group: Group): Promise<boolean> {
  for (const pair of await loadPairs(deps, group.id)) {
    const primary = await deps.table.get<Volume>(keys.volume(pair.primaryVolumeId));
    const secondary = await deps.table.get<Volume>(keys.volume(pair.secondaryVolumeId));
    if (primary?.site !== group.primarySite || primary.role !== 'primary' || secondary?.role !== 'secondary')
      return false;
  }
  return true;
}

/**
 * Re-keys each pair under its new primary volume (same pair id, so its RPs and change records
 * still match) and swaps the volumes' roles. The new item is written before the old one goes,
 * so a step killed midway leaves both, and the next one finishes.
 */
async function flipMembers(deps: Deps, group: Group): Promise<void> {
  for (const pair of await loadPairs(deps, group.id)) {
    const volume = await deps.table.get<Volume>(keys.volume(pair.primaryVolumeId));
    const current = volume?.site === group.primarySite ? pair : flippedPair(pair);
    if (current !== pair) {
      await deps.table.put(keys.pair(group.id, current.primaryVolumeId), current, {
        expr: 'attribute_not_exists(pk)',
      });
      await deps.table.delete(keys.pair(group.id, pair.primaryVolumeId));
    }
    await deps.table.update(keys.volume(current.primaryVolumeId), { set: { role: 'primary' } });
    await deps.table.update(keys.volume(current.secondaryVolumeId), { set: { role: 'secondary' } });
  }
}

async function finish(deps: Deps, group: Group, change: RoleChange): Promise<void> {
  const done = await deps.table.update<Group>(
    keys.group(group.id),
    { set: { status: 'optimal' }, remove: ['roleChange', 'pausedReason'] },
    { expr: 'roleChange.id = :id', values: { ':id': change.id } },
  );
  if (done) {
    await recordEvent(
      deps,
      group.id,
      'role-changed',
      'info',
      `role change ${change.id} done: ${group.primarySite} is primary, mirroring to ${group.secondarySite}`,
    );
  }
}

/**
 * The return of the old primary after a forced promotion, driven by the tick until its site
 * answers. Per pair, the old primary's volume (now the secondary) is listed as it is: its
 * image with every write it took, kept as a `preserved-writes` item that is listed, readable
 * and never expired. Then the volume is reverted to the last RP (its chunks changed since are
 * restored locally, nothing crosses the link), and syncs may start again: the next one copies
 * only what the new primary changed. Each step is conditional or idempotent.
 */
export async function preserveOldPrimaryWrites(deps: Deps, groupId: string): Promise<boolean> {
  const group = await deps.table.get<Group>(keys.group(groupId));
  const pending = group?.preserveWrites;
  if (!group || !pending || group.roleChange) return false;
  if (pending.site !== group.secondarySite)
    throw new Error(`group ${group.id}: ${pending.site} is not the secondary`);
  const last = await lastRecoveryPoint(deps, group);
  const pairs = await loadPairs(deps, group.id);
  let listed = group;
  if (pending.rpNumber === undefined) {
    const number = group.rpCounter + 1;
    const rp = await preservedItem(deps, group, number, pairs, last);
    const written = await deps.table.put(keys.recoveryPoint(group.id, number), rp, {
      expr: 'attribute_not_exists(pk)',
    });
    if (!written) {
      const stored = await deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, number));
      if (stored?.kind !== 'preserved-writes') return false;
    }
    const updated = await deps.table.update<Group>(
      keys.group(group.id),
      {
        set: {
          rpCounter: number,
          recoveryPoints: [...(group.recoveryPoints ?? []), number],
          'preserveWrites.rpNumber': number,
        },
      },
      {
        expr: `rpCounter = :n AND preserveWrites.changeId = :c AND attribute_not_exists(activeSync) AND ${
          group.recoveryPoints ? 'recoveryPoints = :rps' : 'attribute_not_exists(recoveryPoints)'
        }`,
        values: { ':n': group.rpCounter, ':c': pending.changeId, ':rps': group.recoveryPoints },
      },
    );
    if (!updated) return false;
    listed = updated;
    await recordEvent(
      deps,
      group.id,
      'writes-preserved',
      'warning',
      `${pending.site}'s writes after ${last?.id ?? 'the last RP'} are kept as ${rp.id} (kind preserved-writes)`,
    );
  }
  if (last) for (const pair of pairs) await revertSecondary(deps, listed, last, pair);
  await deps.table.update(
    keys.group(group.id),
    { remove: ['preserveWrites'] },
    { expr: 'preserveWrites.changeId = :c', values: { ':c': pending.changeId } },
  );
  return true;
}

/** Lists each old-primary volume as it is now into a manifest at its site: the preserved image. */
async function preservedItem(
  deps: Deps,
  group: Group,
  number: number,
  pairs: Pair[],
  last: RecoveryPoint | undefined,
): Promise<RecoveryPoint> {
  const store = deps.stores[group.secondarySite];
  const id = rpIdOf(number);
  const volumes: RecoveryPoint['volumes'] = [];
  // Bytes of the chunks the old primary changed since the last RP: what only this item holds.
  let changedBytes = 0;
  for (const pair of pairs) {
    const volume = await deps.table.get<Volume>(keys.volume(pair.secondaryVolumeId));
    const key = `manifests/${group.id}/${id}/preserved/${pair.secondaryVolumeId}.txt`;
    const chunks = await store.writeManifest(key, store.listChunks(pair.secondaryVolumeId));
    const base = last?.volumes.find((v) => v.pairId === pair.id)?.secondaryManifestKey;
    for await (const _ of divergentChunks(store.readManifest(key), store.readManifest(base)))
      changedBytes += volume?.chunkSizeBytes ?? 0;
    volumes.push({
      pairId: pair.id,
      primaryVolumeId: pair.secondaryVolumeId,
      secondaryVolumeId: pair.secondaryVolumeId,
      primaryManifestKey: key,
      secondaryManifestKey: key,
      chunks,
      bytes: chunks * (volume?.chunkSizeBytes ?? 0),
    });
  }
  const at = isoNow(deps);
  return {
    id,
    number,
    groupId: group.id,
    kind: 'preserved-writes',
    site: group.secondarySite,
    epoch: last?.epoch ?? 0,
    roleEpoch: group.roleEpoch,
    cutAt: at,
    committedAt: at,
    bytes: changedBytes,
    volumes,
  };
}
