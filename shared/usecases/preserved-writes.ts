import { groupPartition, keys } from '../aws/keys';
import type { Deps } from '../deps';
import { chunkKey } from '../domain/chunks';
import { conflict, notFound } from '../domain/errors';
import { checkId } from '../domain/ids';
import { releasedVersions } from '../domain/manifest';
import type { ChunkRef, Group, RecoveryPoint } from '../domain/model';
import { pinnedRecoveryPoints, pinsUnchanged } from './clones';
import { recordEvent } from './events';
import { loadGroup } from './groups';

const UNLIST_ATTEMPTS = 8;

/**
 * Removes a preserved-writes item (the old primary's image a forced promotion kept) once the
 * operator is done with it. Unlisted first, under the pins it saw, so no new read or clone
 * starts on it; then the chunk versions it alone holds, its manifests, and its item last.
 * A call that finds the item already unlisted (an earlier removal stopped midway) finishes it.
 * A committed RP is refused: expiry alone removes those.
 */
export async function removePreservedWrites(deps: Deps, groupId: unknown, rpId: unknown): Promise<void> {
  const group = await loadGroup(deps, groupId);
  const id = checkId(rpId, 'recoveryPointId');
  const all = await deps.table.queryPrefix<RecoveryPoint>(groupPartition(group.id), 'RP#');
  const rp = all.find((r) => r.id === id);
  const listed = (g: Group) => (g.recoveryPoints ?? []).includes(rp?.number ?? -1);
  if (!rp || (rp.kind !== 'preserved-writes' && !listed(group))) throw notFound('recovery-point', id);
  if (rp.kind !== 'preserved-writes')
    throw conflict(
      `${id} is a committed recovery point; only preserved-writes items are removed by hand (expiry removes RPs)`,
      'not-preserved-writes',
    );
  if (listed(group)) await unlist(deps, group.id, rp);
  // Any other item, listed or not: an RP being committed is not listed yet but reads its versions.
  const keep = all.filter((r) => r.id !== rp.id);
  const store = deps.stores[rp.site];
  for (const v of rp.volumes) {
    const doomed: { key: string; versionId?: string }[] = [];
    try {
      // Kept: the volume's live versions and what any other listed RP or preserved item shows.
      let released: AsyncIterable<ChunkRef> = releasedVersions(
        store.readManifest(v.secondaryManifestKey),
        store.listChunks(v.secondaryVolumeId),
      );
      for (const other of keep) {
        for (const o of other.volumes) {
          for (const key of manifestsOf(o, v.secondaryVolumeId))
            released = releasedVersions(released, store.readManifest(key));
        }
      }
      for await (const [index, versionId] of released)
        doomed.push({ key: chunkKey(v.secondaryVolumeId, index), versionId });
      // The manifest's index goes last: without it, this volume's part was done by an earlier call.
      doomed.push(...(await store.manifestVersions(v.secondaryManifestKey)));
    } catch (e) {
      if ((e as Error).name === 'NoSuchKey') continue;
      throw e;
    }
    await store.deleteVersions(doomed);
  }
  await deps.table.delete(keys.recoveryPoint(group.id, rp.number));
  if (listed(group))
    await recordEvent(
      deps,
      group.id,
      'preserved-writes-removed',
      'info',
      `${rp.id} (preserved writes) removed`,
    );
}

/** The manifests of `volumeId` in one RP entry: at the volume's site, whichever side it was. */
function manifestsOf(entry: RecoveryPoint['volumes'][number], volumeId: string): string[] {
  const out = new Set<string>();
  if (entry.primaryVolumeId === volumeId) out.add(entry.primaryManifestKey);
  if (entry.secondaryVolumeId === volumeId) out.add(entry.secondaryManifestKey);
  return [...out];
}

/** Takes the item off the group's list, refused while a clone pins it. */
async function unlist(deps: Deps, groupId: string, rp: RecoveryPoint): Promise<void> {
  for (let attempt = 0; attempt < UNLIST_ATTEMPTS; attempt++) {
    const group = await deps.table.get<Group>(keys.group(groupId));
    if (!group) throw notFound('group', groupId);
    const retained = group.recoveryPoints ?? [];
    if (!retained.includes(rp.number)) return;
    if (pinnedRecoveryPoints(group).has(rp.number))
      throw conflict(`${rp.id} is the base of an RP clone; delete its clones first`, 'rp-pinned');
    const pins = pinsUnchanged(group.clones);
    const ok = await deps.table.update(
      keys.group(groupId),
      { set: { recoveryPoints: retained.filter((n) => n !== rp.number) } },
      {
        expr: `${group.recoveryPoints ? 'recoveryPoints = :old' : 'attribute_not_exists(recoveryPoints)'} AND ${pins.expr}`,
        values: { ':old': retained, ...pins.values },
      },
    );
    if (ok) return;
  }
  throw conflict(`the recovery points of group ${groupId} keep changing; try again`, 'busy');
}
