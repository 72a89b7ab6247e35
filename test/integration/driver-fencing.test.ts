import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { CollectProgress, SyncJob } from '../../shared/domain/model';
import { driveSync, getSync, startSync } from '../../shared/usecases/sync/index';
import { hookControl, jobWriteValues } from '../support/control-hooks';
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
/** Chunks written between the two RPs, one write each: many change records, many steps. */
const CHANGED = 12;

type Checkpoint = { collect?: CollectProgress; state?: string };

/** The collect checkpoint among the values a job write sets, if it sets one. */
function checkpointOf(values: Record<string, unknown> | undefined): CollectProgress | undefined {
  for (const v of Object.values(values ?? {})) {
    const c = v as Checkpoint['collect'];
    if (c && typeof c === 'object' && 'runs' in c) return c;
  }
  return undefined;
}

const cases: {
  phase: string;
  /** The checkpoint write of the driver that stalls. */
  stallAt: (c: CollectProgress) => boolean;
  /** The successor stops once it wrote a checkpoint past the stalled one, still collecting. */
  stopAt: (c: CollectProgress) => boolean;
}[] = [
  {
    phase: 'collect (folding change batches)',
    stallAt: (c) => !c.planning && c.lastBatch !== undefined,
    stopAt: (c) => (c.planning?.taskNo ?? 0) >= 2,
  },
  {
    phase: 'copy planning',
    stallAt: (c) => (c.planning?.taskNo ?? 0) >= 1,
    stopAt: (c) => (c.planning?.taskNo ?? 0) >= 3,
  },
];

describe('driver-lease fencing of every step', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  for (const c of cases) {
    it(`a driver stalled past its lease in ${c.phase} cannot write its stale checkpoint`, async () => {
      h = await startHarness();
      const harness = h;
      // Copy workers and ingest only: the test runs the drivers itself.
      startRuntime(harness, { scheduler: false });
      const g = await mirroredGroup(harness, [{ sizeBytes: 32 * CHUNK, chunkSizeBytes: CHUNK }]);
      const volume = g.primaries[0];
      const gw = await openGateway(harness, volume);
      await gw.write(volume, 0, randomBytesOf(2 * CHUNK, 1));
      await syncAndWait(harness, g.groupId);
      for (let i = 0; i < CHANGED; i++)
        await gw.write(volume, (2 * i + 3) * CHUNK, randomBytesOf(CHUNK, 10 + i));
      await gw.close();
      const image = await readAll(harness, volume);
      harness.deps.config.driverLeaseSeconds = 1;
      harness.deps.config.stepBudgetChunks = 2;
      const copies = chunkWriteCounter(harness, 'west');

      const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
      let stalled: CollectProgress | undefined;
      let wake: () => void = () => undefined;
      const woken = new Promise<void>((r) => {
        wake = r;
      });
      let stopSuccessor = false;
      hookControl(harness, 'stallDriver', {
        before: async (call) => {
          const cp = checkpointOf(jobWriteValues(call, syncId));
          if (cp && !stalled && c.stallAt(cp)) {
            stalled = cp;
            await woken;
          }
        },
        after: async (call) => {
          const cp = checkpointOf(jobWriteValues(call, syncId));
          if (cp && stalled && cp !== stalled && c.stopAt(cp)) stopSuccessor = true;
        },
      });

      const first = driveSync(harness.deps, g.groupId, syncId, Date.now() + 60_000, 20);
      await waitFor('the first driver to stall and its lease to run out', async () => {
        const job = await harness.deps.table.get<SyncJob & { driver?: { expiresAt: number } }>(
          keys.sync(g.groupId, syncId),
        );
        return stalled !== undefined && (job?.driver?.expiresAt ?? 0) < Date.now();
      });
      const second = await driveSync(
        harness.deps,
        g.groupId,
        syncId,
        Date.now() + 60_000,
        20,
        () => stopSuccessor,
      );
      expect(stopSuccessor).toBe(true);
      const before = await harness.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
      expect(before?.state).toBe('collecting');
      expect(second).not.toBe('done');

      wake();
      // The stale driver's checkpoint is refused and it stops quietly: no retry, no failure.
      expect(await first).toBe('waiting');
      const after = await harness.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
      expect(after?.collect).toEqual(before?.collect);
      expect(after?.failures).toBeUndefined();

      const third = await driveSync(harness.deps, g.groupId, syncId, Date.now() + 60_000, 20);
      expect(third).toBe('done');
      const s = await getSync(harness.deps, g.groupId, syncId);
      expect(s.state, s.error).toBe('committed');
      expect((await readAll(harness, g.secondaries[0], recoveryPointId)).equals(image)).toBe(true);
      expect(copies.count()).toBe(CHANGED);
    }, 120_000);
  }
});
