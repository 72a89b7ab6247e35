import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import {
  type Harness,
  type MirroredGroup,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { expectOnlyLiveAndRetained } from '../support/versions';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

describe('RP expiry leaves nothing of the expired RPs in either bucket', () => {
  let h: Harness;
  let g: MirroredGroup;
  beforeAll(async () => {
    h = await startHarness({ retention: 2 });
    startRuntime(h);
    g = await mirroredGroup(h, [{ sizeBytes: 32 * CHUNK, chunkSizeBytes: CHUNK }]);
  }, 120_000);
  afterAll(async () => h?.stop());

  it('five syncs with retention 2: only the live volume and the two retained RPs remain', async () => {
    const volumeId = g.primaries[0];
    let syncs = 0;
    for (let round = 0; round < 5; round++) {
      const gw = await openGateway(h, volumeId);
      // Chunk 0 is rewritten once per RP (each version is some RP's), chunk 1 + round is new.
      await gw.write(volumeId, 0, randomBytesOf(CHUNK, 10 * round));
      await gw.write(volumeId, (1 + round) * CHUNK, randomBytesOf(CHUNK, 10 * round + 1));
      await gw.close();
      await syncAndWait(h, g.groupId);
      syncs++;
    }
    const group = await waitFor('the last clean-up', async () => {
      const x = await h.deps.table.get<Group>(keys.group(g.groupId));
      return x && (x.openSyncs ?? []).length === 0 && x.recoveryPoints?.length === 2 ? x : undefined;
    });
    expect(syncs).toBe(5);
    expect(group.recoveryPoints).toHaveLength(2);
    // Manifests of expired RPs are deleted with their version ids: no old version, no delete marker.
    await expectOnlyLiveAndRetained(h, g, 'three expiries');
    const image = await readAll(h, volumeId);
    expect((await readAll(h, g.secondaries[0])).equals(image)).toBe(true);
  }, 180_000);
});
