import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkChunkSize,
  checkVolumeSize,
  MAX_CHUNK,
  MAX_VOLUME,
  MIN_CHUNK,
  parseSize,
} from '../../shared/domain/sizes';
import { expectBadInput } from './domain-error';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('parseSize', () => {
  it.each<[string | number, number]>([
    ['256MiB', 256 * MiB],
    ['1GiB', GiB],
    ['4096', 4096],
    [4096, 4096],
    ['64 KiB', 64 * KiB],
    ['  2TiB  ', 2 * TiB],
    ['64TiB', 64 * TiB],
    ['10B', 10],
    ['1KB', 1000],
    ['3MB', 3_000_000],
    ['2GB', 2_000_000_000],
    ['1TB', 1e12],
    ['0', 0],
    [0, 0],
  ])('parseSize(%j) = %d', (input, bytes) => {
    expect(parseSize(input)).toBe(bytes);
  });

  it.each<string | number>([
    '',
    '   ',
    'abc',
    'MiB',
    '1.5GiB',
    '0.5',
    '-1',
    '-1MiB',
    '1 XiB',
    '1PiB',
    '1 M i B',
    '1MiBs',
    '0x10',
    '1e3',
    '1,000',
    '9007199254740992',
    '99999999999999999999TiB',
    -1,
    -4096,
    1.5,
    4096.25,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    2 ** 53,
  ])('rejects %j with a 400 DomainError', (input) => {
    expectBadInput(() => parseSize(input));
  });

  it('names the field in its message', () => {
    expect(expectBadInput(() => parseSize('lots', 'sizeBytes')).message).toContain('sizeBytes');
  });

  it('parses every whole number of bytes and every n<unit> (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4096 }),
        fc.constantFrom<[string, number]>(['', 1], ['B', 1], ['KiB', KiB], ['MiB', MiB], ['GiB', GiB]),
        fc.constantFrom('', ' '),
        (n, [unit, factor], sep) => {
          expect(parseSize(`${n}${unit ? sep : ''}${unit}`)).toBe(n * factor);
          expect(parseSize(n * factor)).toBe(n * factor);
        },
      ),
    );
  });
});

describe('checkChunkSize', () => {
  const powers = Array.from({ length: 11 }, (_, i) => 2 ** (16 + i));

  it.each(powers)('accepts the power of two %d', (n) => {
    expect(checkChunkSize(n)).toBe(n);
  });

  it('accepts exactly 64KiB..64MiB at the bounds', () => {
    expect(powers[0]).toBe(MIN_CHUNK);
    expect(powers[powers.length - 1]).toBe(MAX_CHUNK);
  });

  it.each([
    0,
    -65536,
    1,
    4096,
    32 * KiB,
    128 * MiB,
    2 ** 31,
    2 ** 32,
    64 * KiB + 1,
    64 * KiB - 1,
    3 * 64 * KiB,
    MiB + 4096,
    64 * MiB - 1,
  ])('rejects %d with 400 bad-chunk-size', (n) => {
    expectBadInput(() => checkChunkSize(n), 'bad-chunk-size');
  });

  // Not a power of two, yet `n & (n - 1)` truncates both operands to 32-bit integers.
  it.each([64 * KiB + 0.5, MiB + 0.25, 64 * MiB - 0.5, Number.NaN])(
    'rejects the non-integer %d with 400 bad-chunk-size',
    (n) => {
      expectBadInput(() => checkChunkSize(n), 'bad-chunk-size');
    },
  );

  it('accepts an integer iff it is a power of two in [64KiB, 64MiB] (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer({ min: -(2 ** 28), max: 2 ** 28 }),
          fc.integer({ min: 0, max: 30 }).map((e) => 2 ** e),
        ),
        (n) => {
          const expected = n >= MIN_CHUNK && n <= MAX_CHUNK && Number.isInteger(Math.log2(n));
          let ok = true;
          try {
            checkChunkSize(n);
          } catch {
            ok = false;
          }
          expect(ok).toBe(expected);
        },
      ),
    );
  });
});

describe('checkVolumeSize', () => {
  it.each([
    [64 * KiB, 64 * KiB],
    [GiB, MiB],
    [64 * TiB, MiB],
    [64 * TiB, 64 * MiB],
    [3 * MiB, MiB],
  ])('accepts %d bytes with chunk %d', (size, chunk) => {
    expect(checkVolumeSize(size, chunk)).toBe(size);
  });

  it.each([
    [0, MiB],
    [-MiB, MiB],
    [64 * TiB + MiB, MiB],
    [128 * TiB, MiB],
    [MiB + 1, MiB],
    [1.5 * MiB, MiB],
    [MiB / 2, MiB],
    [MiB + 0.5, MiB],
    [Number.NaN, MiB],
    [Number.POSITIVE_INFINITY, MiB],
  ])('rejects %d bytes with chunk %d as 400 bad-size', (size, chunk) => {
    expectBadInput(() => checkVolumeSize(size, chunk), 'bad-size');
  });

  it('accepts k chunks for every k >= 1 up to 64TiB, rejects anything not a multiple (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 16, max: 26 }),
        fc.nat(),
        fc.integer({ min: 1, max: 65535 }),
        (e, r, off) => {
          const chunk = 2 ** e;
          const k = 1 + (r % (MAX_VOLUME / chunk));
          expect(checkVolumeSize(k * chunk, chunk)).toBe(k * chunk);
          const bad = k * chunk - (off % chunk);
          if (bad !== k * chunk) expectBadInput(() => checkVolumeSize(bad, chunk), 'bad-size');
        },
      ),
    );
  });
});
