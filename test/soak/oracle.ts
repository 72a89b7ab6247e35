/**
 * The soak's reference model: what the test itself saw happen, kept apart from the code
 * under test. Times are positions on one logical clock (`Oracle.tick`), taken in program
 * order in this process, so "acknowledged before the sync started" needs no wall clock and
 * owes nothing to the gateway's epoch labels.
 */

export interface WriteRecord {
  id: number;
  volumeId: string;
  offset: number;
  data: Uint8Array;
  /** Taken just before the write was handed to the gateway (a lower bound of the real issue). */
  issuedAt: number;
  /** Taken when the acknowledgement was seen (an upper bound of the real one). */
  ackedAt?: number;
  /** A refused write may still have stored some of its chunks: its bytes are "maybe". */
  failedAt?: number;
  error?: string;
  /**
   * Acknowledged from a write-back buffer (an NBD export): it is stored, and numbered by an
   * epoch, later, so a later write is ordered after it only once it is durable (`durableAt`:
   * a FUA answer, or the answer of a FLUSH issued after its acknowledgement).
   */
  buffered?: boolean;
  durableAt?: number;
  /** The gateway session the write was handed to, and the step that issued it. */
  session: string;
  step: number;
  /** Where the gateway wrote: the site and the role epoch the soak read when it opened it. */
  site?: string;
  roleEpoch?: number;
  /**
   * Written at the old primary after the last RP a forced promotion reverted to: no later
   * image of the volume holds it (the preserved-writes item does).
   */
  discarded?: boolean;
}

export interface SyncRecord {
  syncId: string;
  recoveryPointId: string;
  /** Taken just before startSync: the cut is requested after it. */
  startedAt: number;
  /** Taken when the commit was first seen (an upper bound of the real commit, hence of the cut). */
  committedAt?: number;
  failedAt?: number;
  error?: string;
  /** Primary -> secondary volume of the pairs that stayed members from start to commit. */
  pairs: Map<string, string>;
  /** Primaries whose pair was not in the previous committed RP: their first copy is whole. */
  initialFor: Set<string>;
  /** Start of the previous committed sync, when there was one. */
  previousStart?: number;
  /**
   * A planned role change's final sync: the gateway drained and released its lease before it
   * started, so every write acknowledged before its commit was seen must be in its RP.
   */
  drained?: boolean;
  checked: boolean;
  /** Chunk keys ("primaryId/index") copied to the secondary while this sync ran. */
  copied: Map<string, number>;
}

export interface Violation {
  kind:
    | 'rp-image'
    | 'not-causal'
    | 'acked-missing'
    | 'needless-copy'
    | 'two-writers'
    | 'sync-stuck'
    | 'sync-failed-without-reason'
    | 'rp-unreadable'
    | 'write-stuck'
    | 'role-epoch'
    | 'role-stuck'
    | 'preserved-writes'
    | 'phantom-item'
    | 'sync-leftovers'
    | 'leaked-version';
  step: number;
  detail: string;
}

/** Bytes of the range [offset, offset + length) of a volume. */
interface Span {
  volumeId: string;
  offset: number;
  length: number;
}

const overlaps = (a: Span, b: Span) =>
  a.volumeId === b.volumeId && a.offset < b.offset + b.length && b.offset < a.offset + a.length;

const spanOf = (w: WriteRecord): Span => ({ volumeId: w.volumeId, offset: w.offset, length: w.data.length });

export class Oracle {
  private clock = 0;
  readonly writes: WriteRecord[] = [];
  readonly syncs: SyncRecord[] = [];
  readonly violations: Violation[] = [];
  step = 0;

  tick(): number {
    this.clock += 1;
    return this.clock;
  }

  violation(kind: Violation['kind'], detail: string): void {
    this.violations.push({ kind, step: this.step, detail });
  }

  /**
   * A forced promotion reverted the volumes to an RP whose commit was seen at `after`: every
   * write issued since then is out of every later image.
   */
  discardIssuedAfter(after: number): WriteRecord[] {
    const out = this.writes.filter((w) => w.issuedAt > after && !w.discarded);
    for (const w of out) w.discarded = true;
    return out;
  }

