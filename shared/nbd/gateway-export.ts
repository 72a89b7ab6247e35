import type { Deps } from '../deps';
import type { Volume } from '../domain/model';
import type { Gateway } from '../gateway/gateway';
import { type BlockExport, ExportError } from './block-export';
import { MAX_REQUEST_BYTES } from './server';
import { DEFAULT_BUFFER_BYTES, WriteBackBuffer, type WriteBackOptions } from './write-back-buffer';

/**
 * How long a dirty chunk waits for more writes before it is stored unasked: small writes
 * filling a chunk cost one PUT, not one each. FLUSH, FUA, a full buffer and a cut do not wait.
 */
export const DEFAULT_FLUSH_DELAY_MS = 100;

/**
 * Chunks handed to the gateway at once. A chunk holds its slot through its PUT and the
 * publishing of its change record (up to the gateway's linger), so there are twice as many
 * slots as PUTs worth having in flight against one endpoint.
 */
export const DEFAULT_STORE_CONCURRENCY = 32;

export function blockSizeOf(volume: Volume): BlockExport['blockSize'] {
  return { minimum: 1, preferred: 4096, maximum: Math.min(MAX_REQUEST_BYTES, volume.sizeBytes) };
}

/**
 * A primary volume served writable through the gateway (its group's write lease, epochs,
 * change records) behind a bounded write-back buffer of whole chunks.
 */
export class GatewayExport implements BlockExport {
  readonly readOnly = false;
  readonly sizeBytes: number;
  readonly blockSize: BlockExport['blockSize'];
  readonly buffer: WriteBackBuffer;

  constructor(
    deps: Deps,
    readonly name: string,
    readonly volume: Volume,
    gateway: Gateway,
    options: Partial<WriteBackOptions> = {},
  ) {
    this.sizeBytes = volume.sizeBytes;
    this.blockSize = blockSizeOf(volume);
    const store = deps.stores[volume.site];
    this.buffer = new WriteBackBuffer(
      {
        chunkSizeBytes: volume.chunkSizeBytes,
        sizeBytes: volume.sizeBytes,
        load: (index) => store.getChunk(volume.id, index),
        store: (index, data, onStored) =>
          gateway.write(volume.id, index * volume.chunkSizeBytes, data, onStored),
        assertWritable: () => gateway.assertWritable(),
        publishNow: () => gateway.publishNow(),
      },
      {
        bufferBytes: DEFAULT_BUFFER_BYTES,
        concurrency: DEFAULT_STORE_CONCURRENCY,
        flushDelayMs: DEFAULT_FLUSH_DELAY_MS,
        ...options,
      },
    );
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.buffer.read(offset, length);
  }

  write(offset: number, data: Uint8Array, options: { fua: boolean }): Promise<void> {
    return this.buffer.write(offset, data, options.fua);
  }

  flush(): Promise<void> {
    return this.buffer.flush();
  }

  trim(offset: number, length: number, options: { fua: boolean }): Promise<void> {
    return this.buffer.zero(offset, length, options.fua);
  }

  writeZeroes(offset: number, length: number, options: { fua: boolean }): Promise<void> {
    return this.buffer.zero(offset, length, options.fua);
  }

  close(): Promise<void> {
    return this.buffer.close();
  }

  abandon(): void {
    this.buffer.drop();
  }
}

export const readOnlyRefusal = (name: string) =>
  new ExportError('EPERM', `export ${name} is read-only (a recovery point or a secondary volume)`);
