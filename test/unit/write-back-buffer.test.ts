import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DomainError } from '../../shared/domain/errors';
import { ExportError } from '../../shared/nbd/block-export';
import { type ChunkBackend, WriteBackBuffer } from '../../shared/nbd/write-back-buffer';

const CHUNK = 64;

/** Stands in for the gateway: a map of stored chunks; stores can be held and released. */
class FakeBackend implements ChunkBackend {
  readonly chunkSizeBytes = CHUNK;
  readonly stored = new Map<number, Uint8Array>();
  loads = 0;
  stores = 0;
  hold = false;
  lost = false;
  /** Stores run after a random number of macrotasks, so they finish out of order. */
  jitter?: () => number;
  private held: (() => void)[] = [];

  constructor(readonly sizeBytes: number) {}

  async load(index: number): Promise<Uint8Array | undefined> {
    this.loads++;
    await new Promise((r) => setImmediate(r));
    return this.stored.get(index)?.slice();
  }

  async store(index: number, data: Uint8Array): Promise<void> {
    this.stores++;
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    for (let i = this.jitter?.() ?? 0; i > 0; i--) await new Promise((r) => setImmediate(r));
    if (this.lost) throw new DomainError(409, 'lease-lost', 'write lease lost: test');
    this.stored.set(index, data.slice());
  }

