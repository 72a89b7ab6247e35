import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { SyncJob } from '../../shared/domain/model';
import { createGroup, loadPairs } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { sha256Of } from '../../shared/usecases/reads';
import { startSync } from '../../shared/usecases/sync/index';
import { taskPartition } from '../../shared/usecases/sync-progress';
import { createVolume } from '../../shared/usecases/volumes';
import { hookControl } from '../support/control-hooks';
import {
  type Harness,
  type MirroredGroup,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';

const CHUNK = 64 * 1024;
/** The copy tasks a medium-priority sync keeps offered at once (copyLanes in group-rules.ts). */
const LANES = 8;

interface TaskQuery {
  /** The attributes projected; undefined when the query reads whole items. */
  projection?: string[];
  items: number;
}

/**
 * What a sync reads of its copy task items, which hold every chunk's versions: the driver polls
 * the copy step several times a second, so a poll must read about the tasks in flight, not all
 * of them; the commit reads each task once for both manifests; the clean-up reads none to
 * delete them. Queries are recorded at the SDK with the number of items each returned.
 */
describe('copy task items a sync reads', () => {
  let h: Harness;
  let g: MirroredGroup;
  let seed = 0;
  const queries: TaskQuery[] = [];

  beforeAll(async () => {
    h = await startHarness();
    hookControl(h, 'taskQueryRecorder', {
      after: async (c) => {
        const input = c.input as {
          ExpressionAttributeNames?: Record<string, string>;
          ExpressionAttributeValues?: Record<string, { S?: string }>;
          ProjectionExpression?: string;
        };
        const pk = input.ExpressionAttributeValues?.[':pk']?.S ?? '';
        if (c.commandName !== 'QueryCommand' || !pk.startsWith('SYNC#')) return;
        queries.push({
          projection: input.ProjectionExpression?.split(', ').map(
            (n) => input.ExpressionAttributeNames?.[n] ?? n,
          ),
          items: (c.output?.Count as number | undefined) ?? 0,
        });
      },
    });
    startRuntime(h);
    g = await mirroredGroup(h, [{ sizeBytes: 512 * CHUNK, chunkSizeBytes: CHUNK }]);
  }, 120_000);
  afterAll(async () => h?.stop());

  async function write(from: number, count: number): Promise<void> {
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], from * CHUNK, randomBytesOf(count * CHUNK, ++seed));
    await gw.close();
  }

  /** One sync, driven by the runtime, to its finished clean-up; its job as it ended. */
  async function sync(groupId = g.groupId): Promise<{ job: SyncJob; rpId: string }> {
    queries.length = 0;
    const { syncId, recoveryPointId } = await startSync(h.deps, groupId);
    h.runtime?.drive(groupId, syncId);
    const job = await waitFor(
      `sync ${syncId} to finish`,
      async () => {
        const j = await h.deps.table.get<SyncJob>(keys.sync(groupId, syncId));
        if (j?.state === 'failed') throw new Error(`sync failed: ${j.error}`);
        return j?.finishedAt ? j : undefined;
      },
      120_000,
    );
    return { job, rpId: recoveryPointId };
  }

  async function expectSecondaryEqualsPrimary(
    rpId: string,
    chunks: number,
    [primary, secondary] = [g.primaries[0], g.secondaries[0]],
  ): Promise<void> {
    const at = { recoveryPointId: rpId, offset: 0, length: chunks * CHUNK };
    expect(await sha256Of(h.deps, secondary, at)).toBe(await sha256Of(h.deps, primary, at));
  }

  it('24 tasks: every copy-step poll reads about the tasks in flight, and no task item is left', async () => {
    // Tasks of 4 chunks: 96 chunks make 24 tasks, three times the lanes.
    h.deps.config.stepBudgetChunks = 4;
    try {
      await write(0, 96);
      const { job, rpId } = await sync();
      expect(job.tasksTotal).toBe(24);
      const polls = queries.filter((q) => q.projection?.includes('chunkCount'));
      expect(polls.length).toBeGreaterThan(3);
      // Before, each poll read all 24 tasks.
      expect(Math.max(...polls.map((q) => q.items))).toBeLessThanOrEqual(2 * LANES);
      expect(await h.deps.table.queryKeys(taskPartition(job.id), 'TASK#', 'TASK#\uffff')).toEqual([]);
      await expectSecondaryEqualsPrimary(rpId, 96);
    } finally {
      h.deps.config.stepBudgetChunks = undefined;
    }
  }, 180_000);

  it('the commit reads each task once for both manifests, and the secondary equals the primary at the RP', async () => {
    // 100 changed chunks over 8 lanes: tasks of 16 (ceil(100 / 8), at least COPIES_IN_FLIGHT), 7 of them.
    await write(50, 100);
    const { job, rpId } = await sync();
    expect(job.tasksTotal).toBe(7);
    // The commit reads whole items (no projection); before, it read them once per manifest.
    const whole = queries.filter((q) => q.projection === undefined);
    expect(whole.reduce((n, q) => n + q.items, 0)).toBe(7);
    await expectSecondaryEqualsPrimary(rpId, 150);
  }, 180_000);

  it.each([
    ['in one planning step', undefined],
    // Planning resumes from its checkpoint after 112 chunks: the size must come back with it.
    ['over two planning steps of 100 chunks', 100],
  ])(
    'a pair added with data: its base listing counts toward the size of the initial sync’s tasks, %s',
    async (_, budget) => {
      h.deps.config.stepBudgetChunks = budget;
      try {
        await initialSyncOfAFullVolume();
      } finally {
        h.deps.config.stepBudgetChunks = undefined;
      }
    },
    180_000,
  );

  async function initialSyncOfAFullVolume(): Promise<void> {
    const vol = await createVolume(h.deps, {
      name: 'full',
      site: 'east',
      sizeBytes: 256 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    const gw = await openGateway(h, vol.id);
    await gw.write(vol.id, 0, randomBytesOf(200 * CHUNK, ++seed));
    await gw.close();
    const group = await createGroup(h.deps, {
      name: 'g2',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'manual' },
    });
    const pair = await addPair(h.deps, group.id, { primaryVolumeId: vol.id });
    expect((await loadPairs(h.deps, group.id))[0].baseChunks).toBe(200);
    const again = await openGateway(h, vol.id);
    await again.write(vol.id, 0, randomBytesOf(20 * CHUNK, ++seed));
    await again.close();
    const { job, rpId } = await sync(group.id);
    // A bound of 200 + 20 chunks over 8 lanes: tasks of 28, so the 200 chunks make 8 (the 20
    // entries alone would have cut them into 13 tasks of 16).
    expect(job.chunksTotal).toBe(200);
    expect(job.tasksTotal).toBe(8);
    await expectSecondaryEqualsPrimary(rpId, 256, [vol.id, pair.secondaryVolumeId]);
  }
});
