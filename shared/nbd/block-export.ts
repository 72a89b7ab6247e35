/**
 * What the NBD server serves: one export, a fixed-size block device. The server (protocol and
 * sockets) knows nothing of volumes, gateways or recovery points; an export knows nothing of NBD.
 */
export interface BlockExport {
  /** The export name as the client asks for it (`vol-...`, a volume name, `name@rp-000007`). */
  readonly name: string;
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** Advertised with NBD_INFO_BLOCK_SIZE; smaller aligned requests are still accepted. */
  readonly blockSize: { minimum: number; preferred: number; maximum: number };
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Resolves once the write is acknowledged: from the write-back buffer, or stored when `fua`. */
  write(offset: number, data: Uint8Array, options: { fua: boolean }): Promise<void>;
  /** Resolves once every write acknowledged before the call is stored and its change published. */
  flush(): Promise<void>;
  /** The range reads back as zeros afterwards (TRIM is advisory in NBD; here it zeroes). */
  trim(offset: number, length: number, options: { fua: boolean }): Promise<void>;
  writeZeroes(offset: number, length: number, options: { fua: boolean }): Promise<void>;
  /** Flushes, then releases what the export holds (the group's write lease). */
  close(): Promise<void>;
}

/** The NBD error an export operation failed with; the server answers the request with `errno`. */
export class ExportError extends Error {
  constructor(
    readonly errno: 'EPERM' | 'EIO' | 'ENOMEM' | 'EINVAL' | 'ENOSPC' | 'ESHUTDOWN',
    message: string,
  ) {
    super(message);
    this.name = 'ExportError';
  }
}
