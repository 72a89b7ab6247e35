import { keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { badInput, conflict, notFound } from '../domain/errors';
import { checkId, newId } from '../domain/ids';
import type { Group, Pair, Volume } from '../domain/model';
import { recordEvent } from './events';
import { loadGroup, loadPairs, type PairView } from './groups';
import { loadVolume } from './volumes';

const MEMBER_LOCK_MS = 60_000;

export const baseManifestKey = (groupId: string, volumeId: string, epoch: number) =>
  `manifests/${groupId}/${volumeId}/base-${epoch}.txt`;

/**
 * Membership changes hold a short lock on the group so that no sync plans over a member
 * list that is changing under it (the table has no transactions).
 */
async function withMemberLock<T>(
  deps: Deps,
  groupId: string,
  work: (group: Group, holder: string) => Promise<T>,
): Promise<T> {
  const holder = newId('gw');
  const now = deps.now();
  const locked = await deps.table.update<Group>(
    keys.group(groupId),
    { set: { memberLock: { holder, expiresAt: now + MEMBER_LOCK_MS } } },
    {
      expr: 'attribute_exists(pk) AND attribute_not_exists(activeSync) AND attribute_not_exists(roleChange) AND (attribute_not_exists(memberLock) OR memberLock.expiresAt < :now)',
      values: { ':now': now },
    },
  );
  if (!locked)
    throw conflict(
      `group ${groupId} is syncing, changing members or changing roles; try again when that is done`,
      'sync-running',
    );
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

/** A pair to add, as the API's schema (shared/api/schemas) has checked it. */
export interface AddPairInput {
  primaryVolumeId: string;
  secondaryVolumeId?: string;
}

export async function addPair(deps: Deps, groupId: unknown, input: AddPairInput): Promise<PairView> {
  const group = await loadGroup(deps, groupId);
  if (group.status === 'failed') throw conflict(`group ${group.id} has failed`, 'wrong-state');
  const primary = await loadVolume(deps, input.primaryVolumeId);
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
    secondary = await loadVolume(deps, input.secondaryVolumeId);
    checkSecondary(group, primary, secondary);
  }
  // A clone's content is partly its base's, which neither a sync nor a pair's RPs know of.
  for (const v of [primary, secondary])
    if (v?.base) throw conflict(`volume ${v.id} is an RP clone: it cannot be mirrored`, 'clone-volume');
  return withMemberLock(deps, group.id, async (locked, holder) => {
    const now = deps.now();
    const claimedPrimary = await deps.table.update(
      keys.volume(primary.id),
      { set: { groupId: group.id, role: 'primary' } },
      {
        expr: 'attribute_exists(pk) AND attribute_not_exists(groupId) AND (attribute_not_exists(lease) OR lease.expiresAt < :now)',
        values: { ':now': now },
      },
    );
    if (!claimedPrimary) {
      throw conflict(`volume ${primary.id} is in a pair or being written; try again later`, 'volume-busy');
    }
    let created: Volume | undefined;
    let claimedSecondary: Volume | undefined;
    let pairPut = false;
    try {
      created = secondary ? undefined : await createSecondary(deps, group, primary);
      const target = (secondary ?? created) as Volume;
      const claimed = await deps.table.update(
        keys.volume(target.id),
        { set: { groupId: group.id, role: 'secondary' } },
        { expr: 'attribute_exists(pk) AND attribute_not_exists(groupId)' },
      );
      if (!claimed) throw conflict(`volume ${target.id} is already in a pair`, 'volume-in-pair');
      claimedSecondary = target;
      // The primary is claimed, so nobody writes it now: this listing is the initial-sync base.
      const baseKey = baseManifestKey(group.id, primary.id, locked.epoch);
      await deps.stores[group.primarySite].writeManifest(
        baseKey,
        deps.stores[group.primarySite].listChunks(primary.id),
      );
      const pair: Pair = {
        id: newId('pair'),
        groupId: group.id,
        primaryVolumeId: primary.id,
        secondaryVolumeId: target.id,
        startEpoch: locked.epoch,
        baseManifestKey: baseKey,
        addedAt: isoNow(deps),
      };
      await deps.table.put(keys.pair(group.id, primary.id), pair);
      pairPut = true;
      // The lock may have expired during the add (and a sync planned without this pair): the
      // pair counts only if the lock is still ours, confirmed by the write that bumps membersVersion.
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
      await recordEvent(deps, group.id, 'pair-added', 'info', `pair ${primary.id} -> ${target.id} added`);
      return { primaryVolumeId: primary.id, secondaryVolumeId: target.id, status: 'synchronizing' };
    } catch (e) {
      // Refused or interrupted: nothing of the add stays, both volumes are free again.
      if (pairPut) await deps.table.delete(keys.pair(group.id, primary.id));
      if (claimedSecondary && !created) await freeVolume(deps, claimedSecondary.id, group.id);
      if (created) await deps.table.delete(keys.volume(created.id));
      await freeVolume(deps, primary.id, group.id);
      throw e;
    }
  });
}

/** Takes a volume out of the group (only if it is still in this group). */
async function freeVolume(
  deps: Deps,
  volumeId: string,
  groupId: string,
  set?: Partial<Volume>,
): Promise<void> {
  await deps.table.update(
    keys.volume(volumeId),
    { remove: ['groupId', 'role'], ...(set && { set }) },
    { expr: 'groupId = :g', values: { ':g': groupId } },
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

async function createSecondary(deps: Deps, group: Group, primary: Volume): Promise<Volume> {
  const volume: Volume = {
    id: newId('vol'),
    name: `${primary.name.slice(0, 56)}-mirror`,
    site: group.secondarySite,
    sizeBytes: primary.sizeBytes,
    chunkSizeBytes: primary.chunkSizeBytes,
    createdAt: isoNow(deps),
  };
  await deps.table.put(keys.volume(volume.id), volume, { expr: 'attribute_not_exists(pk)' });
  return volume;
}

export async function removePair(deps: Deps, groupId: unknown, primaryVolumeId: unknown): Promise<void> {
  const group = await loadGroup(deps, groupId);
  const volumeId = checkId(primaryVolumeId, 'primaryVolumeId');
  const pair = (await loadPairs(deps, group.id)).find((p) => p.primaryVolumeId === volumeId);
  if (!pair) throw notFound('pair', volumeId);
  await withMemberLock(deps, group.id, async () => {
    await deps.table.delete(keys.pair(group.id, volumeId));
    // The gateway's renewal is conditional on membersVersion: it fails, the gateway reloads
    // its pairs (without this one), then renews.
    const bumped = await deps.table.update<Group>(keys.group(group.id), { add: { membersVersion: 1 } });
    // Until then the gateway may still write the removed volume, under its current lease: no
    // volume gateway may take the volume before that lease has run out and settled.
    const lease = bumped?.lease;
    const fence =
      lease && lease.expiresAt > deps.now()
        ? { lease: { holder: 'fence', expiresAt: lease.expiresAt + takeoverDelayMs(deps) } }
        : undefined;
    await freeVolume(deps, pair.primaryVolumeId, group.id, fence);
    await freeVolume(deps, pair.secondaryVolumeId, group.id);
    await recordEvent(
      deps,
      group.id,
      'pair-removed',
      'info',
      `pair ${pair.primaryVolumeId} -> ${pair.secondaryVolumeId} removed`,
    );
  });
}

/** Stand-in for the fencing rule's takeoverDelay until shared/domain/fencing.ts defines it. */
const takeoverDelayMs = (deps: Deps) => 2 * deps.config.leaseSeconds * 1000;
