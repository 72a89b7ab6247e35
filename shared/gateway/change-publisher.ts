import type { Queue } from '../aws/queues';
import type { ChangeBatch, ChangeRecord } from '../domain/model';

interface Pending {
  records: ChangeRecord[];
  waiters: { resolve(): void; reject(e: unknown): void }[];
  timer?: NodeJS.Timeout;
}

export interface EpochTally {
  /** Batch numbers handed out for the epoch: 0 .. batches-1. */
  batches: number;
  /** Batch numbers whose publish failed: their writes were never acknowledged. */
  missing: number[];
}

/**
 * Batches change records into SQS messages, one stream per epoch. A record's promise
 * resolves once the message holding it is accepted by SQS; only then is its write acked.
 */
export class ChangePublisher {
  private readonly pending = new Map<number, Pending>();
  private readonly inflight = new Map<number, Set<Promise<void>>>();
  private readonly tallies = new Map<number, EpochTally>();
  sentMessages = 0;

  constructor(
    private readonly queue: Queue,
    private readonly groupId: string,
    private readonly session: string,
    private readonly maxRecords: number,
    private readonly lingerMs: number,
    /** The signal each send carries: it fires when the writer's lease ends. */
    private readonly fence: () => AbortSignal = () => new AbortController().signal,
  ) {}

  publish(epoch: number, record: ChangeRecord): Promise<void> {
    return this.publishAll(epoch, [record]);
  }

  /**
   * Buffers the records of one write. They go out when the buffer is full, when the writer
   * calls flush (no other write of the epoch is about to add records: group commit), or
   * after lingerMs at the latest. A write with more records than one message holds is
   * spread over several; it is acknowledged once all of them are accepted.
   */
  publishAll(epoch: number, records: ChangeRecord[]): Promise<void> {
    const sent: Promise<void>[] = [];
    let rest = records;
    while (rest.length > 0) {
      let p = this.pending.get(epoch);
      if (!p) {
        p = { records: [], waiters: [] };
        this.pending.set(epoch, p);
      }
      const buffer = p;
      const room = this.maxRecords - buffer.records.length;
      buffer.records.push(...rest.slice(0, room));
      rest = rest.slice(room);
      sent.push(new Promise<void>((resolve, reject) => buffer.waiters.push({ resolve, reject })));
      if (buffer.records.length >= this.maxRecords) this.flush(epoch);
      else buffer.timer ??= setTimeout(() => this.flush(epoch), this.lingerMs);
    }
    return Promise.all(sent).then(() => undefined);
  }

  /** Sends what is buffered for an epoch and waits for every send of that epoch. */
  async drain(epoch: number): Promise<EpochTally> {
    this.flush(epoch);
    await Promise.allSettled([...(this.inflight.get(epoch) ?? [])]);
    this.inflight.delete(epoch);
    const tally = this.tallies.get(epoch) ?? { batches: 0, missing: [] };
    this.tallies.delete(epoch);
    return tally;
  }

  /** Sends under the writer's lease: refused at once (never sent) when the lease has ended. */
  private sendFenced(body: string): Promise<void> {
    try {
      const signal = this.fence();
      return signal.aborted ? Promise.reject(signal.reason) : this.queue.send(body, signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  flushAll(): void {
    for (const epoch of [...this.pending.keys()]) this.flush(epoch);
  }

  flush(epoch: number): void {
    const p = this.pending.get(epoch);
    if (!p || p.records.length === 0) return;
    this.pending.delete(epoch);
    if (p.timer) clearTimeout(p.timer);
    const tally = this.tallies.get(epoch) ?? { batches: 0, missing: [] };
    this.tallies.set(epoch, tally);
    const batch: ChangeBatch = {
      groupId: this.groupId,
      session: this.session,
      epoch,
      batch: tally.batches++,
      records: p.records,
    };
    const send = this.sendFenced(JSON.stringify(batch)).then(
      () => {
        this.sentMessages++;
        for (const w of p.waiters) w.resolve();
      },
      (e) => {
        tally.missing.push(batch.batch);
        for (const w of p.waiters) w.reject(e);
      },
    );
    let set = this.inflight.get(epoch);
    if (!set) {
      set = new Set();
      this.inflight.set(epoch, set);
    }
    set.add(send);
  }
}
