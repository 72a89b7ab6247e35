import type { ChunkStore } from '../aws/chunk-store';
import { keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { conflict, notFound } from '../domain/errors';
import { newId } from '../domain/ids';
import type { ChunkRef, Group, Volume } from '../domain/model';
import { loadGroup } from './groups';
import { loadRecoveryPoint } from './recovery-points';
import { loadVolume, type VolumeView, view } from './volumes';

/** A chunk version and the volume prefix it is stored under (a clone's own, or its base's). */
export interface SourcedRef {
  index: number;
  versionId: string;
  volumeId: string;
}

const PIN_ATTEMPTS = 8;
const NAME_MAX = 63;
/**
 * How long a pin may lack its clone volume before it counts as leaked: a clone creation writes
 * its volumes within one API request, far shorter than this (a Lambda runs 15 minutes at most).
 */
export const PIN_GRACE_MS = 15 * 60_000;

/**
 * Clones every pair of a committed RP: per pair a new volume at the RP's secondary site, in
 * no group, whose base is the RP's secondary manifest. No chunk is copied: a clone's reads fall
 * through to the base's versions until the clone writes a chunk under its own prefix. The RP
 * is pinned (Group.clones) before the volumes exist, so expiry never purges what they read.
 */
export async function cloneRecoveryPoint(
  deps: Deps,
  groupId: unknown,
  rpId: unknown,
): Promise<{ volumes: VolumeView[] }> {
  const group = await loadGroup(deps, groupId);
  const rp = await loadRecoveryPoint(deps, group, rpId);
  const clones: Volume[] = [];
  for (const entry of rp.volumes) {
    const source = await loadVolume(deps, entry.secondaryVolumeId);
    clones.push({
      id: newId('vol'),
      name: `${source.name}-rp${rp.number}`.slice(-NAME_MAX),
      site: rp.site,
      sizeBytes: source.sizeBytes,
      chunkSizeBytes: source.chunkSizeBytes,
      base: {
        groupId: group.id,
        rpNumber: rp.number,
        rpId: rp.id,
        volumeId: entry.secondaryVolumeId,
        manifestKey: entry.secondaryManifestKey,
      },
      createdAt: isoNow(deps),
    });
  }
  const ids = clones.map((c) => c.id);
  await changePins(
    deps,
    group.id,
    (pins) => ({ ...pins, ...Object.fromEntries(ids.map((id) => [id, rp.number])) }),
    { number: rp.number, id: rp.id },
  );
  try {
    for (const clone of clones) {
      await deps.table.put(keys.volume(clone.id), clone, { expr: 'attribute_not_exists(pk)' });
    }
  } catch (e) {
    for (const clone of clones) await deps.table.delete(keys.volume(clone.id));
    await changePins(deps, group.id, (pins) => withoutPins(pins, ids));
    throw e;
  }
  return { volumes: clones.map((c) => view(deps, c)) };
}

/** Unpins a deleted clone's RP: the next expiry may purge it. */
export async function releaseClone(deps: Deps, clone: Volume): Promise<void> {
  if (!clone.base) return;
  const exists = await deps.table.get<Group>(keys.group(clone.base.groupId));
  if (!exists) return;
  await changePins(deps, clone.base.groupId, (pins) => withoutPins(pins, [clone.id]));
}

function withoutPins(pins: Record<string, number>, ids: string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(pins).filter(([id]) => !ids.includes(id)));
}

/**
 * Drops the pins a crashed clone creation (after its pin, before its volumes) or deletion
 * (after its volume delete, before its unpin) left: a pin whose clone volume does not exist
 * and that is older than PIN_GRACE_MS, so an RP is never kept forever for a clone that is not
 * there. Bounded: one volume read per pin, one conditional group write.
 */
export async function dropLeakedPins(deps: Deps, group: Group): Promise<number> {
  const pins = group.clones ?? {};
  const now = deps.now();
  const leaked: string[] = [];
  for (const id of Object.keys(pins)) {
    const at = group.clonesPinnedAt?.[id];
    // A pin without its time predates it: its creation is long over.
    if (at !== undefined && now - Date.parse(at) < PIN_GRACE_MS) continue;
    if (!(await deps.table.get<Volume>(keys.volume(id)))) leaked.push(id);
  }
  if (leaked.length === 0) return 0;
  await changePins(deps, group.id, (current) => withoutPins(current, leaked));
  return leaked.length;
}

