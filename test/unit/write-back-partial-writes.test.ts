import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExportError } from '../../shared/nbd/block-export';
import { type ChunkBackend, WriteBackBuffer } from '../../shared/nbd/write-back-buffer';

const CHUNK = 64;

/** A map of stored chunks whose GETs can be held, fail, or finish out of order. */
class SlowReadBackend implements ChunkBackend {
  readonly chunkSizeBytes = CHUNK;
  readonly stored = new Map<number, Uint8Array>();
  loads = 0;
  stores = 0;
  loadsInFlight = 0;
  holdLoads = false;
  failLoads = false;
  jitter?: () => number;
  private held: (() => void)[] = [];

  constructor(readonly sizeBytes: number) {}

  async load(index: number): Promise<Uint8Array | undefined> {
    this.loads++;
    this.loadsInFlight++;
    try {
      if (this.holdLoads) await new Promise<void>((r) => this.held.push(r));
      for (let i = this.jitter?.() ?? 1; i > 0; i--) await new Promise((r) => setImmediate(r));
      if (this.failLoads) throw new Error('GET failed');
      return this.stored.get(index)?.slice();
    } finally {
      this.loadsInFlight--;
    }
  }

  async store(index: number, data: Uint8Array): Promise<void> {
    this.stores++;
    for (let i = this.jitter?.() ?? 0; i > 0; i--) await new Promise((r) => setImmediate(r));
    this.stored.set(index, data.slice());
  }

  assertWritable(): void {}

  releaseLoads(): void {
    this.holdLoads = false;
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
const settled = (p: Promise<unknown>) => {
  const state = { done: false };
  p.then(
    () => {
      state.done = true;
    },
    () => {
      state.done = true;
    },
  );
  return state;
};

describe('write-back buffer: partial writes', () => {
  it('acknowledges a partial write before the stored chunk is read; reads and stores see it merged', async () => {
    const backend = new SlowReadBackend(2 * CHUNK);
    backend.stored.set(0, fill(CHUNK, 7));
    backend.holdLoads = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK, flushDelayMs: 0 });
    await buf.write(4, fill(4, 1), false);
    await buf.write(8, fill(4, 2), false);
    const read = buf.read(0, 16);
    const flush = buf.flush();
    const [r, f] = [settled(read), settled(flush)];
    await settle();
    expect([r.done, f.done, backend.stores]).toEqual([false, false, 0]);
    backend.releaseLoads();
    const want = fill(CHUNK, 7);
    want.fill(1, 4, 8);
    want.fill(2, 8, 12);
    expect(await read).toEqual(want.slice(0, 16));
    await flush;
    expect(backend.stored.get(0)).toEqual(want);
    expect(backend.loads).toBe(1);
  });

  it('partial writes to chunks not in memory read them concurrently, not one after the other', async () => {
    const backend = new SlowReadBackend(4 * CHUNK);
    backend.holdLoads = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: 4 * CHUNK, flushDelayMs: 60_000 });
    for (let i = 0; i < 4; i++) await buf.write(i * CHUNK + 8, fill(8, i + 1), false);
    expect(backend.loadsInFlight).toBe(4);
    backend.releaseLoads();
    await buf.flush();
    for (let i = 0; i < 4; i++) {
      const want = fill(CHUNK, 0);
      want.fill(i + 1, 8, 16);
      expect(backend.stored.get(i)).toEqual(want);
    }
  });

  it('a failed read of the stored chunk fails the flush and what follows, as a failed store does', async () => {
    const backend = new SlowReadBackend(2 * CHUNK);
    backend.failLoads = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK, flushDelayMs: 60_000 });
    await buf.write(4, fill(4, 1), false);
    await expect(buf.flush()).rejects.toBeInstanceOf(ExportError);
    await expect(buf.write(CHUNK, fill(CHUNK, 2), false)).rejects.toMatchObject({ errno: 'EIO' });
    expect(backend.stored.size).toBe(0);
  });

  it('model: GETs and PUTs finishing out of order, reads match a byte array and every flush stores every earlier write', async () => {
    const size = 5 * CHUNK + 20;
    const op = fc.oneof(
      fc.record({
        kind: fc.constantFrom('write' as const, 'zero' as const),
        offset: fc.nat(size - 1),
        length: fc.integer({ min: 1, max: 2 * CHUNK + 10 }),
        value: fc.integer({ min: 1, max: 255 }),
        fua: fc.boolean(),
        wait: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('read' as const),
        offset: fc.nat(size - 1),
        length: fc.integer({ min: 1, max: 2 * CHUNK }),
      }),
      fc.record({ kind: fc.constant('flush' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 5, maxLength: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 15 }),
        async (ops, stored, bufferChunks, seed) => {
          const backend = new SlowReadBackend(size);
          const model = new Uint8Array(size);
          stored.forEach((v, i) => {
            if (v === 0) return;
            const len = Math.min(CHUNK, size - i * CHUNK);
            backend.stored.set(i, fill(len, v));
            model.fill(v, i * CHUNK, i * CHUNK + len);
          });
          let x = seed + 1;
          backend.jitter = () => {
            x = (x * 1103515245 + 12345) % 2147483648;
            return x % 5;
          };
          const buf = new WriteBackBuffer(backend, {
            bufferBytes: bufferChunks * CHUNK,
            concurrency: 3,
            flushDelayMs: seed % 2,
          });
          // Writes not waited for are in flight together; a read or flush comes after them.
          let writes: Promise<void>[] = [];
          for (const o of ops) {
            if (o.kind === 'read') {
              await Promise.all(writes);
              writes = [];
              const len = Math.min(o.length, size - o.offset);
              expect(await buf.read(o.offset, len)).toEqual(model.slice(o.offset, o.offset + len));
            } else if (o.kind === 'flush') {
              await Promise.all(writes);
              writes = [];
              await buf.flush();
              expect(backend.image()).toEqual(model);
            } else {
              const len = Math.min(o.length, size - o.offset);
              // Overlapping writes in flight together have no defined order: wait first.
              await Promise.all(writes);
              writes = [];
              const w =
                o.kind === 'write'
                  ? buf.write(o.offset, fill(len, o.value), o.fua)
                  : buf.zero(o.offset, len, o.fua);
              model.fill(o.kind === 'write' ? o.value : 0, o.offset, o.offset + len);
              if (o.wait) await w;
              else writes.push(w);
            }
            expect(buf.bytesBuffered).toBeLessThanOrEqual(bufferChunks * CHUNK);
          }
          await Promise.all(writes);
          await buf.flush();
          expect(backend.image()).toEqual(model);
        },
      ),
      { numRuns: 80 },
    );
  });
});
