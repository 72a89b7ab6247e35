import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { spansOf } from '../domain/chunks';
import { conflict } from '../domain/errors';
import type { Group, RecoveryPoint, Volume } from '../domain/model';
import { committedRecoveryPoints, loadRecoveryPoint } from '../usecases/recovery-points';
import type { BlockExport } from './block-export';
import { blockSizeOf, readOnlyRefusal } from './gateway-export';
import { exportErrorOf } from './write-back-buffer';

/** Chunks kept after a read: a client reading sequentially in small requests reads each chunk once. */
const CACHED_CHUNKS = 8;

/**
 * The recovery point a read-only export serves: the one named, else the latest committed RP
 * holding the volume (as primary or secondary). Resolved once: a newer RP is served only by a
 * new export.
 */
export async function recoveryPointOf(
  deps: Deps,
  volume: Volume,
  rpId: string | undefined,
): Promise<RecoveryPoint> {
  if (!volume.groupId)
    throw conflict(`volume ${volume.id} is not in a group and has no recovery points`, 'no-recovery-point');
  const group = await deps.table.get<Group>(keys.group(volume.groupId));
  if (!group) throw conflict(`group ${volume.groupId} is gone`, 'orphan');
  const holds = (r: RecoveryPoint) =>
    r.volumes.some((v) => v.primaryVolumeId === volume.id || v.secondaryVolumeId === volume.id);
  const rp = rpId
    ? await loadRecoveryPoint(deps, group, rpId)
    : (await committedRecoveryPoints(deps, group)).filter(holds).at(-1);
  if (!rp) throw conflict(`volume ${volume.id} has no committed recovery point yet`, 'no-recovery-point');
  if (!holds(rp)) throw conflict(`volume ${volume.id} is not part of ${rp.id}`, 'not-in-recovery-point');
  return rp;
}

/** A volume's content at one committed recovery point, read-only. */
export class RecoveryPointExport implements BlockExport {
  readonly readOnly = true;
  readonly sizeBytes: number;
  readonly blockSize: BlockExport['blockSize'];
  private readonly cache = new Map<number, Promise<Uint8Array | undefined>>();

  private constructor(
    private readonly deps: Deps,
    readonly name: string,
    readonly volume: Volume,
    readonly recoveryPointId: string,
    private readonly versions: Map<number, string>,
  ) {
    this.sizeBytes = volume.sizeBytes;
    this.blockSize = blockSizeOf(volume);
  }

  static async open(
    deps: Deps,
    name: string,
    volume: Volume,
    rp: RecoveryPoint,
  ): Promise<RecoveryPointExport> {
    const entry = rp.volumes.find(
      (v) => v.primaryVolumeId === volume.id || v.secondaryVolumeId === volume.id,
    );
    if (!entry) throw conflict(`volume ${volume.id} is not part of ${rp.id}`, 'not-in-recovery-point');
    const key = entry.primaryVolumeId === volume.id ? entry.primaryManifestKey : entry.secondaryManifestKey;
    const versions = new Map<number, string>();
    for await (const [index, versionId] of deps.stores[volume.site].readManifest(key))
      versions.set(index, versionId);
    return new RecoveryPointExport(deps, name, volume, rp.id, versions);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    let spans: ReturnType<typeof spansOf>;
    try {
      spans = spansOf(offset, length, this.volume.chunkSizeBytes, this.volume.sizeBytes);
    } catch (e) {
      throw exportErrorOf(e);
    }
    const out = new Uint8Array(length);
    try {
      await Promise.all(
        spans.map(async (s) => {
          const body = await this.chunk(s.index);
          if (body) out.set(body.subarray(s.start, Math.min(body.length, s.start + s.length)), s.dataOffset);
        }),
      );
    } catch (e) {
      throw exportErrorOf(e);
    }
    return out;
  }

  private chunk(index: number): Promise<Uint8Array | undefined> {
    const versionId = this.versions.get(index);
    if (!versionId) return Promise.resolve(undefined);
    let body = this.cache.get(index);
    if (body) {
      this.cache.delete(index);
    } else {
      body = this.deps.stores[this.volume.site].getChunk(this.volume.id, index, versionId);
      body.catch(() => this.cache.delete(index));
    }
    this.cache.set(index, body);
    while (this.cache.size > CACHED_CHUNKS) this.cache.delete(this.cache.keys().next().value as number);
    return body;
  }

  write(): Promise<void> {
    return Promise.reject(readOnlyRefusal(this.name));
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  trim(): Promise<void> {
    return Promise.reject(readOnlyRefusal(this.name));
  }

  writeZeroes(): Promise<void> {
    return Promise.reject(readOnlyRefusal(this.name));
  }

  close(): Promise<void> {
    this.cache.clear();
    return Promise.resolve();
  }
}
