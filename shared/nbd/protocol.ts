/**
 * The NBD wire format (NetworkBlockDevice doc/proto.md), fixed newstyle only: pure encoders and
 * decoders plus a streaming reader that takes arbitrary byte fragments. No sockets here; the
 * server (server.ts) decides what to answer, this module only says what the bytes mean.
 */

export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;

export const HandshakeFlag = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const ClientFlag = { FIXED_NEWSTYLE: 1 << 0, NO_ZEROES: 1 << 1 } as const;
export const KNOWN_CLIENT_FLAGS = ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES;

export const Option = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

const ERR = 2 ** 31;
export const Reply = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
} as const;

export const Info = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

export const TransmissionFlag = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  CAN_MULTI_CONN: 1 << 8,
} as const;

export const Command = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, CACHE: 5, WRITE_ZEROES: 6 } as const;
export const CommandFlag = { FUA: 1 << 0, NO_HOLE: 1 << 1 } as const;

/** NBD error values: the wire numbers are Linux errno values, whatever the host. */
export const Errno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type ErrnoName = keyof typeof Errno;

/** Bytes that are not NBD: the connection cannot continue and is closed. */
export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export const GREETING_LENGTH = 18;
export const OPTION_HEADER_LENGTH = 16;
export const OPTION_REPLY_HEADER_LENGTH = 20;
export const REQUEST_HEADER_LENGTH = 28;
export const SIMPLE_REPLY_HEADER_LENGTH = 16;
/** Option payloads above this are skipped and answered ERR_TOO_BIG (names are at most 4 KiB). */
export const MAX_OPTION_LENGTH = 64 * 1024;

// ---- handshake ----

export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(GREETING_LENGTH);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export function decodeGreeting(b: Uint8Array): { handshakeFlags: number } {
  const v = view(b, GREETING_LENGTH);
  if (v.readBigUInt64BE(0) !== NBDMAGIC || v.readBigUInt64BE(8) !== IHAVEOPT) {
    throw new ProtocolError('not a fixed newstyle NBD server greeting');
  }
  return { handshakeFlags: v.readUInt16BE(16) };
}

export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

// ---- options (client to server) ----

export interface OptionRequest {
  option: number;
  /** The option's payload; undefined when it was longer than MAX_OPTION_LENGTH and was skipped. */
  data: Buffer | undefined;
}

