import type { ChunkRef } from './model';

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
