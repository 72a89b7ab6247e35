import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { type BlockExport, ExportError } from './block-export';
import {
  ClientFlag,
  Command,
  CommandFlag,
  decodeInfoRequest,
  Errno,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoReply,
  encodeOptionError,
  encodeOptionReply,
  encodeServerReply,
  encodeSimpleReply,
  HandshakeFlag,
  Info,
  KNOWN_CLIENT_FLAGS,
  MessageReader,
  Option,
  type OptionRequest,
  ProtocolError,
  Reply,
  type Request,
  TransmissionFlag,
} from './protocol';

/** The largest READ or WRITE served; longer ones get EINVAL (their payload is skipped, not held). */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024;
/** Requests whose smaller alignment the Linux client uses whatever block size it is told. */
const SECTOR = 512;
const KNOWN_COMMAND_FLAGS = CommandFlag.FUA | CommandFlag.NO_HOLE;
/** READ and WRITE bytes of one connection held at once, whatever the request count. */
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
/** After DISC or shutdown, how long a client that does not close its end is waited for. */
const LINGER_MS = 2000;

export interface NbdServerOptions {
  /** Requests of one connection served at once; the socket is not read while at the bound. */
  maxInFlight?: number;
  /** Where unexpected export failures and protocol violations are reported. */
  log?: (message: string) => void;
}

export type ListenAddress = { host: string; port: number } | { socket: string };

/**
 * Serves BlockExports over NBD (fixed newstyle, simple replies). Every connection to an export
 * shares the one BlockExport object, whose flush covers every acknowledged write: that is why
 * NBD_FLAG_CAN_MULTI_CONN is advertised.
 */
export class NbdServer {
  private readonly exports = new Map<string, BlockExport>();
  private readonly connections = new Set<Connection>();
  private readonly server: Server;
  readonly maxInFlight: number;
  readonly log: (message: string) => void;

  constructor(exports: Iterable<BlockExport>, options: NbdServerOptions = {}) {
    for (const e of exports) {
      if (this.exports.has(e.name)) throw new Error(`export ${e.name} given twice`);
      this.exports.set(e.name, e);
    }
    this.maxInFlight = options.maxInFlight ?? 16;
    this.log = options.log ?? ((m) => process.stderr.write(`nbd: ${m}\n`));
    this.server = createServer((socket) => {
      const c = new Connection(socket, this);
      this.connections.add(c);
      socket.once('close', () => this.connections.delete(c));
    });
  }

  /** The export a client names; the empty name is the default export when there is only one. */
  lookup(name: string): BlockExport | undefined {
    if (name === '' && this.exports.size === 1) return [...this.exports.values()][0];
    return this.exports.get(name);
  }

  list(): BlockExport[] {
    return [...this.exports.values()];
  }

