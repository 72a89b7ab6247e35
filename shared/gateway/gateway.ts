import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { isWholeChunk, spansOf, storedBody } from '../domain/chunks';
import { conflict, DomainError } from '../domain/errors';
import { canTakeOver, type Fencing, fencing, scanManifestKey } from '../domain/fencing';
import { newId } from '../domain/ids';
import type { Barrier, ChangeRecord, Group, Pair, Volume } from '../domain/model';
import { isRoleChange } from '../domain/roles';
import { LINGER_MS, RECORDS_PER_MESSAGE } from '../tuning';
import { baseChunkReader } from '../usecases/clones';
import { loadVolume } from '../usecases/volumes';
import { ChangePublisher } from './change-publisher';

export interface GatewayOptions {
  /** How often the lease is renewed, which is also how soon a requested cut is seen. */
  renewEveryMs?: number;
  maxRecordsPerMessage?: number;
  lingerMs?: number;
  /**
   * Awaited when a cut starts, before the epoch is reserved: a writer that acknowledges writes
   * before handing them to the gateway (a write-back buffer) hands over every one it has
   * acknowledged, so the cut includes them. A failure leaves the epoch open; the cut is retried.
   */
  beforeCut?: () => Promise<void>;
}

export const leaseLost = (why: string) => new DomainError(409, 'lease-lost', `write lease lost: ${why}`);
export const gatewayClosed = () =>
  new DomainError(409, 'gateway-closed', 'the gateway was closed: open a new one to write');

/** Whether the group's cut request has its answer (a scan request needs a scanned one). */
const cutAnswered = (g: Group) =>
  g.cutDone?.syncId === g.cutRequest && (!g.cutRequestScan || g.cutDone?.scan !== undefined);

