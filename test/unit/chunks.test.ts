import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChunkSpan,
  chunkKey,
  chunkPrefix,
  indexOfChunkKey,
  isWholeChunk,
  spansOf,
  storedBody,
} from '../../shared/domain/chunks';
import { expectBadInput } from './domain-error';

const KiB = 1024;
const MiB = 1024 * KiB;
const TiB = 1024 ** 4;

/** Every structural promise of spansOf, checked against one call. */
function checkSpans(spans: ChunkSpan[], offset: number, length: number, chunk: number): void {
  if (length === 0) {
    expect(spans).toEqual([]);
    return;
  }
  let covered = 0;
  for (const [i, s] of spans.entries()) {
    expect(s.length).toBeGreaterThan(0);
    expect(s.start).toBeGreaterThanOrEqual(0);
    // Inside one chunk.
    expect(s.start + s.length).toBeLessThanOrEqual(chunk);
    // Contiguous, in order, and dataOffset is where the span sits in the write's buffer.
    expect(s.dataOffset).toBe(covered);
    expect(s.index * chunk + s.start).toBe(offset + s.dataOffset);
    if (i > 0) {
      expect(s.index).toBe(spans[i - 1].index + 1);
      expect(s.start).toBe(0);
    }
    if (i < spans.length - 1) expect(s.start + s.length).toBe(chunk);
    covered += s.length;
  }
  expect(covered).toBe(length);
  expect(spans[0].index).toBe(Math.floor(offset / chunk));
  expect(spans[spans.length - 1].index).toBe(Math.floor((offset + length - 1) / chunk));
}

describe('spansOf', () => {
  it.each([
    // offset, length, chunk, size, expected
    [0, 0, 4, 16, []],
    [16, 0, 4, 16, []],
    [0, 4, 4, 16, [{ index: 0, start: 0, length: 4, dataOffset: 0 }]],
    [1, 2, 4, 16, [{ index: 0, start: 1, length: 2, dataOffset: 0 }]],
    [
      3,
      6,
      4,
      16,
      [
        { index: 0, start: 3, length: 1, dataOffset: 0 },
        { index: 1, start: 0, length: 4, dataOffset: 1 },
        { index: 2, start: 0, length: 1, dataOffset: 5 },
      ],
    ],
    [
      0,
      16,
      4,
      16,
      [
        { index: 0, start: 0, length: 4, dataOffset: 0 },
        { index: 1, start: 0, length: 4, dataOffset: 4 },
        { index: 2, start: 0, length: 4, dataOffset: 8 },
        { index: 3, start: 0, length: 4, dataOffset: 12 },
      ],
    ],
    [15, 1, 4, 16, [{ index: 3, start: 3, length: 1, dataOffset: 0 }]],
    [
      64 * TiB - MiB - 10,
      20,
      MiB,
      64 * TiB,
      [
        { index: 64 * MiB - 2, start: MiB - 10, length: 10, dataOffset: 0 },
        { index: 64 * MiB - 1, start: 0, length: 10, dataOffset: 10 },
      ],
    ],
  ])('spansOf(%d, %d, chunk %d, size %d)', (offset, length, chunk, size, expected) => {
    expect(spansOf(offset, length, chunk, size)).toEqual(expected);
  });

  it('covers exactly [offset, offset+length), in order, each span inside one chunk (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (exp, chunks, a, b) => {
          const chunk = 2 ** exp;
          const size = chunk * chunks;
          const offset = Math.floor(a * size);
          const length = Math.floor(b * (size - offset));
          checkSpans(spansOf(offset, length, chunk, size), offset, length, chunk);
        },
      ),
    );
  });

  it('also splits correctly near the 64 TiB end of a large volume (property)', () => {
    const size = 64 * TiB;
    fc.assert(
      fc.property(
        fc.constantFrom(64 * KiB, MiB, 64 * MiB),
        fc.integer({ min: 0, max: 256 * MiB }),
        fc.integer({ min: 0, max: 2 * MiB }),
        (chunk, back, length) => {
          const offset = size - back;
          const len = Math.min(length, back);
          checkSpans(spansOf(offset, len, chunk, size), offset, len, chunk);
        },
      ),
    );
  });

  it.each([
    [15, 2, 4, 16],
    [16, 1, 4, 16],
    [0, 17, 4, 16],
    [17, 0, 4, 16],
    [64 * TiB, 1, MiB, 64 * TiB],
  ])('rejects a range past the end: spansOf(%d, %d, %d, %d) -> 400 out-of-range', (o, l, c, s) => {
    expectBadInput(() => spansOf(o, l, c, s), 'out-of-range');
  });

  it.each([
    [-1, 1],
    [0, -1],
    [0.5, 1],
    [0, 1.5],
    [Number.NaN, 1],
    [0, Number.NaN],
    [Number.POSITIVE_INFINITY, 0],
    [0, Number.POSITIVE_INFINITY],
    [2 ** 53, 0],
  ])('rejects negative or fractional input: spansOf(%d, %d) -> 400', (offset, length) => {
    expectBadInput(() => spansOf(offset, length, 4, 16), 'bad-input');
  });
});

