import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientFlag,
  Command,
  decodeSimpleReplyHeader,
  Errno,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  encodeRequest,
  GREETING_LENGTH,
  OPTION_REPLY_HEADER_LENGTH,
  Option,
  Reply,
  type Request,
  SIMPLE_REPLY_HEADER_LENGTH,
} from '../../shared/nbd/protocol';
import { MAX_REQUEST_BYTES, NbdServer } from '../../shared/nbd/server';
import { waitFor } from '../support/harness';
import { MemoryExport } from '../support/memory-export';

const run = promisify(execFile);
const TOOLS = ['nbdinfo', 'nbdcopy', 'qemu-img', 'qemu-io', 'fio'];
const MiB = 1024 * 1024;

/** A missing client is a failure with the fix in the message, never a silent skip. */
async function requireTools(): Promise<void> {
  for (const tool of TOOLS) {
    try {
      await run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      throw new Error(`${tool} is not installed: run scripts/setup-block-tools.sh (as root)`);
    }
  }
}

async function tool(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(cmd, args, { timeout: 90_000, maxBuffer: 16 * MiB });
}

/** The client side of the protocol, byte by byte, for what real clients never send. */
class RawClient {
  private buffered = Buffer.alloc(0);
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (c) => {
      this.buffered = Buffer.concat([this.buffered, c]);
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  static async open(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const c = new RawClient(socket);
    await c.bytes(GREETING_LENGTH);
    c.socket.write(encodeClientFlags(ClientFlag.FIXED_NEWSTYLE | ClientFlag.NO_ZEROES));
    return c;
  }

  /** Connects and selects `name` with NBD_OPT_GO. */
  static async go(port: number, name: string): Promise<RawClient> {
    const c = await RawClient.open(port);
    c.socket.write(encodeOption(Option.GO, encodeInfoRequest({ name, requests: [] })));
    for (;;) {
      const reply = await c.optionReply();
      if (reply.type === Reply.ACK) return c;
      if (reply.type !== Reply.INFO) throw new Error(`GO ${name}: reply ${reply.type}`);
    }
  }

  async bytes(n: number): Promise<Buffer> {
    await waitFor(`${n} bytes from the server`, async () => this.buffered.length >= n, 20_000);
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(n);
    return out;
  }

  async optionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.bytes(OPTION_REPLY_HEADER_LENGTH);
    const data = await this.bytes(h.readUInt32BE(16));
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data };
  }

  send(req: Partial<Request> & { type: number; cookie: bigint }): void {
    this.socket.write(encodeRequest({ flags: 0, offset: 0, length: 0, ...req }));
  }

  /** The next simple reply; `dataLength` bytes follow a successful READ. */
  async reply(dataLength = 0): Promise<{ cookie: bigint; error: number; data?: Buffer }> {
    const h = decodeSimpleReplyHeader(await this.bytes(SIMPLE_REPLY_HEADER_LENGTH));
    if (h.error !== 0 || dataLength === 0) return h;
    return { ...h, data: await this.bytes(dataLength) };
  }
}

