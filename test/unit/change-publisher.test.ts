import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Queue } from '../../shared/aws/queues';
import type { ChangeBatch, ChangeRecord } from '../../shared/domain/model';
import { ChangePublisher } from '../../shared/gateway/change-publisher';

interface Call {
  batch: ChangeBatch;
  resolve(): void;
  reject(e: unknown): void;
}

/** Stands in for Queue: records every body; sends succeed at once unless held or failed. */
class FakeQueue {
  readonly calls: Call[] = [];
  hold = false;
  failBatches = new Set<string>();

  send(body: string): Promise<void> {
    const batch = JSON.parse(body) as ChangeBatch;
    return new Promise<void>((resolve, reject) => {
      this.calls.push({ batch, resolve, reject });
      if (this.failBatches.has(`${batch.epoch}/${batch.batch}`))
        reject(new Error(`SQS refused ${batch.batch}`));
      else if (!this.hold) resolve();
    });
  }

  get batches(): ChangeBatch[] {
    return this.calls.map((c) => c.batch);
  }
}

function rec(i: number, tag = ''): ChangeRecord {
  return {
    pairId: 'pair-aaaaaaaaaaaa',
    volumeId: 'vol-aaaaaaaaaaaa',
    chunk: i,
    versionId: `v${tag}${i}`,
    sha256: `s${i}`,
    bytes: 4096,
    seq: i,
  };
}