describe('isWholeChunk', () => {
  it.each([
    [{ index: 0, start: 0, length: 4, dataOffset: 0 }, 4, true],
    [{ index: 7, start: 0, length: 4, dataOffset: 9 }, 4, true],
    [{ index: 0, start: 1, length: 3, dataOffset: 0 }, 4, false],
    [{ index: 0, start: 0, length: 3, dataOffset: 0 }, 4, false],
    [{ index: 0, start: 0, length: 4, dataOffset: 0 }, 8, false],
  ])('%o with chunk %d -> %s', (span, chunk, expected) => {
    expect(isWholeChunk(span, chunk)).toBe(expected);
  });

  it('is true exactly for the inner spans of a multi-chunk aligned write', () => {
    const spans = spansOf(4, 12, 4, 16);
    expect(spans.map((s) => isWholeChunk(s, 4))).toEqual([true, true, true]);
    const unaligned = spansOf(2, 12, 4, 16);
    expect(unaligned.map((s) => isWholeChunk(s, 4))).toEqual([false, true, true, false]);
  });
});

describe('storedBody', () => {
  it.each([
    [[0, 0, 0, 0], 0],
    [[], 0],
    [[0, 0, 0, 1], 4],
    [[9, 0, 0, 0], 4],
  ])('%o is stored as %d bytes', (bytes, length) => {
    expect(storedBody(Uint8Array.from(bytes)).length).toBe(length);
  });

  it('keeps every chunk with a non-zero byte as it is', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (chunk) => {
        const stored = storedBody(chunk);
        if (chunk.some((b) => b !== 0)) expect(stored).toBe(chunk);
        else expect(stored.length).toBe(0);
      }),
    );
  });
});

describe('chunkKey', () => {
  const vol = 'vol-0123456789ab';

  it.each([
    [0, 'volumes/vol-0123456789ab/chunks/0000000000'],
    [42, 'volumes/vol-0123456789ab/chunks/0000000042'],
    [2 ** 30 - 1, 'volumes/vol-0123456789ab/chunks/1073741823'],
  ])('chunkKey(vol, %d) = %s', (index, key) => {
    expect(chunkKey(vol, index)).toBe(key);
    expect(key.startsWith(chunkPrefix(vol))).toBe(true);
  });

  // 64 TiB / 64 KiB = 2^30 chunks is the most a volume can have.
  const index = fc.integer({ min: 0, max: 2 ** 30 });

  it('lexicographic order of keys equals numeric order of indices (property)', () => {
    fc.assert(
      fc.property(index, index, (a, b) => {
        const ka = chunkKey(vol, a);
        const kb = chunkKey(vol, b);
        expect(Math.sign(ka < kb ? -1 : ka > kb ? 1 : 0)).toBe(Math.sign(a - b));
      }),
    );
  });

  it('sorting keys as strings sorts the chunks numerically (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(index, { maxLength: 50 }), (indices) => {
        const byKey = indices.map((i) => chunkKey(vol, i)).sort();
        const byIndex = [...indices].sort((x, y) => x - y).map((i) => chunkKey(vol, i));
        expect(byKey).toEqual(byIndex);
      }),
    );
  });

  it('indexOfChunkKey inverts chunkKey (property)', () => {
    fc.assert(
      fc.property(index, fc.constantFrom(vol, 'vol-aaaaaaaaaaaa', 'vol-x-y-z'), (i, v) => {
        const key = chunkKey(v, i);
        expect(key.startsWith(chunkPrefix(v))).toBe(true);
        expect(indexOfChunkKey(key)).toBe(i);
      }),
    );
  });
});
