import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import { decodeChunkRefs } from '../../shared/domain/chunk-ref-text';
import { chunkKey } from '../../shared/domain/chunks';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { createGroup, getGroup, patchGroup, resumeGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { tick } from '../../shared/usecases/scheduler';
import { advanceSync, getSync, startSync } from '../../shared/usecases/sync/index';
import type { CopyTaskItem } from '../../shared/usecases/sync-progress';
import { createVolume } from '../../shared/usecases/volumes';
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
const VOL = { sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK };

/**
 * Two pairs replicated at RP 1, then 4 chunks rewritten on each; the new version of chunk 2 of
 * the second volume is deleted while the sync copies, so its copy is refused for good.
 */
async function failSecondMember(h: Harness, groupId: string, primaries: string[], copy: { on: boolean }) {
  const gw = await openGateway(h, primaries[0]);
  await gw.write(primaries[0], 0, randomBytesOf(8 * CHUNK, 1));
  await gw.write(primaries[1], 0, randomBytesOf(8 * CHUNK, 2));
  const rp1 = await syncAndWait(h, groupId);
  // The copy workers stop at their next task, so the delete below happens before any copy.
  copy.on = false;
  await gw.write(primaries[0], 0, randomBytesOf(4 * CHUNK, 3));
  await gw.write(primaries[1], 0, randomBytesOf(4 * CHUNK, 4));
  await gw.close();
  const { syncId } = await startSync(h.deps, groupId);
  h.runtime?.drive(groupId, syncId);
  const tasks = await waitFor('the copy tasks', async () => {
    const job = await getSync(h.deps, groupId, syncId);
    if (job.phase !== 'copying') return false;
    return Promise.all([0, 1].map((n) => h.deps.table.get<CopyTaskItem>(keys.copyTask(syncId, n))));
  });
  const task = tasks.find((t) => t?.sourceVolumeId === primaries[1]);
  const chunk2 = (task ? decodeChunkRefs(task.chunks) : []).find(([index]) => index === 2);
  if (!chunk2) throw new Error('no copy task for chunk 2 of the second volume');
  await h.clients.sites.east.s3.send(
    new DeleteObjectCommand({
      Bucket: h.stack.config.sites.find((s) => s.name === 'east')?.bucket,
      Key: chunkKey(primaries[1], 2),
      VersionId: chunk2[1],
    }),
  );
  copy.on = true;
  h.runtime?.startCopyWorkers('west', 2, () => false);
  await waitFor('the sync to end', async () => (await getSync(h.deps, groupId, syncId)).state === 'failed');
  return { rp1, syncId };
}

describe('status: member failure and resync policies', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a source version gone: pair failed, others stopped, group system-suspended, other groups go on; resume resyncs the delta only', async () => {
    h = await startHarness();
    const harness = h;
    const copy = { on: true };
    startRuntime(harness, { copyWorkers: 2, shouldStopCopy: () => !copy.on });
    const g = await mirroredGroup(harness, [VOL, VOL]);
    await patchGroup(harness.deps, g.groupId, { resyncPolicy: 'manual' });
    const other = await createGroup(harness.deps, { name: 'g2', primarySite: 'east', secondarySite: 'west' });
    const otherVol = await createVolume(harness.deps, { name: 'o', site: 'east', ...VOL });
    const otherPair = await addPair(harness.deps, other.id, { primaryVolumeId: otherVol.id });

    const { syncId } = await failSecondMember(harness, g.groupId, g.primaries, copy);
    const view = await getGroup(harness.deps, g.groupId);
    expect(view.status).toBe('system-suspended');
    expect(view.pairs.find((p) => p.primaryVolumeId === g.primaries[1])?.status).toBe('failed');
    expect(view.pairs.find((p) => p.primaryVolumeId === g.primaries[0])?.status).toBe('stopped');
    const events = await listEvents(harness.deps, g.groupId);
    const failed = events.find((e) => e.kind === 'member-failed');
    expect(failed?.severity).toBe('error');
    expect(failed?.message).toContain(g.primaries[1]);
    // The job reads failed first; its event follows the failed sync's clean-up.
    await waitFor('the sync-failed event', async () =>
      (await listEvents(harness.deps, g.groupId)).some(
        (e) => e.kind === 'sync-failed' && e.message.includes(syncId),
      ),
    );
    await expect(startSync(harness.deps, g.groupId)).rejects.toMatchObject({ code: 'wrong-state' });

    // The rest of the deployment keeps running.
    const gw = await openGateway(harness, otherVol.id);
    await gw.write(otherVol.id, 0, randomBytesOf(3 * CHUNK, 9));
    await gw.close();
    const otherRp = await syncAndWait(harness, other.id);
    expect(
      (await readAll(harness, otherPair.secondaryVolumeId, otherRp)).equals(
        await readAll(harness, otherVol.id),
      ),
    ).toBe(true);

    // Manual policy: the tick leaves the group suspended, even once the backoff has passed.
    await waitFor('the backoff to pass', async () => {
      const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.autoResume?.retryAt ?? 0) < harness.deps.now();
    });
    await tick(harness.deps);
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('system-suspended');

    const resumed = await resumeGroup(harness.deps, g.groupId);
    expect(resumed.status).toBe('optimal');
    expect(resumed.pairs.map((p) => p.status)).toEqual(['optimal', 'optimal']);
    const west = chunkWriteCounter(harness, 'west');
    const rp2 = await syncAndWait(harness, g.groupId);
    // Chunks 0-3 of the first volume and 0, 1, 3 of the second differ from RP 1 (chunk 2 went back to its RP 1 version).
    expect(west.count()).toBe(7);
    for (const [i, p] of g.primaries.entries()) {
      expect((await readAll(harness, g.secondaries[i], rp2)).equals(await readAll(harness, p))).toBe(true);
    }
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
  }, 180_000);

  it('resync policy automatic: a system-suspended group resumes by itself and resyncs', async () => {
    h = await startHarness();
    const harness = h;
    const copy = { on: true };
    startRuntime(harness, { copyWorkers: 2, shouldStopCopy: () => !copy.on });
    const g = await mirroredGroup(harness, [VOL, VOL]);
    const { rp1 } = await failSecondMember(harness, g.groupId, g.primaries, copy);
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('system-suspended');
    await patchGroup(harness.deps, g.groupId, { sync: { mode: 'scheduled', intervalSeconds: 1 } });
    const group = await waitFor(
      'an RP after RP 1',
      async () => {
        const v = await getGroup(harness.deps, g.groupId);
        return v.lastRecoveryPoint && v.lastRecoveryPoint.id !== rp1 && v;
      },
      60_000,
    );
    expect(
      (await listEvents(harness.deps, g.groupId)).some((e) => e.message.includes('resumed automatically')),
    ).toBe(true);
    const rp = group.lastRecoveryPoint?.id;
    for (const [i, p] of g.primaries.entries()) {
      expect((await readAll(harness, g.secondaries[i], rp)).equals(await readAll(harness, p))).toBe(true);
    }
  }, 180_000);

  it('resync policy manual: a paused sync stays paused after the link heals until the user resumes', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [VOL]);
    await patchGroup(harness.deps, g.groupId, { resyncPolicy: 'manual' });
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(6 * CHUNK, 7));
    await gw.close();
    harness.stack.cut('west');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the group to pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
    );
    harness.stack.heal('west');
    await waitFor('the retry time to pass', async () => {
      const job = await harness.deps.table.get<{ pause?: { retryAt: number } }>(keys.sync(g.groupId, syncId));
      return (job?.pause?.retryAt ?? 0) < harness.deps.now();
    });
    expect(await advanceSync(harness.deps, g.groupId, syncId)).toBe('waiting');
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('paused');
    expect((await getSync(harness.deps, g.groupId, syncId)).state).toBe('paused');

    await resumeGroup(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the same sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
    );
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(
        await readAll(harness, g.primaries[0]),
      ),
    ).toBe(true);
  }, 120_000);
});