  assertWritable(): void {
    if (this.lost) throw new DomainError(409, 'lease-lost', 'write lease lost: test');
  }

  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }

  image(): Uint8Array {
    const out = new Uint8Array(this.sizeBytes);
    for (const [i, c] of this.stored) out.set(c, i * CHUNK);
    return out;
  }
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};
const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('write-back buffer', () => {
  it('acknowledges from memory, serves reads from it, and coalesces rewrites of a chunk', async () => {
    const backend = new FakeBackend(4 * CHUNK);
    const buf = new WriteBackBuffer(backend, { bufferBytes: 4 * CHUNK, flushDelayMs: 60_000 });
    for (let v = 1; v <= 10; v++) await buf.write(0, fill(CHUNK, v), false);
    expect(backend.stores).toBe(0);
    expect(await buf.read(0, 4)).toEqual(fill(4, 10));
    await buf.flush();
    expect(backend.stores).toBe(1);
    expect(backend.stored.get(0)).toEqual(fill(CHUNK, 10));
  });

  it('merges partial writes in memory, reading the stored chunk once', async () => {
    const backend = new FakeBackend(2 * CHUNK);
    backend.stored.set(0, fill(CHUNK, 7));
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK, flushDelayMs: 60_000 });
    await Promise.all([buf.write(0, fill(4, 1), false), buf.write(8, fill(4, 2), false)]);
    await buf.write(CHUNK - 4, fill(8, 3), false);
    await buf.flush();
    expect(backend.loads).toBe(2);
    const want = fill(2 * CHUNK, 0);
    want.fill(7, 0, CHUNK);
    want.fill(1, 0, 4);
    want.fill(2, 8, 12);
    want.fill(3, CHUNK - 4, CHUNK + 4);
    expect(backend.image()).toEqual(want);
  });

  it('bounds its memory: a write needing more waits until the flusher stores a chunk', async () => {
    const backend = new FakeBackend(8 * CHUNK);
    backend.hold = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK, flushDelayMs: 60_000 });
    await buf.write(0, fill(CHUNK, 1), false);
    await buf.write(CHUNK, fill(CHUNK, 2), false);
    let third = false;
    const p = buf.write(2 * CHUNK, fill(CHUNK, 3), false).then(() => {
      third = true;
    });
    await settle();
    expect(third).toBe(false);
    expect(buf.bytesBuffered).toBeLessThanOrEqual(2 * CHUNK);
    backend.release();
    await p;
    expect(buf.bytesBuffered).toBeLessThanOrEqual(2 * CHUNK);
    await buf.flush();
    expect(backend.image().subarray(0, 3 * CHUNK)).toEqual(
      new Uint8Array([...fill(CHUNK, 1), ...fill(CHUNK, 2), ...fill(CHUNK, 3)]),
    );
  });

  it('resolves flush and FUA writes only once the chunks are stored', async () => {
    const backend = new FakeBackend(4 * CHUNK);
    backend.hold = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: 4 * CHUNK, flushDelayMs: 60_000 });
    await buf.write(0, fill(CHUNK, 1), false);
    let flushed = false;
    let fua = false;
    const f = buf.flush().then(() => {
      flushed = true;
    });
    const w = buf.write(CHUNK, fill(CHUNK, 2), true).then(() => {
      fua = true;
    });
    await settle();
    expect([flushed, fua]).toEqual([false, false]);
    backend.release();
    await Promise.all([f, w]);
    expect(backend.stored.get(0)).toEqual(fill(CHUNK, 1));
    expect(backend.stored.get(1)).toEqual(fill(CHUNK, 2));
  });

  it('a chunk stored but not yet published frees its store slot; a flush still waits for the publish', async () => {
    const published: (() => void)[] = [];
    let stores = 0;
    const backend: ChunkBackend = {
      chunkSizeBytes: CHUNK,
      sizeBytes: 8 * CHUNK,
      load: async () => undefined,
      store: (_index, _data, onStored) => {
        stores++;
        onStored();
        return new Promise<void>((r) => published.push(r));
      },
      assertWritable: () => undefined,
    };
    const buf = new WriteBackBuffer(backend, {
      bufferBytes: 8 * CHUNK,
      concurrency: 2,
      flushDelayMs: 60_000,
    });
    await buf.write(0, fill(8 * CHUNK, 3), false);
    let flushed = false;
    const f = buf.flush().then(() => {
      flushed = true;
    });
    await settle();
    // Two slots, eight chunks: every store was issued while the first records still wait.
    expect(stores).toBe(8);
    for (const r of published.splice(0, 7)) r();
    await settle();
    expect(flushed).toBe(false);
    for (const r of published.splice(0)) r();
    await f;
    expect(flushed).toBe(true);
  });

  it("a FLUSH has its chunks' records published as soon as their PUTs landed; the background flusher lets them wait", async () => {
    let waiting: (() => void)[] = [];
    let published = 0;
    let publishNows = 0;
    const backend: ChunkBackend = {
      chunkSizeBytes: CHUNK,
      sizeBytes: 8 * CHUNK,
      load: async () => undefined,
      store: async (_index, _data, onStored) => {
        await new Promise((r) => setImmediate(r));
        // The record is handed over, then waits for a fuller message until publishNow sends it.
        const sent = new Promise<void>((r) => waiting.push(r));
        onStored();
        await sent;
        published++;
      },
      publishNow: () => {
        publishNows++;
        for (const r of waiting.splice(0)) r();
      },
      assertWritable: () => undefined,
    };
    const buf = new WriteBackBuffer(backend, { bufferBytes: 8 * CHUNK, flushDelayMs: 0 });
    await buf.write(0, fill(2 * CHUNK, 1), false);
    await settle();
    expect([waiting.length, publishNows]).toEqual([2, 0]);
    await buf.write(2 * CHUNK, fill(3 * CHUNK, 2), false);
    await buf.flush();
    expect(publishNows).toBe(1);
    expect(published).toBe(5);
    waiting = [];
  });

  it('a flush waits for a chunk rewritten while an older version of it is being stored', async () => {
    const backend = new FakeBackend(CHUNK);
    backend.hold = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: CHUNK });
    await buf.write(0, fill(CHUNK, 1), false);
    await settle();
    expect(backend.stores).toBe(1);
    await buf.write(0, fill(CHUNK, 2), false);
    const f = buf.flush();
    backend.release();
    await f;
    expect(backend.stored.get(0)).toEqual(fill(CHUNK, 2));
  });

  it('stores the versions of a chunk in order even when the backend would finish concurrent stores out of order', async () => {
    const backend = new FakeBackend(CHUNK);
    const delays = [5, 0];
    backend.jitter = () => delays.shift() ?? 0;
    const buf = new WriteBackBuffer(backend, { bufferBytes: CHUNK });
    await buf.write(0, fill(4, 1), false);
    await buf.write(0, fill(4, 2), false);
    await buf.flush();
    await settle();
    expect(backend.stored.get(0)?.subarray(0, 4)).toEqual(fill(4, 2));
  });

  it('stops acknowledging writes once the lease is lost, and fails a flush it cannot honour', async () => {
    const backend = new FakeBackend(4 * CHUNK);
    const buf = new WriteBackBuffer(backend, { bufferBytes: 4 * CHUNK, flushDelayMs: 60_000 });
    await buf.write(0, fill(CHUNK, 1), false);
    backend.lost = true;
    await expect(buf.write(CHUNK, fill(4, 1), false)).rejects.toMatchObject({ errno: 'ESHUTDOWN' });
    await expect(buf.flush()).rejects.toBeInstanceOf(ExportError);
    await expect(buf.read(0, 4)).rejects.toMatchObject({ errno: 'ESHUTDOWN' });
  });

  it('zeroes whole chunks without reading them and merges partial ones', async () => {
    const backend = new FakeBackend(3 * CHUNK);
    for (let i = 0; i < 3; i++) backend.stored.set(i, fill(CHUNK, 9));
    const buf = new WriteBackBuffer(backend, { bufferBytes: 3 * CHUNK });
    await buf.zero(CHUNK / 2, 2 * CHUNK, false);
    await buf.flush();
    expect(backend.loads).toBe(2);
    const want = fill(3 * CHUNK, 9);
    want.fill(0, CHUNK / 2, CHUNK / 2 + 2 * CHUNK);
    expect(backend.image()).toEqual(want);
  });

  it('model: reads match a byte array; after each flush, even if the process dies, the store holds every earlier write', async () => {
    const size = 6 * CHUNK + 20;
    const op = fc.oneof(
      fc.record({
        kind: fc.constantFrom('write' as const, 'zero' as const),
        offset: fc.nat(size - 1),
        length: fc.integer({ min: 1, max: 2 * CHUNK + 10 }),
        value: fc.integer({ min: 1, max: 255 }),
        fua: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('read' as const),
        offset: fc.nat(size - 1),
        length: fc.integer({ min: 1, max: 200 }),
      }),
      fc.record({ kind: fc.constant('flush' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 7 }),
        async (ops, bufferChunks, seed) => {
          const backend = new FakeBackend(size);
          let x = seed + 1;
          backend.jitter = () => {
            x = (x * 1103515245 + 12345) % 2147483648;
            return x % 4;
          };
          const buf = new WriteBackBuffer(backend, { bufferBytes: bufferChunks * CHUNK, concurrency: 3 });
          const model = new Uint8Array(size);
          for (const o of ops) {
            if (o.kind === 'read') {
              const len = Math.min(o.length, size - o.offset);
              expect(await buf.read(o.offset, len)).toEqual(model.slice(o.offset, o.offset + len));
            } else if (o.kind === 'flush') {
              await buf.flush();
              expect(backend.image()).toEqual(model);
            } else {
              const len = Math.min(o.length, size - o.offset);
              if (o.kind === 'write') await buf.write(o.offset, fill(len, o.value), o.fua);
              else await buf.zero(o.offset, len, o.fua);
              model.fill(o.kind === 'write' ? o.value : 0, o.offset, o.offset + len);
              expect(buf.bytesBuffered).toBeLessThanOrEqual(Math.max(bufferChunks, 1) * CHUNK);
            }
          }
          await buf.flush();
          buf.drop();
          expect(backend.image()).toEqual(model);
        },
      ),
      { numRuns: 60 },
    );
  });
});
