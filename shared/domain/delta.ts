import type { ChangeRecord, ChunkRef } from './model';

interface Latest {
  epoch: number;
  seq: number;
  versionId: string;
  bytes: number;
}

/**
 * Coalesces change records into the latest version per chunk, per volume: the delta.
 * A chunk rewritten many times appears once. Order of arrival does not matter: the
 * winner is the highest (epoch, seq), so duplicates and reordering change nothing.
 */
export class DeltaBuilder {
  private readonly byVolume = new Map<string, Map<number, Latest>>();

  add(epoch: number, record: ChangeRecord): void {
    let chunks = this.byVolume.get(record.volumeId);
    if (!chunks) {
      chunks = new Map();
      this.byVolume.set(record.volumeId, chunks);
    }
    const cur = chunks.get(record.chunk);
    if (!cur || epoch > cur.epoch || (epoch === cur.epoch && record.seq > cur.seq)) {
      chunks.set(record.chunk, { epoch, seq: record.seq, versionId: record.versionId, bytes: record.bytes });
    }
  }

  /** The delta of one volume, sorted by chunk index. */
  delta(volumeId: string): ChunkRef[] {
    const chunks = this.byVolume.get(volumeId);
    if (!chunks) return [];
    return [...chunks.entries()].sort((a, b) => a[0] - b[0]).map(([index, l]) => [index, l.versionId]);
  }

  bytes(volumeId: string): number {
    let total = 0;
    for (const l of this.byVolume.get(volumeId)?.values() ?? []) total += l.bytes;
    return total;
  }
}
