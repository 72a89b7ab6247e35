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

/**
 * A chunk rewritten between two cuts leaves object versions that no RP names and the live
 * volume no longer shows: the sync that consumed their change records deletes them once its
 * RP is committed, and never a version an RP or the live volume still needs.
 */
describe('versions rewritten between two cuts are deleted after the commit', () => {
  let h: Harness;
  let g: MirroredGroup;
  let seed = 0;

  async function rewrite(volumeId: string, chunks: number[], times: number): Promise<void> {
    const gw = await openGateway(h, volumeId);
    for (let t = 0; t < times; t++)
      for (const c of chunks) await gw.write(volumeId, c * CHUNK, randomBytesOf(CHUNK, ++seed));
    await gw.close();
  }

  async function settled(): Promise<void> {
    await waitFor('the clean-up', async () => {
      const group = await h.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
  }

  async function expectMirrored(): Promise<void> {
    for (const [i, volumeId] of g.primaries.entries()) {
      const image = await readAll(h, volumeId);
      expect((await readAll(h, g.secondaries[i])).equals(image)).toBe(true);
    }
  }

  beforeAll(async () => {
    h = await startHarness({ retention: 3 });
    startRuntime(h);
    g = await mirroredGroup(h, [
      { sizeBytes: 32 * CHUNK, chunkSizeBytes: CHUNK },
      { sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK },
    ]);
    await rewrite(g.primaries[0], [0, 1, 2, 3], 1);
    await syncAndWait(h, g.groupId);
    await settled();
  }, 120_000);
  afterAll(async () => h?.stop());

  it('one small run (the delta kept on the job)', async () => {
    await rewrite(g.primaries[0], [0, 1, 5], 3);
    await rewrite(g.primaries[1], [2], 4);
    await syncAndWait(h, g.groupId);
    await settled();
    await expectOnlyLiveAndRetained(h, g, 'a sync over rewritten chunks');
    await expectMirrored();
  }, 90_000);

  it('many runs, the same chunks rewritten in several of them', async () => {
    // Small steps: each fold step makes its own run, and a chunk's versions spread over runs.
    h.deps.config.stepBudgetChunks = 4;
    try {
      await rewrite(g.primaries[0], [0, 6, 7, 8, 9, 10], 3);
      await rewrite(g.primaries[1], [2, 3, 4], 3);
      await syncAndWait(h, g.groupId);
      await settled();
    } finally {
      h.deps.config.stepBudgetChunks = undefined;
    }
    await expectOnlyLiveAndRetained(h, g, 'a sync over rewritten chunks in many runs');
    await expectMirrored();
    // The retained RPs still read back: their versions were not among those deleted.
    const group = await h.deps.table.get<Group>(keys.group(g.groupId));
    expect(group?.recoveryPoints?.length).toBe(3);
  }, 90_000);
});
