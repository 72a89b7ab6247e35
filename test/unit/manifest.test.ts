import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatManifestLine,
  mergeManifests,
  parseManifestLine,
  releasedVersions,
} from '../../shared/domain/manifest';
import type { ChunkRef } from '../../shared/domain/model';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* stream<T>(items: T[]): AsyncGenerator<T> {
  for (const x of items) {
    // Yield to the event loop now and then, as a streamed S3 body does.
    if (x === items[Math.floor(items.length / 2)]) await new Promise((r) => setImmediate(r));
    yield x;
  }
}

/** A sorted manifest: unique indices, ascending. */
const manifest = (maxIndex: number, versions: fc.Arbitrary<string>) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max: maxIndex }), { maxLength: 40 })
    .chain((indices) =>
      fc.tuple(...indices.sort((a, b) => a - b).map((i) => versions.map((v): ChunkRef => [i, v]))),
    )
    .map((refs) => refs as ChunkRef[]);

const versionId = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', '.', '_', '-'),
  minLength: 1,
  maxLength: 12,
});

describe('manifest lines', () => {
  it.each<ChunkRef>([
    [0, 'null'],
    [42, '3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY'],
    [2 ** 30 - 1, 'v.1_2'],
  ])('format/parse round trip of [%d, %s]', (index, v) => {
    const line = formatManifestLine([index, v]);
    expect(line).toBe(`${index} ${v}\n`);
    expect(parseManifestLine(line.slice(0, -1))).toEqual([index, v]);
  });

  it('round-trips any entry (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 30 }), versionId, (index, v) => {
        const line = formatManifestLine([index, v]);
        expect(line.endsWith('\n')).toBe(true);
        expect(line.indexOf('\n')).toBe(line.length - 1);
        expect(parseManifestLine(line.slice(0, -1))).toEqual([index, v]);
      }),
    );
  });

  it('round-trips a whole manifest text split into lines (property)', () => {
    fc.assert(
      fc.property(manifest(10_000, versionId), (entries) => {
        const text = entries.map(formatManifestLine).join('');
        const back = text
          .split('\n')
          .filter((l) => l)
          .map(parseManifestLine);
        expect(back).toEqual(entries);
      }),
    );
  });

  it.each([
    '',
    ' ',
    '12',
    '12 ',
    ' v1',
    ' 12 v1',
    'abc v1',
    '1.5 v1',
    'NaN v1',
    'Infinity v1',
    '9007199254740993 v1',
  ])('rejects the corrupt line %j', (line) => {
    expect(() => parseManifestLine(line)).toThrow(/corrupt manifest line/);
  });

  // formatManifestLine only ever writes a non-negative decimal index; anything else is corrupt.
  it.each(['-1 v1', '1e3 v1', '0x10 v1'])('rejects the non-canonical index in %j', (line) => {
    expect(() => parseManifestLine(line)).toThrow(/corrupt manifest line/);
  });
});

