import { groupPartition, keys } from '../aws/keys';
import type { Deps } from '../deps';
import { chunkKey } from '../domain/chunks';
import { notFound } from '../domain/errors';
import { checkId } from '../domain/ids';
import { releasedVersions } from '../domain/manifest';
import type { Group, RecoveryPoint } from '../domain/model';
import { pinnedRecoveryPoints, pinsUnchanged } from './clones';
import { loadGroup } from './groups';
import { dropRemovedPairManifests } from './orphans';

export interface RecoveryPointView {
  id: string;
  kind: RecoveryPoint['kind'];
  site: string;
  cutAt: string;
  committedAt: string;
  bytes: number;
  epoch: number;
  volumes: { primaryVolumeId: string; secondaryVolumeId: string; chunks: number }[];
}

/** Committed RPs only: the group item lists them; any other RP item is an unfinished or refused commit. */
export async function committedRecoveryPoints(deps: Deps, group: Group): Promise<RecoveryPoint[]> {
  const committed = new Set(group.recoveryPoints ?? []);
  const rps = await deps.table.queryPrefix<RecoveryPoint>(groupPartition(group.id), 'RP#');
  return rps.filter((rp) => committed.has(rp.number));
}

export async function listRecoveryPoints(deps: Deps, groupId: unknown): Promise<RecoveryPointView[]> {
  const group = await loadGroup(deps, groupId);
  const rps = await committedRecoveryPoints(deps, group);
  return rps.reverse().map((rp) => ({
    id: rp.id,
    kind: rp.kind,
    site: rp.site,
    cutAt: rp.cutAt,
    committedAt: rp.committedAt,
    bytes: rp.bytes,
    epoch: rp.epoch,
    volumes: rp.volumes.map((v) => ({
      primaryVolumeId: v.primaryVolumeId,
      secondaryVolumeId: v.secondaryVolumeId,
      chunks: v.chunks,
    })),
  }));
}

export async function loadRecoveryPoint(deps: Deps, group: Group, rpId: unknown): Promise<RecoveryPoint> {
  const id = checkId(rpId, 'recoveryPointId');
  const rp = (await committedRecoveryPoints(deps, group)).find((r) => r.id === id);
  if (!rp) throw notFound('recovery-point', id);
  return rp;
}

/**
 * Expires RPs beyond the group's retention, oldest first, with the object versions that
 * only they reference (at both sites) and their manifests. An RP is unlisted first and its
 * data deleted after, so an RP item that is no longer listed and older than the oldest listed
 * one (an expiry stopped midway, or a refused commit) is expired here too. An RP a clone pins
 * (Group.clones) stays listed past the retention; the RPs after it still expire, keeping the
 * versions the pinned one shares with them.
 */
export async function expireRecoveryPoints(deps: Deps, groupId: string): Promise<number> {
  const group = await deps.table.get<Group>(keys.group(groupId));
  if (!group) return 0;
  let retained = group.recoveryPoints ?? [];
  const all = await deps.table.queryPrefix<RecoveryPoint>(groupPartition(group.id), 'RP#');
  // Preserved writes are kept until the operator removes them: never counted, never expired.
  const preserved = all.filter((rp) => rp.kind === 'preserved-writes');
  const items = all.filter((rp) => rp.kind !== 'preserved-writes');
  const rps = items.filter((rp) => retained.includes(rp.number));
  if (rps.length === 0) return 0;
  let expired = 0;
  for (const old of items.filter((rp) => !retained.includes(rp.number) && rp.number < rps[0].number)) {
    await purge(deps, group, old, rps[0], preserved);
    expired++;
  }
  const pinned = pinnedRecoveryPoints(group);
  const doomed = rps
    .slice(0, Math.max(0, rps.length - deps.config.retention))
    .filter((rp) => !pinned.has(rp.number));
  const pins = pinsUnchanged(group.clones);
  for (const old of doomed) {
    // Unlisted first: from here on nobody reads this RP, so deleting its data cannot tear a read.
    // Under the pins expiry saw: a clone pinning this RP meanwhile refuses the unlisting.
    const remaining = retained.filter((n) => n !== old.number);
    const unlisted = await deps.table.update<Group>(
      keys.group(group.id),
      { set: { recoveryPoints: remaining } },
      { expr: `recoveryPoints = :old AND ${pins.expr}`, values: { ':old': retained, ...pins.values } },
    );
    if (!unlisted) break;
    retained = remaining;
    const listed = rps.filter((rp) => remaining.includes(rp.number));
    const next = listed.find((rp) => rp.number > old.number);
    if (!next) break;
    await purge(deps, group, old, next, preserved, listed.filter((rp) => rp.number < old.number).at(-1));
    expired++;
  }
  return expired;
}

/**
 * Deletes an unlisted RP: the object versions it holds that neither its committed successor
 * nor its listed predecessor (an RP a clone pins) does, its manifests, then its item (last,
 * so a purge stopped midway is found and redone).
 */
async function purge(
  deps: Deps,
  group: Group,
  old: RecoveryPoint,
  next: RecoveryPoint,
  preserved: RecoveryPoint[],
  previous?: RecoveryPoint,
): Promise<void> {
  // An RP's secondary manifests are at its `site`: a role flip since may have swapped the group's sites.
  const primarySite = old.site === group.secondarySite ? group.primarySite : group.secondarySite;
  for (const v of old.volumes) {
    const successor = next.volumes.find((n) => n.pairId === v.pairId);
    const before = previous?.volumes.find((p) => p.pairId === v.pairId);
    if (!successor) {
      await dropRemovedPairManifests(deps, group, old, v, before);
      continue;
    }
    // Per volume, not per side: after a flip a neighbour holds the same volume on the other side.
    const keyIn = (ref: typeof v | undefined, volumeId: string) =>
      ref?.primaryVolumeId === volumeId
        ? ref.primaryManifestKey
        : ref?.secondaryVolumeId === volumeId
          ? ref.secondaryManifestKey
          : undefined;
    for (const [site, volumeId, oldKey] of [
      [primarySite, v.primaryVolumeId, v.primaryManifestKey],
      [old.site, v.secondaryVolumeId, v.secondaryManifestKey],
    ] as const) {
      const newKey = keyIn(successor, volumeId);
      // A successor without this volume says nothing about what it still needs: keep it all.
      if (newKey === undefined) continue;
      // The RP a flip wrote shares its predecessor's manifests: nothing is released.
      if (newKey === oldKey) continue;
      const store = deps.stores[site];
      const doomed: { key: string; versionId?: string }[] = [];
      try {
        // Kept: what the successor, the listed predecessor (a pinned RP) or a preserved-writes image still shows.
        let released = releasedVersions(
          releasedVersions(store.readManifest(oldKey), store.readManifest(newKey)),
          store.readManifest(keyIn(before, volumeId)),
        );
        for (const p of preserved) {
          const kept = p.volumes.find((pv) => pv.primaryVolumeId === volumeId);
          if (kept) released = releasedVersions(released, store.readManifest(kept.primaryManifestKey));
        }
        for await (const [index, versionId] of released) {
          doomed.push({ key: chunkKey(volumeId, index), versionId });
        }
        // The manifest's index goes last: without it, this site's part was done by an earlier purge.
        doomed.push(...(await store.manifestVersions(oldKey)));
      } catch (e) {
        if ((e as Error).name === 'NoSuchKey') continue;
        throw e;
      }
      await store.deleteVersions(doomed);
    }
  }
  await deps.table.delete(keys.recoveryPoint(group.id, old.number));
}
