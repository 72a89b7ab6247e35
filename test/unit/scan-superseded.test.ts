import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChunkRef } from '../../shared/domain/model';
import {
  type ChunkHistory,
  chunkHistoriesOf,
  supersededAtScan,
  type VersionPage,
} from '../../shared/domain/scan-superseded';

async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}

async function collect(
  history: ChunkHistory[],
  cut: ChunkRef[],
  floor: ChunkRef[],
  held: ChunkRef[][] = [],
): Promise<ChunkRef[]> {
  const out: ChunkRef[] = [];
  for await (const r of supersededAtScan(stream(history), stream(cut), stream(floor), held.map(stream)))
    out.push(r);
  return out;
}

const chunk = (index: number, versions: string[], deleteMarkers = false): ChunkHistory => ({
  index,
  versions,
  deleteMarkers,
});

describe('versions a scan sync deletes (superseded between the floor image and the cut)', () => {
  it.each<[string, ChunkHistory[], ChunkRef[], ChunkRef[], ChunkRef[][], ChunkRef[]]>([
    [
      'no floor entry: every version older than the cut',
      [chunk(0, ['x', 'a', 'b'])],
      [[0, 'x']],
      [],
      [],
      [
        [0, 'a'],
        [0, 'b'],
      ],
    ],
    ['stops at the floor version', [chunk(0, ['x', 'a', 'f', 'o'])], [[0, 'x']], [[0, 'f']], [], [[0, 'a']]],
    ['delete markers among the versions: kept', [chunk(0, ['x', 'a'], true)], [[0, 'x']], [], [], []],
    [
      'a held version is kept, the others go',
      [chunk(0, ['x', 'a', 'b'])],
      [[0, 'x']],
      [],
      [[[0, 'a']]],
      [[0, 'b']],
    ],
    [
      'versions newer than the cut are never taken',
      [chunk(0, ['n', 'x', 'a'])],
      [[0, 'x']],
      [],
      [],
      [[0, 'a']],
    ],
    ['the cut version missing from the history: kept', [chunk(0, ['a', 'b'])], [[0, 'x']], [], [], []],
    ['a chunk the scan did not find: kept', [chunk(0, ['a', 'b'])], [], [], [], []],
    [
      'a floor version not older than the cut: kept',
      [chunk(0, ['f', 'x', 'a'])],
      [[0, 'x']],
      [[0, 'f']],
      [],
      [],
    ],
    ['the floor is the cut version: nothing', [chunk(0, ['x', 'a'])], [[0, 'x']], [[0, 'x']], [], []],
    [
      'sparse manifests are looked up per chunk',
      [chunk(1, ['x1', 'a1']), chunk(3, ['x3', 'a3', 'f3', 'o3']), chunk(7, ['x7', 'a7'])],
      [
        [1, 'x1'],
        [3, 'x3'],
        [7, 'x7'],
      ],
      [
        [2, 'f2'],
        [3, 'f3'],
        [9, 'f9'],
      ],
      [
        [
          [0, 'h0'],
          [7, 'a7'],
        ],
      ],
      [
        [1, 'a1'],
        [3, 'a3'],
      ],
    ],
  ])('%s', async (_name, history, cut, floor, held, expected) => {
    expect(await collect(history, cut, floor, held)).toEqual(expected);
  });

  it('never takes the cut version, anything newer, the floor version or older, or a held one', async () => {
    const chunkArb = fc.record({
      length: fc.integer({ min: 1, max: 6 }),
      cut: fc.option(fc.nat(), { nil: undefined }),
      floor: fc.option(fc.nat(), { nil: undefined }),
      held: fc.array(fc.nat(), { maxLength: 3 }),
      deleteMarkers: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(chunkArb, { nil: undefined }), { maxLength: 12 }),
        async (chunks) => {
          const history: ChunkHistory[] = [];
          const cut: ChunkRef[] = [];
          const floor: ChunkRef[] = [];
          // A manifest names one version per chunk: each held version of a chunk is in its own.
          const held: ChunkRef[][] = [[], [], []];
          const expected: ChunkRef[] = [];
          chunks.forEach((c, index) => {
            if (!c) return;
            const versions = Array.from({ length: c.length }, (_, i) => `v${index}-${i}`);
            history.push(chunk(index, versions, c.deleteMarkers));
            const at = c.cut === undefined ? undefined : c.cut % c.length;
            const floorAt = c.floor === undefined ? undefined : c.floor % (c.length + 1);
            if (at !== undefined) cut.push([index, versions[at]]);
            if (floorAt !== undefined && floorAt < c.length) floor.push([index, versions[floorAt]]);
            const kept = new Set(c.held.map((h) => versions[h % c.length]));
            for (const [i, v] of [...kept].entries()) held[i].push([index, v]);
            if (at === undefined || c.deleteMarkers) return;
            const hasFloor = floorAt !== undefined && floorAt < c.length;
            const end = hasFloor ? floorAt : c.length;
            if (end <= at) return;
            for (let i = at + 1; i < end; i++)
              if (!kept.has(versions[i])) expected.push([index, versions[i]]);
          });
          expect(await collect(history, cut, floor, held)).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('chunk histories from listing pages', () => {
  it('keeps each chunk whole and in order however the pages split it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ versions: fc.integer({ min: 0, max: 4 }), markers: fc.integer({ min: 0, max: 2 }) }),
          {
            maxLength: 8,
          },
        ),
        fc.integer({ min: 1, max: 5 }),
        async (chunks, perPage) => {
          const expected: ChunkHistory[] = [];
          // S3's order: by key, a key's versions newest first; markers come apart in the same order.
          const entries: { index: number; version?: string }[] = [];
          chunks.forEach((c, index) => {
            if (c.versions + c.markers === 0) return;
            const versions = Array.from({ length: c.versions }, (_, i) => `v${index}-${i}`);
            expected.push({ index, versions, deleteMarkers: c.markers > 0 });
            for (const version of versions) entries.push({ index, version });
            for (let m = 0; m < c.markers; m++) entries.push({ index });
          });
          const pages: VersionPage[] = [];
          for (let i = 0; i < entries.length; i += perPage) {
            const slice = entries.slice(i, i + perPage);
            pages.push({
              versions: slice.flatMap((e) => (e.version ? [[e.index, e.version] as ChunkRef] : [])),
              markers: slice.flatMap((e) => (e.version ? [] : [e.index])),
            });
          }
          const got: ChunkHistory[] = [];
          for await (const h of chunkHistoriesOf(stream(pages))) got.push(h);
          expect(got).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