export function encodeOption(option: number, data: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(OPTION_HEADER_LENGTH + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  b.set(data, OPTION_HEADER_LENGTH);
  return b;
}

/** The payload of NBD_OPT_INFO and NBD_OPT_GO. */
export interface InfoRequest {
  name: string;
  requests: number[];
}

export function encodeInfoRequest(req: InfoRequest): Buffer {
  const name = Buffer.from(req.name, 'utf8');
  const b = Buffer.alloc(4 + name.length + 2 + 2 * req.requests.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  b.writeUInt16BE(req.requests.length, 4 + name.length);
  req.requests.forEach((r, i) => {
    b.writeUInt16BE(r, 6 + name.length + 2 * i);
  });
  return b;
}

/** Undefined when the lengths inside do not add up (answered NBD_REP_ERR_INVALID). */
export function decodeInfoRequest(data: Uint8Array): InfoRequest | undefined {
  const b = view(data, 0);
  if (b.length < 6) return undefined;
  const nameLength = b.readUInt32BE(0);
  if (nameLength > b.length - 6) return undefined;
  const count = b.readUInt16BE(4 + nameLength);
  if (b.length !== 6 + nameLength + 2 * count) return undefined;
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(b.readUInt16BE(6 + nameLength + 2 * i));
  return { name: b.toString('utf8', 4, 4 + nameLength), requests };
}

// ---- option replies (server to client) ----

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export function encodeOptionReply(option: number, type: number, data: Uint8Array = new Uint8Array()): Buffer {
  const b = Buffer.alloc(OPTION_REPLY_HEADER_LENGTH + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  b.set(data, OPTION_REPLY_HEADER_LENGTH);
  return b;
}

/** An error reply carries a UTF-8 message for humans. */
export function encodeOptionError(option: number, type: number, message: string): Buffer {
  return encodeOptionReply(option, type, Buffer.from(message, 'utf8'));
}

/** NBD_REP_SERVER for NBD_OPT_LIST: the name, then an optional description. */
export function encodeServerReply(name: string, description = ''): Buffer {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description, 'utf8');
  const b = Buffer.alloc(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return encodeOptionReply(Option.LIST, Reply.SERVER, b);
}

export function decodeServerReply(data: Uint8Array): { name: string; description: string } {
  const b = view(data, 4);
  const n = b.readUInt32BE(0);
  if (n > b.length - 4) throw new ProtocolError('NBD_REP_SERVER name longer than the reply');
  return { name: b.toString('utf8', 4, 4 + n), description: b.toString('utf8', 4 + n) };
}

export type InfoReply =
  | { info: typeof Info.EXPORT; sizeBytes: number; transmissionFlags: number }
  | { info: typeof Info.NAME; name: string }
  | { info: typeof Info.DESCRIPTION; description: string }
  | { info: typeof Info.BLOCK_SIZE; minimum: number; preferred: number; maximum: number };

/** NBD_REP_INFO for NBD_OPT_INFO or NBD_OPT_GO. */
export function encodeInfoReply(option: number, reply: InfoReply): Buffer {
  let b: Buffer;
  switch (reply.info) {
    case Info.EXPORT:
      b = Buffer.alloc(12);
      b.writeBigUInt64BE(BigInt(reply.sizeBytes), 2);
      b.writeUInt16BE(reply.transmissionFlags, 10);
      break;
    case Info.NAME:
    case Info.DESCRIPTION: {
      const text = Buffer.from(reply.info === Info.NAME ? reply.name : reply.description, 'utf8');
      b = Buffer.alloc(2 + text.length);
      text.copy(b, 2);
      break;
    }
    case Info.BLOCK_SIZE:
      b = Buffer.alloc(14);
      b.writeUInt32BE(reply.minimum, 2);
      b.writeUInt32BE(reply.preferred, 6);
      b.writeUInt32BE(reply.maximum, 10);
      break;
  }
  b.writeUInt16BE(reply.info, 0);
  return encodeOptionReply(option, Reply.INFO, b);
}

export function decodeInfoReply(data: Uint8Array): InfoReply {
  const b = view(data, 2);
  const info = b.readUInt16BE(0);
  switch (info) {
    case Info.EXPORT:
      if (b.length !== 12) throw new ProtocolError('NBD_INFO_EXPORT is 12 bytes');
      return { info, sizeBytes: Number(b.readBigUInt64BE(2)), transmissionFlags: b.readUInt16BE(10) };
    case Info.NAME:
      return { info, name: b.toString('utf8', 2) };
    case Info.DESCRIPTION:
      return { info, description: b.toString('utf8', 2) };
    case Info.BLOCK_SIZE:
      if (b.length !== 14) throw new ProtocolError('NBD_INFO_BLOCK_SIZE is 14 bytes');
      return { info, minimum: b.readUInt32BE(2), preferred: b.readUInt32BE(6), maximum: b.readUInt32BE(10) };
    default:
      throw new ProtocolError(`unknown NBD_INFO type ${info}`);
  }
}

/** What the server sends after NBD_OPT_EXPORT_NAME (no option reply header). */
export function encodeExportNameReply(
  sizeBytes: number,
  transmissionFlags: number,
  noZeroes: boolean,
): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(sizeBytes), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

// ---- transmission ----

export interface Request {
  flags: number;
  type: number;
  /** Opaque to the server: echoed in the reply. */
  cookie: bigint;
  offset: number;
  length: number;
  /** NBD_CMD_WRITE's data; undefined for other commands, or a write longer than the reader accepts. */
  data?: Buffer;
  /** A write whose payload was over the reader's limit: its bytes were skipped. */
  oversized?: boolean;
}

export function encodeRequest(req: Request): Buffer {
  const payload = req.type === Command.WRITE && req.data ? req.data : undefined;
  const b = Buffer.alloc(REQUEST_HEADER_LENGTH + (payload?.length ?? 0));
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(req.flags, 4);
  b.writeUInt16BE(req.type, 6);
  b.writeBigUInt64BE(req.cookie, 8);
  b.writeBigUInt64BE(BigInt(req.offset), 16);
  b.writeUInt32BE(req.length >>> 0, 24);
  if (payload) payload.copy(b, REQUEST_HEADER_LENGTH);
  return b;
}

/** A simple reply; `data` follows only a successful READ. */
export function encodeSimpleReply(cookie: bigint, error: number, data?: Uint8Array): Buffer {
  const b = Buffer.alloc(SIMPLE_REPLY_HEADER_LENGTH + (data?.length ?? 0));
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error >>> 0, 4);
  b.writeBigUInt64BE(cookie, 8);
  if (data) b.set(data, SIMPLE_REPLY_HEADER_LENGTH);
  return b;
}

export function decodeSimpleReplyHeader(b: Uint8Array): { error: number; cookie: bigint } {
  const v = view(b, SIMPLE_REPLY_HEADER_LENGTH);
  if (v.readUInt32BE(0) !== SIMPLE_REPLY_MAGIC) throw new ProtocolError('bad simple reply magic');
  return { error: v.readUInt32BE(4), cookie: v.readBigUInt64BE(8) };
}

// ---- the streaming reader ----

/**
 * Bytes from the client, in whatever fragments the socket delivers. The caller pulls the message
 * its phase expects (client flags, then options, then requests): the phase changes on the
 * server's answer, so a client that pipelines past it is read correctly. Each `read*` returns
 * undefined until the whole message is there, and throws only ProtocolError.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes of an oversized payload still to drop as they arrive. */
  private skipping = 0;
  /** A header read whose payload has not all arrived yet. */
  private pending: { kind: 'option'; option: number } | { kind: 'request'; request: Request } | undefined;
  private pendingLength = 0;

  /** `maxWriteLength`: longer write payloads are skipped, not buffered. */
  constructor(private readonly maxWriteLength = 32 * 1024 * 1024) {}

  push(chunk: Uint8Array): void {
    let b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.skipping > 0) {
      const drop = Math.min(this.skipping, b.length);
      this.skipping -= drop;
      b = b.subarray(drop);
    }
    if (b.length === 0) return;
    this.chunks.push(b);
    this.buffered += b.length;
  }

  get bufferedBytes(): number {
    return this.buffered;
  }

  readClientFlags(): number | undefined {
    const b = this.take(4);
    return b?.readUInt32BE(0);
  }

  readOption(): OptionRequest | undefined {
    if (this.pending?.kind === 'request') throw new ProtocolError('reader is in the transmission phase');
    if (!this.pending) {
      const h = this.take(OPTION_HEADER_LENGTH);
      if (!h) return undefined;
      if (h.readBigUInt64BE(0) !== IHAVEOPT) throw new ProtocolError('option without the IHAVEOPT magic');
      const option = h.readUInt32BE(8);
      const length = h.readUInt32BE(12);
      if (length > MAX_OPTION_LENGTH) {
        this.skip(length);
        return { option, data: undefined };
      }
      this.pending = { kind: 'option', option };
      this.pendingLength = length;
    }
    const data = this.take(this.pendingLength);
    if (!data) return undefined;
    const { option } = this.pending as { option: number };
    this.pending = undefined;
    return { option, data };
  }

  readRequest(): Request | undefined {
    if (this.pending?.kind === 'option') throw new ProtocolError('reader is in the option phase');
    if (!this.pending) {
      const h = this.take(REQUEST_HEADER_LENGTH);
      if (!h) return undefined;
      if (h.readUInt32BE(0) !== REQUEST_MAGIC)
        throw new ProtocolError('request without the NBD request magic');
      const request: Request = {
        flags: h.readUInt16BE(4),
        type: h.readUInt16BE(6),
        cookie: h.readBigUInt64BE(8),
        offset: u64(h, 16),
        length: h.readUInt32BE(24),
      };
      if (request.type !== Command.WRITE) return request;
      if (request.length > this.maxWriteLength) {
        this.skip(request.length);
        return { ...request, oversized: true };
      }
      this.pending = { kind: 'request', request };
      this.pendingLength = request.length;
    }
    const data = this.take(this.pendingLength);
    if (!data) return undefined;
    const { request } = this.pending as { request: Request };
    this.pending = undefined;
    return { ...request, data };
  }

  private take(n: number): Buffer | undefined {
    if (this.buffered < n) return undefined;
    if (n === 0) return Buffer.alloc(0);
    let out: Buffer;
    const first = this.chunks[0];
    if (first.length >= n) {
      // Copied so that a caller keeping the data does not pin the whole socket chunk.
      out = Buffer.from(first.subarray(0, n));
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.alloc(n);
      let at = 0;
      while (at < n) {
        const c = this.chunks[0];
        const used = Math.min(c.length, n - at);
        c.copy(out, at, 0, used);
        at += used;
        if (used === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(used);
      }
    }
    this.buffered -= n;
    return out;
  }

  private skip(n: number): void {
    const drop = Math.min(n, this.buffered);
    if (drop > 0) this.take(drop);
    this.skipping = n - drop;
  }
}

/** Offsets beyond 2^53 are out of range of every export; they stay out of range, not rounded in. */
function u64(b: Buffer, at: number): number {
  const v = b.readBigUInt64BE(at);
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
}

function view(b: Uint8Array, minLength: number): Buffer {
  if (b.length < minLength) throw new ProtocolError(`message too short: ${b.length} < ${minLength} bytes`);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
