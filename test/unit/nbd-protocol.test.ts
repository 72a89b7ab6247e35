import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Command,
  CommandFlag,
  decodeGreeting,
  decodeInfoReply,
  decodeInfoRequest,
  decodeServerReply,
  decodeSimpleReplyHeader,
  Errno,
  encodeClientFlags,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoReply,
  encodeInfoRequest,
  encodeOption,
  encodeOptionError,
  encodeOptionReply,
  encodeRequest,
  encodeServerReply,
  encodeSimpleReply,
  HandshakeFlag,
  Info,
  type InfoReply,
  MessageReader,
  Option,
  type OptionRequest,
  ProtocolError,
  Reply,
  type Request,
  TransmissionFlag,
} from '../../shared/nbd/protocol';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Vectors written from doc/proto.md field by field, not produced by the encoders under test.
describe('NBD wire format: spec vectors', () => {
  it('server greeting: NBDMAGIC, IHAVEOPT, handshake flags FIXED_NEWSTYLE|NO_ZEROES', () => {
    const v = hex('4e42444d41474943 49484156454f5054 0003');
    expect(encodeGreeting(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES)).toEqual(v);
    expect(decodeGreeting(v)).toEqual({ handshakeFlags: 3 });
    expect(() => decodeGreeting(hex('4e42444d41474943 0000000000420281 0003'))).toThrow(ProtocolError);
  });

  it('client flags are 32 bits', () => {
    expect(encodeClientFlags(3)).toEqual(hex('00000003'));
    const r = new MessageReader();
    r.push(hex('00000002'));
    expect(r.readClientFlags()).toBe(2);
  });

  it('option request: IHAVEOPT, option, length, data (NBD_OPT_EXPORT_NAME "disk")', () => {
    const v = hex('49484156454f5054 00000001 00000004 6469736b');
    expect(encodeOption(Option.EXPORT_NAME, Buffer.from('disk'))).toEqual(v);
    const r = new MessageReader();
    r.push(v);
    expect(r.readOption()).toEqual({ option: 1, data: Buffer.from('disk') });
  });

  it('NBD_OPT_GO data: name length, name, info count, info types', () => {
    const v = hex('00000003 766f6c 0002 0003 0001');
    expect(encodeInfoRequest({ name: 'vol', requests: [Info.BLOCK_SIZE, Info.NAME] })).toEqual(v);
    expect(decodeInfoRequest(v)).toEqual({ name: 'vol', requests: [3, 1] });
    expect(decodeInfoRequest(hex('00000009 766f6c 0000'))).toBeUndefined();
    expect(decodeInfoRequest(hex('00000003 766f6c 0002 0003'))).toBeUndefined();
    expect(decodeInfoRequest(hex('0000'))).toBeUndefined();
  });

  it('option reply header: magic 0x3e889045565a9, option, type, length', () => {
    expect(encodeOptionReply(Option.ABORT, Reply.ACK)).toEqual(
      hex('0003e889045565a9 00000002 00000001 00000000'),
    );
    expect(encodeOptionError(Option.STRUCTURED_REPLY, Reply.ERR_UNSUP, 'no')).toEqual(
      hex('0003e889045565a9 00000008 80000001 00000002 6e6f'),
    );
    expect(Reply.ERR_UNKNOWN).toBe(0x80000006);
    expect(Reply.ERR_INVALID).toBe(0x80000003);
  });

  it('NBD_REP_SERVER: name length, name, description', () => {
    const v = hex('0003e889045565a9 00000003 00000002 0000000a 00000001 61 6465736372');
    expect(encodeServerReply('a', 'descr')).toEqual(v);
    expect(decodeServerReply(v.subarray(20))).toEqual({ name: 'a', description: 'descr' });
  });

  it('NBD_INFO_EXPORT: type 0, size u64, transmission flags u16', () => {
    const flags = TransmissionFlag.HAS_FLAGS | TransmissionFlag.READ_ONLY | TransmissionFlag.SEND_FLUSH;
    const v = hex('0003e889045565a9 00000007 00000003 0000000c 0000 0000000100000000 0007');
    expect(
      encodeInfoReply(Option.GO, { info: Info.EXPORT, sizeBytes: 2 ** 32, transmissionFlags: flags }),
    ).toEqual(v);
    expect(decodeInfoReply(v.subarray(20))).toEqual({ info: 0, sizeBytes: 2 ** 32, transmissionFlags: 7 });
  });

  it('NBD_INFO_NAME, NBD_INFO_DESCRIPTION and NBD_INFO_BLOCK_SIZE', () => {
    expect(encodeInfoReply(Option.INFO, { info: Info.NAME, name: 'v' }).subarray(16)).toEqual(
      hex('00000003 0001 76'),
    );
    expect(encodeInfoReply(Option.INFO, { info: Info.DESCRIPTION, description: 'd' }).subarray(16)).toEqual(
      hex('00000003 0002 64'),
    );
    const bs = hex('0000000e 0003 00000200 00001000 02000000');
    const reply: InfoReply = { info: Info.BLOCK_SIZE, minimum: 512, preferred: 4096, maximum: 32 << 20 };
    expect(encodeInfoReply(Option.GO, reply).subarray(16)).toEqual(bs);
    expect(decodeInfoReply(bs.subarray(4))).toEqual(reply);
  });

  it('NBD_OPT_EXPORT_NAME reply: size, flags, then 124 zeroes unless NO_ZEROES', () => {
    expect(encodeExportNameReply(1024, 0x0d, true)).toEqual(hex('0000000000000400 000d'));
    const full = encodeExportNameReply(1024, 0x0d, false);
    expect(full.length).toBe(134);
    expect(full.subarray(10)).toEqual(Buffer.alloc(124));
  });

  it('request: magic 0x25609513, flags, type, cookie, offset, length, then the WRITE payload', () => {
    const v = hex('25609513 0001 0001 0102030405060708 0000000000001000 00000002 abcd');
    const req: Request = {
      flags: CommandFlag.FUA,
      type: Command.WRITE,
      cookie: 0x0102030405060708n,
      offset: 4096,
      length: 2,
      data: hex('abcd'),
    };
    expect(encodeRequest(req)).toEqual(v);
    const r = new MessageReader();
    r.push(v);
    expect(r.readRequest()).toEqual(req);
    expect(r.readRequest()).toBeUndefined();
  });

  it('READ, DISC, FLUSH, TRIM and WRITE_ZEROES carry no payload', () => {
    const r = new MessageReader();
    r.push(hex('25609513 0000 0000 0000000000000001 0000000000000000 00010000'));
    r.push(hex('25609513 0002 0006 0000000000000002 0000000000000200 00000200'));
    r.push(hex('25609513 0000 0002 0000000000000003 0000000000000000 00000000'));
    expect(r.readRequest()).toMatchObject({ type: Command.READ, cookie: 1n, length: 65536 });
    expect(r.readRequest()).toMatchObject({
      type: Command.WRITE_ZEROES,
      flags: CommandFlag.NO_HOLE,
      offset: 512,
    });
    expect(r.readRequest()).toMatchObject({ type: Command.DISC, cookie: 3n });
    expect(r.readRequest()).toBeUndefined();
  });

  it('simple reply: magic 0x67446698, error, cookie, then data for a successful READ', () => {
    expect(encodeSimpleReply(7n, Errno.EPERM)).toEqual(hex('67446698 00000001 0000000000000007'));
    expect(encodeSimpleReply(7n, 0, hex('ff'))).toEqual(hex('67446698 00000000 0000000000000007 ff'));
    expect(decodeSimpleReplyHeader(hex('67446698 00000016 0000000000000009'))).toEqual({
      error: 22,
      cookie: 9n,
    });
    expect(Errno.ESHUTDOWN).toBe(108);
    expect(Errno.ENOSPC).toBe(28);
  });

  it('a WRITE longer than the limit is skipped across fragments, and the next request is read', () => {
    const r = new MessageReader(8);
    const big = encodeRequest({
      flags: 0,
      type: Command.WRITE,
      cookie: 1n,
      offset: 0,
      length: 20,
      data: Buffer.alloc(20, 1),
    });
    const next = encodeRequest({ flags: 0, type: Command.FLUSH, cookie: 2n, offset: 0, length: 0 });
    const stream = Buffer.concat([big, next]);
    const out: Request[] = [];
    for (let i = 0; i < stream.length; i += 5) {
      r.push(stream.subarray(i, i + 5));
      for (let m = r.readRequest(); m; m = r.readRequest()) out.push(m);
    }
    expect(out).toEqual([
      { flags: 0, type: Command.WRITE, cookie: 1n, offset: 0, length: 20, oversized: true },
      { flags: 0, type: Command.FLUSH, cookie: 2n, offset: 0, length: 0 },
    ]);
    expect(r.bufferedBytes).toBe(0);
  });

  it('an option longer than 64 KiB is skipped and returned without data', () => {
    const r = new MessageReader();
    r.push(encodeOption(Option.GO, Buffer.alloc(70_000)));
    r.push(encodeOption(Option.LIST));
    expect(r.readOption()).toEqual({ option: Option.GO, data: undefined });
    expect(r.readOption()).toEqual({ option: Option.LIST, data: Buffer.alloc(0) });
  });

  it('bad magic is a ProtocolError', () => {
    const r = new MessageReader();
    r.push(Buffer.alloc(28, 0x41));
    expect(() => r.readRequest()).toThrow(ProtocolError);
    const o = new MessageReader();
    o.push(Buffer.alloc(16, 0x41));
    expect(() => o.readOption()).toThrow(ProtocolError);
  });
});