describe('mergeManifests', () => {
  function referenceMerge(base: ChunkRef[], delta: ChunkRef[]): ChunkRef[] {
    const m = new Map<number, string>(base);
    for (const [i, v] of delta) m.set(i, v);
    return [...m.entries()].sort((a, b) => a[0] - b[0]);
  }

  it.each<[string, ChunkRef[], ChunkRef[], ChunkRef[]]>([
    ['empty + empty', [], [], []],
    ['empty base', [], [[1, 'd1']], [[1, 'd1']]],
    ['empty delta', [[1, 'b1']], [], [[1, 'b1']]],
    [
      'delta wins on equal index',
      [
        [1, 'b1'],
        [2, 'b2'],
      ],
      [[2, 'd2']],
      [
        [1, 'b1'],
        [2, 'd2'],
      ],
    ],
    [
      'delta before, between and after base',
      [
        [5, 'b5'],
        [10, 'b10'],
      ],
      [
        [1, 'd1'],
        [7, 'd7'],
        [10, 'd10'],
        [20, 'd20'],
      ],
      [
        [1, 'd1'],
        [5, 'b5'],
        [7, 'd7'],
        [10, 'd10'],
        [20, 'd20'],
      ],
    ],
  ])('%s', async (_name, base, delta, expected) => {
    expect(await collect(mergeManifests(base, delta))).toEqual(expected);
    expect(await collect(mergeManifests(stream(base), delta))).toEqual(expected);
  });

  it('equals a Map-based merge and stays sorted, base as array and as async iterable (property)', async () => {
    const v = fc.constantFrom('a', 'b', 'c', 'd');
    await fc.assert(
      fc.asyncProperty(manifest(60, v), manifest(60, v), async (base, delta) => {
        const expected = referenceMerge(base, delta);
        const fromArray = await collect(mergeManifests(base, delta));
        const fromStream = await collect(mergeManifests(stream(base), delta));
        expect(fromArray).toEqual(expected);
        expect(fromStream).toEqual(expected);
        for (let i = 1; i < fromStream.length; i++)
          expect(fromStream[i][0]).toBeGreaterThan(fromStream[i - 1][0]);
      }),
    );
  });

  it('does not consume the delta eagerly beyond what it yields', async () => {
    const base: ChunkRef[] = [[3, 'b3']];
    const delta: ChunkRef[] = [
      [1, 'd1'],
      [3, 'd3'],
      [9, 'd9'],
    ];
    const gen = mergeManifests(stream(base), delta);
    expect((await gen.next()).value).toEqual([1, 'd1']);
    expect((await gen.next()).value).toEqual([3, 'd3']);
    expect((await gen.next()).value).toEqual([9, 'd9']);
    expect((await gen.next()).done).toBe(true);
  });
});

describe('releasedVersions', () => {
  it.each<[string, ChunkRef[], ChunkRef[], ChunkRef[]]>([
    ['nothing older', [], [[1, 'a']], []],
    ['nothing newer: all released', [[1, 'a']], [], [[1, 'a']]],
    ['same version kept', [[1, 'a']], [[1, 'a']], []],
    ['replaced version released', [[1, 'a']], [[1, 'b']], [[1, 'a']]],
    [
      'mixed',
      [
        [1, 'a'],
        [2, 'b'],
        [3, 'c'],
        [7, 'x'],
      ],
      [
        [0, 'n'],
        [2, 'b'],
        [3, 'c2'],
        [5, 'y'],
        [7, 'x'],
        [8, 'z'],
      ],
      [
        [1, 'a'],
        [3, 'c'],
      ],
    ],
  ])('%s', async (_name, older, newer, expected) => {
    expect(await collect(releasedVersions(stream(older), stream(newer)))).toEqual(expected);
  });

  it('yields exactly the entries of older whose (index, version) is not in newer (property)', async () => {
    const v = fc.constantFrom('a', 'b', 'c');
    await fc.assert(
      fc.asyncProperty(manifest(40, v), manifest(40, v), async (older, newer) => {
        const kept = new Set(newer.map(([i, ver]) => `${i} ${ver}`));
        const expected = older.filter(([i, ver]) => !kept.has(`${i} ${ver}`));
        expect(await collect(releasedVersions(stream(older), stream(newer)))).toEqual(expected);
      }),
    );
  });

  it('after a merge, releases exactly the base entries the delta replaced (property)', async () => {
    // Version ids are unique per write, as S3 versionIds are.
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 0, max: 80 }), { maxLength: 40 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 80 }), { maxLength: 40 }),
        async (baseIdx, deltaIdx) => {
          const base: ChunkRef[] = [...baseIdx].sort((a, b) => a - b).map((i) => [i, `base-${i}`]);
          const delta: ChunkRef[] = [...deltaIdx].sort((a, b) => a - b).map((i) => [i, `delta-${i}`]);
          const merged = await collect(mergeManifests(stream(base), delta));
          const replaced = new Set(deltaIdx);
          expect(await collect(releasedVersions(stream(base), stream(merged)))).toEqual(
            base.filter(([i]) => replaced.has(i)),
          );
        },
      ),
    );
  });
});
