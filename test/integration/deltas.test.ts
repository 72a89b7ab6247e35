import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Topology } from '../../local/stack';
import { groupPartition } from '../../shared/aws/keys';
import { Queue } from '../../shared/aws/queues';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import {
  chunkWriteCounter,
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

describe.each<Topology>(['per-site', 'shared'])('deltas only (%s emulators)', (topology) => {
  let h: Harness;
  let west: ReturnType<typeof chunkWriteCounter>;
  beforeAll(async () => {
    h = await startHarness({ topology });
    west = chunkWriteCounter(h, 'west');
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  it('a sparse volume: the initial sync copies only the chunks that exist', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 256 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    for (const index of [3, 100, 255])
      await gw.write(g.primaries[0], index * CHUNK, randomBytesOf(CHUNK, index));
    await gw.close();
    west.reset();
    const { syncId } = await startSync(h.deps, g.groupId);
    h.runtime?.drive(g.groupId, syncId);
    await waitFor('commit', async () => (await getSync(h.deps, g.groupId, syncId)).state === 'committed');
    const s = await getSync(h.deps, g.groupId, syncId);
    expect(west.count()).toBe(3);
    expect(s.chunksTotal).toBe(3);
    expect(s.bytesCopied).toBe(3 * CHUNK);
    expect(
      (await readAll(h, g.secondaries[0], s.recoveryPointId)).equals(await readAll(h, g.primaries[0])),
    ).toBe(true);
  });

  it('a chunk rewritten 100 times between two RPs is copied once', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 1));
    await syncAndWait(h, g.groupId);
    west.reset();
    for (let i = 0; i < 100; i++) await gw.write(g.primaries[0], 2 * CHUNK + 10, randomBytesOf(500, 100 + i));
    const rp = await syncAndWait(h, g.groupId);
    expect(west.count()).toBe(1);
    expect((await readAll(h, g.secondaries[0], rp)).equals(await readAll(h, g.primaries[0]))).toBe(true);
    // With nothing written since, the next RP copies nothing at all.
    west.reset();
    await syncAndWait(h, g.groupId);
    expect(west.count()).toBe(0);
    await gw.close();
  });
});

describe('change records delivered twice and out of order', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.stop());

  it('duplicates and reordering change nothing', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 32 * CHUNK, chunkSizeBytes: CHUNK }]);
    // Small messages, so the writes below spread over many batches.
    const gw = await openGateway(h, g.primaries[0], { maxRecordsPerMessage: 2, lingerMs: 1 });
    for (let i = 0; i < 40; i++) {
      await gw.write(g.primaries[0], ((i * 7) % 30) * CHUNK + i, randomBytesOf(3000, i));
    }
    await gw.close();
    // Take every message off the change queue, then deliver each twice in reverse order.
    const queue = h.deps.changeQueues.east;
    const bodies: string[] = [];
    for (let i = 0; i < 200 && bodies.length < gw.messagesSent; i++) {
      const got = await queue.receive(10, 0);
      bodies.push(...got.map((m) => m.body));
      await queue.deleteAll(got.map((m) => m.receiptHandle));
    }
    expect(bodies.length).toBe(gw.messagesSent);
    expect(bodies.length).toBeGreaterThan(10);
    const replay = new Queue(h.clients.sites.east.sqs, queue.url);
    await replay.sendAll([...bodies].reverse());
    await replay.sendAll(bodies.filter((_, i) => i % 2 === 0));
    await replay.sendAll(bodies);
    startRuntime(h);
    const stored = () => h.deps.table.queryKeys(groupPartition(g.groupId), 'CHG#', 'CHG#\uffff');
    await waitFor('the replayed messages to be ingested', async () => (await queue.depth()) === 0);
    // One stored item per distinct batch, however many times and in whatever order it came.
    expect((await stored()).length).toBe(bodies.length);
    const rp = await syncAndWait(h, g.groupId);
    expect((await readAll(h, g.secondaries[0], rp)).equals(await readAll(h, g.primaries[0]))).toBe(true);
    expect((await readAll(h, g.primaries[0], rp)).equals(await readAll(h, g.primaries[0]))).toBe(true);
    // The commit consumed them.
    expect((await stored()).length).toBe(0);
  });
});
