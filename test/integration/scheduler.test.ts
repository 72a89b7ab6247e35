import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { MirrorConfig } from '../../shared/config';
import type { Group } from '../../shared/domain/model';
import { getGroup, loadPairs } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { tick } from '../../shared/usecases/scheduler';
import { driveSync, getSync, startSync } from '../../shared/usecases/sync/index';
import { createVolume } from '../../shared/usecases/volumes';
import { hookControl } from '../support/control-hooks';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

describe('scheduler', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('continuous mode starts the initial sync of a pair added after the first RP, without a write', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }], {
      mode: 'continuous',
    });
    await waitFor('the first RP', async () => (await getGroup(harness.deps, g.groupId)).lastRecoveryPoint);
    // Written before it joins the group: only the pair's initial sync copies this.
    const vol = await createVolume(harness.deps, {
      name: 'late',
      site: 'east',
      sizeBytes: 8 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    const alone = await openGateway(harness, vol.id);
    await alone.write(vol.id, 0, randomBytesOf(3 * CHUNK, 81));
    await alone.close();
    const pair = await addPair(harness.deps, g.groupId, { primaryVolumeId: vol.id });
    await waitFor(
      'the new pair to be in an RP',
      async () =>
        (await loadPairs(harness.deps, g.groupId)).find((p) => p.primaryVolumeId === vol.id)?.firstRp,
      30_000,
    );
    const rp = (await getGroup(harness.deps, g.groupId)).lastRecoveryPoint?.id;
    expect((await readAll(harness, pair.secondaryVolumeId, rp)).equals(await readAll(harness, vol.id))).toBe(
      true,
    );
  });

  it("one group's error does not stop the tick for the others", async () => {
    h = await startHarness();
    const broken = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }], {
      mode: 'scheduled',
      intervalSeconds: 1,
    });
    const good = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }], {
      mode: 'scheduled',
      intervalSeconds: 1,
    });
    // A malformed group item: reading its sync settings throws.
    await h.deps.table.update(keys.group(broken.groupId), { remove: ['sync'] });
    const result = await tick(h.deps);
    expect(result.started).toEqual([good.groupId]);
    expect(result.errors.map((e) => e.groupId)).toEqual([broken.groupId]);
  });

  it('a driver that dies holding a sync is taken over after driverLeaseSeconds', async () => {
    h = await startHarness();
    const harness = h;
    (harness.deps.config as MirrorConfig).driverLeaseSeconds = 1;
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 91));
    await gw.close();
    const { syncId } = await startSync(harness.deps, g.groupId);
    // The first driver dies: it never gives its claim back.
    let dying = true;
    hookControl(harness, 'driverDies', {
      before: async (c) => {
        const names = JSON.stringify(c.input.ExpressionAttributeNames ?? {});
        if (dying && String(c.input.UpdateExpression).startsWith('REMOVE') && names.includes('"driver"'))
          throw new Error('killed');
      },
    });
    await driveSync(harness.deps, g.groupId, syncId, Date.now() + 100, 20).catch(() => undefined);
    const held = await harness.deps.table.get<{ driver?: { expiresAt: number } }>(
      keys.sync(g.groupId, syncId),
    );
    expect(held?.driver?.expiresAt).toBeLessThanOrEqual(Date.now() + 1000);
    dying = false;
    const started = Date.now();
    startRuntime(harness);
    await waitFor(
      'another driver to commit the sync',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      10_000,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await harness.deps.table.get<Group>(keys.group(g.groupId)))?.activeSync).toBeUndefined();
  });
});
