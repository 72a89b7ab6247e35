import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChunkBackend, WriteBackBuffer } from '../../shared/nbd/write-back-buffer';

const CHUNK = 64;

/** A map of stored chunks that counts GETs; stores can be held, or finish out of order. */
class CountingBackend implements ChunkBackend {
  readonly chunkSizeBytes = CHUNK;
  readonly stored = new Map<number, Uint8Array>();
  readonly loadsOf = new Map<number, number>();
  hold = false;
  jitter?: () => number;
  private held: (() => void)[] = [];

  constructor(readonly sizeBytes: number) {}

  get loads(): number {
    return [...this.loadsOf.values()].reduce((a, b) => a + b, 0);
  }

  async load(index: number): Promise<Uint8Array | undefined> {
    this.loadsOf.set(index, (this.loadsOf.get(index) ?? 0) + 1);
    await new Promise((r) => setImmediate(r));
    return this.stored.get(index)?.slice();
  }

  async store(index: number, data: Uint8Array): Promise<void> {
    if (this.hold) await new Promise<void>((r) => this.held.push(r));
    for (let i = this.jitter?.() ?? 0; i > 0; i--) await new Promise((r) => setImmediate(r));
    this.stored.set(index, data.slice());
  }

  assertWritable(): void {}

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

const fill = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('write-back buffer: reads', () => {
  it('reads a stored chunk from the backend once, however many reads want it, at once or later', async () => {
    const backend = new CountingBackend(4 * CHUNK);
    backend.stored.set(1, fill(CHUNK, 5));
    const buf = new WriteBackBuffer(backend, { bufferBytes: 4 * CHUNK });
    const first = await Promise.all([buf.read(CHUNK, 4), buf.read(CHUNK + 8, 4), buf.read(CHUNK, CHUNK)]);
    expect(first).toEqual([fill(4, 5), fill(4, 5), fill(CHUNK, 5)]);
    expect(await buf.read(CHUNK + 16, 8)).toEqual(fill(8, 5));
    expect(backend.loadsOf.get(1)).toBe(1);
  });

  it('a partial write after a read merges into the chunk read, without a second GET', async () => {
    const backend = new CountingBackend(2 * CHUNK);
    backend.stored.set(0, fill(CHUNK, 7));
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK, flushDelayMs: 60_000 });
    await buf.read(0, 4);
    await buf.write(4, fill(4, 1), false);
    await buf.flush();
    const want = fill(CHUNK, 7);
    want.fill(1, 4, 8);
    expect(backend.stored.get(0)).toEqual(want);
    expect(backend.loads).toBe(1);
  });

  it('keeps read chunks within its memory, evicting the least recently used', async () => {
    const backend = new CountingBackend(6 * CHUNK);
    for (let i = 0; i < 6; i++) backend.stored.set(i, fill(CHUNK, i + 1));
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK });
    for (let i = 0; i < 6; i++) {
      expect(await buf.read(i * CHUNK, CHUNK)).toEqual(fill(CHUNK, i + 1));
      expect(buf.bytesBuffered).toBeLessThanOrEqual(2 * CHUNK);
    }
    expect(await buf.read(5 * CHUNK, 1)).toEqual(fill(1, 6));
    expect(await buf.read(0, 1)).toEqual(fill(1, 1));
    expect([backend.loadsOf.get(5), backend.loadsOf.get(0)]).toEqual([1, 2]);
  });

  it('a read never waits for the flusher: with memory full of dirty chunks it is served unkept', async () => {
    const backend = new CountingBackend(4 * CHUNK);
    backend.stored.set(3, fill(CHUNK, 9));
    backend.hold = true;
    const buf = new WriteBackBuffer(backend, { bufferBytes: 2 * CHUNK, flushDelayMs: 60_000 });
    await buf.write(0, fill(CHUNK, 1), false);
    await buf.write(CHUNK, fill(CHUNK, 2), false);
    expect(await buf.read(3 * CHUNK, 4)).toEqual(fill(4, 9));
    expect(await buf.read(0, 4)).toEqual(fill(4, 1));
    expect(buf.bytesBuffered).toBeLessThanOrEqual(2 * CHUNK);
    backend.release();
    await buf.flush();
    expect(backend.stored.get(0)).toEqual(fill(CHUNK, 1));
  });

  it('model: with reads kept in memory, reads match a byte array and every flush stores every earlier write', async () => {
    const size = 5 * CHUNK + 20;
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('write' as const),
        offset: fc.nat(size - 1),
        length: fc.integer({ min: 1, max: 2 * CHUNK + 10 }),
        value: fc.integer({ min: 1, max: 255 }),
        fua: fc.boolean(),
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
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 7 }),
        async (ops, bufferChunks, seed) => {
          const backend = new CountingBackend(size);
          let x = seed + 1;
          backend.jitter = () => {
            x = (x * 1103515245 + 12345) % 2147483648;
            return x % 4;
          };
          const buf = new WriteBackBuffer(backend, { bufferBytes: bufferChunks * CHUNK, concurrency: 3 });
          const model = new Uint8Array(size);
          // Reads and writes issued together: each read sees the writes acknowledged before it.
          let pending: Promise<void>[] = [];
          for (const o of ops) {
            if (o.kind === 'read') {
              const len = Math.min(o.length, size - o.offset);
              const want = model.slice(o.offset, o.offset + len);
              pending.push(buf.read(o.offset, len).then((got) => expect(got).toEqual(want)));
            } else if (o.kind === 'flush') {
              await Promise.all(pending);
              pending = [];
              await buf.flush();
              expect(backend.image()).toEqual(model);
            } else {
              const len = Math.min(o.length, size - o.offset);
              await Promise.all(pending);
              pending = [];
              await buf.write(o.offset, fill(len, o.value), o.fua);
              model.fill(o.value, o.offset, o.offset + len);
            }
            expect(buf.bytesBuffered).toBeLessThanOrEqual(bufferChunks * CHUNK);
          }
          await Promise.all(pending);
          await buf.flush();
          expect(backend.image()).toEqual(model);
        },
      ),
      { numRuns: 60 },
    );
  });
});
