import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import {
  type CopyMessage,
  runCopyTask,
  TaskSuperseded,
  WorkerStopped,
} from '../../shared/usecases/copy-worker';
import { patchGroup } from '../../shared/usecases/groups';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import type { CopyTaskItem } from '../../shared/usecases/sync-progress';
import {
  type Harness,
  hookChunkWrites,
  type MirroredGroup,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';
import { expectOnlyLiveAndRetained } from '../support/versions';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
// The task under test, task 0, holds CHUNKS_PER_TASK chunks: at the lowest priority (2 lanes) a
// delta of twice that is cut into two full tasks, and the test runs task 1 itself.
const CHUNKS = 64;
const VOLUME_CHUNKS = 2 * CHUNKS;

/**
 * SQS may deliver a copy task twice, and the second delivery may start while the first still
 * copies. The later claim takes the task over: every chunk is recorded once, by one of them,
 * the copies the earlier one made after that are deleted, and its message comes back (it ends
 * with TaskSuperseded) to find the task finished.
 */
describe('a copy task delivered twice at once', () => {
  let h: Harness;
  let g: MirroredGroup;
  const chunkPuts = { count: 0 };

  beforeAll(async () => {
    h = await startHarness({ retention: 10 });
    // Slow copies, so that the second delivery starts while the first has most of its chunks to go.
    hookChunkWrites(h, 'west', 'slowCopies', async () => {
      chunkPuts.count++;
      await new Promise((r) => setTimeout(r, 40));
    });
    startRuntime(h, { copyWorkers: 0 });
    g = await mirroredGroup(h, [{ sizeBytes: VOLUME_CHUNKS * CHUNK, chunkSizeBytes: CHUNK }]);
    await patchGroup(h.deps, g.groupId, { priority: 'lowest' });
  }, 120_000);
  afterAll(async () => h?.stop());

  /**
   * Writes the volume anew and starts a sync driven without copy workers; runs its task 1, so
   * that task 0 is the one left to copy.
   */
  async function syncWithOneTask(seed: number) {
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(VOLUME_CHUNKS * CHUNK, seed));
    await gw.close();
    const { syncId, recoveryPointId } = await startSync(h.deps, g.groupId);
    h.runtime?.drive(g.groupId, syncId);
    const taskKey = keys.copyTask(syncId, 0);
    const other = keys.copyTask(syncId, 1);
    await waitFor('the copy tasks', async () => (await h.deps.table.get<CopyTaskItem>(other)) !== undefined);
    const task = await h.deps.table.get<CopyTaskItem>(taskKey);
    expect(task?.chunkCount).toBe(CHUNKS);
    expect((await h.deps.table.get<CopyTaskItem>(other))?.chunkCount).toBe(CHUNKS);
    await expect(runCopyTask(h.deps, { syncId, groupId: g.groupId, taskNo: 1 })).resolves.toBe(CHUNKS);
    chunkPuts.count = 0;
    return { syncId, recoveryPointId, taskKey, message: { syncId, groupId: g.groupId, taskNo: 0 } };
  }

  /** Runs a delivery in the background, settling to 'finished' or to its error. */
  const deliver = (message: CopyMessage, shouldStop?: () => boolean) =>
    runCopyTask(h.deps, message, shouldStop).then(
      () => 'finished',
      (e: unknown) => e,
    );

  async function expectCommitted(syncId: string, recoveryPointId: string, after: string): Promise<void> {
    const s = await waitFor('the commit', async () => {
      const v = await getSync(h.deps, g.groupId, syncId);
      return v.state === 'committed' || v.state === 'failed' ? v : undefined;
    });
    expect(s.state).toBe('committed');
    expect(
      (await readAll(h, g.secondaries[0], recoveryPointId)).equals(await readAll(h, g.primaries[0])),
    ).toBe(true);
    await expectOnlyLiveAndRetained(h, g, after);
  }

  const firstRecord = (taskKey: { pk: string; sk: string }) =>
    waitFor(
      'a first record',
      async () => ((await h.deps.table.get<CopyTaskItem>(taskKey))?.doneCount ?? 0) > 0,
    );

  it('records every chunk once, deletes the superseded copies, and the RP equals the primary', async () => {
    const { syncId, recoveryPointId, taskKey, message } = await syncWithOneTask(11);
    const first = deliver(message);
    await firstRecord(taskKey);
    const second = await runCopyTask(h.deps, message);
    expect(await first).toBeInstanceOf(TaskSuperseded);

    const task = await h.deps.table.get<CopyTaskItem>(taskKey);
    expect(task?.doneCount).toBe(CHUNKS);
    expect(task?.claims).toBe(2);
    // The second delivery copied only what the first had not recorded when it claimed the task.
    expect(second).toBeLessThan(CHUNKS);
    expect(chunkPuts.count).toBeGreaterThan(CHUNKS);
    // The first delivery's message, received again: the task is finished, nothing is copied.
    await expect(runCopyTask(h.deps, message)).resolves.toBe(0);

    await expectCommitted(syncId, recoveryPointId, 'two deliveries of one task');
  }, 90_000);

  it('a superseded delivery whose successor is killed finishes the task when its message comes back', async () => {
    const { syncId, recoveryPointId, taskKey, message } = await syncWithOneTask(23);
    const first = deliver(message);
    await firstRecord(taskKey);
    // The second delivery's worker is killed a few copies in: its message would come back too,
    // but the first's must not depend on it.
    let starts = 0;
    const second = deliver(message, () => ++starts > 4);
    expect(await first).toBeInstanceOf(TaskSuperseded);
    expect(await second).toBeInstanceOf(WorkerStopped);
    const left = await h.deps.table.get<CopyTaskItem>(taskKey);
    expect(left?.doneCount).toBeLessThan(CHUNKS);

    // The first delivery's message, received again, claims the task and copies the rest.
    await expect(runCopyTask(h.deps, message)).resolves.toBe(CHUNKS - (left?.doneCount ?? 0));
    const task = await h.deps.table.get<CopyTaskItem>(taskKey);
    expect(task?.doneCount).toBe(CHUNKS);
    expect(task?.claims).toBe(3);
    await expectCommitted(syncId, recoveryPointId, 'a superseded delivery finishing the task');
  }, 90_000);
});
