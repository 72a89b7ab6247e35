import { createHash } from 'node:crypto';
import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { spansOf } from '../domain/chunks';
import { conflict } from '../domain/errors';
import type { ChunkRef, Group, Volume } from '../domain/model';
import { cloneChunks, type SourcedRef } from './clones';
import { committedRecoveryPoints, loadRecoveryPoint } from './recovery-points';
import { loadVolume } from './volumes';

export interface ReadOptions {
  recoveryPointId?: string;
  offset?: number;
  length?: number;
}

const READ_AHEAD = 8;

async function* ownedBy(refs: AsyncIterable<ChunkRef>, volumeId: string): AsyncGenerator<SourcedRef> {
  for await (const [index, versionId] of refs) yield { index, versionId, volumeId };
}

/**
 * Which chunk versions a read sees. A primary (or unpaired) volume reads live unless an RP
 * is named, a clone reading through to its base where it never wrote; a secondary volume
 * only ever serves a committed RP, the latest by default.
 */
async function chunkSource(
  deps: Deps,
  volume: Volume,
  rpId: string | undefined,
): Promise<AsyncIterable<SourcedRef>> {
  const store = deps.stores[volume.site];
  if (!rpId && volume.base) return cloneChunks(store, volume);
  if (!rpId && volume.role !== 'secondary') return ownedBy(store.listChunks(volume.id), volume.id);
  if (!volume.groupId)
    throw conflict(`volume ${volume.id} is not in a group and has no recovery points`, 'no-recovery-point');
  const group = await deps.table.get<Group>(keys.group(volume.groupId));
  if (!group) throw conflict(`group ${volume.groupId} is gone`, 'orphan');
  const rp = rpId
    ? await loadRecoveryPoint(deps, group, rpId)
    : (await committedRecoveryPoints(deps, group))
        .filter((r) => r.volumes.some((v) => v.secondaryVolumeId === volume.id))
        .at(-1);
  if (!rp) throw conflict(`volume ${volume.id} has no committed recovery point yet`, 'no-recovery-point');
  const entry = rp.volumes.find((v) => v.primaryVolumeId === volume.id || v.secondaryVolumeId === volume.id);
  if (!entry) throw conflict(`volume ${volume.id} is not part of ${rp.id}`, 'not-in-recovery-point');
  const key = entry.primaryVolumeId === volume.id ? entry.primaryManifestKey : entry.secondaryManifestKey;
  return ownedBy(store.readManifest(key), volume.id);
}

/** Streams a volume's bytes in order, zeros where sparse, fetching a few chunks ahead. */
export async function* readVolume(
  deps: Deps,
  volumeId: string,
  opts: ReadOptions = {},
): AsyncGenerator<Uint8Array> {
  const volume = await loadVolume(deps, volumeId);
  const offset = opts.offset ?? 0;
  const length = opts.length ?? volume.sizeBytes - offset;
  const spans = spansOf(offset, length, volume.chunkSizeBytes, volume.sizeBytes);
  const refs = await chunkSource(deps, volume, opts.recoveryPointId);
  const store = deps.stores[volume.site];
  const it = refs[Symbol.asyncIterator]();
  let ref = await it.next();
  const refAt = async (index: number): Promise<SourcedRef | undefined> => {
    while (!ref.done && ref.value.index < index) ref = await it.next();
    return !ref.done && ref.value.index === index ? ref.value : undefined;
  };
  for (let i = 0; i < spans.length; i += READ_AHEAD) {
    const window = spans.slice(i, i + READ_AHEAD);
    const found: (SourcedRef | undefined)[] = [];
    for (const s of window) found.push(await refAt(s.index));
    const bodies = await Promise.all(
      found.map((r) => (r ? store.getChunk(r.volumeId, r.index, r.versionId) : Promise.resolve(undefined))),
    );
    for (let j = 0; j < window.length; j++) {
      const s = window[j];
      const body = bodies[j];
      const out = new Uint8Array(s.length);
      if (body) out.set(body.subarray(s.start, Math.min(body.length, s.start + s.length)));
      yield out;
    }
  }
}

export interface Checksum {
  volumeId: string;
  recoveryPointId?: string;
  sha256: string;
  sizeBytes: number;
}

/** SHA-256 of the whole volume content, zeros where sparse. */
export async function checksumVolume(
  deps: Deps,
  volumeId: string,
  recoveryPointId?: string,
): Promise<Checksum> {
  const volume = await loadVolume(deps, volumeId);
  return {
    volumeId,
    ...(recoveryPointId && { recoveryPointId }),
    sha256: await sha256Of(deps, volumeId, { recoveryPointId }),
    sizeBytes: volume.sizeBytes,
  };
}

/** SHA-256 of the bytes `readVolume` yields for these options (hex). */
export async function sha256Of(deps: Deps, volumeId: string, opts: ReadOptions = {}): Promise<string> {
  const hash = createHash('sha256');
  for await (const piece of readVolume(deps, volumeId, opts)) hash.update(piece);
  return hash.digest('hex');
}
