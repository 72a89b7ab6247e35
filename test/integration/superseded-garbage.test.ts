import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isScanManifest, keys } from '../../shared/aws/keys';
import type { Group, RecoveryPoint } from '../../shared/domain/model';
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

  it('a scan sync after a crashed gateway, over the previous RP', async () => {
    await crashAfter(h, g.primaries[0], [0, 1, 2], 3, () => ++seed);
    await rewrite(g.primaries[1], [5], 2);
    await syncAndWait(h, g.groupId);
    await settled();
    await expectScanned(h, g);
    await expectOnlyLiveAndRetained(h, g, 'a scan sync over rewritten chunks');
    await expectMirrored();
  }, 90_000);
});

describe("a new pair's first sync taken with a scan deletes what the writes before it superseded", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    startRuntime(h);
  }, 120_000);
  afterAll(async () => h?.stop());

  it('over its base listing', async () => {
    const fresh = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    let seed = 100;
    await crashAfter(h, fresh.primaries[0], [0, 3], 3, () => ++seed);
    await syncAndWait(h, fresh.groupId);
    await waitFor('the clean-up', async () => {
      const group = await h.deps.table.get<Group>(keys.group(fresh.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
    await expectScanned(h, fresh);
    await expectOnlyLiveAndRetained(h, fresh, "a new pair's scan sync");
    expect((await readAll(h, fresh.secondaries[0])).equals(await readAll(h, fresh.primaries[0]))).toBe(true);
  }, 90_000);
});

/**
 * Rewrites chunks through a gateway that then dies without closing its epoch: the next sync
 * takes a scan cut, so no change record lists what the rewrites superseded; the chunk history
 * at the primary does. Returns once another gateway could take the group over.
 */
async function crashAfter(
  h: Harness,
  volumeId: string,
  chunks: number[],
  times: number,
  nextSeed: () => number,
): Promise<void> {
  const gw = await openGateway(h, volumeId);
  for (let t = 0; t < times; t++)
    for (const c of chunks) await gw.write(volumeId, c * CHUNK, randomBytesOf(CHUNK, nextSeed()));
  gw.abandon();
  const next = await waitFor('a new gateway to take over', () =>
    openGateway(h, volumeId).catch(() => undefined),
  );
  await next.close();
}

async function expectScanned(h: Harness, m: MirroredGroup): Promise<void> {
  const group = await h.deps.table.get<Group>(keys.group(m.groupId));
  const rp = await h.deps.table.get<RecoveryPoint>(keys.recoveryPoint(m.groupId, group?.lastRp?.number ?? 0));
  expect(rp?.volumes.every((v) => isScanManifest(m.groupId, v.primaryManifestKey))).toBe(true);
}
