import { afterEach, describe, expect, it } from 'vitest';
import type { IngestStopPoint } from '../../local/runtime';
import { keys } from '../../shared/aws/keys';
import type { QueueMessage } from '../../shared/aws/queues';
import { getGroup } from '../../shared/usecases/groups';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import {
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

interface DriverLease {
  driver?: { holder: string; expiresAt: number };
}

describe('local runtime kill hooks', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('an ingest worker killed before handling or before deleting loses no change record and stores none twice', async () => {
    h = await startHarness();
    const harness = h;
    let killAt: IngestStopPoint | undefined = 'before-handle';
    const received: QueueMessage[] = [];
    const runtime = startRuntime(harness, {
      scheduler: false,
      shouldStopIngest: (point, messages) => {
        if (point !== killAt) return false;
        received.push(...messages);
        return true;
      },
    });
    const queue = harness.deps.changeQueues.east;
    // The messages a killed worker held come back once their visibility timeout runs out; made visible at once here.
    const expireVisibility = async () => {
      for (const m of received.splice(0)) await queue.release(m.receiptHandle, 0);
    };
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 3));
    await gw.close();
    const backlog = async () => (await getGroup(harness.deps, g.groupId)).backlogBytes;

    await waitFor('an ingest worker killed before handling', async () => received.length > 0);
    expect(runtime.ingestWorkersAlive).toBeLessThan(4);
    expect(await backlog()).toBe(0);

    killAt = 'before-delete';
    await expireVisibility();
    runtime.startIngestWorkers('east', 1);
    await waitFor(
      'an ingest worker killed after handling, before the delete',
      async () => received.length > 0,
    );
    // Stored, yet still on the queue: it will be delivered again.
    expect(await backlog()).toBeGreaterThan(0);
    expect(await queue.depth()).toBeGreaterThan(0);

    killAt = undefined;
    await expireVisibility();
    runtime.startIngestWorkers('east', 2);
    await waitFor('the change queue to drain', async () => (await queue.depth()) === 0);
    expect(await backlog()).toBe(2 * CHUNK);
    const rp = await syncAndWait(harness, g.groupId);
    expect(
      (await readAll(harness, g.secondaries[0], rp)).equals(await readAll(harness, g.primaries[0])),
    ).toBe(true);
  });

  it('killed sync drivers leave their driver lease held; once it expires the next tick drives the sync to commit', async () => {
    h = await startHarness();
    const harness = h;
    let hold = true;
    const runtime = startRuntime(harness, { copyWorkers: 1, shouldStopCopy: () => hold });
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 4));
    await gw.close();
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    await waitFor(
      'the sync to reach the copy phase',
      async () => (await getSync(harness.deps, g.groupId, syncId)).phase === 'copying',
    );
    const lease = async () =>
      (await harness.deps.table.get<DriverLease>(keys.sync(g.groupId, syncId)))?.driver;

    expect(await runtime.killDrivers()).toBe(1);
    const held = await lease();
    expect(held?.expiresAt).toBeGreaterThan(Date.now());
    // Ticks go on handing the sync to new drivers; none may take the lease while it runs.
    const ticks = runtime.ticks;
    await waitFor('three more ticks', async () => runtime.ticks >= ticks + 3);
    expect(await lease()).toEqual(held);
    expect((await getSync(harness.deps, g.groupId, syncId)).phase).toBe('copying');

    // The lease runs out (moved to the past rather than waited for), and the copies may go on.
    await harness.deps.table.update(keys.sync(g.groupId, syncId), { set: { 'driver.expiresAt': 0 } });
    hold = false;
    runtime.startCopyWorkers('west', 1, () => false);
    await waitFor(
      'the sync to commit under a new driver',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
    );
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(
        await readAll(harness, g.primaries[0]),
      ),
    ).toBe(true);
  });
});
