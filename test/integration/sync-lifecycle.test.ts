import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import { decodeChunkRefs } from '../../shared/domain/chunk-ref-text';
import { chunkKey } from '../../shared/domain/chunks';
import type { Group, Pair } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { getGroup, loadPairs } from '../../shared/usecases/groups';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { getSync, type SyncView, startSync } from '../../shared/usecases/sync/index';
import { type CopyTaskItem, loadTaskSummaries } from '../../shared/usecases/sync-progress';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startApi,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

/** Waits until the sync has ended and returns its view. */
async function ended(h: Harness, groupId: string, syncId: string, timeoutMs = 30_000): Promise<SyncView> {
  return waitFor(
    `sync ${syncId} to end`,
    async () => {
      const s = await getSync(h.deps, groupId, syncId);
      return s.state === 'committed' || s.state === 'failed' ? s : undefined;
    },
    timeoutMs,
  );
}

/** A failed sync: group released and optimal, an error event naming the sync, no copy task left. */
async function expectFailedCleanly(
  h: Harness,
  groupId: string,
  syncId: string,
  eventKind = 'sync-failed',
  status = 'optimal',
) {
  // The job is marked failed first; the event follows the clean-up.
  const events = await waitFor(`the ${eventKind} event`, async () => {
    const all = await listEvents(h.deps, groupId);
    return (
      all.some((e) => e.kind === eventKind && e.severity === 'error' && e.message.includes(syncId)) && all
    );
  });
  expect(events.length).toBeGreaterThan(0);
  const group = await h.deps.table.get<Group>(keys.group(groupId));
  expect(group?.activeSync).toBeUndefined();
  expect(group?.status).toBe(status);
  expect(await loadTaskSummaries(h.deps, syncId)).toHaveLength(0);
}

describe('sync lifecycle', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a sync paused while collecting resumes collecting: the initial RP equals the primary image', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(6 * CHUNK, 11));
    await gw.close();
    // The primary site's link is cut: collect cannot read the initial sync's base manifest.
    harness.stack.cut('east');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the group to pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
    );
    const paused = await getSync(harness.deps, g.groupId, syncId);
    expect(paused.state).toBe('paused');
    expect(paused.phase).toBe('collecting');

    harness.stack.heal('east');
    await waitFor(
      'the same sync to commit',
      async () => {
        const s = await getSync(harness.deps, g.groupId, syncId);
        if (s.state === 'failed') throw new Error(`sync failed: ${s.error}`);
        return s.state === 'committed';
      },
      60_000,
    );
    const primary = await readAll(harness, g.primaries[0]);
    expect(primary.some((b) => b !== 0)).toBe(true);
    expect((await readAll(harness, g.secondaries[0], recoveryPointId)).equals(primary)).toBe(true);
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
  });

  it('a copy task whose source version is gone fails the sync with that reason, and the group is released', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness, { copyWorkers: 0 });
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 21));
    await gw.close();
    const { syncId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    const task = await waitFor('the copy task', () =>
      harness.deps.table.get<CopyTaskItem>(keys.copyTask(syncId, 0)),
    );
    const [index, versionId] = decodeChunkRefs(task.chunks)[0];
    await harness.clients.sites.east.s3.send(
      new DeleteObjectCommand({
        Bucket: harness.stack.config.sites.find((s) => s.name === 'east')?.bucket,
        Key: chunkKey(g.primaries[0], index),
        VersionId: versionId,
      }),
    );
    harness.runtime?.startCopyWorkers('west', 1, () => false);
    const s = await ended(harness, g.groupId, syncId);
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/copy task 0/);
    // A member failure: the sync ends, and the group waits system-suspended (see status-member-failure).
    await expectFailedCleanly(harness, g.groupId, syncId, 'sync-failed', 'system-suspended');
  });

  it('a step that throws the same error every time fails the sync after a few tries', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    // collect reads the initial sync's base manifest: gone, every attempt throws NoSuchKey.
    const [pair] = await loadPairs(harness.deps, g.groupId);
    await harness.clients.sites.east.s3.send(
      new DeleteObjectCommand({
        Bucket: harness.stack.config.sites.find((s) => s.name === 'east')?.bucket,
        Key: (pair as Pair).baseManifestKey,
      }),
    );
    const { syncId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    const s = await ended(harness, g.groupId, syncId);
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/collecting failed \d+ times/);
    await expectFailedCleanly(harness, g.groupId, syncId);
  });

  it('abort ends the running sync: last RP still served, change records kept for the next sync', async () => {
    h = await startHarness();
    const harness = h;
    let copying = true;
    startRuntime(harness, { copyWorkers: 2, shouldStopCopy: () => !copying });
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(3 * CHUNK, 31));
    const rp1 = await syncAndWait(harness, g.groupId);
    const imageAtRp1 = await readAll(harness, g.secondaries[0], rp1);
    // The copy workers stop at their next task: the next sync stays in its copy phase.
    copying = false;
    await gw.write(g.primaries[0], 2 * CHUNK, randomBytesOf(5 * CHUNK, 32));
    await gw.close();
    const api = await startApi(harness);
    try {
      const call = (path: string) =>
        fetch(`${api.server.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${api.token}` },
        });
      const { syncId } = await startSync(harness.deps, g.groupId);
      harness.runtime?.drive(g.groupId, syncId);
      await waitFor(
        'the copy phase',
        async () => (await getSync(harness.deps, g.groupId, syncId)).phase === 'copying',
      );
      const res = await call(`/groups/${g.groupId}/syncs/${syncId}/abort`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as SyncView).state).toBe('failed');
      expect((await call(`/groups/${g.groupId}/syncs/${syncId}/abort`)).status).toBe(409);
      expect((await call(`/groups/${g.groupId}/syncs/sync-000000000000/abort`)).status).toBe(404);
      await expectFailedCleanly(harness, g.groupId, syncId, 'sync-aborted');
      expect((await listRecoveryPoints(harness.deps, g.groupId)).map((r) => r.id)).toEqual([rp1]);
      expect((await readAll(harness, g.secondaries[0])).equals(imageAtRp1)).toBe(true);
      // The aborted sync's changes are copied by the next one.
      harness.runtime?.startCopyWorkers('west', 2, () => false);
      const rp2 = await syncAndWait(harness, g.groupId);
      const primary = await readAll(harness, g.primaries[0]);
      expect((await readAll(harness, g.secondaries[0], rp2)).equals(primary)).toBe(true);
    } finally {
      await api.server.stop();
    }
  });
});
