import { createHash } from 'node:crypto';
import { keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { isWholeChunk, spansOf } from '../domain/chunks';
import { conflict, DomainError } from '../domain/errors';
import { newId } from '../domain/ids';
import type { Barrier, ChangeRecord, Group, Pair, Volume } from '../domain/model';
import { loadVolume } from '../usecases/volumes';
import { ChangePublisher } from './change-publisher';

export interface GatewayOptions {
  /** How often the lease is renewed, which is also how soon a requested cut is seen. */
  renewEveryMs?: number;
  maxRecordsPerMessage?: number;
  lingerMs?: number;
}

/** Linger for throughput-oriented writers (file copies): fuller messages, later acks. */
export const BULK_LINGER_MS = 250;

export const leaseLost = (why: string) => new DomainError(409, 'lease-lost', `write lease lost: ${why}`);

/**
 * The writer of a group's primary volumes. It holds the group's write lease, numbers writes
 * by epoch, publishes change records, and closes epochs on request without pausing I/O.
 * A volume outside any group is written under a lease of its own, with no change records.
 */
export class Gateway {
  readonly session = newId('gw');
  private epoch = 0;
  private readonly inflight = new Map<number, Set<Promise<void>>>();
  private readonly chunkTails = new Map<string, Promise<unknown>>();
  private readonly seq = new Map<string, number>();
  /** Writes per epoch whose chunks are still being stored. */
  private readonly unpublished = new Map<number, number>();
  private readonly volumes = new Map<string, Volume>();
  private readonly pairIds = new Map<string, string>();
  private publisher?: ChangePublisher;
  private validUntil = 0;
  private timer?: NodeJS.Timeout;
  private fenced?: string;
  private closing = false;
  private renewing?: Promise<void>;
  chunkWrites = 0;

  private constructor(
    private readonly deps: Deps,
    private readonly scope: { kind: 'group'; group: Group } | { kind: 'volume'; volume: Volume },
    private readonly opts: Required<GatewayOptions>,
  ) {}

  /** Opens a gateway for the group of `volumeId` (or the volume alone when it has no group). */
  static async open(deps: Deps, volumeId: string, options: GatewayOptions = {}): Promise<Gateway> {
    const volume = await loadVolume(deps, volumeId);
    const opts = {
      renewEveryMs: options.renewEveryMs ?? Math.max(200, (deps.config.leaseSeconds * 1000) / 5),
      maxRecordsPerMessage: options.maxRecordsPerMessage ?? 250,
      lingerMs: options.lingerMs ?? 50,
    };
    if (volume.role === 'secondary') {
      throw conflict(
        `volume ${volume.id} is a secondary volume: it takes writes only from replication`,
        'secondary-volume',
      );
    }
    let gw: Gateway;
    if (volume.groupId) {
      const group = await deps.table.get<Group>(keys.group(volume.groupId));
      if (!group) throw conflict(`group ${volume.groupId} of volume ${volume.id} is gone`, 'orphan');
      gw = new Gateway(deps, { kind: 'group', group }, opts);
    } else {
      gw = new Gateway(deps, { kind: 'volume', volume }, opts);
    }
    await gw.acquire();
    gw.timer = setInterval(() => void gw.renew(), opts.renewEveryMs);
    return gw;
  }

  get groupId(): string | undefined {
    return this.scope.kind === 'group' ? this.scope.group.id : undefined;
  }

  get currentEpoch(): number {
    return this.epoch;
  }

  get messagesSent(): number {
    return this.publisher?.sentMessages ?? 0;
  }

  /** The item that holds this gateway's lease: the group, or the volume outside any group. */
  private get leaseKey() {
    return this.scope.kind === 'group' ? keys.group(this.scope.group.id) : keys.volume(this.scope.volume.id);
  }

  private get leaseMs(): number {
    return this.deps.config.leaseSeconds * 1000;
  }

  private async acquire(): Promise<void> {
    const now = this.deps.now();
    const lease = { holder: this.session, expiresAt: now + this.leaseMs };
    if (this.scope.kind === 'volume') {
      const ok = await this.deps.table.update(
        keys.volume(this.scope.volume.id),
        { set: { lease } },
        {
          expr: 'attribute_exists(pk) AND attribute_not_exists(groupId) AND (attribute_not_exists(lease) OR lease.expiresAt < :now)',
          values: { ':now': now },
        },
      );
      if (!ok)
        throw conflict(`volume ${this.scope.volume.id} is being written by another gateway`, 'lease-held');
      this.volumes.set(this.scope.volume.id, this.scope.volume);
      this.validUntil = now + this.leaseMs;
      return;
    }
    const g = this.scope.group;
    if (g.status === 'failed' || g.status.startsWith('role-')) {
      throw conflict(`group ${g.id} is ${g.status}: writes are not accepted`, 'wrong-state');
    }
    // A lease that expired without release belonged to a crashed gateway whose open epoch
    // may miss records: start after it and let the sync seal it once its queue drains.
    const crashed = g.lease !== undefined;
    const startEpoch = crashed ? g.epoch + 1 : g.epoch;
    const updated = await this.deps.table.update<Group>(
      keys.group(g.id),
      { set: { lease: { ...lease, startEpoch }, epoch: startEpoch } },
      {
        expr: `#e = :e AND roleEpoch = :re AND primarySite = :site AND ${crashed ? 'lease.expiresAt < :now' : 'attribute_not_exists(lease)'}`,
        names: { '#e': 'epoch' },
        values: { ':e': g.epoch, ':re': g.roleEpoch, ':site': g.primarySite, ':now': now },
      },
    );
    if (!updated) throw conflict(`group ${g.id} is being written by another gateway`, 'lease-held');
    this.scope.group = updated;
    this.epoch = startEpoch;
    this.validUntil = now + this.leaseMs;
    this.publisher = new ChangePublisher(
      this.deps.changeQueues[g.primarySite],
      g.id,
      this.session,
      this.opts.maxRecordsPerMessage,
      this.opts.lingerMs,
    );
    for (const pair of await this.deps.table.queryPrefix<Pair>(`GRP#${g.id}`, 'PAIR#')) {
      this.volumes.set(pair.primaryVolumeId, await loadVolume(this.deps, pair.primaryVolumeId));
      this.pairIds.set(pair.primaryVolumeId, pair.id);
    }
  }

  private renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.fenced || this.closing) return;
    const now = this.deps.now();
    const expiresAt = now + this.leaseMs;
    try {
      if (this.scope.kind === 'volume') {
        const ok = await this.deps.table.update(
          this.leaseKey,
          { set: { 'lease.expiresAt': expiresAt } },
          { expr: 'lease.holder = :h', values: { ':h': this.session } },
        );
        if (!ok) this.fenced = 'another gateway took the volume';
        else this.validUntil = expiresAt;
        return;
      }
      const g = await this.deps.table.update<Group>(
        keys.group(this.scope.group.id),
        { set: { 'lease.expiresAt': expiresAt } },
        {
          expr: 'lease.holder = :h AND roleEpoch = :re',
          values: { ':h': this.session, ':re': this.scope.group.roleEpoch },
        },
      );
      if (!g) {
        this.fenced = 'the lease was taken over or the role epoch changed';
        return;
      }
      this.validUntil = expiresAt;
      if (g.cutRequest && g.cutDone?.syncId !== g.cutRequest) await this.closeEpoch(g.cutRequest);
    } catch {
      // A failed renewal is retried on the next tick; writes stop once validUntil passes.
    }
  }

  private checkLease(): void {
    if (this.fenced) throw leaseLost(this.fenced);
    if (this.deps.now() >= this.validUntil) throw leaseLost('it could not be renewed in time');
  }

  /** Writes bytes at an offset; resolves once every touched chunk is stored and its record published. */
  write(volumeId: string, offset: number, data: Uint8Array): Promise<void> {
    const volume = this.volumes.get(volumeId);
    if (!volume) {
      return Promise.reject(
        conflict(
          `volume ${volumeId} is not written by this gateway (not a primary of its group)`,
          'not-in-scope',
        ),
      );
    }
    try {
      this.checkLease();
    } catch (e) {
      return Promise.reject(e);
    }
    // The epoch is taken at issue time: closing it never has to stop new writes.
    const epoch = this.epoch;
    const spans = spansOf(offset, data.length, volume.chunkSizeBytes, volume.sizeBytes);
    const parts = spans.map((span) =>
      this.serialize(`${volumeId}/${span.index}`, async () => {
        let body: Uint8Array;
        const slice = data.subarray(span.dataOffset, span.dataOffset + span.length);
        if (isWholeChunk(span, volume.chunkSizeBytes)) {
          body = slice;
        } else {
          const store = this.deps.stores[volume.site];
          const current = await store.getChunk(volumeId, span.index);
          body = new Uint8Array(volume.chunkSizeBytes);
          if (current) body.set(current.subarray(0, volume.chunkSizeBytes));
          body.set(slice, span.start);
        }
        const versionId = await this.deps.stores[volume.site].putChunk(volumeId, span.index, body);
        this.chunkWrites++;
        const seq = (this.seq.get(volumeId) ?? 0) + 1;
        this.seq.set(volumeId, seq);
        return {
          pairId: this.pairIds.get(volumeId) ?? '',
          volumeId,
          chunk: span.index,
          versionId,
          sha256: createHash('sha256').update(body).digest('base64'),
          bytes: body.length,
          seq,
        } satisfies ChangeRecord;
      }),
    );
    // A write's records travel together, and the message leaves as soon as no other write
    // of the epoch is still storing chunks: batches grow with the load, not with a timer.
    this.unpublished.set(epoch, (this.unpublished.get(epoch) ?? 0) + 1);
    const stored = Promise.all(parts);
    const handedOver = () => {
      const left = (this.unpublished.get(epoch) ?? 1) - 1;
      this.unpublished.set(epoch, left);
      if (left === 0) this.publisher?.flush(epoch);
    };
    const done = stored
      .then(
        (records) => {
          const published = this.publisher?.publishAll(epoch, records);
          handedOver();
          return published;
        },
        (e) => {
          handedOver();
          throw e;
        },
      )
      .then(() => this.checkLease());
    this.track(epoch, done);
    return done;
  }

  private serialize<T>(key: string, work: () => Promise<T>): Promise<T> {
    const tail = this.chunkTails.get(key) ?? Promise.resolve();
    const next = tail.then(work, work);
    const settled = next.catch(() => undefined);
    this.chunkTails.set(key, settled);
    void settled.then(() => {
      if (this.chunkTails.get(key) === settled) this.chunkTails.delete(key);
    });
    return next;
  }

  private track(epoch: number, done: Promise<void>): void {
    let set = this.inflight.get(epoch);
    if (!set) {
      set = new Set();
      this.inflight.set(epoch, set);
    }
    const s = set;
    const settled = done.catch(() => undefined);
    s.add(settled);
    void settled.then(() => s.delete(settled));
  }

  /**
   * Closes the open epoch E: new writes go to E+1 at once; when E's in-flight writes are
   * acknowledged and its records sent, the barrier for E is written. Returns E.
   */
  async closeEpoch(syncId?: string): Promise<number> {
    if (this.scope.kind !== 'group' || !this.publisher) return this.epoch;
    const e = this.epoch;
    this.epoch = e + 1;
    await Promise.all([...(this.inflight.get(e) ?? [])]);
    this.inflight.delete(e);
    const tally = await this.publisher.drain(e);
    const g = this.scope.group;
    const updated = await this.deps.table.update<Group>(
      keys.group(g.id),
      {
        set: { epoch: e + 1, ...(syncId && { cutDone: { syncId, epoch: e, at: isoNow(this.deps) } }) },
      },
      {
        expr: 'lease.holder = :h AND #e = :e AND roleEpoch = :re',
        names: { '#e': 'epoch' },
        values: { ':h': this.session, ':e': e, ':re': g.roleEpoch },
      },
    );
    if (!updated) {
      this.fenced = 'the lease was taken over while closing an epoch';
      throw leaseLost(this.fenced);
    }
    const barrier: Barrier = {
      epoch: e,
      session: this.session,
      batches: tally.batches,
      missing: tally.missing,
      sealedAt: isoNow(this.deps),
    };
    await this.deps.table.put(keys.barrier(g.id, e), barrier);
    return e;
  }

  /** Seals the open epoch and releases the lease; the next writer starts cleanly. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.renewing;
    this.closing = true;
    const all = [...this.inflight.values()].flatMap((s) => [...s]);
    await Promise.all(all);
    if (this.fenced) return;
    if (this.scope.kind === 'group') await this.closeEpoch();
    await this.deps.table.update(
      this.leaseKey,
      { remove: ['lease'] },
      {
        expr: 'lease.holder = :h',
        values: { ':h': this.session },
      },
    );
  }

  /** Stops renewing without sealing: what a crash looks like to the rest of the system. */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.fenced = 'abandoned';
  }
}