  /**
   * Never two writers: from the log of acknowledged writes with the site and role epoch of
   * their gateway, two gateways at different sites whose acknowledged writes overlap in time
   * (from the first issue to the last acknowledgement) were both writers at once; and no
   * write may be acknowledged under a role epoch lower than one already acknowledged before
   * it was issued (a demoted primary writing on).
   */
  checkWriters(): void {
    const sessions = new Map<string, { site: string; roleEpoch: number; from: number; to: number }>();
    for (const w of this.writes) {
      if (w.ackedAt === undefined || w.site === undefined || w.roleEpoch === undefined) continue;
      const s = sessions.get(w.session);
      if (!s)
        sessions.set(w.session, { site: w.site, roleEpoch: w.roleEpoch, from: w.issuedAt, to: w.ackedAt });
      else {
        s.from = Math.min(s.from, w.issuedAt);
        s.to = Math.max(s.to, w.ackedAt);
      }
    }
    const list = [...sessions.entries()];
    for (const [ida, a] of list)
      for (const [idb, b] of list) {
        if (ida >= idb || a.site === b.site) continue;
        if (a.from < b.to && b.from < a.to) {
          this.violation(
            'two-writers',
            `gateways ${ida} (${a.site}, role epoch ${a.roleEpoch}, acked writes @${a.from}..${a.to}) and ${idb} (${b.site}, role epoch ${b.roleEpoch}, @${b.from}..${b.to}) both acknowledged writes at once`,
          );
          return;
        }
      }
    for (const w of this.writes) {
      if (w.ackedAt === undefined || w.roleEpoch === undefined) continue;
      const newer = this.writes.find(
        (x) => x.ackedAt !== undefined && x.ackedAt < w.issuedAt && (x.roleEpoch ?? 0) > (w.roleEpoch ?? 0),
      );
      if (newer) {
        this.violation(
          'two-writers',
          `write #${w.id} was acknowledged under role epoch ${w.roleEpoch} at ${w.site} after #${newer.id} was acknowledged under role epoch ${newer.roleEpoch} at ${newer.site}`,
        );
        return;
      }
    }
  }

  /** Writes not yet settled that share a byte with the span: a new write waits for them first. */
  inflightOverlapping(span: Span): WriteRecord[] {
    return this.writes.filter(
      (w) => w.ackedAt === undefined && w.failedAt === undefined && overlaps(spanOf(w), span),
    );
  }

  /**
   * Bytes for a new write: `fill` made to differ, at every byte, from the last few values
   * written there, so whether the write is in an image is readable from any byte of it.
   */
  distinctData(volumeId: string, offset: number, fill: Uint8Array): Uint8Array {
    const data = Uint8Array.from(fill);
    const span = { volumeId, offset, length: data.length };
    const earlier = this.writes.filter((w) => overlaps(spanOf(w), span)).slice(-4);
    for (let i = 0; i < data.length; i++) {
      const b = offset + i;
      const avoid = new Set<number>([0]);
      for (const w of earlier)
        if (b >= w.offset && b < w.offset + w.data.length) avoid.add(w.data[b - w.offset]);
      while (avoid.has(data[i])) data[i] = (data[i] + 1) & 0xff;
    }
    return data;
  }

  /**
   * Checks the images of an RP (one per primary) against the writes. Decides which writes
   * the RP holds (the must-in ones, the must-out ones, the rest read from the bytes), then
   * checks causal closure across all volumes and each image byte for byte.
   */
  checkRecoveryPoint(sync: SyncRecord, images: Map<string, Uint8Array>): void {
    const committedAt = sync.committedAt ?? Number.POSITIVE_INFINITY;
    const included = new Set<number>();
    const label = `sync ${sync.syncId} (${sync.recoveryPointId})`;
    for (const [volumeId, image] of images) {
      const candidates = this.writes.filter(
        (w) => w.volumeId === volumeId && w.issuedAt < committedAt && !w.discarded,
      );
      const covered = new Uint8Array(image.length);
      const inHere: WriteRecord[] = [];
      // Bytes of refused writes issued later than the one being decided: they may have landed.
      const failedLater = new Map<number, Set<number>>();
      for (let i = candidates.length - 1; i >= 0; i--) {
        const w = candidates[i];
        if (w.failedAt !== undefined) {
          for (let j = 0; j < w.data.length; j++) {
            const values = failedLater.get(w.offset + j) ?? new Set<number>();
            values.add(w.data[j]);
            failedLater.set(w.offset + j, values);
          }
          continue;
        }
        if (w.data.length === 0) continue;
        let isIn = w.ackedAt !== undefined && w.ackedAt < mustHoldBefore(sync);
        // A later write that overlaps this one was issued after this one was acknowledged.
        if (!isIn && w.ackedAt !== undefined) isIn = inHere.some((x) => overlaps(spanOf(x), spanOf(w)));
        if (!isIn) {
          let uncovered = 0;
          let equal = 0;
          for (let j = 0; j < w.data.length; j++) {
            const b = w.offset + j;
            if (covered[b]) continue;
            if (image[b] !== w.data[j] && failedLater.get(b)?.has(image[b])) continue;
            uncovered++;
            if (image[b] === w.data[j]) equal++;
          }
          isIn = equal > 0 && equal === uncovered;
        }
        if (isIn) {
          included.add(w.id);
          inHere.push(w);
          covered.fill(1, w.offset, w.offset + w.data.length);
        }
      }
      this.compareImage(label, mustHoldBefore(sync), volumeId, image, candidates, included);
    }
    // Write-order consistency across volumes: an included write brings every write acknowledged before it.
    const members = new Set(images.keys());
    const orderedAt = (w: WriteRecord) => (w.buffered ? w.durableAt : w.ackedAt);
    const acked = this.writes.filter(
      (w) => members.has(w.volumeId) && orderedAt(w) !== undefined && w.data.length > 0 && !w.discarded,
    );
    for (const w2 of this.writes) {
      if (!included.has(w2.id)) continue;
      const missing = acked.find((w1) => (orderedAt(w1) ?? 0) < w2.issuedAt && !included.has(w1.id));
      if (missing) {
        this.violation(
          'not-causal',
          `${label}: write #${w2.id} (${describe(w2)}) is in the RP but #${missing.id} (${describe(missing)}), acknowledged before it was issued, is not`,
        );
        return;
      }
    }
  }

