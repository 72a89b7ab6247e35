import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copiedVersions, decodeChunkRefs, encodeChunkRefs } from '../../shared/domain/chunk-ref-text';
import type { ChunkRef } from '../../shared/domain/model';

// S3 version ids are URL-ready: no space. moto's are UUIDs; AWS's hold letters, digits, '.' and '_'.
const versionId = fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/);
const refs = fc.array(fc.tuple(fc.nat(10_000_000), versionId), { maxLength: 70 });

describe('chunk refs as a copy task stores them', () => {
  it('decode(encode(refs)) is refs, order kept', () => {
    fc.assert(
      fc.property(refs, (r) => {
        expect(decodeChunkRefs(encodeChunkRefs(r as ChunkRef[]))).toEqual(r);
      }),
    );
  });

  it.each([
    ['no chunk', '', []],
    ['one chunk', '7:abc', [[7, 'abc']]],
    [
      'a version id with a colon splits at the first',
      '3:a:b 4:c',
      [
        [3, 'a:b'],
        [4, 'c'],
      ],
    ],
  ])('%s', (_, text, expected) => {
    expect(decodeChunkRefs(text)).toEqual(expected);
  });

  it('a task planned before this encoding holds a list of pairs, read as it is', () => {
    expect(decodeChunkRefs([[1, 'v1']])).toEqual([[1, 'v1']]);
  });
});

describe('copiedVersions', () => {
  it.each([
    ['nothing recorded', {}, []],
    [
      'one record',
      { copied: ['1:a 2:b'] },
      [
        [1, 'a'],
        [2, 'b'],
      ],
    ],
    [
      'records in order',
      { copied: ['5:e', '1:a 3:c'] },
      [
        [5, 'e'],
        [1, 'a'],
        [3, 'c'],
      ],
    ],
    ['the per-chunk map of an older task', { done: { c4: 'd' } }, [[4, 'd']]],
    [
      'a task across the upgrade: both',
      { done: { c4: 'd' }, copied: ['6:f'] },
      [
        [4, 'd'],
        [6, 'f'],
      ],
    ],
  ])('%s', (_, task, expected) => {
    expect([...copiedVersions(task)]).toEqual(expected);
  });

  it('every chunk of every record, whatever the slicing', () => {
    fc.assert(
      fc.property(refs, fc.array(fc.nat(20), { maxLength: 8 }), (r, cuts) => {
        const unique = [...new Map(r as ChunkRef[]).entries()];
        const records: string[] = [];
        let at = 0;
        for (const cut of [...cuts, unique.length]) {
          records.push(encodeChunkRefs(unique.slice(at, at + cut)));
          at += cut;
        }
        expect(copiedVersions({ copied: records.filter((x) => x !== '') })).toEqual(new Map(unique));
      }),
    );
  });
});
