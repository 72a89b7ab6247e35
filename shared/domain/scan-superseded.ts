import type { ChunkRef } from './model';

/** One chunk's stored history at a site: its versions newest first, as S3 lists them. */
export interface ChunkHistory {
  index: number;
  versions: string[];
  /** Whether any delete marker sits among them: their order against the versions is not listed. */
  deleteMarkers: boolean;
}

/** One page of a volume's ListObjectVersions: versions newest first per chunk, markers apart. */
export interface VersionPage {
  versions: ChunkRef[];
  markers: number[];
}

/** Groups listing pages by chunk, in chunk order: a chunk's entries may run on into the next page. */
export async function* chunkHistoriesOf(pages: AsyncIterable<VersionPage>): AsyncGenerator<ChunkHistory> {
  let pending: ChunkHistory | undefined;
  for await (const page of pages) {
    const byIndex = new Map<number, ChunkHistory>();
    const entry = (index: number) => {
      let h = byIndex.get(index);
      if (!h) {
        h = pending?.index === index ? pending : { index, versions: [], deleteMarkers: false };
        byIndex.set(index, h);
      }
      return h;
    };
    for (const [index, versionId] of page.versions) entry(index).versions.push(versionId);
    for (const index of page.markers) entry(index).deleteMarkers = true;
    const ordered = [...byIndex.values()].sort((a, b) => a.index - b.index);
    if (pending && !byIndex.has(pending.index)) yield pending;
    pending = ordered.pop();
    yield* ordered;
  }
  if (pending) yield pending;
}

/**
 * The versions of a scanned primary volume that writes superseded between two images and that
 * no change record names (a scan cut is taken because records were lost): per chunk, those
 * listed after (older than) the version the scan found at the cut and before (newer than) the
 * `floor` version, the one the pair's previous image held. All of them were written while the
 * pair was in the group: a chunk live when the pair was added is in its base listing and in
 * every image after it, and a role flip hides every live chunk of the new primary that its
 * image lacks under a delete marker. So a chunk the floor lacks counts whole, and a chunk with
 * delete markers is skipped (where they fall among its versions is not listed). A version any
 * `held` manifest names is never yielded. All inputs are in chunk order.
 */
export async function* supersededAtScan(
  history: AsyncIterable<ChunkHistory>,
  cut: AsyncIterable<ChunkRef>,
  floor: AsyncIterable<ChunkRef>,
  held: AsyncIterable<ChunkRef>[],
): AsyncGenerator<ChunkRef> {
  const atCut = new Seeker(cut);
  const atFloor = new Seeker(floor);
  const holders = held.map((h) => new Seeker(h));
  for await (const chunk of history) {
    const cutVersion = await atCut.at(chunk.index);
    const floorVersion = await atFloor.at(chunk.index);
    const kept = new Set<string>();
    for (const h of holders) {
      const v = await h.at(chunk.index);
      if (v !== undefined) kept.add(v);
    }
    const at = cutVersion === undefined ? -1 : chunk.versions.indexOf(cutVersion);
    if (chunk.deleteMarkers || at < 0) continue;
    const older = chunk.versions.slice(at + 1);
    // A floor version missing from the history is a history this rule cannot place: keep all.
    const end = floorVersion === undefined ? older.length : older.indexOf(floorVersion);
    if (end < 0) continue;
    for (const v of older.slice(0, end)) if (!kept.has(v)) yield [chunk.index, v];
  }
}

/** Looks a sorted manifest up by chunk index, for indices asked in increasing order. */
class Seeker {
  private readonly it: AsyncIterator<ChunkRef>;
  private head?: ChunkRef | null;

  constructor(entries: AsyncIterable<ChunkRef>) {
    this.it = entries[Symbol.asyncIterator]();
  }

  async at(index: number): Promise<string | undefined> {
    for (;;) {
      if (this.head === undefined) {
        const r = await this.it.next();
        this.head = r.done ? null : r.value;
      }
      if (this.head === null || this.head[0] > index) return undefined;
      if (this.head[0] === index) return this.head[1];
      this.head = undefined;
    }
  }
}
