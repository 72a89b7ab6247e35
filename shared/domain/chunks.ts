import { badInput } from './errors';

/** The part of one chunk that a write touches. */
export interface ChunkSpan {
  index: number;
  /** Offset inside the chunk. */
  start: number;
  length: number;
  /** Offset inside the write's buffer. */
  dataOffset: number;
}

export function chunkCount(sizeBytes: number, chunkSizeBytes: number): number {
  return Math.ceil(sizeBytes / chunkSizeBytes);
}

/** Splits a byte range of a volume into the chunk spans it covers, in order. */
export function spansOf(
  offset: number,
  length: number,
  chunkSizeBytes: number,
  sizeBytes: number,
): ChunkSpan[] {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw badInput('offset and length must be whole non-negative numbers');
  }
  if (offset + length > sizeBytes) {
    throw badInput(
      `range ${offset}+${length} runs past the end of the volume (${sizeBytes} bytes)`,
      'out-of-range',
    );
  }
  const spans: ChunkSpan[] = [];
  let pos = offset;
  const end = offset + length;
  while (pos < end) {
    const index = Math.floor(pos / chunkSizeBytes);
    const start = pos - index * chunkSizeBytes;
    const take = Math.min(chunkSizeBytes - start, end - pos);
    spans.push({ index, start, length: take, dataOffset: pos - offset });
    pos += take;
  }
  return spans;
}

export function isWholeChunk(span: ChunkSpan, chunkSizeBytes: number): boolean {
  return span.start === 0 && span.length === chunkSizeBytes;
}

const EMPTY = new Uint8Array(0);

/**
 * The body a chunk is stored as. A chunk of zeros (trimmed, or written as zeros) is stored
 * empty: every reader pads a short body with zeros, and an empty version costs nothing to
 * store, to copy to the other site or to read back.
 */
export function storedBody(chunk: Uint8Array): Uint8Array {
  for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return chunk;
  return EMPTY;
}

/** S3 key of a chunk: zero-padded so a prefix listing comes back in chunk order. */
export function chunkKey(volumeId: string, index: number): string {
  return `volumes/${volumeId}/chunks/${String(index).padStart(10, '0')}`;
}

export function chunkPrefix(volumeId: string): string {
  return `volumes/${volumeId}/chunks/`;
}

export function indexOfChunkKey(key: string): number {
  return Number(key.slice(key.lastIndexOf('/') + 1));
}
