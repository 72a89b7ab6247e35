import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Cursor, drain, listCursor, StreamCursor } from '../../shared/domain/cursor';
import {
  DeltaBuilder,
  formatRunLine,
  latestOf,
  parseRunLine,
  type RunEntry,
  runLinesFrom,
} from '../../shared/domain/delta';
import {
  changedSince,
  formatManifestIndex,
  manifestPartKey,
  overlay,
  parseManifestIndex,
} from '../../shared/domain/manifest';
import type { ChangeRecord, ChunkRef } from '../../shared/domain/model';

/** A stored stream whose position is an array index, opened anew at every resume. */
function stored<T>(items: readonly T[], at = 0) {
  return new StreamCursor<T, number>(async function* (from) {
    for (let i = from; i < items.length; i++) yield { value: items[i], next: i + 1 };
  }, at);
}

/** A sorted manifest: unique ascending indices. */
const manifest = (maxIndex: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: maxIndex }), { maxLength: 30 })
    .chain((indices) =>
      fc.tuple(
        ...indices
          .sort((a, b) => a - b)
          .map((i) => fc.constantFrom('a', 'b', 'c').map((v): ChunkRef => [i, v])),
      ),
    )
    .map((refs) => refs as ChunkRef[]);

function overlayModel(base: ChunkRef[], delta: ChunkRef[]): ChunkRef[] {
  const m = new Map(base);
  for (const [i, v] of delta) m.set(i, v);
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

function changedModel(scan: ChunkRef[], previous: ChunkRef[]): ChunkRef[] {
  const prev = new Map(previous);
  return scan.filter(([i, v]) => prev.get(i) !== v);
}

/**
 * Takes an operator's output `step` entries at a time, reopening the leaf cursors at their
 * saved positions between steps, as a sync step does after a checkpoint.
 */
async function inSteps(
  leaves: readonly (readonly ChunkRef[])[],
  build: (cursors: Cursor<ChunkRef>[]) => Cursor<ChunkRef>,
  step: number,
): Promise<ChunkRef[]> {
  let positions = leaves.map(() => 0);
  const out: ChunkRef[] = [];
  for (let round = 0; round < 1000; round++) {
    const cursors = leaves.map((l, i) => stored(l, positions[i]));
    const got = await drain(build(cursors), step);
    out.push(...got);
    positions = cursors.map((c) => c.position());
    if (got.length < step) return out;
  }
  throw new Error('did not finish');
}

describe('overlay (base overlaid by delta, as a cursor)', () => {
  it.each<[string, ChunkRef[], ChunkRef[], ChunkRef[]]>([
    ['empty both', [], [], []],
    ['only base', [[1, 'a']], [], [[1, 'a']]],
    ['only delta', [], [[2, 'x']], [[2, 'x']]],
    [
      'delta wins on equal index',
      [
        [1, 'a'],
        [2, 'b'],
      ],
      [[2, 'x']],
      [
        [1, 'a'],
        [2, 'x'],
      ],
    ],
    [
      'interleaved',
      [
        [1, 'a'],
        [5, 'b'],
      ],
      [
        [0, 'x'],
        [3, 'y'],
        [9, 'z'],
      ],
      [
        [0, 'x'],
        [1, 'a'],
        [3, 'y'],
        [5, 'b'],
        [9, 'z'],
      ],
    ],
  ])('%s', async (_, base, delta, want) => {
    expect(await drain(overlay(listCursor(base), listCursor(delta)))).toEqual(want);
  });

  it('equals a Map model, whole or resumed from checkpoints every k entries (property)', async () => {
    await fc.assert(
      fc.asyncProperty(manifest(60), manifest(60), fc.integer({ min: 1, max: 7 }), async (base, delta, k) => {
        const want = overlayModel(base, delta);
        expect(await drain(overlay(listCursor(base), listCursor(delta)))).toEqual(want);
        expect(await inSteps([base, delta], ([b, d]) => overlay(b, d), k)).toEqual(want);
      }),
    );
  });
});

describe('changedSince (delta of a scan manifest against the last RP)', () => {
  it.each<[string, ChunkRef[], ChunkRef[], ChunkRef[]]>([
    ['nothing changed', [[1, 'a']], [[1, 'a']], []],
    ['first sync: every chunk', [[1, 'a']], [], [[1, 'a']]],
    ['rewritten chunk', [[1, 'b']], [[1, 'a']], [[1, 'b']]],
    [
      'new chunk between old ones',
      [
        [0, 'a'],
        [4, 'n'],
        [9, 'c'],
      ],
      [
        [0, 'a'],
        [9, 'c'],
      ],
      [[4, 'n']],
    ],
    [
      'previous has chunks past the scan',
      [[2, 'a']],
      [
        [2, 'a'],
        [7, 'b'],
      ],
      [],
    ],
    [
      'previous only has earlier chunks',
      [[8, 'z']],
      [
        [1, 'a'],
        [3, 'b'],
      ],
      [[8, 'z']],
    ],
  ])('%s', async (_, scan, previous, want) => {
    expect(await drain(changedSince(listCursor(scan), listCursor(previous)))).toEqual(want);
  });

  it('equals a Map model, whole or resumed from checkpoints every k entries (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        manifest(40),
        manifest(40),
        fc.integer({ min: 1, max: 5 }),
        async (scan, previous, k) => {
          const want = changedModel(scan, previous);
          expect(await drain(changedSince(listCursor(scan), listCursor(previous)))).toEqual(want);
          expect(await inSteps([scan, previous], ([s, p]) => changedSince(s, p), k)).toEqual(want);
        },
      ),
    );
  });
});