const ROLE_STATUS_VALUES = {
  ':rp': 'role-change-pending',
  ':rip': 'role-change-in-progress',
  ':rc': 'role-conflict',
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One signal is shared by every request in flight under the lease, each adding a listener. */
function leaseController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

/**
 * The writer of a group's primary volumes. It holds the group's write lease, numbers writes
 * by epoch, publishes change records, and closes epochs on request without pausing I/O.
 * A volume outside any group is written under a lease of its own, with no change records.
 */
export class Gateway {
  readonly session = newId('gw');
  private epoch = 0;
  /** The group's member list version this gateway's volumes and pair ids come from. */
  private membersVersion = 0;
  private readonly fence: Fencing;
  private readonly inflight = new Map<number, Set<Promise<void>>>();
  private readonly chunkTails = new Map<string, Promise<unknown>>();
  private readonly seq = new Map<string, number>();
  /** Writes per epoch whose chunks are still being stored. */
  private readonly unpublished = new Map<number, number>();
  private volumes = new Map<string, Volume>();
  private pairIds = new Map<string, string>();
  private publisher?: ChangePublisher;
  private validUntil = 0;
  /** Aborts every S3/SQS request in flight when validUntil passes or the lease is lost. */
  private leaseAbort = leaseController();
  private leaseTimer?: NodeJS.Timeout;
  private timer?: NodeJS.Timeout;
  private fenced?: string;
  /** close() was called: new writes are refused. */
  private closed = false;
  /** Why writes are refused when the group closed this gateway (a role change), not its user. */
  private refusal?: DomainError;
  private closing?: Promise<void>;
  /** The lease was given back: nothing is renewed any more. */
  private released = false;
  private renewing?: Promise<void>;
  /** The cut being answered, in the background of renewals: one at a time. */
  private cutting?: Promise<void>;
  /** Set while a quiesced cut runs: new writes wait for it. */
  private hold?: Promise<void>;
  chunkWrites = 0;
  /** An RP clone's content where it never wrote: a partial chunk write merges into it. */
  private readonly baseChunk?: ReturnType<typeof baseChunkReader>;

  private constructor(
    private readonly deps: Deps,
    private readonly scope: { kind: 'group'; group: Group } | { kind: 'volume'; volume: Volume },
    private readonly opts: Required<Omit<GatewayOptions, 'beforeCut'>> & Pick<GatewayOptions, 'beforeCut'>,
  ) {
    this.fence = fencing(deps.config.leaseSeconds);
    if (scope.kind === 'volume' && scope.volume.base) this.baseChunk = baseChunkReader(deps, scope.volume);
  }

  /** Opens a gateway for the group of `volumeId` (or the volume alone when it has no group). */
  static async open(deps: Deps, volumeId: string, options: GatewayOptions = {}): Promise<Gateway> {
    const volume = await loadVolume(deps, volumeId);
    const opts = {
      renewEveryMs: options.renewEveryMs ?? Math.max(200, (deps.config.leaseSeconds * 1000) / 5),
      maxRecordsPerMessage: options.maxRecordsPerMessage ?? RECORDS_PER_MESSAGE,
      lingerMs: options.lingerMs ?? LINGER_MS,
      beforeCut: options.beforeCut,
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

  /** The validity of a lease granted by a request sent after the clock read `sentAt`. */
  private validFrom(sentAt: number): number {
    return sentAt + this.fence.leaseMs - this.fence.marginMs;
  }

  private async acquire(): Promise<void> {
    // Read before the request is sent: the lease can only have been granted later than this.
    const now = this.deps.now();
    const lease = { holder: this.session, expiresAt: now + this.fence.leaseMs };
    const stale = now - this.fence.takeoverDelayMs;
    if (this.scope.kind === 'volume') {
      const ok = await this.deps.table.update(
        keys.volume(this.scope.volume.id),
        { set: { lease } },
        {
          expr: 'attribute_exists(pk) AND attribute_not_exists(groupId) AND (attribute_not_exists(lease) OR lease.expiresAt < :stale)',
          values: { ':stale': stale },
        },
      );
      if (!ok)
        throw conflict(`volume ${this.scope.volume.id} is being written by another gateway`, 'lease-held');
      this.volumes.set(this.scope.volume.id, this.scope.volume);
      this.extendLease(this.validFrom(now));
      return;
    }
    const g = this.scope.group;
    if (g.status === 'failed' || isRoleChange(g.status)) {
      throw conflict(`group ${g.id} is ${g.status}: writes are not accepted`, 'wrong-state');
    }
    const taken = () => conflict(`group ${g.id} is being written by another gateway`, 'lease-held');
    if (!canTakeOver(g.lease, now, this.fence)) throw taken();
    // A lease that was not released belonged to a writer that stopped: its epochs may stay
    // open, and the table's epoch is at least the highest it used, so start after it.
    const crashed = g.lease !== undefined;
    const startEpoch = crashed ? g.epoch + 1 : g.epoch;
    const updated = await this.deps.table.update<Group>(
      keys.group(g.id),
      { set: { lease: { ...lease, startEpoch }, epoch: startEpoch } },
      {
        expr: `#e = :e AND roleEpoch = :re AND primarySite = :site AND NOT (#s IN (:rp, :rip, :rc)) AND ${crashed ? 'lease.expiresAt < :stale' : 'attribute_not_exists(lease)'}`,
        names: { '#e': 'epoch', '#s': 'status' },
        values: {
          ':e': g.epoch,
          ':re': g.roleEpoch,
          ':site': g.primarySite,
          ':stale': stale,
          ...ROLE_STATUS_VALUES,
        },
      },
    );
    if (!updated) throw taken();
    this.scope.group = updated;
    this.epoch = startEpoch;
    this.extendLease(this.validFrom(now));
    this.publisher = new ChangePublisher(
      this.deps.changeQueues[g.primarySite],
      g.id,
      this.session,
      this.opts.maxRecordsPerMessage,
      this.opts.lingerMs,
      () => this.requestSignal(),
    );
    await this.loadMembers(updated);
  }

  /** The group's pairs as of `group.membersVersion`: the volumes this gateway may write. */
  private async loadMembers(group: Group): Promise<void> {
    const volumes = new Map<string, Volume>();
    const pairIds = new Map<string, string>();
    for (const pair of await this.deps.table.queryPrefix<Pair>(`GRP#${group.id}`, 'PAIR#')) {
      volumes.set(pair.primaryVolumeId, await loadVolume(this.deps, pair.primaryVolumeId));
      pairIds.set(pair.primaryVolumeId, pair.id);
    }
    this.volumes = volumes;
    this.pairIds = pairIds;
    this.membersVersion = group.membersVersion ?? 0;
  }

  private renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    if (this.fenced || this.released) return;
    try {
      if (this.scope.kind === 'volume') {
        const now = this.deps.now();
        const ok = await this.deps.table.update(
          this.leaseKey,
          { set: { 'lease.expiresAt': now + this.fence.leaseMs } },
          { expr: 'lease.holder = :h', values: { ':h': this.session } },
        );
        if (!ok) this.loseLease('another gateway took the volume');
        else this.extendLease(this.validFrom(now));
        return;
      }
      // A moved member list fails the renewal: reload it, then renew under the new version.
      for (let attempt = 0; attempt < 3; attempt++) {
        const now = this.deps.now();
        const g = await this.renewGroupLease(this.scope.group, now);
        if (g) {
          this.extendLease(this.validFrom(now));
          if (g.status === 'role-change-pending' && !this.closed) {
            // A planned role change: drain, seal the epoch and give the lease back.
            this.refusal = conflict(
              `group ${g.id} is changing roles: this site no longer takes writes`,
              'role-change',
            );
            void this.close().catch(() => undefined);
            return;
          }
          if (g.cutRequest && !cutAnswered(g) && !this.closed && !this.cutting) {
            const syncId = g.cutRequest;
            // In the background: renewals go on while the cut waits for in-flight writes.
            this.cutting = this.closeEpoch({ syncId, scan: g.cutRequestScan === true })
              .then(
                () => undefined,
                () => undefined,
              )
              .finally(() => {
                this.cutting = undefined;
              });
          }
          return;
        }
        const current = await this.deps.table.get<Group>(keys.group(this.scope.group.id));
        if (
          !current ||
          current.lease?.holder !== this.session ||
          current.roleEpoch !== this.scope.group.roleEpoch ||
          current.status === 'role-change-in-progress' ||
          current.status === 'role-conflict'
        ) {
          this.loseLease('the lease was taken over or the role epoch changed');
          return;
        }
        await this.loadMembers(current);
      }
    } catch {
      // A failed renewal is retried on the next tick; writes stop once validUntil passes.
    }
  }

  /** Renews under the role epoch and member list this gateway knows: null when either moved or the lease is gone. */
  private renewGroupLease(group: Group, now: number): Promise<Group | null> {
    // A group made before membersVersion existed has none: that is version 0.
    const members =
      this.membersVersion === 0
        ? '(attribute_not_exists(membersVersion) OR membersVersion = :mv)'
        : 'membersVersion = :mv';
    return this.deps.table.update<Group>(
      keys.group(group.id),
      { set: { 'lease.expiresAt': now + this.fence.leaseMs } },
      {
        // A role change past its pending state (a flip, a forced promotion) renews no lease.
        expr: `lease.holder = :h AND roleEpoch = :re AND ${members} AND NOT (#s IN (:rip, :rc))`,
        names: { '#s': 'status' },
        values: {
          ':h': this.session,
          ':re': group.roleEpoch,
          ':mv': this.membersVersion,
          ...ROLE_STATUS_VALUES,
        },
      },
    );
  }

  /** Throws unless a write acknowledged now could still be stored under this gateway's lease. */
  assertWritable(): void {
    if (this.closed) throw gatewayClosed();
    this.checkLease();
  }

  private checkLease(): void {
    if (this.fenced) throw leaseLost(this.fenced);
    if (this.deps.now() >= this.validUntil) throw leaseLost('it could not be renewed in time');
  }

  /** A request that failed because the lease ended (aborted at validUntil) fails as lease-lost. */
  private explain(e: unknown): unknown {
    if (e instanceof DomainError) return e;
    try {
      this.checkLease();
      return e;
    } catch (lost) {
      return lost;
    }
  }

  /**
   * The abort signal of one S3/SQS request: it fires when validUntil passes without a
   * renewal (or the lease is lost), so neither the request nor the SDK's retries of it
   * outlive the lease, while a slow request under a renewed lease goes on. Throws past validUntil.
   */
  private requestSignal(): AbortSignal {
    this.checkLease();
    return this.leaseAbort.signal;
  }

  /** A lease granted until `validUntil`: re-arms the abort of the requests in flight. */
  private extendLease(validUntil: number): void {
    if (validUntil <= this.validUntil) return;
    this.validUntil = validUntil;
    if (this.leaseAbort.signal.aborted) this.leaseAbort = leaseController();
    const controller = this.leaseAbort;
    clearTimeout(this.leaseTimer);
    this.leaseTimer = setTimeout(
      () => controller.abort(leaseLost('it could not be renewed in time')),
      Math.max(0, validUntil - this.deps.now()),
    );
    this.leaseTimer.unref();
  }

  /** Another writer or role owns the group now: stop, and abort what is in flight. */
  private loseLease(why: string): void {
    this.fenced = why;
    clearTimeout(this.leaseTimer);
    this.leaseAbort.abort(leaseLost(why));
  }

  /**
   * Writes bytes at an offset; resolves once every touched chunk is stored and its record
   * published. `onStored` runs when the chunks are stored, before their records may wait for
   * others to fill a message: a writer that bounds its stores in flight frees a slot there.
   */
  write(volumeId: string, offset: number, data: Uint8Array, onStored?: () => void): Promise<void> {
    if (this.refusal) return Promise.reject(this.refusal);
    if (this.closed) return Promise.reject(gatewayClosed());
    const volume = this.volumes.get(volumeId);
    if (!volume) {
      return Promise.reject(
        conflict(
          `volume ${volumeId} is not written by this gateway (not a primary of its group)`,
          'not-in-scope',
        ),
      );
    }
    if (data.length === 0) return Promise.resolve();
    // A quiesced cut is listing the volumes: writes issued meanwhile belong after it.
    if (this.hold) return this.hold.then(() => this.write(volumeId, offset, data, onStored));
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
        const store = this.deps.stores[volume.site];
        let body: Uint8Array;
        const slice = data.subarray(span.dataOffset, span.dataOffset + span.length);
        if (isWholeChunk(span, volume.chunkSizeBytes)) {
          body = slice;
        } else {
          const current =
            (await store.getChunk(volumeId, span.index, undefined, this.requestSignal())) ??
            (await this.baseChunk?.(span.index, this.requestSignal()));
          body = new Uint8Array(volume.chunkSizeBytes);
          if (current) body.set(current.subarray(0, volume.chunkSizeBytes));
          body.set(slice, span.start);
        }
        body = storedBody(body);
        const versionId = await store.putChunk(volumeId, span.index, body, this.requestSignal());
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
          // After the hand-over, so that a publishNow from the callback sends these records too.
          onStored?.();
          return published;
        },
        (e) => {
          handedOver();
          throw e;
        },
      )
      .then(
        () => this.checkLease(),
        (e) => {
          throw this.explain(e);
        },
      );
    this.track(epoch, done);
    return done;
  }

  /** Sends every buffered change record now: someone waits for them (a FLUSH). */
  publishNow(): void {
    this.publisher?.flushAll();
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

  private allInflight(): Promise<unknown> {
    return Promise.all([...this.inflight.values()].flatMap((s) => [...s]));
  }

  /**
   * Closes the open epoch E. E+1 is reserved in the table first (conditional on the lease),
   * and only then do new writes go to E+1, so no writer ever uses an epoch the table has
   * not handed out. When E's writes are acknowledged and its records sent, the barrier is
   * written, then the answer to the sync's cut request. A quiesced (scan) cut holds the
   * writes of E+1 from the switch until every volume's scan manifest is written.
   */
  private async closeEpoch(cut: { syncId?: string; scan?: boolean }): Promise<number> {
    if (this.scope.kind !== 'group' || !this.publisher) return this.epoch;
    const publisher = this.publisher;
    const g = this.scope.group;
    let release: (() => void) | undefined;
    try {
      // The cut's time is read before the hook: whatever was acknowledged before it is in E.
      const at = isoNow(this.deps);
      if (this.opts.beforeCut) await this.opts.beforeCut();
      const e = this.epoch;
      const reserved = await this.deps.table.update<Group>(
        keys.group(g.id),
        { set: { epoch: e + 1 } },
        {
          expr: 'lease.holder = :h AND #e = :e AND roleEpoch = :re',
          names: { '#e': 'epoch' },
          values: { ':h': this.session, ':e': e, ':re': g.roleEpoch },
        },
      );
      if (!reserved) {
        const why = 'the lease was taken over while closing an epoch';
        this.loseLease(why);
        throw leaseLost(why);
      }
      // Switching and holding at the same instant: a held write is one of E+1, as its issuer saw.
      this.epoch = e + 1;
      if (cut.scan) {
        this.hold = new Promise<void>((r) => {
          release = r;
        });
      }
      await Promise.all([...(this.inflight.get(e) ?? [])]);
      this.inflight.delete(e);
      const tally = await publisher.drain(e);
      const barrier: Barrier = {
        epoch: e,
        session: this.session,
        batches: tally.batches,
        missing: tally.missing,
        sealedAt: isoNow(this.deps),
      };
      await this.untilLands('the barrier', () => this.deps.table.put(keys.barrier(g.id, e), barrier));
      if (!cut.syncId) return e;
      const syncId = cut.syncId;
      let scan: Record<string, string> | undefined;
      if (cut.scan) {
        scan = {};
        for (const [volumeId, volume] of this.volumes) {
          const key = scanManifestKey(g.id, syncId, volumeId);
          const store = this.deps.stores[volume.site];
          await this.untilLands('a scan manifest', () => {
            const signal = this.requestSignal();
            return store.writeManifest(key, store.listChunks(volumeId, signal), signal);
          });
          scan[volumeId] = key;
        }
      }
      const answered = await this.untilLands('the cut answer', () =>
        this.deps.table.update<Group>(
          keys.group(g.id),
          { set: { cutDone: { syncId, epoch: e, at, ...(scan && { scan }) } } },
          {
            expr: 'lease.holder = :h AND cutRequest = :s',
            values: { ':h': this.session, ':s': syncId },
          },
        ),
      );
      if (!answered) throw leaseLost('the cut request was withdrawn or the lease taken over');
      return e;
    } finally {
      this.hold = undefined;
      release?.();
    }
  }

  /** Retries a control-table or manifest write with backoff until it lands or the lease ends. */
  private async untilLands<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    for (let i = 0; ; i++) {
      this.checkLease();
      try {
        return await attempt();
      } catch {
        if (this.fenced || this.deps.now() >= this.validUntil)
          throw leaseLost(`${what} could not be written while the lease was valid`);
        await sleep(Math.min(1000, 25 * 2 ** Math.min(i, 6)));
      }
    }
  }

  /** Refuses new writes, seals the open epoch and releases the lease; the next writer starts cleanly. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    // Renewals go on meanwhile, so draining slow writes does not cost the lease.
    await this.allInflight();
    await this.cutting;
    try {
      if (this.fenced) return;
      if (this.scope.kind === 'group') await this.closeEpoch({});
      await this.stopRenewing();
      await this.deps.table.update(
        this.leaseKey,
        { remove: ['lease'] },
        {
          expr: 'lease.holder = :h',
          values: { ':h': this.session },
        },
      );
    } finally {
      await this.stopRenewing();
    }
  }

  private async stopRenewing(): Promise<void> {
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    clearTimeout(this.leaseTimer);
    await this.renewing;
  }

  /** Stops renewing without sealing: what a crash looks like to the rest of the system. */
  abandon(): void {
    if (this.timer) clearInterval(this.timer);
    this.fenced = 'abandoned';
  }
}