const requestArb: fc.Arbitrary<Request> = fc
  .record({
    flags: fc.integer({ min: 0, max: 0xffff }),
    type: fc.constantFrom(
      Command.READ,
      Command.WRITE,
      Command.FLUSH,
      Command.TRIM,
      Command.WRITE_ZEROES,
      Command.DISC,
      9,
    ),
    cookie: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    length: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    payload: fc.uint8Array({ maxLength: 64 }),
  })
  .map(({ payload, ...r }) =>
    r.type === Command.WRITE ? { ...r, length: payload.length, data: Buffer.from(payload) } : r,
  );

const optionArb = fc.record({
  option: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  data: fc.uint8Array({ maxLength: 64 }).map((d) => Buffer.from(d)),
});

/** Cuts `stream` at the given points (any order, duplicates allowed). */
function fragments(stream: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of [...at, stream.length]) {
    out.push(stream.subarray(from, c));
    from = c;
  }
  return out;
}

function readAll<T>(r: MessageReader, chunks: Buffer[], read: () => T | undefined): T[] {
  const out: T[] = [];
  for (const c of chunks) {
    r.push(c);
    for (let m = read(); m !== undefined; m = read()) out.push(m);
  }
  return out;
}

describe('NBD wire format: properties', () => {
  it('requests round-trip through encode and a reader fed any fragmentation', () => {
    fc.assert(
      fc.property(
        fc.array(requestArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (reqs, cuts) => {
          const stream = Buffer.concat(reqs.map(encodeRequest));
          const r = new MessageReader();
          expect(readAll(r, fragments(stream, cuts), () => r.readRequest())).toEqual(reqs);
          expect(r.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it('options round-trip through encode and a reader fed any fragmentation', () => {
    fc.assert(
      fc.property(
        fc.array(optionArb, { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (opts, cuts) => {
          const stream = Buffer.concat(opts.map((o) => encodeOption(o.option, o.data)));
          const r = new MessageReader();
          const got: OptionRequest[] = readAll(r, fragments(stream, cuts), () => r.readOption());
          expect(got).toEqual(opts);
        },
      ),
    );
  });

  it('info requests and info replies round-trip', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 8 }),
        (name, requests) => {
          expect(decodeInfoRequest(encodeInfoRequest({ name, requests }))).toEqual({ name, requests });
        },
      ),
    );
    const infoArb: fc.Arbitrary<InfoReply> = fc.oneof(
      fc.record({
        info: fc.constant(Info.EXPORT),
        sizeBytes: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        transmissionFlags: fc.integer({ min: 0, max: 0xffff }),
      }),
      fc.record({ info: fc.constant(Info.NAME), name: fc.string() }),
      fc.record({ info: fc.constant(Info.DESCRIPTION), description: fc.string() }),
      fc.record({
        info: fc.constant(Info.BLOCK_SIZE),
        minimum: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        preferred: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        maximum: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      }),
    );
    fc.assert(
      fc.property(infoArb, (info) => {
        expect(decodeInfoReply(encodeInfoReply(Option.GO, info).subarray(20))).toEqual(info);
      }),
    );
  });

  it('simple reply headers round-trip', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        (cookie, error) => {
          expect(decodeSimpleReplyHeader(encodeSimpleReply(cookie, error))).toEqual({ cookie, error });
        },
      ),
    );
  });

  it('garbage never throws anything but a ProtocolError, in any phase', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        for (const phase of ['flags', 'option', 'request'] as const) {
          const r = new MessageReader(64);
          try {
            readAll(r, fragments(Buffer.from(bytes), cuts), () =>
              phase === 'flags' ? r.readClientFlags() : phase === 'option' ? r.readOption() : r.readRequest(),
            );
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        }
        for (const decode of [decodeInfoReply, decodeServerReply, decodeSimpleReplyHeader, decodeGreeting]) {
          try {
            decode(bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        }
        decodeInfoRequest(bytes);
      }),
    );
  });
});
