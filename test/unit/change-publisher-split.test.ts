import { describe, expect, it } from 'vitest';
import type { Queue } from '../../shared/aws/queues';
import type { ChangeBatch, ChangeRecord } from '../../shared/domain/model';
import { ChangePublisher } from '../../shared/gateway/change-publisher';

/** Stands in for Queue: every send waits until the test accepts it. */
class HeldQueue {
  readonly sent: { batch: ChangeBatch; accept(): void }[] = [];

  send(body: string): Promise<void> {
    return new Promise<void>((resolve) =>
      this.sent.push({ batch: JSON.parse(body) as ChangeBatch, accept: resolve }),
    );
  }
}

const rec = (i: number): ChangeRecord => ({
  pairId: 'pair-aaaaaaaaaaaa',
  volumeId: 'vol-aaaaaaaaaaaa',
  chunk: i,
  versionId: `v${i}`,
  sha256: `s${i}`,
  bytes: 4096,
  seq: i + 1,
});

const publisher = (q: HeldQueue, maxRecords: number) =>
  new ChangePublisher(q as unknown as Queue, 'grp-000000000001', 'gw-000000000001', maxRecords, 10_000);

describe('ChangePublisher: writes larger than one message', () => {
  it('spreads a write over several messages and acknowledges it once all are accepted', async () => {
    const q = new HeldQueue();
    const p = publisher(q, 3);
    let acked = false;
    const write = p.publishAll(0, [0, 1, 2, 3, 4, 5, 6].map(rec)).then(() => {
      acked = true;
    });
    p.flush(0);
    expect(q.sent.map((s) => s.batch.records.map((r) => r.chunk))).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(q.sent.map((s) => s.batch.batch)).toEqual([0, 1, 2]);
    q.sent[0].accept();
    q.sent[2].accept();
    await new Promise((r) => setImmediate(r));
    expect(acked).toBe(false);
    q.sent[1].accept();
    await write;
    expect((await p.drain(0)).batches).toBe(3);
  });

  it('fills the message already open before starting the next one', async () => {
    const q = new HeldQueue();
    const p = publisher(q, 4);
    const a = p.publishAll(1, [rec(0), rec(1)]);
    const b = p.publishAll(1, [rec(2), rec(3), rec(4)]);
    p.flush(1);
    expect(q.sent.map((s) => s.batch.records.length)).toEqual([4, 1]);
    for (const s of q.sent) s.accept();
    await Promise.all([a, b]);
  });

  it('acknowledges a write with no records at once', async () => {
    const q = new HeldQueue();
    const p = publisher(q, 4);
    await p.publishAll(0, []);
    expect(q.sent).toHaveLength(0);
  });
  it('a send refused before it leaves (the lease ended) fails its writes and counts as missing', async () => {
    const q = new HeldQueue();
    const p = new ChangePublisher(q as unknown as Queue, 'grp-000000000001', 'gw-000000000001', 4, 1, () => {
      throw new Error('lease lost');
    });
    const write = p.publishAll(0, [rec(0)]);
    await expect(write).rejects.toThrow('lease lost');
    expect(q.sent).toHaveLength(0);
    expect(await p.drain(0)).toEqual({ batches: 1, missing: [0] });
  });
});
