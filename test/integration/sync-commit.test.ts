import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group, RecoveryPoint, SyncJob } from '../../shared/domain/model';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { getSync, rpIdOf, startSync } from '../../shared/usecases/sync/index';
import { hookControl, isCommitWrite } from '../support/control-hooks';
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

describe('sync commit', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a site lost after the commit leaves the committed job and the group alone; clean-up finishes later', async () => {
    h = await startHarness({ retention: 1 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 61));
    const rp1 = await syncAndWait(harness, g.groupId);
    await gw.write(g.primaries[0], CHUNK, randomBytesOf(4 * CHUNK, 62));
    // The secondary site drops right after the commit: expiring RP 1 (retention 1) cannot finish.
    let armed = true;
    hookControl(harness, 'cutAfterCommit', {
      after: async (c) => {
        if (armed && isCommitWrite(c)) {
          armed = false;
          harness.stack.cut('west');
        }
      },
    });
    const { syncId, recoveryPointId: rp2 } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor('the commit and a failed clean-up', async () => {
      const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
      return !armed && group?.recoveryPoints?.length === 1 && group.recoveryPoints[0] !== 1;
    });
    expect((await getSync(harness.deps, g.groupId, syncId)).state).toBe('committed');
    const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
    expect(group?.status).toBe('optimal');
    expect(group?.activeSync).toBeUndefined();
    expect((await listRecoveryPoints(harness.deps, g.groupId)).map((r) => r.id)).toEqual([rp2]);
    // The group is not held by the unfinished clean-up: the next sync starts (and waits for the link).
    await gw.write(g.primaries[0], 8 * CHUNK, randomBytesOf(2 * CHUNK, 63));
    await gw.close();
    const next = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, next.syncId);

    harness.stack.heal('west');
    await waitFor(
      'the clean-up to finish and the next sync to commit',
      async () => {
        const job = await harness.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
        const s = await getSync(harness.deps, g.groupId, next.syncId);
        if (s.state === 'failed') throw new Error(`sync failed: ${s.error}`);
        return job?.finishedAt !== undefined && s.state === 'committed';
      },
      60_000,
    );
    const job = await harness.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    expect(job?.state).toBe('committed');
    await waitFor('RP 1 to be expired', async () => {
      const item = await harness.deps.table.get<RecoveryPoint>(keys.recoveryPoint(g.groupId, 1));
      return item === undefined;
    });
    const after = await harness.deps.table.get<Group>(keys.group(g.groupId));
    expect(after?.status).toBe('optimal');
    expect(rp1).toBe(rpIdOf(1));
    const image = await readAll(harness, g.primaries[0]);
    expect((await readAll(harness, g.secondaries[0], next.recoveryPointId)).equals(image)).toBe(true);
  });

  it('a refused commit leaves no RP that can ever be listed or read', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 71));
    await gw.close();
    // A role change lands right before the commit's conditional write.
    let armed = true;
    hookControl(harness, 'bumpRoleEpoch', {
      before: async (c) => {
        if (armed && isCommitWrite(c)) {
          armed = false;
          await harness.deps.table.update(keys.group(g.groupId), { add: { roleEpoch: 1 } });
        }
      },
    });
    const refused = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, refused.syncId);
    const s = await waitFor('the refused sync to end', async () => {
      const v = await getSync(harness.deps, g.groupId, refused.syncId);
      return v.state === 'failed' || v.state === 'committed' ? v : undefined;
    });
    expect(s.state).toBe('failed');
    const rp = await syncAndWait(harness, g.groupId);
    expect(rp).not.toBe(refused.recoveryPointId);
    const listed = (await listRecoveryPoints(harness.deps, g.groupId)).map((r) => r.id);
    expect(listed).toEqual([rp]);
    await expect(readAll(harness, g.secondaries[0], refused.recoveryPointId)).rejects.toMatchObject({
      status: 404,
    });
    const image = await readAll(harness, g.primaries[0]);
    expect((await readAll(harness, g.secondaries[0], rp)).equals(image)).toBe(true);
  });

  it('an RP expiry that lands while a commit is being written is never undone by the commit', async () => {
    h = await startHarness({ retention: 3 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    const rps: string[] = [];
    for (let i = 0; i < 2; i++) {
      await gw.write(g.primaries[0], i * CHUNK, randomBytesOf(CHUNK, 80 + i));
      rps.push(await syncAndWait(harness, g.groupId));
    }
    await gw.write(g.primaries[0], 2 * CHUNK, randomBytesOf(CHUNK, 82));
    await gw.close();
    // The previous sync's clean-up unlists RP 1 between the commit's read of the group and its write.
    let armed = true;
    const listedAfterCommit: number[][] = [];
    hookControl(harness, 'expiryMeanwhile', {
      before: async (c) => {
        if (armed && isCommitWrite(c)) {
          armed = false;
          await harness.deps.table.update(keys.group(g.groupId), { set: { recoveryPoints: [2] } });
        }
      },
      after: async (c) => {
        if (!armed && isCommitWrite(c)) {
          const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
          listedAfterCommit.push(group?.recoveryPoints ?? []);
        }
      },
    });
    const rp3 = await syncAndWait(harness, g.groupId);
    expect(listedAfterCommit).toEqual([[2, 3]]);
    expect((await listRecoveryPoints(harness.deps, g.groupId)).map((r) => r.id)).toEqual([rp3, rps[1]]);
  });
});