describe('NBD server with real clients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'volmirror-nbd-'));
  const disk = new MemoryExport('disk', 8 * MiB);
  const ro = new MemoryExport('ro', 1 * MiB, {
    readOnly: true,
    blockSize: { minimum: 4096, preferred: 64 * 1024, maximum: 1 * MiB },
  });
  const coarse = new MemoryExport('coarse', 1 * MiB, {
    blockSize: { minimum: 4096, preferred: 64 * 1024, maximum: 4 * MiB },
  });
  // Offset 0 is slow, offset 4096 fails with a plain Error: out-of-order replies and EIO.
  const slow = new MemoryExport('slow', 1 * MiB, {
    delayMs: (offset) => (offset === 0 ? 400 : 0),
    failAt: { offset: 8192, error: new Error('disk on fire') },
  });
  const logged: string[] = [];
  const server = new NbdServer([disk, ro, coarse, slow], { log: (m) => logged.push(m) });
  let port = 0;
  let uri = (name: string) => `nbd://127.0.0.1:${port}/${name}`;

  beforeAll(async () => {
    await requireTools();
    ro.bytes.fill(0x5a);
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    port = 'port' in address ? address.port : 0;
    uri = (name: string) => `nbd://127.0.0.1:${port}/${name}`;
  });

  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('nbdinfo --list lists every export with its size', async () => {
    const { stdout } = await tool('nbdinfo', ['--list', '--json', uri('')]);
    const exports = (JSON.parse(stdout) as { exports: { 'export-name': string; 'export-size': number }[] })
      .exports;
    expect(exports.map((e) => [e['export-name'], e['export-size']]).sort()).toEqual(
      [
        ['coarse', MiB],
        ['disk', 8 * MiB],
        ['ro', MiB],
        ['slow', MiB],
      ].sort(),
    );
  });

  it('nbdinfo on one export shows its block sizes, read-only flag and flush/FUA/trim/zero support', async () => {
    const { stdout } = await tool('nbdinfo', ['--json', uri('ro')]);
    const e = (JSON.parse(stdout) as { exports: Record<string, unknown>[] }).exports[0];
    expect(e).toMatchObject({
      'export-name': 'ro',
      'export-size': MiB,
      is_read_only: true,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_multi_conn: true,
      block_size_minimum: 4096,
      block_size_preferred: 64 * 1024,
      block_size_maximum: MiB,
    });
  });

  it('qemu-img convert copies an image in and out byte for byte', async () => {
    const image = randomBytes(8 * MiB);
    writeFileSync(join(dir, 'in.img'), image);
    await tool('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', join(dir, 'in.img'), uri('disk')]);
    expect(disk.bytes.equals(image)).toBe(true);
    await tool('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri('disk'), join(dir, 'out.img')]);
    expect(readFileSync(join(dir, 'out.img')).equals(image)).toBe(true);
  });

  it('nbdcopy copies an image in and out byte for byte', async () => {
    const image = randomBytes(8 * MiB);
    writeFileSync(join(dir, 'in2.img'), image);
    await tool('nbdcopy', [join(dir, 'in2.img'), uri('disk')]);
    expect(disk.bytes.equals(image)).toBe(true);
    await tool('nbdcopy', [uri('disk'), join(dir, 'out2.img')]);
    expect(readFileSync(join(dir, 'out2.img')).equals(image)).toBe(true);
  });

  it('qemu-io writes and reads unaligned ranges', async () => {
    disk.bytes.fill(0x11);
    const { stdout } = await tool('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0xab 1000 3000',
      '-c',
      'read -P 0xab 1000 3000',
      '-c',
      'read -P 0x11 0 1000',
      '-c',
      'read -P 0x11 4000 4192',
      uri('disk'),
    ]);
    expect(stdout).not.toMatch(/Pattern verification failed|error/i);
    expect(disk.bytes.subarray(1000, 4000).every((b) => b === 0xab)).toBe(true);
    expect(disk.bytes[999]).toBe(0x11);
    expect(disk.bytes[4000]).toBe(0x11);
  });

  it('fio random writes through the nbd engine verify with crc32c', async () => {
    const { stdout } = await tool('fio', [
      '--name=verify',
      '--ioengine=nbd',
      `--uri=${uri('disk')}`,
      '--rw=randwrite',
      '--bs=4k',
      '--size=8m',
      '--iodepth=16',
      '--verify=crc32c',
      '--do_verify=1',
      // fio would otherwise leave a verify state file in the working directory.
      '--verify_state_save=0',
      '--output-format=json',
    ]);
    const job = (
      JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
        jobs: { error: number; write: { io_bytes: number }; read: { io_bytes: number } }[];
      }
    ).jobs[0];
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(8 * MiB);
    expect(job.read.io_bytes).toBe(8 * MiB);
  });

  it('a write to a read-only export fails: qemu-io refuses, and the raw WRITE gets EPERM', async () => {
    const failed = await tool('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 0 4096', uri('ro')]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed?.code).not.toBe(0);
    expect(failed?.stderr).toMatch(/Permission denied|read-only/i);

    const c = await RawClient.go(port, 'ro');
    c.send({ type: Command.WRITE, cookie: 1n, offset: 0, length: 4096, data: Buffer.alloc(4096, 1) });
    c.send({ type: Command.TRIM, cookie: 2n, offset: 0, length: 4096 });
    c.send({ type: Command.WRITE_ZEROES, cookie: 3n, offset: 0, length: 4096 });
    const replies = [await c.reply(), await c.reply(), await c.reply()];
    expect(replies.map((r) => r.error)).toEqual([Errno.EPERM, Errno.EPERM, Errno.EPERM]);
    expect(ro.bytes.every((b) => b === 0x5a)).toBe(true);
    c.socket.destroy();
  });

  it('serves requests concurrently and answers out of order; a failing export answers EIO', async () => {
    const c = await RawClient.go(port, 'slow');
    c.send({ type: Command.WRITE, cookie: 1n, offset: 0, length: 512, data: Buffer.alloc(512, 7) });
    c.send({ type: Command.READ, cookie: 2n, offset: 4096, length: 512 });
    c.send({ type: Command.READ, cookie: 3n, offset: 8192, length: 512 });
    const first = await c.reply(512);
    const second = await c.reply();
    const third = await c.reply();
    // The slow write at offset 0 was sent first and is answered last.
    expect(first).toMatchObject({ cookie: 2n, error: 0 });
    expect(second).toMatchObject({ cookie: 3n, error: Errno.EIO });
    expect(third).toMatchObject({ cookie: 1n, error: 0 });
    expect(logged.some((m) => m.includes('disk on fire'))).toBe(true);
    c.socket.destroy();
  });

  it('DISC answers the requests in flight, then closes', async () => {
    slow.bytes.fill(0);
    const c = await RawClient.go(port, 'slow');
    c.send({ type: Command.WRITE, cookie: 1n, offset: 0, length: 1024, data: Buffer.alloc(1024, 9) });
    c.send({ type: Command.DISC, cookie: 2n });
    expect(await c.reply()).toEqual({ cookie: 1n, error: 0 });
    await waitFor('the server closes after DISC', async () => c.closed, 10_000);
    expect(slow.bytes.subarray(0, 1024).every((b) => b === 9)).toBe(true);
  });

  it('out-of-range, oversized, misaligned and unknown requests get EINVAL and the connection goes on', async () => {
    const c = await RawClient.go(port, 'coarse');
    const big = MAX_REQUEST_BYTES + 4096;
    c.send({ type: Command.READ, cookie: 1n, offset: MiB - 512, length: 1024 });
    c.send({ type: Command.WRITE, cookie: 2n, offset: 0, length: big, data: Buffer.alloc(big, 3) });
    c.send({ type: Command.READ, cookie: 3n, offset: 0, length: big });
    c.send({ type: Command.WRITE, cookie: 4n, offset: 1, length: 100, data: Buffer.alloc(100, 3) });
    c.send({ type: 42, cookie: 5n });
    c.send({ type: Command.FLUSH, cookie: 6n, flags: 0x4000 });
    c.send({ type: Command.WRITE_ZEROES, cookie: 7n, offset: 0, length: 2 * MiB });
    for (let i = 1n; i <= 7n; i++) expect(await c.reply()).toEqual({ cookie: i, error: Errno.EINVAL });
    // 512-byte aligned I/O below the advertised 4 KiB minimum is accepted (the Linux client sends it).
    c.send({ type: Command.WRITE, cookie: 8n, offset: 512, length: 512, data: Buffer.alloc(512, 0xee) });
    expect(await c.reply()).toEqual({ cookie: 8n, error: 0 });
    c.send({ type: Command.READ, cookie: 9n, offset: 512, length: 512 });
    expect((await c.reply(512)).data?.every((b) => b === 0xee)).toBe(true);
    c.send({ type: Command.FLUSH, cookie: 10n });
    expect(await c.reply()).toEqual({ cookie: 10n, error: 0 });
    expect(coarse.bytes.subarray(0, 512).every((b) => b === 0)).toBe(true);
    c.socket.destroy();
  });

  it('answers option haggling: unknown options ERR_UNSUP, unknown exports ERR_UNKNOWN, bad data ERR_INVALID', async () => {
    const c = await RawClient.open(port);
    c.socket.write(encodeOption(Option.STRUCTURED_REPLY));
    c.socket.write(encodeOption(777));
    c.socket.write(encodeOption(Option.GO, encodeInfoRequest({ name: 'nope', requests: [] })));
    c.socket.write(encodeOption(Option.INFO, Buffer.from([0, 0, 0, 9])));
    c.socket.write(encodeOption(Option.LIST, Buffer.from('x')));
    const types = [];
    for (let i = 0; i < 5; i++) types.push((await c.optionReply()).type);
    expect(types).toEqual([
      Reply.ERR_UNSUP,
      Reply.ERR_UNSUP,
      Reply.ERR_UNKNOWN,
      Reply.ERR_INVALID,
      Reply.ERR_INVALID,
    ]);
    c.socket.write(encodeOption(Option.ABORT));
    expect((await c.optionReply()).type).toBe(Reply.ACK);
    await waitFor('the server closes after ABORT', async () => c.closed, 10_000);
  });

  it('garbage and clients vanishing mid-request never stop the server', async () => {
    const junk = await RawClient.open(port);
    junk.socket.write(Buffer.alloc(64, 0x41));
    await waitFor('the server drops a client sending garbage', async () => junk.closed, 10_000);
    const vanish = await RawClient.go(port, 'slow');
    vanish.send({ type: Command.READ, cookie: 1n, offset: 0, length: 4096 });
    const half = encodeRequest({
      flags: 0,
      type: Command.WRITE,
      cookie: 2n,
      offset: 0,
      length: 4096,
      data: Buffer.alloc(4096),
    });
    vanish.socket.write(half.subarray(0, 100));
    vanish.socket.destroy();
    const c = await RawClient.go(port, 'slow');
    c.send({ type: Command.READ, cookie: 1n, offset: 4096, length: 512 });
    expect(await c.reply(512)).toMatchObject({ cookie: 1n, error: 0 });
    c.socket.destroy();
    const { stdout } = await tool('nbdinfo', ['--size', uri('disk')]);
    expect(stdout.trim()).toBe(String(8 * MiB));
  });

  it('serves on a Unix socket too', async () => {
    const path = join(dir, 'nbd.sock');
    const local = new NbdServer([new MemoryExport('unix', 2 * MiB)]);
    expect(await local.listen({ socket: path })).toEqual({ socket: path });
    try {
      const { stdout } = await tool('nbdinfo', ['--size', `nbd+unix:///unix?socket=${path}`]);
      expect(stdout.trim()).toBe(String(2 * MiB));
    } finally {
      await local.close();
    }
  });

  it('holds at most maxInFlight requests of a connection at once, and answers every one', async () => {
    let open = () => {};
    const gated = new MemoryExport('gated', MiB, { gate: new Promise<void>((resolve) => (open = resolve)) });
    const local = new NbdServer([gated], { maxInFlight: 4 });
    const address = await local.listen({ host: '127.0.0.1', port: 0 });
    try {
      const c = await RawClient.go('port' in address ? address.port : 0, 'gated');
      for (let i = 0n; i < 10n; i++) c.send({ type: Command.READ, cookie: i, offset: 0, length: 512 });
      await waitFor('4 reads held by the export', async () => gated.pending >= 4, 10_000);
      open();
      const cookies = [];
      for (let i = 0; i < 10; i++) cookies.push((await c.reply(512)).cookie);
      expect(cookies.sort()).toEqual([0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
      expect(gated.maxPending).toBe(4);
      c.socket.destroy();
    } finally {
      await local.close();
    }
  });
});
