import type { ChunkRef } from './model';

/**
 * Chunk refs as a copy task item stores them: `index:versionId` pairs separated by spaces (S3
 * version ids are URL-ready, so they hold no space). One string, not a list of pairs or a map
 * entry per chunk: the emulator copies an item element by element on every update and its cost
 * of an update grows with the paths it sets (moto's CPU per request, measured in the closing
 * note of this change); on DynamoDB the string is also the smaller item.
 */
export function encodeChunkRefs(refs: ChunkRef[]): string {
  return refs.map(([index, versionId]) => `${index}:${versionId}`).join(' ');
}

/** Also takes the list of pairs that tasks planned before this encoding hold (see `copiedVersions`). */
export function decodeChunkRefs(text: string | ChunkRef[]): ChunkRef[] {
  if (typeof text !== 'string') return text;
  if (text === '') return [];
  return text.split(' ').map((entry) => {
    const colon = entry.indexOf(':');
    return [Number(entry.slice(0, colon)), entry.slice(colon + 1)];
  });
}

/**
 * The copy's version of every chunk a task recorded: its `copied` list holds one
 * `encodeChunkRefs` string per record. `done` is the per-chunk map of tasks planned before
 * copies were recorded that way: a sync in flight across an upgrade may have tasks with both.
 */
export function copiedVersions(task: {
  copied?: string[];
  done?: Record<string, string>;
}): Map<number, string> {
  const out = new Map<number, string>();
  for (const [c, versionId] of Object.entries(task.done ?? {})) out.set(Number(c.slice(1)), versionId);
  for (const record of task.copied ?? [])
    for (const [index, versionId] of decodeChunkRefs(record)) out.set(index, versionId);
  return out;
}