describe('runs: latestOf merges sorted runs like one DeltaBuilder over every record', () => {
  const VOLS = ['vol-a', 'vol-b', 'vol-c'];
  const record = fc.record({
    volume: fc.constantFrom(...VOLS),
    chunk: fc.integer({ min: 0, max: 12 }),
    epoch: fc.integer({ min: 1, max: 3 }),
    seq: fc.integer({ min: 0, max: 50 }),
    run: fc.integer({ min: 0, max: 3 }),
  });

  it('matches the whole-delta builder for every volume, resumed every k entries (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        async (recs, k) => {
          const whole = new DeltaBuilder();
          const perRun = [0, 1, 2, 3].map(() => new DeltaBuilder());
          for (const r of recs) {
            // The version names the write, so a tie in (epoch, seq) is the same write seen twice.
            const cr: ChangeRecord = {
              pairId: 'p',
              volumeId: r.volume,
              chunk: r.chunk,
              seq: r.seq,
              versionId: `v${r.epoch}.${r.seq}.${r.chunk}`,
              bytes: 1,
              sha256: 's',
            };
            whole.add(r.epoch, cr);
            perRun[r.run].add(r.epoch, cr);
          }
          const runs = perRun.map((b) => b.runEntries()).filter((entries) => entries.length > 0);
          let positions = runs.map(() => 0);
          for (const vol of VOLS) {
            const out: ChunkRef[] = [];
            for (let round = 0; round < 1000; round++) {
              const cursors = runs.map((r, i) => stored<RunEntry>(r, positions[i]));
              const got = await drain(latestOf(cursors, vol), k);
              out.push(...got);
              positions = cursors.map((c) => c.position());
              if (got.length < k) break;
            }
            expect(out).toEqual(whole.delta(vol));
          }
        },
      ),
    );
  });

  it('run lines round-trip', () => {
    const e: RunEntry = { volumeId: 'vol-abc', chunk: 1048575, epoch: 7, seq: 12, versionId: 'x.Y_z-1' };
    const line = formatRunLine(e);
    expect(line.endsWith('\n')).toBe(true);
    expect(parseRunLine(line.slice(0, -1))).toEqual(e);
    expect(() => parseRunLine('vol-abc 1 2')).toThrow(/corrupt run line/);
  });
});

describe('manifest index', () => {
  it('names its parts and is told apart from a manifest line', () => {
    expect(parseManifestIndex(formatManifestIndex(12).trimEnd())).toBe(12);
    expect(parseManifestIndex('0 version')).toBeUndefined();
    expect(() => parseManifestIndex('#parts zero')).toThrow(/corrupt manifest index/);
    expect(manifestPartKey('manifests/g/rp-000001/v.txt', 3)).toBe('manifests/g/rp-000001/v.txt.part-000003');
  });
});

describe('a run kept as text on the job', () => {
  it('reads back from any saved offset', async () => {
    const entries: RunEntry[] = [
      { volumeId: 'vol-a', chunk: 3, epoch: 1, seq: 4, versionId: 'v1' },
      { volumeId: 'vol-a', chunk: 9, epoch: 2, seq: 1, versionId: 'v2' },
      { volumeId: 'vol-b', chunk: 0, epoch: 2, seq: 7, versionId: 'v3' },
    ];
    const text = entries.map(formatRunLine).join('');
    const c = new StreamCursor((at: number) => runLinesFrom(text, at), 0);
    expect(await c.take()).toEqual(entries[0]);
    const resumed = new StreamCursor((at: number) => runLinesFrom(text, at), c.position());
    expect(await drain(resumed)).toEqual(entries.slice(1));
    expect(await drain(new StreamCursor((at: number) => runLinesFrom(text, at), text.length))).toEqual([]);
  });
});
