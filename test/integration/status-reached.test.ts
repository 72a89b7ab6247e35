import { afterEach, describe, expect, it } from 'vitest';
import { getGroup, resumeGroup, suspendGroup } from '../../shared/usecases/groups';
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

describe('status: every reachable status, as the API shows it', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('synchronizing-initial, paused/incomplete, synchronizing-interval, user-suspended/stopped, optimal', async () => {
    h = await startHarness();
    const harness = h;
    const copy = { on: false };
    startRuntime(harness, { copyWorkers: 2, shouldStopCopy: () => !copy.on });
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(6 * CHUNK, 1));

    // Initial sync held in its copy phase.
    const first = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, first.syncId);
    await waitFor(
      'the copy phase',
      async () => (await getSync(harness.deps, g.groupId, first.syncId)).phase === 'copying',
    );
    let view = await getGroup(harness.deps, g.groupId);
    expect([view.status, view.pairs[0].status]).toEqual(['synchronizing-initial', 'synchronizing']);

    // The link goes: paused, the pair incomplete.
    harness.stack.cut('west');
    copy.on = true;
    harness.runtime?.startCopyWorkers('west', 2, () => false);
    await waitFor(
      'the pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
      60_000,
    );
    view = await getGroup(harness.deps, g.groupId);
    expect(view.pairs[0].status).toBe('incomplete');
    harness.stack.heal('west');
    await waitFor(
      'the commit',
      async () => (await getSync(harness.deps, g.groupId, first.syncId)).state === 'committed',
      60_000,
    );
    view = await getGroup(harness.deps, g.groupId);
    expect([view.status, view.pairs[0].status]).toEqual(['optimal', 'optimal']);

    // A delta sync: synchronizing-interval while it runs.
    await gw.write(g.primaries[0], 8 * CHUNK, randomBytesOf(2 * CHUNK, 2));
    const second = await startSync(harness.deps, g.groupId);
    view = await getGroup(harness.deps, g.groupId);
    expect([view.status, view.pairs[0].status]).toEqual(['synchronizing-interval', 'optimal']);
    harness.runtime?.drive(g.groupId, second.syncId);
    await waitFor(
      'the commit',
      async () => (await getSync(harness.deps, g.groupId, second.syncId)).state === 'committed',
      60_000,
    );

    // User suspend: pairs stopped, writes still tracked; resume syncs the delta only.
    view = await suspendGroup(harness.deps, g.groupId);
    expect([view.status, view.pairs[0].status]).toEqual(['user-suspended', 'stopped']);
    await expect(startSync(harness.deps, g.groupId)).rejects.toMatchObject({ code: 'wrong-state' });
    await gw.write(g.primaries[0], 12 * CHUNK, randomBytesOf(3 * CHUNK, 3));
    await gw.close();
    await waitFor(
      'the writes to be tracked',
      async () => (await getGroup(harness.deps, g.groupId)).backlogBytes >= 3 * CHUNK,
    );
    view = await resumeGroup(harness.deps, g.groupId);
    expect(view.status).toBe('optimal');
    const west = chunkWriteCounter(harness, 'west');
    const rp = await syncAndWait(harness, g.groupId);
    expect(west.count()).toBe(3);
    expect(
      (await readAll(harness, g.secondaries[0], rp)).equals(await readAll(harness, g.primaries[0])),
    ).toBe(true);
  }, 180_000);
});
