import { spansOf } from '../domain/chunks';
import { DomainError } from '../domain/errors';
import { ExportError } from './block-export';

/** Where the buffer's chunks come from and go to: the gateway in production, a map in tests. */
export interface ChunkBackend {
  readonly chunkSizeBytes: number;
  readonly sizeBytes: number;
  /** The chunk's latest stored bytes; undefined when it was never written (reads as zeros). */
  load(index: number): Promise<Uint8Array | undefined>;
  /**
   * Resolves once the chunk is stored and its change record published; calls `onStored` once
   * the chunk is stored, which may be well before (the record waits to fill a message).
   */
  store(index: number, data: Uint8Array, onStored: () => void): Promise<void>;
  /** Sends the records of stored chunks now instead of waiting for a fuller message. */
  publishNow?(): void;
  /** Throws when a write acknowledged now could no longer be stored (the lease is gone). */
  assertWritable(): void;
}

export interface WriteBackOptions {
  /** Memory for buffered chunks; a write that needs more waits for the flusher. */
  bufferBytes: number;
  /** Chunk stores in flight at once from the flusher (16 unless given); a stored chunk waiting for its record to be published holds no slot. */
  concurrency?: number;
  /** How long a dirty chunk may wait for more writes before the flusher stores it unasked. */
  flushDelayMs?: number;
}

export const DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024;

interface Entry {
  index: number;
  data: Uint8Array;
  /** Bumped by every write applied to `data`. */
  version: number;
  /** The highest version handed to the backend. */
  issued: number;
  /** The highest version the backend stored; the entry is clean when it equals `version`. */
  stored: number;
  /** The highest version whose chunk is stored, its change record perhaps not yet published. */
  landed: number;
  /**
   * A version is being stored: the next waits for it, so versions land in order whatever
   * the backend's ordering of concurrent stores.
   */
  storing: boolean;
  dirtySince: number;
  /**
   * Set while the stored bytes of a partly written chunk are being read: writes are applied
   * (and acknowledged) meanwhile, and the ranges they wrote are kept so the stored bytes fill
   * only the rest. The chunk is neither read nor stored before it settles.
   */
  base?: { ready: Promise<void>; written: [number, number][] };
  waiters: { version: number; resolve(): void; reject(e: Error): void }[];
}

/** What an export answers when the backend failed: a lost lease ends the export, anything else is EIO. */
export function exportErrorOf(e: unknown): ExportError {
  if (e instanceof ExportError) return e;
  if (e instanceof DomainError && (e.code === 'lease-lost' || e.code === 'gateway-closed')) {
    return new ExportError('ESHUTDOWN', e.message);
  }
  if (e instanceof DomainError && e.code === 'out-of-range') return new ExportError('EINVAL', e.message);
  return new ExportError('EIO', e instanceof Error ? e.message : String(e));
}

/**
 * A bounded write-back cache of whole chunks. A write is acknowledged once it is applied to
 * its chunks in memory (a partial chunk's stored bytes are read once, in the background, and
 * merged under the writes before it is read or stored); rewrites coalesce; a background
 * flusher stores dirty chunks. `flush()` resolves once every write acknowledged
 * before it is stored. After a backend failure every operation fails: acknowledged writes
 * that were not flushed may be lost, as with a disk's volatile cache.
 */
export class WriteBackBuffer {
  private readonly entries = new Map<number, Entry>();
  private readonly loading = new Map<number, Promise<Entry>>();
  /** The chunk versions each pending FLUSH or FUA write waits for (see expedite). */
  private awaited: [Entry, number][][] = [];
  /** Dirty chunks in the order they became dirty. */
  private readonly dirty = new Set<number>();
  /** Dirty chunks someone waits for (flush, FUA, a full buffer): stored before the others. */
  private readonly urgent = new Set<number>();
  private readonly spaceWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private used = 0;
  private active = 0;
  private failure?: ExportError;
  private timer?: NodeJS.Timeout;
  private readonly concurrency: number;
  private readonly flushDelayMs: number;
  chunksStored = 0;