  /** Resolves once accepting; with port 0 the address says which port the system chose. */
  listen(address: ListenAddress): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const ready = () => {
        this.server.off('error', reject);
        this.server.on('error', (e) => this.log(`server error: ${e.message}`));
        const a = this.server.address();
        if (typeof a === 'string') resolve({ socket: a });
        else resolve({ host: (a as AddressInfo).address, port: (a as AddressInfo).port });
      };
      if ('socket' in address) this.server.listen(address.socket, ready);
      else this.server.listen(address.port, address.host, ready);
    });
  }

  /**
   * Stops accepting, lets every connection finish the requests it has in flight, then closes
   * them. The exports stay open: closing them (their final flush) is the owner's call.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.connections].map((c) => c.shutdown()));
    await closed;
  }
}

type Phase = 'flags' | 'options' | 'transmission' | 'done';

class Connection {
  private readonly reader = new MessageReader(MAX_REQUEST_BYTES);
  private phase: Phase = 'flags';
  private noZeroes = false;
  private export: BlockExport | undefined;
  private inFlight = 0;
  private inFlightBytes = 0;
  private readonly idle: (() => void)[] = [];

  constructor(
    private readonly socket: Socket,
    private readonly server: NbdServer,
  ) {
    socket.setNoDelay(true);
    // A client that vanishes mid-request is its own problem, never the server's.
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      this.reader.push(chunk);
      this.pump();
    });
    socket.on('close', () => {
      this.phase = 'done';
    });
    socket.write(encodeGreeting(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES));
  }

  /** Ends the connection once the requests in flight are answered. */
  async shutdown(): Promise<void> {
    this.phase = 'done';
    await this.drained();
    this.end();
  }

  private end(): void {
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private pump(): void {
    try {
      while (this.phase !== 'done') {
        if (this.phase === 'flags') {
          const flags = this.reader.readClientFlags();
          if (flags === undefined) return;
          // The spec: an unknown client flag drops the connection.
          if ((flags & ~KNOWN_CLIENT_FLAGS) !== 0) throw new ProtocolError(`unknown client flags ${flags}`);
          this.noZeroes = (flags & ClientFlag.NO_ZEROES) !== 0;
          this.phase = 'options';
        } else if (this.phase === 'options') {
          const option = this.reader.readOption();
          if (!option) return;
          this.answerOption(option);
        } else {
          if (this.inFlight >= this.server.maxInFlight || this.inFlightBytes >= MAX_IN_FLIGHT_BYTES) {
            this.socket.pause();
            return;
          }
          // A client that sends but does not read its replies must not grow the send buffer.
          if (this.socket.writableLength >= MAX_IN_FLIGHT_BYTES) {
            this.socket.pause();
            this.socket.once('drain', () => this.resume());
            return;
          }
          const request = this.reader.readRequest();
          if (!request) return;
          this.serve(request);
        }
      }
    } catch (e) {
      this.server.log(`closing a connection: ${(e as Error).message}`);
      this.phase = 'done';
      this.socket.destroy();
    }
  }

  private answerOption({ option, data }: OptionRequest): void {
    const reply = (b: Buffer) => this.socket.write(b);
    if (!data) {
      if (option === Option.EXPORT_NAME) throw new ProtocolError('export name too long');
      reply(encodeOptionError(option, Reply.ERR_TOO_BIG, 'option data too long'));
      return;
    }
    switch (option) {
      case Option.EXPORT_NAME: {
        const e = this.server.lookup(data.toString('utf8'));
        // EXPORT_NAME has no way to say why: the spec has the server close the connection.
        if (!e) throw new ProtocolError(`no export named ${JSON.stringify(data.toString('utf8'))}`);
        reply(encodeExportNameReply(e.sizeBytes, transmissionFlags(e), this.noZeroes));
        this.startTransmission(e);
        return;
      }
      case Option.ABORT:
        this.phase = 'done';
        this.socket.end(encodeOptionReply(option, Reply.ACK));
        return;
      case Option.LIST:
        if (data.length > 0) {
          reply(encodeOptionError(option, Reply.ERR_INVALID, 'NBD_OPT_LIST takes no data'));
          return;
        }
        for (const e of this.server.list()) reply(encodeServerReply(e.name, describe(e)));
        reply(encodeOptionReply(option, Reply.ACK));
        return;
      case Option.INFO:
      case Option.GO: {
        const req = decodeInfoRequest(data);
        if (!req) {
          reply(encodeOptionError(option, Reply.ERR_INVALID, 'malformed NBD_OPT_INFO/GO request'));
          return;
        }
        const e = this.server.lookup(req.name);
        if (!e) {
          reply(encodeOptionError(option, Reply.ERR_UNKNOWN, `no export named ${JSON.stringify(req.name)}`));
          return;
        }
        reply(
          encodeInfoReply(option, {
            info: Info.EXPORT,
            sizeBytes: e.sizeBytes,
            transmissionFlags: transmissionFlags(e),
          }),
        );
        if (req.requests.includes(Info.NAME))
          reply(encodeInfoReply(option, { info: Info.NAME, name: e.name }));
        if (req.requests.includes(Info.DESCRIPTION)) {
          reply(encodeInfoReply(option, { info: Info.DESCRIPTION, description: describe(e) }));
        }
        // Sent whether asked or not, as qemu-nbd does: clients that did not ask may ignore it.
        reply(encodeInfoReply(option, { info: Info.BLOCK_SIZE, ...advertisedBlockSize(e) }));
        reply(encodeOptionReply(option, Reply.ACK));
        if (option === Option.GO) this.startTransmission(e);
        return;
      }
      default:
        // STRUCTURED_REPLY included: simple replies only, which every client must accept.
        reply(encodeOptionError(option, Reply.ERR_UNSUP, `option ${option} is not supported`));
    }
  }

  private startTransmission(e: BlockExport): void {
    this.export = e;
    this.phase = 'transmission';
  }

  private serve(request: Request): void {
    if (request.type === Command.DISC) {
      this.phase = 'done';
      void this.drained().then(() => this.end());
      return;
    }
    const bytes = request.type === Command.READ || request.type === Command.WRITE ? request.length : 0;
    this.inFlight++;
    this.inFlightBytes += bytes;
    void this.execute(request)
      .then(
        (data) => encodeSimpleReply(request.cookie, 0, data),
        (e: unknown) => encodeSimpleReply(request.cookie, this.errnoOf(e, request)),
      )
      .then((reply) => {
        if (!this.socket.destroyed) this.socket.write(reply);
        this.inFlight--;
        this.inFlightBytes -= bytes;
        if (this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
        this.resume();
      });
  }

  private resume(): void {
    if (this.phase !== 'transmission' || !this.socket.isPaused()) return;
    this.socket.resume();
    this.pump();
  }

  private async execute(r: Request): Promise<Uint8Array | undefined> {
    const e = this.export as BlockExport;
    const fua = (r.flags & CommandFlag.FUA) !== 0;
    if ((r.flags & ~KNOWN_COMMAND_FLAGS) !== 0)
      throw new ExportError('EINVAL', `unknown command flags ${r.flags}`);
    switch (r.type) {
      case Command.FLUSH:
        await e.flush();
        return undefined;
      case Command.READ:
        this.check(e, r, true);
        return r.length === 0 ? undefined : await e.read(r.offset, r.length);
      case Command.WRITE:
        this.check(e, r, true);
        if (r.oversized)
          throw new ExportError('EINVAL', `write of ${r.length} bytes over ${MAX_REQUEST_BYTES}`);
        if (r.length > 0) await e.write(r.offset, r.data as Buffer, { fua });
        return undefined;
      case Command.TRIM:
        this.check(e, r, false);
        if (r.length > 0) await e.trim(r.offset, r.length, { fua });
        return undefined;
      case Command.WRITE_ZEROES:
        this.check(e, r, false);
        if (r.length > 0) await e.writeZeroes(r.offset, r.length, { fua });
        return undefined;
      default:
        throw new ExportError('EINVAL', `command ${r.type} is not supported`);
    }
  }

  /** `limited`: READ and WRITE carry data and are bounded; TRIM and WRITE_ZEROES are not. */
  private check(e: BlockExport, r: Request, limited: boolean): void {
    if (r.type !== Command.READ && e.readOnly) throw new ExportError('EPERM', `${e.name} is read-only`);
    if (r.offset + r.length > e.sizeBytes) {
      throw new ExportError(
        'EINVAL',
        `${r.offset}+${r.length} is beyond the end of ${e.name} (${e.sizeBytes})`,
      );
    }
    if (limited && r.length > MAX_REQUEST_BYTES) {
      throw new ExportError('EINVAL', `request of ${r.length} bytes over ${MAX_REQUEST_BYTES}`);
    }
    const aligned = (n: number) => r.offset % n === 0 && r.length % n === 0;
    if (!aligned(e.blockSize.minimum) && !aligned(SECTOR)) {
      throw new ExportError(
        'EINVAL',
        `${r.offset}+${r.length} is not aligned to ${e.blockSize.minimum} bytes`,
      );
    }
  }

  private errnoOf(e: unknown, r: Request): number {
    if (e instanceof ExportError) return Errno[e.errno];
    this.server.log(
      `command ${r.type} at ${r.offset}+${r.length} failed: ${(e as Error)?.message ?? String(e)}`,
    );
    return Errno.EIO;
  }

  private drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }
}

function transmissionFlags(e: BlockExport): number {
  const f = TransmissionFlag;
  let flags = f.HAS_FLAGS | f.SEND_FLUSH | f.SEND_FUA | f.SEND_TRIM | f.SEND_WRITE_ZEROES | f.CAN_MULTI_CONN;
  if (e.readOnly) flags |= f.READ_ONLY;
  return flags;
}

function advertisedBlockSize(e: BlockExport): { minimum: number; preferred: number; maximum: number } {
  const maximum = Math.min(e.blockSize.maximum, MAX_REQUEST_BYTES);
  return { minimum: e.blockSize.minimum, preferred: Math.min(e.blockSize.preferred, maximum), maximum };
}

function describe(e: BlockExport): string {
  return `volmirror export, ${e.sizeBytes} bytes${e.readOnly ? ', read-only' : ''}`;
}
