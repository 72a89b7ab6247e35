import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { getGroup } from '../../shared/usecases/groups';
import { driveSync, getSync, startSync } from '../../shared/usecases/sync/index';
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
import { readAll, WriteLog } from '../support/workload';

const CHUNK = 64 * 1024;

describe('faults', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a sync whose copy worker is killed midway resumes without recopying, and the secondary serves the previous RP meanwhile', async () => {
    h = await startHarness();
    const harness = h;
    const west = chunkWriteCounter(harness, 'west');
    let copiesBeforeKill = 0;
    startRuntime(harness, { copyWorkers: 1, shouldStopCopy: () => west.count() >= copiesBeforeKill });
    const g = await mirroredGroup(harness, [{ sizeBytes: 64 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(8 * CHUNK, 1));
    copiesBeforeKill = Number.MAX_SAFE_INTEGER;
    const rp1 = await syncAndWait(harness, g.groupId);
    const imageAtRp1 = await readAll(harness, g.primaries[0]);

    await gw.write(g.primaries[0], 0, randomBytesOf(40 * CHUNK, 2));
    await gw.close();
    west.reset();
    copiesBeforeKill = 10;
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor('the copy worker to stop', async () => harness.runtime?.copyWorkersAlive === 1, 30_000);
    // Killed: some chunks copied, the sync not committed, reads of the secondary still at RP 1.
    const midway = await getSync(harness.deps, g.groupId, syncId);
    expect(midway.state).toBe('running');
    expect(midway.chunksCopied).toBeGreaterThanOrEqual(10);
    expect(midway.chunksCopied).toBeLessThan(40);
    const copiedBeforeKill = west.count();
    expect((await readAll(harness, g.secondaries[0])).equals(imageAtRp1)).toBe(true);
    expect((await getGroup(harness.deps, g.groupId)).lastRecoveryPoint?.id).toBe(rp1);

    // A new worker picks the task up once its message is visible again.
    harness.runtime?.startCopyWorkers('west', 1, () => false);
    await waitFor(
      'the resumed sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
    );
    expect(west.count()).toBe(40);
    expect(copiedBeforeKill).toBe(midway.chunksCopied);
    const live = await readAll(harness, g.primaries[0]);
    expect((await readAll(harness, g.secondaries[0], recoveryPointId)).equals(live)).toBe(true);
  });

  it('a cut link pauses the group, raises link-down, and the same sync resumes when the link heals', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 32 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(20 * CHUNK, 3));
    await gw.close();
    harness.stack.cut('west');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the group to pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
      30_000,
    );
    const paused = await getGroup(harness.deps, g.groupId);
    expect(paused.alerts.map((a) => a.kind)).toContain('link-down');
    expect((await getSync(harness.deps, g.groupId, syncId)).state).toBe('paused');
    expect((await listEvents(harness.deps, g.groupId)).map((e) => e.kind)).toContain('link-down');

    harness.stack.heal('west');
    await waitFor(
      'the same sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    );
    const after = await getGroup(harness.deps, g.groupId);
    expect(after.status).toBe('optimal');
    expect(after.lastRecoveryPoint?.id).toBe(recoveryPointId);
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(
        await readAll(harness, g.primaries[0]),
      ),
    ).toBe(true);
  });

  it('a gateway that dies without closing its epoch loses no acknowledged write', async () => {
    h = await startHarness({ leaseSeconds: 1 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    const log = new WriteLog();
    for (let i = 0; i < 12; i++) await log.issue(gw, g.primaries[0], i * CHUNK + i, randomBytesOf(2000, i));
    gw.abandon();
    // A second gateway cannot write while the dead one's lease runs, then takes over.
    await expect(openGateway(harness, g.primaries[0])).rejects.toMatchObject({ code: 'lease-held' });
    await waitFor("the dead gateway's lease to expire", async () => {
      const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.lease?.expiresAt ?? 0) < harness.deps.now();
    });
    const rp = await syncAndWait(harness, g.groupId);
    const image = await readAll(harness, g.secondaries[0], rp);
    expect(image.equals(log.imageAt(g.primaries[0], 16 * CHUNK, Number.MAX_SAFE_INTEGER))).toBe(true);
    expect((await listEvents(harness.deps, g.groupId)).map((e) => e.kind)).toContain('epoch-recovered');
    const next = await openGateway(harness, g.primaries[0]);
    await next.write(g.primaries[0], 0, randomBytesOf(100, 99));
    await next.close();
    const rp2 = await syncAndWait(harness, g.groupId);
    expect(
      (await readAll(harness, g.secondaries[0], rp2)).equals(await readAll(harness, g.primaries[0])),
    ).toBe(true);
  });

  it('a role-epoch change fences the gateway and refuses the commit of a sync that ran under the old epoch', async () => {
    h = await startHarness();
    const harness = h;
    let hold = true;
    startRuntime(harness, { copyWorkers: 1, shouldStopCopy: () => hold });
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 1));
    const { syncId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the sync to reach the copy phase',
      async () => (await getSync(harness.deps, g.groupId, syncId)).phase === 'copying',
    );
    // A role change elsewhere: one conditional write bumps the role epoch.
    await harness.deps.table.update(keys.group(g.groupId), { add: { roleEpoch: 1 } });
    hold = false;
    harness.runtime?.startCopyWorkers('west', 1, () => false);
    await waitFor(
      'the sync to fail',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'failed',
    );
    expect((await getGroup(harness.deps, g.groupId)).lastRecoveryPoint).toBeUndefined();
    await waitFor('the gateway to lose its lease', async () => {
      try {
        await gw.write(g.primaries[0], 0, randomBytesOf(10, 2));
        return false;
      } catch (e) {
        return (e as { code?: string }).code === 'lease-lost';
      }
    });
    gw.abandon();
  });

  it('two drivers handed the same sync: one drives it, the other steps aside, and nothing is copied twice', async () => {
    h = await startHarness();
    const harness = h;
    const west = chunkWriteCounter(harness, 'west');
    startRuntime(harness, { scheduler: false });
    const g = await mirroredGroup(harness, [{ sizeBytes: 32 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(20 * CHUNK, 4));
    await gw.close();
    const { syncId } = await startSync(harness.deps, g.groupId);
    const deadline = Date.now() + 60_000;
    const first = driveSync(harness.deps, g.groupId, syncId, deadline, 30);
    await waitFor(
      'the first driver to hold the sync',
      async () => (await harness.deps.table.get<{ driver?: unknown }>(keys.sync(g.groupId, syncId)))?.driver,
    );
    const second = await driveSync(harness.deps, g.groupId, syncId, deadline, 30);
    expect(second).toBe('waiting');
    expect(await first).toBe('done');
    expect((await getSync(harness.deps, g.groupId, syncId)).state).toBe('committed');
    expect(west.count()).toBe(20);
  });
});
