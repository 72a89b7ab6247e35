import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupPartition, keys } from '../../shared/aws/keys';
import type { Group, SyncJob, Volume } from '../../shared/domain/model';
import { deleteGroup, loadPairs } from '../../shared/usecases/groups';
import { addPair, removePair } from '../../shared/usecases/pairs';
import { abortSync, advanceSync, startSync } from '../../shared/usecases/sync/index';
import { taskPartition } from '../../shared/usecases/sync-progress';
import { type ControlCall, hookControl } from '../support/control-hooks';
import {
  type Harness,
  type MirroredGroup,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  runOfferedCopies,
  startHarness,
  startRuntime,
} from '../support/harness';

const CHUNK = 64 * 1024;

/**
 * A sync's later writes to items that another actor may delete meanwhile. DynamoDB's UpdateItem
 * creates a missing item, so such a write must be conditional on the item it updates, or it
 * brings back a deleted item with nothing but the attributes it sets.
 */
describe('a write that lands after its item was deleted', () => {
  let h: Harness;
  let seed = 0;
  /** Runs once, just before the first control request it matches goes out. */
  let interleave: { matches: (c: ControlCall) => boolean; run: () => Promise<void> } | undefined;

  beforeAll(async () => {
    h = await startHarness();
    // Ingest only: no copy worker takes a task and no tick drives a sync but the test.
    startRuntime(h, { copyWorkers: 0, scheduler: false });
    hookControl(h, 'interleave', {
      before: async (c) => {
        const due = interleave;
        if (!due?.matches(c)) return;
        interleave = undefined;
        await due.run();
      },
    });
  }, 120_000);
  afterAll(async () => h?.stop());

  const isUpdateOf = (c: ControlCall, sk: string, clause: RegExp) =>
    c.commandName === 'UpdateItemCommand' &&
    JSON.stringify(c.input.Key).includes(sk) &&
    clause.test(String(c.input.UpdateExpression));

  async function groupWithWrites(): Promise<MirroredGroup> {
    const g = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, ++seed));
    await gw.close();
    return g;
  }

  /**
   * Advances a sync by hand until `done` holds of its job (bounded: 100 steps, 10 s of waits),
   * copying the tasks it offers when `copying` says so.
   */
  async function advanceUntil(
    g: MirroredGroup,
    syncId: string,
    done: (j: SyncJob) => boolean,
    copying = false,
  ) {
    const job = () => h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    for (let i = 0; i < 100; i++) {
      const j = await job();
      if (j && done(j)) return j;
      if ((await advanceSync(h.deps, g.groupId, syncId)) !== 'waiting') continue;
      if (copying) await runOfferedCopies(h);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`sync ${syncId} did not get there: ${JSON.stringify(await job())}`);
  }

  it('a resume that clears a task’s error after an abort deleted the tasks leaves no task item', async () => {
    const g = await groupWithWrites();
    const { syncId } = await startSync(h.deps, g.groupId);
    await advanceUntil(g, syncId, (j) => (j.tasksEnqueued ?? 0) > 0);
    // The task noted a site fault and the sync paused on it, due to resume now.
    await h.deps.table.update(keys.copyTask(syncId, 0), { set: { error: 'cannot reach a site: test' } });
    await h.deps.table.update(keys.sync(g.groupId, syncId), {
      set: { pause: { reason: 'cannot reach a site: test', retries: 1, retryAt: 0 } },
    });
    interleave = {
      matches: (c) => isUpdateOf(c, 'TASK#', /REMOVE/),
      run: async () => {
        await abortSync(h.deps, g.groupId, syncId);
      },
    };
    await advanceSync(h.deps, g.groupId, syncId);
    expect(interleave, 'the resume cleared a task error').toBeUndefined();
    expect((await h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId)))?.state).toBe('failed');
    expect(await h.deps.table.queryKeys(taskPartition(syncId), 'TASK#', 'TASK#\uffff')).toEqual([]);
  }, 120_000);

  it('a pair removed between the commit and its first-RP mark stays removed, and its volume can be paired again', async () => {
    const g = await groupWithWrites();
    const { syncId } = await startSync(h.deps, g.groupId);
    // The commit released the group, so the removal's member lock is granted.
    interleave = {
      matches: (c) => isUpdateOf(c, 'PAIR#', /firstRp/),
      run: () => removePair(h.deps, g.groupId, g.primaries[0]),
    };
    await advanceUntil(g, syncId, (j) => j.finishedAt !== undefined, true);
    expect(interleave, 'the commit marked the pair’s first RP').toBeUndefined();
    expect(await loadPairs(h.deps, g.groupId)).toEqual([]);
    const again = await addPair(h.deps, g.groupId, { primaryVolumeId: g.primaries[0] });
    expect((await loadPairs(h.deps, g.groupId)).map((p) => p.secondaryVolumeId)).toEqual([
      again.secondaryVolumeId,
    ]);
  }, 120_000);

  it('a group delete while its last pair is being removed is refused; after it, the delete leaves nothing', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    // Once the pair item is gone the group looks empty, but the removal still has writes to
    // make to it (the membersVersion bump, its event) and volumes to free.
    let refusal: unknown;
    interleave = {
      matches: (c) => isUpdateOf(c, g.groupId, /membersVersion/),
      run: async () => {
        refusal = await deleteGroup(h.deps, g.groupId).then(
          () => undefined,
          (e: unknown) => e,
        );
      },
    };
    await removePair(h.deps, g.groupId, g.primaries[0]);
    expect(interleave, 'the removal bumped membersVersion').toBeUndefined();
    expect(refusal).toMatchObject({ status: 409, code: 'sync-running' });
    for (const id of [...g.primaries, ...g.secondaries])
      expect((await h.deps.table.get<Volume>(keys.volume(id)))?.groupId).toBeUndefined();
    await deleteGroup(h.deps, g.groupId);
    expect(await h.deps.table.get<Group>(keys.group(g.groupId))).toBeUndefined();
    expect(await h.deps.table.queryKeys(groupPartition(g.groupId))).toEqual([]);
  }, 120_000);
});
