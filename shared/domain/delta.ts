import type { Cursor, Positioned } from './cursor';
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
  private readonly losers: RunEntry[] = [];

  /** `tracked`: the volumes whose displaced versions are listed by superseded(). */
  constructor(private readonly tracked: ReadonlySet<string> = new Set()) {}

  add(epoch: number, record: ChangeRecord): void {
    let chunks = this.byVolume.get(record.volumeId);
    if (!chunks) {
      chunks = new Map();
      this.byVolume.set(record.volumeId, chunks);
    }
    const cur = chunks.get(record.chunk);
    const incoming: Latest = { epoch, seq: record.seq, versionId: record.versionId, bytes: record.bytes };
    const wins = !cur || epoch > cur.epoch || (epoch === cur.epoch && record.seq > cur.seq);
    if (wins) chunks.set(record.chunk, incoming);
    const loser = wins ? cur : incoming;
    // A duplicate names the winner's own version: only another version is superseded.
    if (loser && loser.versionId !== chunks.get(record.chunk)?.versionId && this.tracked.has(record.volumeId))
      this.losers.push({ volumeId: record.volumeId, chunk: record.chunk, ...loser });
  }

  /**
   * The versions of tracked volumes that a later write of the same chunk displaced: written
   * and superseded between two cuts, so no RP names them once this delta's RP is committed.
   */
  superseded(): RunEntry[] {
    return this.losers.map(({ volumeId, chunk, epoch, seq, versionId }) => ({
      volumeId,
      chunk,
      epoch,
      seq,
      versionId,
    }));
  }

  /** The delta of one volume, sorted by chunk index. */
  delta(volumeId: string): ChunkRef[] {
    const chunks = this.byVolume.get(volumeId);
    if (!chunks) return [];
    return [...chunks.entries()].sort((a, b) => a[0] - b[0]).map(([index, l]) => [index, l.versionId]);
  }

  /** Every volume's latest writes, sorted by (volume, chunk): one stored run. */
  runEntries(): RunEntry[] {
    const out: RunEntry[] = [];
    for (const volumeId of [...this.byVolume.keys()].sort(compareVolumeIds)) {
      const chunks = this.byVolume.get(volumeId) ?? new Map();
      for (const [chunk, l] of [...chunks.entries()].sort((a, b) => a[0] - b[0])) {
        out.push({ volumeId, chunk, epoch: l.epoch, seq: l.seq, versionId: l.versionId });
      }
    }
    return out;
  }

  bytes(volumeId: string): number {
    let total = 0;
    for (const l of this.byVolume.get(volumeId)?.values() ?? []) total += l.bytes;
    return total;
  }
}

/**
 * One entry of a run: the latest write of a chunk among the change batches one collect step
 * read. Runs are stored sorted by (volume, chunk) so that they merge as streams.
 */
export interface RunEntry {
  volumeId: string;
  chunk: number;
  epoch: number;
  seq: number;
  versionId: string;
}

export const compareVolumeIds = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function formatRunLine(e: RunEntry): string {
  return `${e.volumeId} ${e.chunk} ${e.epoch} ${e.seq} ${e.versionId}\n`;
}

export function parseRunLine(line: string): RunEntry {
  const fields = line.split(' ');
  const [volumeId, chunk, epoch, seq] = fields;
  const versionId = fields.slice(4).join(' ');
  const nums = [chunk, epoch, seq].map(Number);
  if (fields.length < 5 || !volumeId || !versionId || nums.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new Error(`corrupt run line: ${JSON.stringify(line)}`);
  }
  return { volumeId, chunk: nums[0], epoch: nums[1], seq: nums[2], versionId };
}

/** The entries of a run held as text, from a byte offset, each with the offset after it. */
export async function* runLinesFrom(
  text: string,
  offset: number,
): AsyncGenerator<Positioned<RunEntry, number>> {
  let at = offset;
  while (at < text.length) {
    const end = text.indexOf('\n', at);
    const stop = end < 0 ? text.length : end;
    const line = text.slice(at, stop);
    at = stop + 1;
    if (line) yield { value: parseRunLine(line), next: at };
  }
}

const newer = (a: RunEntry, b: RunEntry) => a.epoch > b.epoch || (a.epoch === b.epoch && a.seq > b.seq);

/**
 * The delta of one volume from many runs: per chunk the highest (epoch, seq) over all runs,
 * in chunk order. Entries of volumes ordered before `volumeId` are skipped (they belong to
 * no planned pair); each run holds a chunk of a volume at most once. `onSuperseded` hears of
 * every entry taken that lost to another version of its chunk.
 */
export function latestOf(
  runs: Cursor<RunEntry>[],
  volumeId: string,
  onSuperseded?: (e: RunEntry) => void,
): Cursor<ChunkRef> {
  const heads = async (): Promise<(RunEntry | undefined)[]> => {
    const out: (RunEntry | undefined)[] = [];
    for (const r of runs) {
      let e = await r.peek();
      while (e !== undefined && compareVolumeIds(e.volumeId, volumeId) < 0) {
        await r.take();
        e = await r.peek();
      }
      out.push(e?.volumeId === volumeId ? e : undefined);
    }
    return out;
  };
  const pick = async (take: boolean): Promise<ChunkRef | undefined> => {
    const hs = await heads();
    let best: RunEntry | undefined;
    for (const e of hs) {
      if (e && (!best || e.chunk < best.chunk || (e.chunk === best.chunk && newer(e, best)))) best = e;
    }
    if (!best) return undefined;
    if (take) {
      for (const [i, e] of hs.entries()) {
        if (e?.chunk !== best.chunk) continue;
        if (e.versionId !== best.versionId) onSuperseded?.(e);
        await runs[i].take();
      }
    }
    return [best.chunk, best.versionId];
  };
  return { peek: () => pick(false), take: () => pick(true) };
}
