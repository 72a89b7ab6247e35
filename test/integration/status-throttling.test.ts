import { afterEach, describe, expect, it } from 'vitest';
import { listEvents } from '../../shared/usecases/events';
import { getGroup } from '../../shared/usecases/groups';
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

/** Events and statuses that mean the group paused: throttling must never produce them. */
async function pauseSeen(h: Harness, groupId: string): Promise<boolean> {
  const kinds = (await listEvents(h.deps, groupId)).map((e) => e.kind);
  return kinds.includes('link-down') || kinds.includes('sync-failed');
}

describe('status: throttling and server errors never pause', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  for (const fault of [
    { site: 'west', status: 503 as const, delayMs: 0 },
    { site: 'east', status: 500 as const, delayMs: 0 },
    { site: undefined, status: 503 as const, delayMs: 20 },
  ]) {
    it(`a fifth of requests answered ${fault.status} (site ${fault.site ?? 'both'}, delay ${fault.delayMs} ms): syncs commit, no pause`, async () => {
      h = await startHarness();
      const harness = h;
      startRuntime(harness);
      const g = await mirroredGroup(harness, [{ sizeBytes: 48 * CHUNK, chunkSizeBytes: CHUNK }]);
      const gw = await openGateway(harness, g.primaries[0]);
      await gw.write(g.primaries[0], 0, randomBytesOf(24 * CHUNK, 1));
      await gw.close();
      harness.stack.degrade({ errorRate: 0.2, status: fault.status, delayMs: fault.delayMs }, fault.site);
      const west = chunkWriteCounter(harness, 'west');
      const rp1 = await syncAndWait(harness, g.groupId, 120_000);
      harness.stack.heal();
      const gw2 = await openGateway(harness, g.primaries[0]);
      await gw2.write(g.primaries[0], 8 * CHUNK, randomBytesOf(6 * CHUNK, 2));
      await gw2.close();
      const image1 = await readAll(harness, g.secondaries[0], rp1);
      expect(image1.subarray(0, 24 * CHUNK).equals(Buffer.from(randomBytesOf(24 * CHUNK, 1)))).toBe(true);
      harness.stack.degrade({ errorRate: 0.2, status: fault.status, delayMs: fault.delayMs }, fault.site);
      west.reset();
      const rp2 = await syncAndWait(harness, g.groupId, 120_000);
      harness.stack.heal();
      expect(
        (await readAll(harness, g.secondaries[0], rp2)).equals(await readAll(harness, g.primaries[0])),
      ).toBe(true);
      expect(await pauseSeen(harness, g.groupId)).toBe(false);
      expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
      // Retried copies may repeat a PUT that failed, but never recopy the 24 unchanged chunks.
      expect(west.count()).toBeLessThan(24);
    }, 300_000);
  }

  it('a site answering 503 to every request is a lasting outage: the group pauses, and the same sync commits after heal', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(8 * CHUNK, 5));
    await gw.close();
    harness.stack.degrade({ errorRate: 1, status: 503, delayMs: 0 }, 'west');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the group to pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
      60_000,
    );
    expect((await listEvents(harness.deps, g.groupId)).map((e) => e.kind)).toContain('link-down');
    harness.stack.heal('west');
    await waitFor(
      'the same sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      90_000,
    );
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(
        await readAll(harness, g.primaries[0]),
      ),
    ).toBe(true);
  }, 200_000);
});