  constructor(
    private readonly backend: ChunkBackend,
    private readonly opts: WriteBackOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.concurrency = opts.concurrency ?? 16;
    this.flushDelayMs = opts.flushDelayMs ?? 0;
  }

  get bytesBuffered(): number {
    return this.used;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    this.assertAlive();
    const out = new Uint8Array(length);
    await Promise.all(
      this.spans(offset, length).map((span) =>
        this.withChunkToRead(span.index, (body) =>
          out.set(
            body.subarray(span.start, Math.min(body.length, span.start + span.length)),
            span.dataOffset,
          ),
        ),
      ),
    );
    return out;
  }

  /**
   * Runs `use` on the chunk's bytes in the tick they are found. A chunk not in memory is read
   * once however many reads want it, and kept as a clean entry when there is free or clean
   * memory for it, so rereads cost no GET; a read never waits for the flusher to make room.
   */
  private async withChunkToRead(index: number, use: (body: Uint8Array) => void): Promise<void> {
    const found = this.entries.get(index);
    if (found && !found.base) {
      this.touch(found);
      return use(found.data);
    }
    if (found?.base) {
      await found.base.ready;
      return use((this.entries.get(index) ?? found).data);
    }
    const entry = await (this.loading.get(index) ?? this.load(index, true, true));
    this.assertAlive();
    use((this.entries.get(index) ?? entry).data);
  }

