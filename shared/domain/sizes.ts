import { badInput } from './errors';

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
  TIB: 1024 ** 4,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

export const MIN_CHUNK = 64 * 1024;
export const MAX_CHUNK = 64 * 1024 * 1024;
export const DEFAULT_CHUNK = 1024 * 1024;
export const MAX_VOLUME = 64 * 1024 ** 4;

/** Parses `256MiB`, `1GiB`, `4096` into bytes. */
export function parseSize(input: string | number, what = 'size'): number {
  if (typeof input === 'number') return checkWhole(input, what);
  const m = /^\s*(\d+)\s*([A-Za-z]*)\s*$/.exec(input);
  const unit = m ? UNITS[m[2].toUpperCase()] : undefined;
  if (!m || unit === undefined) {
    throw badInput(`${what}: cannot read ${JSON.stringify(input)}; use bytes or a unit such as 256MiB, 1GiB`);
  }
  return checkWhole(Number(m[1]) * unit, what);
}

function checkWhole(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw badInput(`${what} must be a whole number of bytes`);
  return n;
}

export function checkChunkSize(n: number): number {
  if (!Number.isInteger(n) || n < MIN_CHUNK || n > MAX_CHUNK || (n & (n - 1)) !== 0) {
    throw badInput('chunkSizeBytes must be a power of two from 64KiB to 64MiB', 'bad-chunk-size');
  }
  return n;
}

export function checkVolumeSize(sizeBytes: number, chunkSizeBytes: number): number {
  if (sizeBytes <= 0 || sizeBytes > MAX_VOLUME) {
    throw badInput('sizeBytes must be greater than 0 and at most 64TiB', 'bad-size');
  }
  if (sizeBytes % chunkSizeBytes !== 0) {
    throw badInput(`sizeBytes must be a multiple of the chunk size (${chunkSizeBytes})`, 'bad-size');
  }
  return sizeBytes;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}
