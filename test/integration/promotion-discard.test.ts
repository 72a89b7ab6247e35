import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys, syncObjects } from '../../shared/aws/keys';
import type { SyncJob } from '../../shared/domain/model';
import { driveRoleChange, requestRoleChange } from '../../shared/usecases/roles';
import { advanceSync, startSync } from '../../shared/usecases/sync/index';
import { hookControl, jobWriteValues } from '../support/control-hooks';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  runOfferedCopies,
  startHarness,
  startRuntime,
  syncAndWait,
} from '../support/harness';
import { versionsAt } from '../support/versions';

const CHUNK = 64 * 1024;

/**
 * A sync writes its collect lists (sorted runs, superseded lists) at the primary site of its
 * start. A forced promotion moves the primary: whoever deletes them later must still find them
 * where they were written, not at the group's new primary. That is the discard of the sync the
 * promotion fails, also when that failure was killed midway and the discard runs after the
 * flip, and the post-commit clean-up of a sync committed just before, retried after the flip.
 */
describe('a forced promotion during a sync', () => {
  let h: Harness;
  /** The sync whose job write marking it failed is lost once, as if its process was killed there. */
  let killFailureOf: string | undefined;
  /** The sync at whose commit the primary site's link is cut, so its post-commit clean-up is left to a retry. */
  let cutAtCommitOf: string | undefined;

  beforeAll(async () => {
    h = await startHarness();
    hookControl(h, 'promotionFaults', {
      before: async (c) => {
        const syncId = killFailureOf;
        const cut = cutAtCommitOf;
        // The commit's job write, the one that sets committedAt: the RP is committed just before.
        if (
          cut !== undefined &&
          jobWriteValues(c, cut) &&
          /#u_committedAt/.test(String(c.input.UpdateExpression))
        ) {
          cutAtCommitOf = undefined;
          h.stack.cut('east');
        }
        // failSync's job write: it sets the state failed, on the condition it is not ended yet.
        if (syncId === undefined || !Object.values(jobWriteValues(c, syncId) ?? {}).includes('failed'))
          return;
        killFailureOf = undefined;
        throw new Error('killed before the job was marked failed');
      },
    });
  }, 120_000);
  afterAll(async () => h?.stop());

  /** A group with a committed RP and a delta sync copying, its runs spilled at east. */
  async function syncWithRunsAtEast() {
    const g = await mirroredGroup(h, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    startRuntime(h);
    await syncAndWait(h, g.groupId);
    await h.runtime?.stop();
    // Ingest only from here: no copy worker takes a task and no tick drives the sync or the change.
    startRuntime(h, { copyWorkers: 0, scheduler: false });
    const gw = await openGateway(h, g.primaries[0]);
    for (let i = 0; i < 3; i++)
      await gw.write(g.primaries[0], 2 * i * CHUNK, randomBytesOf(2 * CHUNK, i + 1));
    await gw.close();
    const { syncId } = await startSync(h.deps, g.groupId);
    const job = () => h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    for (let i = 0; i < 100 && !(await job())?.tasksEnqueued; i++) {
      if ((await advanceSync(h.deps, g.groupId, syncId)) === 'waiting')
        await new Promise((r) => setTimeout(r, 100));
    }
    const prefixes = [syncObjects.runs(g.groupId, syncId), syncObjects.superseded(g.groupId, syncId)];
    const lists = async () =>
      (
        await Promise.all(
          ['east', 'west'].flatMap((site) =>
            prefixes.map(async (p) => (await versionsAt(h, site, p)).map((v) => `${site}:${v}`)),
          ),
        )
      ).flat();
    expect((await job())?.state).toBe('copying');
    expect(
      (await lists()).some((o) => o.startsWith('east:runs/')),
      'the runs were spilled at east',
    ).toBe(true);
    return { g, syncId, job, lists };
  }

  it('a committed sync whose clean-up is left to a retry after a forced promotion leaves none of its runs', async () => {
    h.deps.config.stepBudgetChunks = 2;
    try {
      const { g, syncId, job, lists } = await syncWithRunsAtEast();
      cutAtCommitOf = syncId;
      for (let i = 0; i < 100 && !(await job())?.committedAt; i++) {
        if ((await advanceSync(h.deps, g.groupId, syncId)) === 'waiting') await runOfferedCopies(h);
      }
      expect(cutAtCommitOf, 'the commit cut the link').toBeUndefined();
      expect((await job())?.finishedAt, 'the clean-up could not reach east').toBeUndefined();
      await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary', force: true });
      await driveRoleChange(h.deps, g.groupId);
      h.stack.heal();
      for (let i = 0; i < 50 && !(await job())?.finishedAt; i++) {
        await advanceSync(h.deps, g.groupId, syncId);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await job())?.finishedAt).toBeDefined();
      expect(await lists()).toEqual([]);
    } finally {
      h.stack.heal();
      h.deps.config.stepBudgetChunks = undefined;
      await h.runtime?.stop();
    }
  }, 120_000);

  it.each([
    ['in one go', false],
    ['after the abort was killed before the job was marked failed (the discard runs after the flip)', true],
  ])(
    'leaves none of its collect lists at either site, %s',
    async (_, killed) => {
      // Two chunks per step: the delta is folded into runs stored at the primary (east).
      h.deps.config.stepBudgetChunks = 2;
      try {
        const { g, syncId, job, lists } = await syncWithRunsAtEast();
        await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary', force: true });
        if (killed) {
          killFailureOf = syncId;
          await expect(driveRoleChange(h.deps, g.groupId)).rejects.toThrow(/killed/);
        }
        await driveRoleChange(h.deps, g.groupId);
        for (let i = 0; i < 50 && (await job())?.state !== 'failed'; i++)
          await advanceSync(h.deps, g.groupId, syncId);
        expect((await job())?.state).toBe('failed');
        expect(await lists()).toEqual([]);
      } finally {
        h.deps.config.stepBudgetChunks = undefined;
        await h.runtime?.stop();
      }
    },
    120_000,
  );
});