/** The condition that the group's pins are still `pins` as read (expiry's unlisting uses it too). */
export function pinsUnchanged(pins: Record<string, number> | undefined): {
  expr: string;
  values: Record<string, unknown>;
} {
  return pins === undefined
    ? { expr: 'attribute_not_exists(clones)', values: {} }
    : { expr: 'clones = :pins', values: { ':pins': pins } };
}

export function pinnedRecoveryPoints(group: Group): Set<number> {
  return new Set(Object.values(group.clones ?? {}));
}

/**
 * Rewrites the group's pins with a conditional write over the whole map, so a pin and an
 * expiry's unlisting of the same RP (which checks the map it saw) cannot both succeed.
 */
async function changePins(
  deps: Deps,
  groupId: string,
  change: (pins: Record<string, number>) => Record<string, number>,
  pinned?: { number: number; id: string },
): Promise<void> {
  for (let attempt = 0; attempt < PIN_ATTEMPTS; attempt++) {
    const group = await deps.table.get<Group>(keys.group(groupId));
    if (!group) throw notFound('group', groupId);
    // An unlisted RP is being purged: it can no longer be pinned.
    if (pinned && !(group.recoveryPoints ?? []).includes(pinned.number))
      throw notFound('recovery-point', pinned.id);
    const next = change(group.clones ?? {});
    const at = isoNow(deps);
    const pinnedAt = Object.fromEntries(
      Object.keys(next).map((id) => [id, group.clonesPinnedAt?.[id] ?? at]),
    );
    const same = pinsUnchanged(group.clones);
    const ok = await deps.table.update(
      keys.group(groupId),
      Object.keys(next).length === 0
        ? { remove: ['clones', 'clonesPinnedAt'] }
        : { set: { clones: next, clonesPinnedAt: pinnedAt } },
      pinned
        ? {
            expr: `${same.expr} AND contains(recoveryPoints, :n)`,
            values: { ...same.values, ':n': pinned.number },
          }
        : same,
    );
    if (ok) return;
  }
  throw conflict(`the recovery points of group ${groupId} keep changing; try again`, 'busy');
}

/**
 * A clone's chunks in index order: its own latest version where it wrote the chunk, else the
 * base manifest's version (stored under the base volume's prefix).
 */
export async function* cloneChunks(store: ChunkStore, clone: Volume): AsyncGenerator<SourcedRef> {
  const base = clone.base;
  const own = store.listChunks(clone.id)[Symbol.asyncIterator]();
  const inherited = store.readManifest(base?.manifestKey)[Symbol.asyncIterator]();
  let a = await own.next();
  let b = await inherited.next();
  while (!a.done || !b.done) {
    if (!a.done && (b.done || a.value[0] <= b.value[0])) {
      if (!b.done && b.value[0] === a.value[0]) b = await inherited.next();
      yield { index: a.value[0], versionId: a.value[1], volumeId: clone.id };
      a = await own.next();
    } else if (!b.done) {
      yield { index: b.value[0], versionId: b.value[1], volumeId: base?.volumeId ?? clone.id };
      b = await inherited.next();
    }
  }
}

/**
 * The base content of a clone's chunk, for a partial write that merges into it. The base never
 * changes, so its manifest is read once per reader.
 */
export function baseChunkReader(
  deps: Deps,
  clone: Volume,
): (index: number, signal?: AbortSignal) => Promise<Uint8Array | undefined> {
  const base = clone.base;
  const store = deps.stores[clone.site];
  let versions: Promise<Map<number, string>> | undefined;
  const load = async () => {
    const map = new Map<number, string>();
    for await (const [index, versionId] of store.readManifest(base?.manifestKey) as AsyncIterable<ChunkRef>)
      map.set(index, versionId);
    return map;
  };
  return async (index, signal) => {
    if (!base) return undefined;
    versions ??= load();
    const versionId = (await versions).get(index);
    return versionId ? store.getChunk(base.volumeId, index, versionId, signal) : undefined;
  };
}
