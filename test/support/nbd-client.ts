import { connect, type Socket } from 'node:net';
import {
  ClientFlag,
  Command,
  CommandFlag,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  encodeRequest,
  GREETING_LENGTH,
  OPTION_REPLY_HEADER_LENGTH,
  Option,
  Reply,
  SIMPLE_REPLY_HEADER_LENGTH,
  SIMPLE_REPLY_MAGIC,
} from '../../shared/nbd/protocol';

/** An NBD request the server answered with an error (its errno), or that the connection lost. */
export class NbdRequestError extends Error {
  constructor(
    message: string,
    readonly errno?: number,
  ) {
    super(message);
    this.name = 'NbdRequestError';
  }
}

interface Pending {
  readLength: number;
  resolve(data: Buffer): void;
  reject(e: Error): void;
}

/**
 * An in-process NBD client (fixed newstyle, NBD_OPT_GO, simple replies) that pipelines
 * requests and matches replies by cookie, as the kernel and libnbd do: each call resolves
 * when its reply arrives, which is when the client learns the write is acknowledged.
 */
export class NbdClient {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<bigint, Pending>();
  private nextCookie = 1n;
  private handshake?: { need: number; resolve(b: Buffer): void; reject(e: Error): void };
  private lost?: Error;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.buffered = this.buffered.length === 0 ? c : Buffer.concat([this.buffered, c]);
      this.drain();
    });
    socket.on('error', (e) => this.fail(new NbdRequestError(`connection failed: ${e.message}`)));
    socket.on('close', () => this.fail(new NbdRequestError('connection closed')));
  }

  /** Connects to `host:port` and selects the export `name`. */
  static async connect(host: string, port: number, name: string): Promise<NbdClient> {
    const socket = connect(port, host);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new NbdClient(socket);
    await c.bytes(GREETING_LENGTH);
    socket.write(encodeClientFlags(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES));
    socket.write(encodeOption(Option.GO, encodeInfoRequest({ name, requests: [] })));
    for (;;) {
      const h = await c.bytes(OPTION_REPLY_HEADER_LENGTH);
      const data = await c.bytes(h.readUInt32BE(16));
      const type = h.readUInt32BE(12);
      if (type === Reply.ACK) return c;
      if (type !== Reply.INFO) {
        socket.destroy();
        throw new NbdRequestError(`NBD_OPT_GO ${name}: reply ${type} ${data.toString('utf8')}`);
      }
    }
  }

  write(offset: number, data: Uint8Array, fua = false): Promise<void> {
    return this.request(Command.WRITE, offset, data.length, fua, Buffer.from(data)).then(() => undefined);
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.request(Command.READ, offset, length, false);
  }

  flush(): Promise<void> {
    return this.request(Command.FLUSH, 0, 0, false).then(() => undefined);
  }

  trim(offset: number, length: number, fua = false): Promise<void> {
    return this.request(Command.TRIM, offset, length, fua).then(() => undefined);
  }

  /** NBD_CMD_DISC, then the end of the socket: the server answers what is in flight first. */
  async disconnect(): Promise<void> {
    if (this.lost) return;
    this.socket.write(encodeRequest({ type: Command.DISC, flags: 0, cookie: 0n, offset: 0, length: 0 }));
    await new Promise<void>((resolve) => {
      if (this.lost) resolve();
      else this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }

  /** Drops the connection at once, as a host that died would: pending requests fail. */
  destroy(): void {
    this.socket.destroy();
  }

  private request(
    type: number,
    offset: number,
    length: number,
    fua: boolean,
    data?: Buffer,
  ): Promise<Buffer> {
    if (this.lost) return Promise.reject(this.lost);
    const cookie = this.nextCookie++;
    return new Promise<Buffer>((resolve, reject) => {
      this.pending.set(cookie, { readLength: type === Command.READ ? length : 0, resolve, reject });
      this.socket.write(
        encodeRequest({ type, flags: fua ? CommandFlag.FUA : 0, cookie, offset, length, data }),
      );
    });
  }

  /** Handshake bytes, read in order before any request is sent. */
  private bytes(n: number): Promise<Buffer> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise((resolve, reject) => {
      this.handshake = { need: n, resolve, reject };
      this.drain();
    });
  }

  private drain(): void {
    const h = this.handshake;
    if (h) {
      if (this.buffered.length < h.need) return;
      this.handshake = undefined;
      const out = this.buffered.subarray(0, h.need);
      this.buffered = this.buffered.subarray(h.need);
      h.resolve(out);
      return;
    }
    while (this.buffered.length >= SIMPLE_REPLY_HEADER_LENGTH) {
      if (this.buffered.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) {
        this.fail(new NbdRequestError('not an NBD simple reply'));
        this.socket.destroy();
        return;
      }
      const error = this.buffered.readUInt32BE(4);
      const cookie = this.buffered.readBigUInt64BE(8);
      const p = this.pending.get(cookie);
      if (!p) {
        this.fail(new NbdRequestError(`a reply to unknown cookie ${cookie}`));
        this.socket.destroy();
        return;
      }
      const dataLength = error === 0 ? p.readLength : 0;
      if (this.buffered.length < SIMPLE_REPLY_HEADER_LENGTH + dataLength) return;
      const data = this.buffered.subarray(
        SIMPLE_REPLY_HEADER_LENGTH,
        SIMPLE_REPLY_HEADER_LENGTH + dataLength,
      );
      this.buffered = this.buffered.subarray(SIMPLE_REPLY_HEADER_LENGTH + dataLength);
      this.pending.delete(cookie);
      if (error === 0) p.resolve(Buffer.from(data));
      else p.reject(new NbdRequestError(`NBD error ${error}`, error));
    }
  }

  private fail(e: Error): void {
    this.lost ??= e;
    this.handshake?.reject(e);
    this.handshake = undefined;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
