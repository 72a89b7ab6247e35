import { keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { badInput, conflict, DomainError, notFound } from '../domain/errors';
import { checkId, newId } from '../domain/ids';
import type { Group, Lease, Pair, Volume } from '../domain/model';
import { recordEvent } from './events';
import { loadGroup, loadPairs, type PairView } from './groups';
import { loadVolume } from './volumes';

const memberLockMs = (deps: Deps) => (deps.config.memberLockSeconds ?? 60) * 1000;

/**
 * What a pair add is doing, noted on the member lock before its first claim: if the adding
 * process dies, whoever takes the expired lock next finishes the add or undoes it from this.
 */
export interface PendingAdd {
  pairId: string;
  primaryVolumeId: string;
  secondaryVolumeId: string;
  /** The add creates the secondary (and so deletes it when undone). */
  createsSecondary: boolean;
  /** The group's membersVersion when the add began: the add's confirmation made it larger. */
  membersVersion: number;
}

/** What a pair removal is doing, noted on the member lock: a dead removal is finished by the next holder. */
export interface PendingRemoval {
  pairId: string;
  primaryVolumeId: string;
  secondaryVolumeId: string;
}

type MemberLock = Lease & { adding?: PendingAdd; removing?: PendingRemoval };

/** A volume claimed for a pair names the pair, so only that pair's add or removal frees it. */
type ClaimedVolume = Volume & { claimedBy?: string };

export const baseManifestKey = (groupId: string, volumeId: string, epoch: number) =>
  `manifests/${groupId}/${volumeId}/base-${epoch}.txt`;

/**
 * Membership changes hold a short lock on the group so that no sync plans over a member
 * list that is changing under it (the table has no transactions). Taking a lock that expired
 * first settles the change its dead holder left (see settleDeadAdd).
 */
async function withMemberLock<T>(
  deps: Deps,
  groupId: string,
  work: (group: Group, holder: string) => Promise<T>,
): Promise<T> {
  const holder = newId('gw');
  const locked = await takeMemberLock(deps, groupId, holder);
  try {
    return await work(locked, holder);
  } finally {
    await deps.table.update(
      keys.group(groupId),
      { remove: ['memberLock'] },
      {
        expr: 'memberLock.holder = :h',
        values: { ':h': holder },
      },
    );
  }
}

async function takeMemberLock(deps: Deps, groupId: string, holder: string): Promise<Group> {
  const before = await loadGroup(deps, groupId);
  const prior = before.memberLock as MemberLock | undefined;
  const now = deps.now();
  // Conditional on the lock read, so the dead change settled below is the one replaced here.
  const locked = await deps.table.update<Group>(
    keys.group(groupId),
    { set: { memberLock: { holder, expiresAt: now + memberLockMs(deps) } } },
    {
      expr: `attribute_exists(pk) AND attribute_not_exists(activeSync) AND attribute_not_exists(roleChange) AND ${
        prior
          ? 'memberLock.holder = :old AND memberLock.expiresAt < :now'
          : 'attribute_not_exists(memberLock)'
      }`,
      values: { ':now': now, ...(prior && { ':old': prior.holder }) },
    },
  );
  if (!locked)
    throw conflict(
      `group ${groupId} is syncing, changing members or changing roles; try again when that is done`,
      'sync-running',
    );
  if (!prior?.adding && !prior?.removing) return locked;
  if (prior.adding) await settleDeadAdd(deps, locked, prior.adding);
  if (prior.removing) await finishRemoval(deps, groupId, prior.removing);
  return loadGroup(deps, groupId);
}

/**
 * A pair add whose process died (its lock expired with the add noted on it): complete if its
 * confirmation landed (nobody else changes members under a lock, so a larger membersVersion
 * is that confirmation), undone otherwise, so neither volume stays claimed.
 */
async function settleDeadAdd(deps: Deps, group: Group, add: PendingAdd): Promise<void> {
  if ((group.membersVersion ?? 0) > add.membersVersion) {
    await recordEvent(
      deps,
      group.id,
      'pair-added',
      'info',
      `pair ${add.primaryVolumeId} -> ${add.secondaryVolumeId} added`,
    );
    return;
  }
  await undoAdd(deps, group.id, add);
}

/**
 * Settles a member change left by a dead process once its lock has expired: the scheduler tick
 * and startSync call this, so a claim left by a dead add never outlives the lock it was made under.
 */
export async function settleMemberChange(deps: Deps, group: Group): Promise<void> {
  const lock = group.memberLock as MemberLock | undefined;
  if ((!lock?.adding && !lock?.removing) || lock.expiresAt >= deps.now() || group.activeSync) return;
  try {
    await withMemberLock(deps, group.id, async () => undefined);
  } catch (e) {
    // Someone else took the lock meanwhile, and settles it.
    if (!(e instanceof DomainError)) throw e;
  }
}

/**
 * Takes back whatever part of an add landed, in the reverse order. Every write is conditional
 * on the add's pair id, so nothing of another pair (a later add of the same volume) is touched.
 */
async function undoAdd(deps: Deps, groupId: string, add: PendingAdd): Promise<void> {
  const pairGone = await deps.table.delete(keys.pair(groupId, add.primaryVolumeId), {
    expr: '#id = :p',
    names: { '#id': 'id' },
    values: { ':p': add.pairId },
  });
  let fence: Partial<Volume> | undefined;
  if (pairGone) {
    // A gateway may have loaded the pair item: it must reload, and its lease fences the volume.
    const bumped = await bumpMembersVersion(deps, groupId);
    fence = fenceLease(deps, bumped);
  }
  await freeVolume(deps, add.primaryVolumeId, add.pairId, fence);
  if (add.createsSecondary) {
    await deps.table.delete(keys.volume(add.secondaryVolumeId), {
      expr: 'claimedBy = :p',
      values: { ':p': add.pairId },
    });
  } else {
    await freeVolume(deps, add.secondaryVolumeId, add.pairId);
  }
}

/**
 * Tells the group's gateway to reload its pairs. Conditional on the group: once its last pair
 * is gone it may be deleted meanwhile, and an unconditional update would bring back an item
 * holding nothing but the counter. Null when the group is gone (no gateway to fence).
 */
function bumpMembersVersion(deps: Deps, groupId: string): Promise<Group | null> {
  return deps.table.update<Group>(
    keys.group(groupId),
    { add: { membersVersion: 1 } },
    { expr: 'attribute_exists(pk)' },
  );
}

/** Until the group's gateway reloaded its pairs, its lease may still cover a volume leaving the group. */
function fenceLease(deps: Deps, group: Group | null): Partial<Volume> | undefined {
  const lease = group?.lease;
  return lease && lease.expiresAt > deps.now()
    ? { lease: { holder: 'fence', expiresAt: lease.expiresAt + takeoverDelayMs(deps) } }
    : undefined;
}

/** A pair to add, as the API's schema (shared/api/schemas) has checked it. */
export interface AddPairInput {
  primaryVolumeId: string;
  secondaryVolumeId?: string;
}

export async function addPair(deps: Deps, groupId: unknown, input: AddPairInput): Promise<PairView> {
  const group = await loadGroup(deps, groupId);
  if (group.status === 'failed') throw conflict(`group ${group.id} has failed`, 'wrong-state');
  const primary = await loadSettled(deps, input.primaryVolumeId);
  if (primary.site !== group.primarySite) {
    throw badInput(
      `primary volume ${primary.id} is at ${primary.site}, the group's primary site is ${group.primarySite}`,
      'wrong-site',
    );
  }
  if (primary.groupId)
    throw conflict(`volume ${primary.id} is already in group ${primary.groupId}`, 'volume-in-pair');
  let secondary: Volume | undefined;
  if (input.secondaryVolumeId !== undefined) {
    secondary = await loadSettled(deps, input.secondaryVolumeId);
    checkSecondary(group, primary, secondary);
  }
  // A clone's content is partly its base's, which neither a sync nor a pair's RPs know of.
  for (const v of [primary, secondary])
    if (v?.base) throw conflict(`volume ${v.id} is an RP clone: it cannot be mirrored`, 'clone-volume');
  return withMemberLock(deps, group.id, async (locked, holder) => {
    const add: PendingAdd = {
      pairId: newId('pair'),
      primaryVolumeId: primary.id,
      secondaryVolumeId: secondary?.id ?? newId('vol'),
      createsSecondary: secondary === undefined,
      membersVersion: locked.membersVersion ?? 0,
    };
    const noted = await deps.table.update(
      keys.group(group.id),
      { set: { 'memberLock.adding': add } },
      { expr: 'memberLock.holder = :h', values: { ':h': holder } },
    );
    if (!noted)
      throw conflict(`adding the pair to group ${group.id} took too long; try again`, 'sync-running');
    try {
      await claimAndAdd(deps, locked, holder, primary, secondary, add);
    } catch (e) {
      // Refused or interrupted before the commit point: nothing of the add stays, both volumes are free again.
      await undoAdd(deps, group.id, add);
      throw e;
    }
    await recordEvent(
      deps,
      group.id,
      'pair-added',
      'info',
      `pair ${primary.id} -> ${add.secondaryVolumeId} added`,
    );
    return { primaryVolumeId: primary.id, secondaryVolumeId: add.secondaryVolumeId, status: 'synchronizing' };
  });
}

/** A volume, after settling a dead member change that may still claim it. */
async function loadSettled(deps: Deps, id: unknown): Promise<Volume> {
  const volume = await loadVolume(deps, id);
  if (!volume.groupId) return volume;
  const group = await deps.table.get<Group>(keys.group(volume.groupId));
  if (!group?.memberLock) return volume;
  await settleMemberChange(deps, group);
  return loadVolume(deps, volume.id);
}

/** The add's writes, each of which undoAdd (or settleDeadAdd after a crash) takes back. */
async function claimAndAdd(
  deps: Deps,
  locked: Group,
  holder: string,
  primary: Volume,
  secondary: Volume | undefined,
  add: PendingAdd,
): Promise<void> {
  const group = locked;
  const claimedPrimary = await deps.table.update(
    keys.volume(primary.id),
    { set: { groupId: group.id, role: 'primary', claimedBy: add.pairId } },
    {
      expr: 'attribute_exists(pk) AND attribute_not_exists(groupId) AND (attribute_not_exists(lease) OR lease.expiresAt < :now)',
      values: { ':now': deps.now() },
    },
  );
  if (!claimedPrimary) {
    throw conflict(`volume ${primary.id} is in a pair or being written; try again later`, 'volume-busy');
  }
  if (secondary) {
    const claimed = await deps.table.update(
      keys.volume(secondary.id),
      { set: { groupId: group.id, role: 'secondary', claimedBy: add.pairId } },
      { expr: 'attribute_exists(pk) AND attribute_not_exists(groupId)' },
    );
    if (!claimed) throw conflict(`volume ${secondary.id} is already in a pair`, 'volume-in-pair');
  } else {
    await createSecondary(deps, group, primary, add);
  }
  // The primary is claimed, so nobody writes it now: this listing is the initial-sync base.
  const baseKey = baseManifestKey(group.id, primary.id, locked.epoch);
  const baseChunks = await deps.stores[group.primarySite].writeManifest(
    baseKey,
    deps.stores[group.primarySite].listChunks(primary.id),
  );
  const pair: Pair = {
    id: add.pairId,
    groupId: group.id,
    primaryVolumeId: primary.id,
    secondaryVolumeId: add.secondaryVolumeId,
    startEpoch: locked.epoch,
    baseManifestKey: baseKey,
    baseChunks,
    addedAt: isoNow(deps),
  };
  await deps.table.put(keys.pair(group.id, primary.id), pair);
  // The commit point. The lock may have expired during the add (and a sync planned without this
  // pair, or another process settled the add): the pair counts only if the lock is still ours.
  const confirmed = await deps.table.update(
    keys.group(group.id),
    { add: { membersVersion: 1 } },
    {
      expr: 'memberLock.holder = :h AND memberLock.expiresAt > :now',
      values: { ':h': holder, ':now': deps.now() },
    },
  );
  if (!confirmed)
    throw conflict(`adding the pair to group ${group.id} took too long; try again`, 'sync-running');
}

/**
 * Takes a volume out of the group, only if it is still claimed for this pair. With `legacyGroup`,
 * also a volume of that group claimed before claims named their pair.
 */
async function freeVolume(
  deps: Deps,
  volumeId: string,
  pairId: string,
  set?: Partial<Volume>,
  legacyGroup?: string,
): Promise<void> {
  await deps.table.update(
    keys.volume(volumeId),
    { remove: ['groupId', 'role', 'claimedBy'], ...(set && { set }) },
    legacyGroup
      ? {
          expr: 'claimedBy = :p OR (attribute_not_exists(claimedBy) AND groupId = :g)',
          values: { ':p': pairId, ':g': legacyGroup },
        }
      : { expr: 'claimedBy = :p', values: { ':p': pairId } },
  );
}

function checkSecondary(group: Group, primary: Volume, secondary: Volume): void {
  if (secondary.id === primary.id) throw badInput('a volume cannot mirror itself', 'same-volume');
  if (secondary.site !== group.secondarySite) {
    throw badInput(
      `secondary volume ${secondary.id} is at ${secondary.site}, the group's secondary site is ${group.secondarySite}`,
      'wrong-site',
    );
  }
  if (secondary.sizeBytes < primary.sizeBytes) {
    throw badInput(
      `secondary volume ${secondary.id} (${secondary.sizeBytes} bytes) is smaller than the primary (${primary.sizeBytes} bytes)`,
      'secondary-too-small',
    );
  }
  if (secondary.chunkSizeBytes !== primary.chunkSizeBytes) {
    throw badInput('secondary and primary volumes must have the same chunk size', 'chunk-size-mismatch');
  }
  if (secondary.groupId)
    throw conflict(`volume ${secondary.id} is already in group ${secondary.groupId}`, 'volume-in-pair');
}

/** The secondary the add creates is created claimed, so a crash right after leaves nothing unowned. */
async function createSecondary(deps: Deps, group: Group, primary: Volume, add: PendingAdd): Promise<void> {
  const volume: ClaimedVolume = {
    id: add.secondaryVolumeId,
    name: `${primary.name.slice(0, 56)}-mirror`,
    site: group.secondarySite,
    sizeBytes: primary.sizeBytes,
    chunkSizeBytes: primary.chunkSizeBytes,
    createdAt: isoNow(deps),
    groupId: group.id,
    role: 'secondary',
    claimedBy: add.pairId,
  };
  await deps.table.put(keys.volume(volume.id), volume, { expr: 'attribute_not_exists(pk)' });
}

export async function removePair(deps: Deps, groupId: unknown, primaryVolumeId: unknown): Promise<void> {
  const group = await loadGroup(deps, groupId);
  const volumeId = checkId(primaryVolumeId, 'primaryVolumeId');
  const pair = (await loadPairs(deps, group.id)).find((p) => p.primaryVolumeId === volumeId);
  if (!pair) throw notFound('pair', volumeId);
  await withMemberLock(deps, group.id, async (_locked, holder) => {
    const removing: PendingRemoval = {
      pairId: pair.id,
      primaryVolumeId: pair.primaryVolumeId,
      secondaryVolumeId: pair.secondaryVolumeId,
    };
    const noted = await deps.table.update(
      keys.group(group.id),
      { set: { 'memberLock.removing': removing } },
      { expr: 'memberLock.holder = :h', values: { ':h': holder } },
    );
    if (!noted)
      throw conflict(`removing the pair from group ${group.id} took too long; try again`, 'sync-running');
    await finishRemoval(deps, group.id, removing);
  });
}

/**
 * The removal's writes; repeated whole when its process died midway (settled by the next
 * lock holder), each one idempotent.
 */
async function finishRemoval(deps: Deps, groupId: string, r: PendingRemoval): Promise<void> {
  await deps.table.delete(keys.pair(groupId, r.primaryVolumeId), {
    expr: '#id = :p',
    names: { '#id': 'id' },
    values: { ':p': r.pairId },
  });
  // The gateway's renewal is conditional on membersVersion: it fails, the gateway reloads
  // its pairs (without this one), then renews.
  const bumped = await bumpMembersVersion(deps, groupId);
  // Until then the gateway may still write the removed volume, under its current lease: no
  // volume gateway may take the volume before that lease has run out and settled.
  await freeVolume(deps, r.primaryVolumeId, r.pairId, fenceLease(deps, bumped), groupId);
  await freeVolume(deps, r.secondaryVolumeId, r.pairId, undefined, groupId);
  await recordEvent(
    deps,
    groupId,
    'pair-removed',
    'info',
    `pair ${r.primaryVolumeId} -> ${r.secondaryVolumeId} removed`,
  );
}

/** Stand-in for the fencing rule's takeoverDelay until shared/domain/fencing.ts defines it. */
const takeoverDelayMs = (deps: Deps) => 2 * deps.config.leaseSeconds * 1000;
