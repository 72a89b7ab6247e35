import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { RecoveryPoint, Volume } from '../../shared/domain/model';
import { loadPairs } from '../../shared/usecases/groups';
import { addPair, removePair } from '../../shared/usecases/pairs';
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
const SIZE = 4 * CHUNK;

describe('pair removal while a site is cut off', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    h?.stack.heal();
    await h?.stop();
    h = undefined;
  });

  for (const site of ['west', 'east'] as const) {
    it(`succeeds with ${site} cut, leaves both volumes free and reusable`, async () => {
      h = await startHarness();
      const harness = h;
      startRuntime(harness);
      const g = await mirroredGroup(harness, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
      const [primary, secondary] = [g.primaries[0], g.secondaries[0]];
      const gw = await openGateway(harness, primary);
      await gw.write(primary, 0, randomBytesOf(2 * CHUNK, 1));
      await syncAndWait(harness, g.groupId);
      await gw.close();

      harness.stack.cut(site);
      try {
        await removePair(harness.deps, g.groupId, primary);
      } finally {
        harness.stack.heal(site);
      }
      expect(await loadPairs(harness.deps, g.groupId)).toEqual([]);
      for (const id of [primary, secondary]) {
        const v = await harness.deps.table.get<Volume & { claimedBy?: string }>(keys.volume(id));
        expect(v?.groupId).toBeUndefined();
        expect(v?.claimedBy).toBeUndefined();
      }
      // Contact back: the freed secondary is mirrored again, from the primary's current image.
      await addPair(harness.deps, g.groupId, { primaryVolumeId: primary, secondaryVolumeId: secondary });
      const rp = await syncAndWait(harness, g.groupId);
      expect((await readAll(harness, secondary, rp)).equals(await readAll(harness, primary, rp))).toBe(true);
    }, 120_000);
  }

  it("a removed pair's manifests in the RPs before its removal are deleted when those RPs expire", async () => {
    h = await startHarness({ retention: 1 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [
      { sizeBytes: SIZE, chunkSizeBytes: CHUNK },
      { sizeBytes: SIZE, chunkSizeBytes: CHUNK },
    ]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 1));
    await syncAndWait(harness, g.groupId);
    const rp1 = await harness.deps.table.get<RecoveryPoint>(keys.recoveryPoint(g.groupId, 1));
    const removed = rp1?.volumes.find((v) => v.primaryVolumeId === g.primaries[1]);
    if (!removed) throw new Error('RP 1 has no entry for the second pair');
    await removePair(harness.deps, g.groupId, g.primaries[1]);
    for (let i = 0; i < 2; i++) {
      await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 10 + i));
      await syncAndWait(harness, g.groupId);
    }
    await gw.close();
    await waitFor(
      'RP 1 to expire',
      async () => (await harness.deps.table.get(keys.recoveryPoint(g.groupId, 1))) === undefined,
    );
    const exists = async (site: string, key: string) => {
      try {
        for await (const _ of harness.deps.stores[site].readManifest(key)) break;
        return true;
      } catch (e) {
        if ((e as Error).name === 'NoSuchKey') return false;
        throw e;
      }
    };
    expect(await exists('east', removed.primaryManifestKey)).toBe(false);
    expect(await exists('west', removed.secondaryManifestKey)).toBe(false);
  }, 120_000);
});
