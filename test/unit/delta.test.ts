import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeltaBuilder } from '../../shared/domain/delta';
import type { ChangeRecord, ChunkRef } from '../../shared/domain/model';

const VOL = 'vol-aaaaaaaaaaaa';

function rec(chunk: number, seq: number, versionId: string, bytes = 4096, volumeId = VOL): ChangeRecord {
  return { pairId: 'pair-aaaaaaaaaaaa', volumeId, chunk, seq, versionId, bytes, sha256: `sha-${versionId}` };
}

function build(entries: [number, ChangeRecord][]): DeltaBuilder {
  const b = new DeltaBuilder();
  for (const [epoch, r] of entries) b.add(epoch, r);
  return b;
}

describe('DeltaBuilder', () => {
  it('a chunk rewritten 100 times yields one entry with the last version', () => {
    const b = new DeltaBuilder();
    for (let i = 0; i < 100; i++) b.add(1 + Math.floor(i / 30), rec(7, i, `v${i}`, 100 + i));
    expect(b.delta(VOL)).toEqual([[7, 'v99']]);
    expect(b.bytes(VOL)).toBe(199);
  });

  it('the same 100 rewrites delivered in reverse still yield the last version', () => {
    const b = new DeltaBuilder();
    for (let i = 99; i >= 0; i--) b.add(1 + Math.floor(i / 30), rec(7, i, `v${i}`));
    expect(b.delta(VOL)).toEqual([[7, 'v99']]);
  });

  it('a higher epoch wins over a higher seq of a lower epoch', () => {
    // A new gateway session restarts its sequence numbers in a later epoch.
    const oldSession = [2, rec(3, 900, 'old')] as [number, ChangeRecord];
    const newSession = [3, rec(3, 1, 'new')] as [number, ChangeRecord];
    expect(build([oldSession, newSession]).delta(VOL)).toEqual([[3, 'new']]);
    expect(build([newSession, oldSession]).delta(VOL)).toEqual([[3, 'new']]);
  });

  it('within one epoch the higher seq wins', () => {
    expect(
      build([
        [5, rec(1, 11, 'b')],
        [5, rec(1, 10, 'a')],
      ]).delta(VOL),
    ).toEqual([[1, 'b']]);
  });

  it('sorts the delta by chunk index, numerically', () => {
    const b = build([
      [1, rec(100, 1, 'x100')],
      [1, rec(9, 2, 'x9')],
      [1, rec(20, 3, 'x20')],
      [1, rec(0, 4, 'x0')],
      [1, rec(2, 5, 'x2')],
    ]);
    expect(b.delta(VOL)).toEqual([
      [0, 'x0'],
      [2, 'x2'],
      [9, 'x9'],
      [20, 'x20'],
      [100, 'x100'],
    ]);
  });

  it('keeps volumes apart', () => {
    const b = build([
      [1, rec(0, 1, 'a0', 10, 'vol-a')],
      [1, rec(0, 1, 'b0', 20, 'vol-b')],
      [2, rec(1, 2, 'b1', 30, 'vol-b')],
    ]);
    expect(b.delta('vol-a')).toEqual([[0, 'a0']]);
    expect(b.delta('vol-b')).toEqual([
      [0, 'b0'],
      [1, 'b1'],
    ]);
    expect(b.bytes('vol-a')).toBe(10);
    expect(b.bytes('vol-b')).toBe(50);
    expect(b.delta('vol-c')).toEqual([]);
    expect(b.bytes('vol-c')).toBe(0);
  });

  it('bytes() counts each chunk once, at the size of its winning version', () => {
    const b = build([
      [1, rec(0, 1, 'a', 1000)],
      [1, rec(0, 2, 'b', 300)],
      [2, rec(1, 3, 'c', 50)],
      [1, rec(1, 4, 'd', 7000)],
    ]);
    expect(b.delta(VOL)).toEqual([
      [0, 'b'],
      [1, 'c'],
    ]);
    expect(b.bytes(VOL)).toBe(350);
  });

  // Records of a few volumes; seq is unique per volume (it is a per-volume counter).
  const records = fc
    .array(
      fc.record({
        vol: fc.constantFrom('vol-aaa', 'vol-bbb', 'vol-ccc'),
        epoch: fc.integer({ min: 1, max: 4 }),
        chunk: fc.integer({ min: 0, max: 12 }),
        seqJump: fc.integer({ min: 1, max: 3 }),
        bytes: fc.integer({ min: 1, max: 1 << 20 }),
      }),
      { maxLength: 60 },
    )
    .map((raw) => {
      const seqs = new Map<string, number>();
      return raw.map((r, i): [number, ChangeRecord] => {
        const seq = (seqs.get(r.vol) ?? 0) + r.seqJump;
        seqs.set(r.vol, seq);
        return [r.epoch, rec(r.chunk, seq, `v${i}`, r.bytes, r.vol)];
      });
    });

  /** Reference: per (volume, chunk) the record with the greatest (epoch, seq). */
  function reference(entries: [number, ChangeRecord][], vol: string): { delta: ChunkRef[]; bytes: number } {
    const best = new Map<number, [number, ChangeRecord]>();
    for (const [epoch, r] of entries) {
      if (r.volumeId !== vol) continue;
      const cur = best.get(r.chunk);
      if (!cur || epoch > cur[0] || (epoch === cur[0] && r.seq > cur[1].seq)) best.set(r.chunk, [epoch, r]);
    }
    const sorted = [...best.values()].sort((a, b) => a[1].chunk - b[1].chunk);
    return {
      delta: sorted.map(([, r]) => [r.chunk, r.versionId]),
      bytes: sorted.reduce((n, [, r]) => n + r.bytes, 0),
    };
  }

  it('equals a reference and is independent of arrival order and duplicate delivery (property)', () => {
    fc.assert(
      fc.property(
        records.chain((list) =>
          fc.tuple(
            fc.constant(list),
            fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
            fc.array(fc.nat(Math.max(0, list.length - 1)), { maxLength: list.length === 0 ? 0 : 30 }),
            fc.nat(),
          ),
        ),
        ([list, shuffled, dupIdx, seed]) => {
          // Duplicates land at pseudo-random places in the shuffled stream.
          const delivered = [...shuffled];
          for (const [k, i] of dupIdx.entries()) {
            delivered.splice((seed + k * 7919) % (delivered.length + 1), 0, list[i]);
          }
          const inOrder = build(list);
          const messy = build(delivered);
          for (const vol of ['vol-aaa', 'vol-bbb', 'vol-ccc']) {
            const ref = reference(list, vol);
            expect(inOrder.delta(vol)).toEqual(ref.delta);
            expect(messy.delta(vol)).toEqual(ref.delta);
            expect(messy.bytes(vol)).toBe(ref.bytes);
            const idx = messy.delta(vol).map(([i]) => i);
            expect(idx).toEqual([...new Set(idx)].sort((a, b) => a - b));
          }
        },
      ),
    );
  });
});