  write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    return this.apply(offset, data.length, fua, (chunk, at, span) =>
      chunk.set(data.subarray(span.dataOffset, span.dataOffset + span.length), at),
    );
  }

  zero(offset: number, length: number, fua: boolean): Promise<void> {
    return this.apply(offset, length, fua, (chunk, at, span) => chunk.fill(0, at, at + span.length));
  }

  /** Resolves once every write acknowledged before the call is stored. */
  async flush(): Promise<void> {
    this.assertAlive();
    const targets = [...this.entries.values()].filter((e) => e.stored < e.version);
    await this.waitStored(targets.map((e) => [e, e.version]));
  }

  /** Stops without storing anything more: what a killed process leaves behind. */
  drop(): void {
    this.fail(new ExportError('ESHUTDOWN', 'the export was stopped'));
    this.entries.clear();
    this.dirty.clear();
    this.urgent.clear();
  }

  /** Stores what is buffered, then refuses further I/O. */
  async close(): Promise<void> {
    if (!this.failure) await this.flush();
    this.fail(new ExportError('ESHUTDOWN', 'the export was closed'));
  }

  private spans(offset: number, length: number) {
    try {
      return spansOf(offset, length, this.backend.chunkSizeBytes, this.backend.sizeBytes);
    } catch (e) {
      throw exportErrorOf(e);
    }
  }

  private assertAlive(): void {
    if (this.failure) throw this.failure;
  }

  private assertWritable(): void {
    this.assertAlive();
    try {
      this.backend.assertWritable();
    } catch (e) {
      throw exportErrorOf(e);
    }
  }

  private chunkLength(index: number): number {
    const cs = this.backend.chunkSizeBytes;
    return Math.min(cs, this.backend.sizeBytes - index * cs);
  }

  private async apply(
    offset: number,
    length: number,
    fua: boolean,
    change: (chunk: Uint8Array, at: number, span: { dataOffset: number; length: number }) => void,
  ): Promise<void> {
    this.assertWritable();
    const touched: [Entry, number][] = [];
    for (const span of this.spans(offset, length)) {
      const whole = span.start === 0 && span.length === this.chunkLength(span.index);
      await this.withEntry(span.index, !whole, (entry) => {
        // Acknowledging is promising to store: not once the lease can no longer be relied on.
        this.assertWritable();
        change(entry.data, span.start, span);
        entry.base?.written.push([span.start, span.start + span.length]);
        entry.version++;
        if (!this.dirty.has(entry.index)) entry.dirtySince = this.now();
        this.dirty.add(entry.index);
        touched.push([entry, entry.version]);
      });
    }
    if (fua) await this.waitStored(touched);
    else this.pump();
  }

  /**
   * Runs `use` on the chunk's entry in the same tick as it is found in the map, so it cannot
   * have been evicted meanwhile; the entry is created (and its stored bytes read when a
   * partial write needs them) once.
   */
  private async withEntry(index: number, needsBase: boolean, use: (entry: Entry) => void): Promise<void> {
    // Bounded: an entry only vanishes between lookups when it became clean and was evicted.
    for (let attempt = 0; attempt < 1000; attempt++) {
      const found = this.entries.get(index);
      if (found) {
        this.touch(found);
        return use(found);
      }
      await (this.loading.get(index) ?? this.load(index, needsBase));
      this.assertAlive();
    }
    throw new ExportError('EIO', `chunk ${index} kept being evicted`);
  }

  /** `forRead`: the entry is kept only if memory is free or clean now (else it is returned unkept). */
  /**
   * `forRead`: the stored bytes are read before the entry is made, and it is kept only if
   * memory is free or clean now (else it is returned unkept). A write's entry is made at once;
   * when `needsBase`, the stored bytes are read in the background (see Entry.base).
   */
  private load(index: number, needsBase: boolean, forRead = false): Promise<Entry> {
    const length = this.chunkLength(index);
    const promise = (async () => {
      let kept = true;
      if (forRead) kept = this.tryReserve(length);
      else await this.reserve(length);
      try {
        const data = new Uint8Array(length);
        if (forRead) {
          const stored = await this.backend.load(index);
          if (stored) data.set(stored.subarray(0, length));
        }
        this.assertAlive();
        const entry: Entry = {
          index,
          data,
          version: 0,
          issued: 0,
          stored: 0,
          landed: 0,
          storing: false,
          dirtySince: 0,
          waiters: [],
        };
        if (needsBase && !forRead) this.fetchBase(entry);
        if (kept) this.entries.set(index, entry);
        return entry;
      } catch (e) {
        if (kept) this.release(length);
        throw exportErrorOf(e);
      } finally {
        this.loading.delete(index);
      }
    })();
    this.loading.set(index, promise);
    return promise;
  }

  /**
   * Reads the chunk's stored bytes under the writes applied meanwhile. A write is acknowledged
   * before they arrive, so failing to read them fails the buffer as a failed store does.
   */
  private fetchBase(entry: Entry): void {
    const written: [number, number][] = [];
    const ready = this.backend.load(entry.index).then(
      (stored) => {
        entry.base = undefined;
        if (stored) {
          let from = 0;
          for (const [start, end] of written.sort((a, b) => a[0] - b[0])) {
            if (start > from) entry.data.set(stored.subarray(from, Math.min(start, stored.length)), from);
            from = Math.max(from, end);
          }
          if (from < entry.data.length) {
            entry.data.set(stored.subarray(from, Math.min(entry.data.length, stored.length)), from);
          }
        }
        this.pump();
      },
      (e) => {
        const error = exportErrorOf(e);
        this.fail(error);
        throw error;
      },
    );
    ready.catch(() => undefined);
    entry.base = { ready, written };
  }

  /** Most recently used last, so eviction takes the least recently used clean chunk. */
  private touch(entry: Entry): void {
    this.entries.delete(entry.index);
    this.entries.set(entry.index, entry);
  }

  private async reserve(length: number): Promise<void> {
    // Bounded by the buffer: every round either takes the memory, or waits for the flusher.
    for (;;) {
      this.assertAlive();
      if (this.tryReserve(length)) return;
      for (const index of this.dirty) this.urgent.add(index);
      this.pump();
      await new Promise<void>((resolve, reject) => this.spaceWaiters.push({ resolve, reject }));
    }
  }

  /** Takes free memory, evicting clean chunks for it; false when only dirty ones are left. */
  private tryReserve(length: number): boolean {
    // Bounded: every round evicts a chunk.
    while (this.used !== 0 && this.used + length > this.opts.bufferBytes) {
      if (!this.evictOne()) return false;
    }
    this.used += length;
    return true;
  }

  private evictOne(): boolean {
    for (const entry of this.entries.values()) {
      if (entry.stored === entry.version && entry.waiters.length === 0 && !entry.base) {
        this.entries.delete(entry.index);
        this.release(entry.data.length);
        return true;
      }
    }
    return false;
  }

  private release(length: number): void {
    this.used -= length;
    for (const w of this.spaceWaiters.splice(0)) w.resolve();
  }

  private waitStored(targets: [Entry, number][]): Promise<void> {
    const unstored = targets.filter(([e, v]) => e.stored < v);
    if (unstored.length > 0) {
      this.awaited.push(unstored);
      this.expedite();
    }
    const waits = unstored.map(
      ([e, version]) =>
        new Promise<void>((resolve, reject) => {
          if (this.failure) return reject(this.failure);
          e.waiters.push({ version, resolve, reject });
          if (e.issued < version) this.urgent.add(e.index);
        }),
    );
    this.pump();
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * A FLUSH or FUA write waits for its chunks' change records, which otherwise wait up to the
   * gateway's linger for a fuller message: once every chunk it waits for is stored, they are
   * sent at once.
   */
  private expedite(): void {
    const before = this.awaited.length;
    this.awaited = this.awaited.filter((targets) => targets.some(([e, v]) => e.landed < v));
    if (this.awaited.length < before) this.backend.publishNow?.();
  }

  /** Starts storing dirty chunks, urgent ones first, the others once they have waited flushDelayMs. */
  private pump(): void {
    if (this.failure) return;
    const now = this.now();
    let nextDue = Number.POSITIVE_INFINITY;
    const due = (): Entry | undefined => {
      for (const index of this.urgent) {
        const e = this.entries.get(index);
        if ((e?.storing || e?.base) && this.dirty.has(index)) continue;
        this.urgent.delete(index);
        if (e && this.dirty.has(index)) return e;
      }
      for (const index of this.dirty) {
        const e = this.entries.get(index);
        if (!e || e.storing || e.base) continue;
        if (now - e.dirtySince >= this.flushDelayMs) return e;
        nextDue = Math.min(nextDue, e.dirtySince + this.flushDelayMs);
        break;
      }
      return undefined;
    };
    while (this.active < this.concurrency) {
      const entry = due();
      if (!entry) break;
      this.issue(entry);
    }
    if (nextDue !== Number.POSITIVE_INFINITY && !this.timer) {
      this.timer = setTimeout(
        () => {
          this.timer = undefined;
          this.pump();
        },
        Math.max(1, nextDue - now),
      );
      this.timer.unref();
    }
  }

  private issue(entry: Entry): void {
    this.dirty.delete(entry.index);
    const version = entry.version;
    entry.issued = version;
    entry.storing = true;
    // A copy: writes keep landing in the entry while the backend stores this version.
    const body = entry.data.slice();
    this.active++;
    let slot = true;
    const freeSlot = () => {
      if (!slot) return;
      slot = false;
      this.active--;
      entry.landed = version;
      this.expedite();
      this.pump();
    };
    this.backend.store(entry.index, body, freeSlot).then(
      () => {
        freeSlot();
        entry.storing = false;
        this.chunksStored++;
        entry.stored = version;
        const done = entry.waiters.filter((w) => w.version <= entry.stored);
        entry.waiters = entry.waiters.filter((w) => w.version > entry.stored);
        for (const w of done) w.resolve();
        if (entry.stored === entry.version && this.spaceWaiters.length > 0) {
          for (const w of this.spaceWaiters.splice(0)) w.resolve();
        }
        this.pump();
      },
      (e) => {
        if (slot) this.active--;
        slot = false;
        this.fail(exportErrorOf(e));
      },
    );
  }

  private fail(error: ExportError): void {
    if (this.failure) return;
    this.failure = error;
    this.awaited = [];
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const entry of this.entries.values()) for (const w of entry.waiters.splice(0)) w.reject(error);
    for (const w of this.spaceWaiters.splice(0)) w.reject(error);
  }
}
