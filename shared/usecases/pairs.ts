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
  work: (group: Group) => Promise<T>,
): Promise<T> {
  const holder = newId('gw');
  const now = deps.now();
  const locked = await deps.table.update<Group>(
    keys.group(groupId),
    { set: { memberLock: { holder, expiresAt: now + MEMBER_LOCK_MS } } },
    {
      expr: 'attribute_exists(pk) AND attribute_not_exists(activeSync) AND (attribute_not_exists(memberLock) OR memberLock.expiresAt < :now)',
      values: { ':now': now },
    },
  );
  if (!locked)
    throw conflict(
      `group ${groupId} is syncing or changing members; try again when the sync commits`,
      'sync-running',
    );
  try {
    return await work(locked);
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

export async function addPair(
  deps: Deps,
  groupId: unknown,
  input: Record<string, unknown>,
): Promise<PairView> {
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
  return withMemberLock(deps, group.id, async (locked) => {
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
    try {
      const target = secondary ?? (await createSecondary(deps, group, primary));
      const claimedSecondary = await deps.table.update(
        keys.volume(target.id),
        { set: { groupId: group.id, role: 'secondary' } },
        { expr: 'attribute_exists(pk) AND attribute_not_exists(groupId)' },
      );
      if (!claimedSecondary) throw conflict(`volume ${target.id} is already in a pair`, 'volume-in-pair');
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
      await recordEvent(deps, group.id, 'pair-added', 'info', `pair ${primary.id} -> ${target.id} added`);
      return { primaryVolumeId: primary.id, secondaryVolumeId: target.id, status: 'synchronizing' };
    } catch (e) {
      await deps.table.update(keys.volume(primary.id), { remove: ['groupId', 'role'] });
      throw e;
    }
  });
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
    for (const id of [pair.primaryVolumeId, pair.secondaryVolumeId]) {
      await deps.table.update(
        keys.volume(id),
        { remove: ['groupId', 'role'] },
        { expr: 'groupId = :g', values: { ':g': group.id } },
      );
    }
    await recordEvent(
      deps,
      group.id,
      'pair-removed',
      'info',
      `pair ${pair.primaryVolumeId} -> ${pair.secondaryVolumeId} removed`,
    );
  });
}