function publisher(q: FakeQueue, maxRecords: number, lingerMs: number): ChangePublisher {
  return new ChangePublisher(
    q as unknown as Queue,
    'grp-000000000001',
    'gw-000000000001',
    maxRecords,
    lingerMs,
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tracks whether a promise has settled, without leaving a rejection unhandled. */
function track(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => {
      t.state = 'resolved';
    },
    (e) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

describe('ChangePublisher', () => {
  it('batches records of one epoch into one message after the linger time', async () => {
    const q = new FakeQueue();
    const pub = publisher(q, 10, 5);
    const promises = [0, 1, 2].map((i) => pub.publish(4, rec(i)));
    expect(q.calls).toHaveLength(0);
    await Promise.all(promises);
    expect(q.batches).toEqual([
      {
        groupId: 'grp-000000000001',
        session: 'gw-000000000001',
        epoch: 4,
        batch: 0,
        records: [rec(0), rec(1), rec(2)],
      },
    ]);
    expect(pub.sentMessages).toBe(1);
  });

  it('starts a new message once maxRecords is reached, without waiting for the linger time', async () => {
    const q = new FakeQueue();
    const pub = publisher(q, 3, 5);
    const promises: Promise<void>[] = [];
    for (let i = 0; i < 3; i++) promises.push(pub.publish(1, rec(i)));
    expect(q.calls).toHaveLength(1);
    for (let i = 3; i < 7; i++) promises.push(pub.publish(1, rec(i)));
    expect(q.calls).toHaveLength(2);
    await Promise.all(promises);
    expect(q.batches.map((b) => [b.batch, b.records.map((r) => r.chunk)])).toEqual([
      [0, [0, 1, 2]],
      [1, [3, 4, 5]],
      [2, [6]],
    ]);
    expect(pub.sentMessages).toBe(3);
    expect(await pub.drain(1)).toEqual({ batches: 3, missing: [] });
  });

  it('maxRecords 1 sends one message per record', async () => {
    const q = new FakeQueue();
    const pub = publisher(q, 1, 1000);
    await Promise.all([0, 1, 2].map((i) => pub.publish(2, rec(i))));
    expect(q.batches.map((b) => b.records.length)).toEqual([1, 1, 1]);
    expect(await pub.drain(2)).toEqual({ batches: 3, missing: [] });
  });

  it('never puts records of different epochs in one message', async () => {
    const q = new FakeQueue();
    const pub = publisher(q, 10, 5);
    const promises = [
      pub.publish(1, rec(0, 'e1-')),
      pub.publish(2, rec(1, 'e2-')),
      pub.publish(1, rec(2, 'e1-')),
      pub.publish(2, rec(3, 'e2-')),
    ];
    await Promise.all(promises);
    expect(q.calls).toHaveLength(2);
    const byEpoch = Object.fromEntries(q.batches.map((b) => [b.epoch, b]));
    expect(byEpoch[1].records.map((r) => r.versionId)).toEqual(['ve1-0', 've1-2']);
    expect(byEpoch[2].records.map((r) => r.versionId)).toEqual(['ve2-1', 've2-3']);
    expect(byEpoch[1].batch).toBe(0);
    expect(byEpoch[2].batch).toBe(0);
  });

  it("resolves a record's promise only after its message was sent", async () => {
    const q = new FakeQueue();
    q.hold = true;
    const pub = publisher(q, 10, 5);
    const t = track(pub.publish(1, rec(0)));
    await sleep(25);
    expect(q.calls).toHaveLength(1);
    expect(t.state).toBe('pending');
    expect(pub.sentMessages).toBe(0);
    q.calls[0].resolve();
    await sleep(0);
    expect(t.state).toBe('resolved');
    expect(pub.sentMessages).toBe(1);
  });

  it('a record that fills a message waits for that send, not only for the flush', async () => {
    const q = new FakeQueue();
    q.hold = true;
    const pub = publisher(q, 2, 1000);
    const a = track(pub.publish(1, rec(0)));
    const b = track(pub.publish(1, rec(1)));
    await sleep(5);
    expect(q.calls).toHaveLength(1);
    expect([a.state, b.state]).toEqual(['pending', 'pending']);
    q.calls[0].resolve();
    await sleep(0);
    expect([a.state, b.state]).toEqual(['resolved', 'resolved']);
  });

  it('drain(epoch) sends what is buffered at once and waits for the sends in flight', async () => {
    const q = new FakeQueue();
    q.hold = true;
    const pub = publisher(q, 10, 60_000);
    const r = track(pub.publish(3, rec(0)));
    const other = track(pub.publish(4, rec(1)));
    let tally: unknown;
    const drained = pub.drain(3).then((t) => {
      tally = t;
    });
    // Flushed without waiting for the linger, and only epoch 3.
    expect(q.batches.map((b) => b.epoch)).toEqual([3]);
    await sleep(5);
    expect(tally).toBeUndefined();
    expect(r.state).toBe('pending');
    q.calls[0].resolve();
    await drained;
    expect(tally).toEqual({ batches: 1, missing: [] });
    expect(r.state).toBe('resolved');
    expect(other.state).toBe('pending');
    const d4 = pub.drain(4);
    expect(q.batches.map((b) => b.epoch)).toEqual([3, 4]);
    q.calls[1].resolve();
    expect(await d4).toEqual({ batches: 1, missing: [] });
    expect(other.state).toBe('resolved');
  });

  it('drain of an epoch that published nothing reports no batches', async () => {
    const q = new FakeQueue();
    const pub = publisher(q, 10, 5);
    expect(await pub.drain(9)).toEqual({ batches: 0, missing: [] });
    expect(q.calls).toHaveLength(0);
  });

  it('a failed send rejects its records, spares the others, and is listed in missing', async () => {
    const q = new FakeQueue();
    q.failBatches.add('7/1');
    const pub = publisher(q, 2, 5);
    const tracked = [0, 1, 2, 3, 4].map((i) => track(pub.publish(7, rec(i))));
    const tally = await pub.drain(7);
    await sleep(0);
    expect(tally).toEqual({ batches: 3, missing: [1] });
    expect(tracked.map((t) => t.state)).toEqual(['resolved', 'resolved', 'rejected', 'rejected', 'resolved']);
    expect(String(tracked[2].error)).toContain('SQS refused 1');
    expect(pub.sentMessages).toBe(2);
  });

  it('reports every failed batch of an epoch and none of another epoch', async () => {
    const q = new FakeQueue();
    q.failBatches.add('1/0');
    q.failBatches.add('1/2');
    const pub = publisher(q, 1, 5);
    const e1 = [0, 1, 2].map((i) => track(pub.publish(1, rec(i))));
    const e2 = [3, 4].map((i) => track(pub.publish(2, rec(i))));
    expect(await pub.drain(1)).toEqual({ batches: 3, missing: [0, 2] });
    expect(await pub.drain(2)).toEqual({ batches: 2, missing: [] });
    await sleep(0);
    expect(e1.map((t) => t.state)).toEqual(['rejected', 'resolved', 'rejected']);
    expect(e2.map((t) => t.state)).toEqual(['resolved', 'resolved']);
  });

  it('per epoch: messages hold one epoch, at most maxRecords, in publish order, numbered 0..n-1 (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 40 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { maxLength: 3 }),
        async (maxRecords, epochs, failAt) => {
          const q = new FakeQueue();
          // A long linger: only maxRecords and drain flush, so the run needs no timers.
          const pub = publisher(q, maxRecords, 60_000);
          for (const f of failAt) q.failBatches.add(`${1 + (f % 3)}/${Math.floor(f / 3)}`);
          const outcomes = epochs.map((e, i) => ({ epoch: e, t: track(pub.publish(e, rec(i, `e${e}-`))) }));
          for (const epoch of [1, 2, 3]) {
            const tally = await pub.drain(epoch);
            const mine = q.batches.filter((b) => b.epoch === epoch);
            expect(tally.batches).toBe(mine.length);
            expect(mine.map((b) => b.batch)).toEqual(mine.map((_, i) => i));
            const expectedMissing = mine
              .filter((b) => q.failBatches.has(`${epoch}/${b.batch}`))
              .map((b) => b.batch);
            expect(tally.missing).toEqual(expectedMissing);
            for (const b of mine) {
              expect(b.records.length).toBeGreaterThan(0);
              expect(b.records.length).toBeLessThanOrEqual(maxRecords);
              for (const r of b.records) expect(r.versionId.startsWith(`ve${epoch}-`)).toBe(true);
            }
            const published = epochs.flatMap((e, i) => (e === epoch ? [i] : []));
            expect(mine.flatMap((b) => b.records.map((r) => r.chunk))).toEqual(published);
            // All but the last message of an epoch are full.
            for (const b of mine.slice(0, -1)) expect(b.records.length).toBe(maxRecords);
          }
          await sleep(0);
          // A record's promise resolves iff its message was sent.
          const failed = new Set(
            q.batches
              .filter((b) => q.failBatches.has(`${b.epoch}/${b.batch}`))
              .flatMap((b) => b.records.map((r) => r.chunk)),
          );
          outcomes.forEach(({ t }, i) => {
            expect(t.state).toBe(failed.has(i) ? 'rejected' : 'resolved');
          });
          expect(pub.sentMessages).toBe(
            q.calls.length - q.batches.filter((b) => q.failBatches.has(`${b.epoch}/${b.batch}`)).length,
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
