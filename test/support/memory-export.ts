import { type BlockExport, ExportError } from '../../shared/nbd/block-export';

export interface MemoryExportOptions {
  readOnly?: boolean;
  blockSize?: BlockExport['blockSize'];
  /** Milliseconds each read or write at this offset takes: lets a test make replies come out of order. */
  delayMs?: (offset: number) => number;
  /** Fails every operation at this offset with the given error. */
  failAt?: { offset: number; error: Error };
  /** Every read and write waits for this first: lets a test hold requests in flight. */
  gate?: Promise<void>;
}

/** A BlockExport over a Buffer, to test the NBD server alone with real clients. */
export class MemoryExport implements BlockExport {
  readonly bytes: Buffer;
  readonly readOnly: boolean;
  readonly blockSize: BlockExport['blockSize'];
  flushes = 0;
  /** Reads and writes under way now, and the most there ever were at once. */
  pending = 0;
  maxPending = 0;
  fuaWrites = 0;
  closed = false;

  constructor(
    readonly name: string,
    readonly sizeBytes: number,
    private readonly options: MemoryExportOptions = {},
  ) {
    this.bytes = Buffer.alloc(sizeBytes);
    this.readOnly = options.readOnly ?? false;
    this.blockSize = options.blockSize ?? { minimum: 1, preferred: 4096, maximum: 32 * 1024 * 1024 };
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    await this.op(offset);
    return Buffer.from(this.bytes.subarray(offset, offset + length));
  }

  async write(offset: number, data: Uint8Array, options: { fua: boolean }): Promise<void> {
    this.writable();
    await this.op(offset);
    this.bytes.set(data, offset);
    if (options.fua) this.fuaWrites++;
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  async trim(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length);
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.writable();
    await this.op(offset);
    this.bytes.fill(0, offset, offset + length);
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private writable(): void {
    if (this.readOnly) throw new ExportError('EPERM', `${this.name} is read-only`);
  }

  private async op(offset: number): Promise<void> {
    this.pending++;
    this.maxPending = Math.max(this.maxPending, this.pending);
    try {
      await this.options.gate;
      await this.delay(offset);
    } finally {
      this.pending--;
    }
  }

  private async delay(offset: number): Promise<void> {
    const ms = this.options.delayMs?.(offset) ?? 0;
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.options.failAt?.offset === offset) throw this.options.failAt.error;
  }
}
