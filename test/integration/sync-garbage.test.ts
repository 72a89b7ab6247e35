import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group, RecoveryPoint, SyncJob } from '../../shared/domain/model';
import { abortSync, getSync, startSync } from '../../shared/usecases/sync/index';
import { type ControlCall, hookControl, jobWriteValues } from '../support/control-hooks';
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

describe('a sync leaves no objects behind', () => {
  let h: Harness;
  let g: MirroredGroup;
  const VOLUME_CHUNKS = 64;
  /** Control-table faults armed by one scenario at a time. */
  let fault: { before?: (c: ControlCall) => void; after?: (c: ControlCall) => void } = {};
  let next = 0;
  async function writeChunks(count: number, seed: number) {
    const gw = await openGateway(h, g.primaries[0]);
    for (let i = 0; i < count; i++)
      // Round the volume again once every chunk was written: later scenarios rewrite chunks.
      await gw.write(g.primaries[0], ((next + i) % VOLUME_CHUNKS) * CHUNK, randomBytesOf(CHUNK, seed + i));
    next += count;
    await gw.close();
  }

  /** Drives the sync with the armed fault until it commits, then disarms the fault. */
  async function commitWithFault(syncId: string): Promise<void> {
    h.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the sync to commit',
      async () => (await getSync(h.deps, g.groupId, syncId)).state === 'committed',
    );
    fault = {};
  }

  /** After the post-commit clean-up: only live and retained versions, and the RP is the image. */
  async function expectCleanedUp(recoveryPointId: string, after: string): Promise<void> {
    await waitFor('the clean-up', async () => {
      const group = await h.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
    await expectOnlyLiveAndRetained(h, g, after);
    const image = await readAll(h, g.primaries[0]);
    expect((await readAll(h, g.secondaries[0], recoveryPointId)).equals(image)).toBe(true);
  }

  beforeAll(async () => {
    h = await startHarness({ retention: 10 });
    startRuntime(h);
    hookControl(h, 'garbageFaults', {
      before: async (c) => fault.before?.(c),
      after: async (c) => fault.after?.(c),
    });
    g = await mirroredGroup(h, [{ sizeBytes: VOLUME_CHUNKS * CHUNK, chunkSizeBytes: CHUNK }]);
    await writeChunks(4, 1);
    await syncAndWait(h, g.groupId);
    // Small steps: the delta is folded into runs in S3 and copied as many small tasks.
    h.deps.config.stepBudgetChunks = 4;
  }, 120_000);
  afterAll(async () => h?.stop());

  it('an aborted sync that had copied some chunks', async () => {
    await writeChunks(24, 100);
    const { syncId } = await startSync(h.deps, g.groupId);
    h.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'some chunks copied',
      async () => (await getSync(h.deps, g.groupId, syncId)).chunksCopied > 0,
    );
    await abortSync(h.deps, g.groupId, syncId);
    await expectOnlyLiveAndRetained(h, g, 'an abort');
  }, 60_000);

  it('a failed sync', async () => {
    await writeChunks(4, 200);
    // Every commit attempt is refused at the RP item: the sync fails after five, each with its manifests.
    fault = {
      before: (c) => {
        if (c.commandName === 'PutItemCommand' && JSON.stringify(c.input.Item).includes('"RP#'))
          throw new Error('injected: the RP item cannot be written');
      },
    };
    const { syncId } = await startSync(h.deps, g.groupId);
    h.runtime?.drive(g.groupId, syncId);
    const s = await waitFor(
      'the sync to fail',
      async () => {
        const v = await getSync(h.deps, g.groupId, syncId);
        return v.state === 'failed' ? v : undefined;
      },
      60_000,
    );
    fault = {};
    expect(s.error).toContain('injected');
    await expectOnlyLiveAndRetained(h, g, 'a failed sync');
  }, 90_000);

  it('a commit whose first attempt was superseded', async () => {
    await writeChunks(6, 300);
    const { syncId } = await startSync(h.deps, g.groupId);
    let killed: string | undefined;
    fault = {
      before: (c) => {
        const commit = Object.values(jobWriteValues(c, syncId) ?? {}).find(
          (v): v is { attempt: string } => typeof v === 'object' && v !== null && 'attempt' in v,
        );
        if (killed === undefined && commit) {
          killed = commit.attempt;
          // The first commit step wrote a manifest part, then dies before its checkpoint:
          // the next step starts a new attempt, and the first one's objects are left.
          throw new Error('injected: the first commit attempt dies');
        }
      },
    };
    h.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the sync to commit',
      async () => (await getSync(h.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    ).catch(async (e) => {
      throw new Error(
        `${e.message}: ${JSON.stringify(await h.deps.table.get(keys.sync(g.groupId, syncId)))} ${JSON.stringify(h.runtime?.errors.slice(-5))}`,
      );
    });
    fault = {};
    const job = await h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    const rp = await h.deps.table.get<RecoveryPoint>(keys.recoveryPoint(g.groupId, job?.rpNumber ?? 0));
    expect(killed).toBeDefined();
    expect(rp?.volumes[0].secondaryManifestKey).not.toContain(`/${killed}/`);
    await waitFor('the clean-up', async () => {
      const group = await h.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
    await expectOnlyLiveAndRetained(h, g, 'a superseded commit attempt');
  }, 90_000);

  it('a commit that dies between its commit point and the job saying committed', async () => {
    await writeChunks(6, 500);
    const { syncId, recoveryPointId } = await startSync(h.deps, g.groupId);
    let died = 0;
    fault = {
      before: (c) => {
        const values = jobWriteValues(c, syncId);
        if (died === 0 && values && Object.values(values).includes('committed')) {
          died++;
          // The RP is published; the next call rewrites the last manifest parts from the last
          // checkpoint, leaving older versions of them that only a listing finds.
          throw new Error('injected: the commit dies after its commit point');
        }
      },
    };
    h.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the sync to commit',
      async () => (await getSync(h.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    );
    fault = {};
    expect(died).toBe(1);
    const job = await h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    expect(job?.commitCalls).toBeGreaterThan(job?.commit?.calls ?? 0);
    await waitFor('the clean-up', async () => {
      const group = await h.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
    await expectOnlyLiveAndRetained(h, g, 'a commit that died after its commit point');
    const image = await readAll(h, g.primaries[0]);
    expect((await readAll(h, g.secondaries[0], recoveryPointId)).equals(image)).toBe(true);
  }, 90_000);

  it('a crashed collect', async () => {
    await writeChunks(12, 400);
    const { syncId, recoveryPointId } = await startSync(h.deps, g.groupId);
    let crashed = 0;
    fault = {
      after: (c) => {
        const values = jobWriteValues(c, syncId);
        if (crashed === 0 && values && Object.values(values).includes('copying')) {
          crashed++;
          // The planning step's last write landed and its process dies there; the runs it read
          // are left for the post-commit clean-up.
          throw new Error('injected: collect crashed after its last checkpoint');
        }
      },
    };
    await commitWithFault(syncId);
    expect(crashed).toBe(1);
    await expectCleanedUp(recoveryPointId, 'a crashed collect');
  }, 90_000);

  it('a fold step that dies after writing its run, before its checkpoint', async () => {
    await writeChunks(12, 500);
    const { syncId, recoveryPointId } = await startSync(h.deps, g.groupId);
    let crashed = 0;
    fault = {
      before: (c) => {
        const collect = Object.values(jobWriteValues(c, syncId) ?? {}).find(
          (v): v is { runs: number; planning?: unknown } =>
            typeof v === 'object' && v !== null && 'lastBatch' in v && 'runs' in v,
        );
        if (crashed === 0 && collect?.runs === 1 && collect.planning === undefined) {
          crashed++;
          // Run 1 is stored and marked; the step re-runs from its old checkpoint and writes it again.
          throw new Error('injected: collect crashed before its checkpoint');
        }
      },
    };
    await commitWithFault(syncId);
    expect(crashed).toBe(1);
    // Both versions of run 1 are gone with the rest.
    await expectCleanedUp(recoveryPointId, 'a fold step re-run after writing its run');
  }, 90_000);
});
