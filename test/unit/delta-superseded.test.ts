import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Cursor } from '../../shared/domain/cursor';
import { DeltaBuilder, latestOf, type RunEntry } from '../../shared/domain/delta';
import type { ChangeRecord } from '../../shared/domain/model';

const TRACKED = 'vol-aaaaaaaaaaaa';
const OTHER = 'vol-bbbbbbbbbbbb';

/** Writes of a few chunks of two volumes: version `v<n>` is the n-th write, epoch then seq order. */
const writes = fc.array(
  fc.record({ volumeId: fc.constantFrom(TRACKED, OTHER), chunk: fc.integer({ min: 0, max: 3 }) }),
  { maxLength: 40 },
);

function records(ws: { volumeId: string; chunk: number }[]): [number, ChangeRecord][] {
  return ws.map((w, n) => [
    1 + Math.floor(n / 10),
    { pairId: 'pair-aaaaaaaaaaaa', ...w, seq: n, versionId: `v${n}`, bytes: 1, sha256: '' },
  ]);
}

function cursor(entries: RunEntry[]): Cursor<RunEntry> {
  let i = 0;
  return { peek: async () => entries[i], take: async () => entries[i++] };
}

describe('superseded versions', () => {
  it('every version of a tracked volume but the last of its chunk, whatever the delivery order and duplicates', () => {
    fc.assert(
      fc.property(
        writes,
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (ws, dups, shuffle) => {
          const recs = records(ws);
          const delivered = [
            ...recs,
            ...dups.filter(() => recs.length > 0).map((d) => recs[d % recs.length]),
          ];
          // A deterministic shuffle from the seed: arrival order must not matter.
          delivered.sort(
            (a, b) =>
              ((a[1].seq * 7919 + shuffle) % 101) - ((b[1].seq * 7919 + shuffle) % 101) ||
              a[1].seq - b[1].seq,
          );
          const b = new DeltaBuilder(new Set([TRACKED]));
          for (const [epoch, r] of delivered) b.add(epoch, r);
          const last = new Map<number, string>();
          for (const [, r] of recs) if (r.volumeId === TRACKED) last.set(r.chunk, r.versionId);
          const expected = recs
            .filter(([, r]) => r.volumeId === TRACKED && last.get(r.chunk) !== r.versionId)
            .map(([, r]) => r.versionId)
            .sort();
          const got = [...new Set(b.superseded().map((e) => e.versionId))].sort();
          expect(got).toEqual(expected);
          // The winners are never superseded; nor is anything of an untracked volume.
          for (const v of last.values()) expect(got).not.toContain(v);
          expect(b.superseded().every((e) => e.volumeId === TRACKED)).toBe(true);
        },
      ),
    );
  });

  it('merging runs reports each entry that lost to another version, not a duplicate of the winner', async () => {
    const e = (chunk: number, seq: number, versionId: string): RunEntry => ({
      volumeId: TRACKED,
      chunk,
      epoch: 1,
      seq,
      versionId,
    });
    const runs = [
      cursor([e(0, 1, 'a'), e(1, 2, 'b')]),
      cursor([e(0, 3, 'c'), e(1, 2, 'b')]),
      cursor([e(2, 4, 'd')]),
    ];
    const lost: string[] = [];
    const merged = latestOf(runs, TRACKED, (x) => lost.push(x.versionId));
    const out = [];
    for (let ref = await merged.take(); ref; ref = await merged.take()) out.push(ref);
    expect(out).toEqual([
      [0, 'c'],
      [1, 'b'],
      [2, 'd'],
    ]);
    expect(lost).toEqual(['a']);
  });

  it('a peek reports nothing', async () => {
    const runs = [cursor([{ volumeId: TRACKED, chunk: 0, epoch: 1, seq: 1, versionId: 'a' }])];
    const runs2 = [...runs, cursor([{ volumeId: TRACKED, chunk: 0, epoch: 1, seq: 2, versionId: 'b' }])];
    const lost: string[] = [];
    const merged = latestOf(runs2, TRACKED, (x) => lost.push(x.versionId));
    expect(await merged.peek()).toEqual([0, 'b']);
    expect(lost).toEqual([]);
    expect(await merged.take()).toEqual([0, 'b']);
    expect(lost).toEqual(['a']);
  });
});