  /** The image of the included writes in issue order; a failed write's bytes are allowed where no later included write covered them. */
  private compareImage(
    label: string,
    startedAt: number,
    volumeId: string,
    image: Uint8Array,
    candidates: WriteRecord[],
    included: Set<number>,
  ): void {
    const expected = new Uint8Array(image.length);
    const maybe = new Map<number, number[]>();
    for (const w of candidates) {
      if (included.has(w.id)) {
        expected.set(w.data, w.offset);
        for (let j = 0; j < w.data.length; j++) maybe.delete(w.offset + j);
      } else if (w.failedAt !== undefined) {
        for (let j = 0; j < w.data.length; j++) {
          const b = w.offset + j;
          const list = maybe.get(b) ?? [];
          list.push(w.data[j]);
          maybe.set(b, list);
        }
      }
    }
    for (let b = 0; b < image.length; b++) {
      if (image[b] === expected[b] || maybe.get(b)?.includes(image[b])) continue;
      const lastWriter = [...candidates]
        .reverse()
        .find((w) => b >= w.offset && b < w.offset + w.data.length && w.failedAt === undefined);
      const missing = lastWriter?.ackedAt !== undefined && lastWriter.ackedAt < startedAt;
      this.violation(
        missing ? 'acked-missing' : 'rp-image',
        `${label}: volume ${volumeId} byte ${b} is ${image[b]}, expected ${expected[b]}; last write there #${lastWriter?.id ?? '-'} (${lastWriter ? describe(lastWriter) : 'none'}, ${lastWriter && included.has(lastWriter.id) ? 'included' : 'not included'})`,
      );
      return;
    }
  }

  /**
   * Deltas only: every chunk the sync copied must have been written since the previous RP's
   * sync started (a write not acknowledged before that start may have missed that RP).
   */
  checkCopies(sync: SyncRecord, chunkSize: (volumeId: string) => number): void {
    for (const key of sync.copied.keys()) {
      const [volumeId, index] = key.split('/');
      if (sync.initialFor.has(volumeId)) continue;
      const size = chunkSize(volumeId);
      const chunk = { volumeId, offset: Number(index) * size, length: size };
      const since = sync.previousStart ?? 0;
      const written = this.writes.some(
        (w) =>
          w.data.length > 0 && overlaps(spanOf(w), chunk) && (w.ackedAt === undefined || w.ackedAt > since),
      );
      if (!written) {
        this.violation(
          'needless-copy',
          `sync ${sync.syncId}: chunk ${index} of ${volumeId} was copied ${sync.copied.get(key)} time(s) but not written since the previous RP's sync started`,
        );
        return;
      }
    }
  }
}

/** Writes acknowledged before this tick must be in the sync's RP. */
function mustHoldBefore(sync: SyncRecord): number {
  return sync.drained ? (sync.committedAt ?? sync.startedAt) : sync.startedAt;
}

function describe(w: WriteRecord): string {
  const state =
    w.ackedAt !== undefined ? `acked@${w.ackedAt}` : w.failedAt !== undefined ? 'failed' : 'in flight';
  return `${w.volumeId}[${w.offset}+${w.data.length}] issued@${w.issuedAt} at step ${w.step} ${state}`;
}
