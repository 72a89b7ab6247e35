import { afterEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../local/emulator';
import { getGroup } from '../../shared/usecases/groups';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
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

describe('sync modes and endpoints', () => {
  let h: Harness | undefined;
  let external: Emulator | undefined;
  afterEach(async () => {
    await h?.stop();
    await external?.stop();
    h = undefined;
    external = undefined;
  });

  it('scheduled mode makes an RP every interval without being asked, RPs at least one interval apart', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }], {
      mode: 'scheduled',
      intervalSeconds: 1,
    });
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 1));
    const rps = await waitFor('three scheduled RPs', async () => {
      const list = await listRecoveryPoints(harness.deps, g.groupId);
      return list.length >= 3 ? list : undefined;
    });
    const gaps = rps.slice(0, -1).map((rp, i) => Date.parse(rp.cutAt) - Date.parse(rps[i + 1].cutAt));
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1000);
    await gw.close();
  });

  it('continuous mode syncs again as soon as there is something new, and idles otherwise', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }], {
      mode: 'continuous',
    });
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 1));
    await gw.close();
    const live = await readAll(harness, g.primaries[0]);
    await waitFor('the write to reach the secondary', async () => {
      const [rp] = await listRecoveryPoints(harness.deps, g.groupId);
      return rp && (await readAll(harness, g.secondaries[0], rp.id)).equals(live);
    });
    const settled = (await listRecoveryPoints(harness.deps, g.groupId)).length;
    // Idle: ten ticks later, no sync was started (the group would be synchronizing) and no RP added.
    const ticks = harness.runtime?.ticks ?? 0;
    await waitFor('ten more scheduler ticks', async () => (harness.runtime?.ticks ?? 0) >= ticks + 10);
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
    expect((await listRecoveryPoints(harness.deps, g.groupId)).length).toBe(settled);
    const gw2 = await openGateway(harness, g.primaries[0]);
    await gw2.write(g.primaries[0], 3 * CHUNK, randomBytesOf(CHUNK, 2));
    await gw2.close();
    const live2 = await readAll(harness, g.primaries[0]);
    await waitFor('the second write to reach the secondary', async () => {
      const [rp] = await listRecoveryPoints(harness.deps, g.groupId);
      return rp && (await readAll(harness, g.secondaries[0], rp.id)).equals(live2);
    });
  });

  it('works against one external endpoint (as with AWS_ENDPOINT_URL or LocalStack)', async () => {
    external = await Emulator.start('external');
    h = await startHarness({ endpoint: external.url });
    startRuntime(h);
    expect(h.stack.config.sites.every((s) => s.endpoint === external?.url)).toBe(true);
    const g = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 100, randomBytesOf(3 * CHUNK, 5));
    await gw.close();
    const rp = await syncAndWait(h, g.groupId);
    expect((await readAll(h, g.secondaries[0], rp)).equals(await readAll(h, g.primaries[0]))).toBe(true);
    expect(h.counter.total('s3', 'CopyObjectCommand')).toBeGreaterThan(0);
  });
});
