import type { Cursor } from './cursor';
import type { ChunkRef, ManifestPosition } from './model';

/**
 * A manifest maps chunk index -> S3 versionId for one volume at one RP. It is stored as
 * text, one `index versionId` line per existing chunk in ascending index order, so that
 * a new manifest is a streaming merge of the previous one with a sorted delta.
 */
export function formatManifestLine([index, versionId]: ChunkRef): string {
  return `${index} ${versionId}\n`;
}

export function parseManifestLine(line: string): ChunkRef {
  const space = line.indexOf(' ');
  const digits = line.slice(0, space);
  const index = Number(digits);
  const versionId = line.slice(space + 1);
  if (space < 1 || !/^\d+$/.test(digits) || !Number.isSafeInteger(index) || versionId.length === 0) {
    throw new Error(`corrupt manifest line: ${JSON.stringify(line)}`);
  }
  return [index, versionId];
}

/** Merges a sorted base with a sorted delta; the delta wins on equal index. */
export async function* mergeManifests(
  base: AsyncIterable<ChunkRef> | Iterable<ChunkRef>,
  delta: Iterable<ChunkRef>,
): AsyncGenerator<ChunkRef> {
  const d = delta[Symbol.iterator]();
  let next = d.next();
  for await (const entry of base) {
    while (!next.done && next.value[0] < entry[0]) {
      yield next.value;
      next = d.next();
    }
    if (!next.done && next.value[0] === entry[0]) {
      yield next.value;
      next = d.next();
    } else {
      yield entry;
    }
  }
  while (!next.done) {
    yield next.value;
    next = d.next();
  }
}

/**
 * Versions of `older` that `newer` no longer references. Both are sorted manifests of the
 * same volume; a replaced version never comes back, so these are safe to delete once
 * `older` expires.
 */
export async function* releasedVersions(
  older: AsyncIterable<ChunkRef>,
  newer: AsyncIterable<ChunkRef>,
): AsyncGenerator<ChunkRef> {
  const n = newer[Symbol.asyncIterator]();
  let cur = await n.next();
  for await (const entry of older) {
    while (!cur.done && cur.value[0] < entry[0]) cur = await n.next();
    if (cur.done || cur.value[0] !== entry[0] || cur.value[1] !== entry[1]) yield entry;
  }
}

/**
 * A manifest too large for one object step is stored as parts (each an ordinary manifest of
 * consecutive chunk ranges) under an index object at the manifest's key: a header line naming
 * how many parts follow. Readers see one sorted stream either way.
 */
export const MANIFEST_INDEX_HEADER = '#parts';

export const formatManifestIndex = (parts: number) => `${MANIFEST_INDEX_HEADER} ${parts}\n`;

/** The number of parts when `line` is an index header, else undefined. */
export function parseManifestIndex(line: string): number | undefined {
  if (!line.startsWith(`${MANIFEST_INDEX_HEADER} `)) return undefined;
  const parts = Number(line.slice(MANIFEST_INDEX_HEADER.length + 1));
  if (!Number.isSafeInteger(parts) || parts < 1)
    throw new Error(`corrupt manifest index: ${JSON.stringify(line)}`);
  return parts;
}

export const manifestPartKey = (key: string, part: number) => `${key}.part-${String(part).padStart(6, '0')}`;

/**
 * Where a manifest is read from: part 0 is a single-object manifest, parts 1.. are the parts
 * under an index; offset is a byte offset into that object.
 */
export type { ManifestPosition };

export const MANIFEST_START: ManifestPosition = { part: 0, offset: 0 };

/** `base` overlaid by `delta` (both sorted; the delta wins on equal index), as a cursor. */
export function overlay(base: Cursor<ChunkRef>, delta: Cursor<ChunkRef>): Cursor<ChunkRef> {
  const pick = async (take: boolean): Promise<ChunkRef | undefined> => {
    const b = await base.peek();
    const d = await delta.peek();
    if (d === undefined || (b !== undefined && b[0] < d[0])) return take ? base.take() : b;
    if (take && b !== undefined && b[0] === d[0]) await base.take();
    return take ? delta.take() : d;
  };
  return { peek: () => pick(false), take: () => pick(true) };
}

/**
 * The entries of `scan` that `previous` lacks or holds at another version: the delta of a
 * scan against the last RP. Matching entries are skipped as they are met.
 */
export function changedSince(scan: Cursor<ChunkRef>, previous: Cursor<ChunkRef>): Cursor<ChunkRef> {
  const head = async (): Promise<ChunkRef | undefined> => {
    for (;;) {
      const s = await scan.peek();
      if (s === undefined) return undefined;
      let p = await previous.peek();
      while (p !== undefined && p[0] < s[0]) {
        await previous.take();
        p = await previous.peek();
      }
      if (p === undefined || p[0] !== s[0] || p[1] !== s[1]) return s;
      await scan.take();
      await previous.take();
    }
  };
  return {
    peek: head,
    take: async () => ((await head()) === undefined ? undefined : scan.take()),
  };
}
