import { afterEach, describe, expect, it } from 'vitest';
import { route } from '../../shared/api/router';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { backlogBytes, createGroup, getGroup, listGroups, patchGroup } from '../../shared/usecases/groups';
import { getSync, startSync } from '../../shared/usecases/sync/index';
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
import { readAll, WriteLog } from '../support/workload';

const CHUNK = 64 * 1024;
const SIZE = 32 * CHUNK;

async function loadGroupItem(h: Harness, groupId: string): Promise<Group> {
  const g = await h.deps.table.get<Group>(keys.group(groupId));
  if (!g) throw new Error(`group ${groupId} is gone`);
  return g;
}

describe('status: backlog overflow and crash resync by scan', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('validates backlogLimitBytes', async () => {
    h = await startHarness();
    const base = { name: 'b', primarySite: 'east', secondarySite: 'west' };
    for (const bad of [0, -1, 1.5, '1GiB']) {
      const res = await route(h.deps, {
        method: 'POST',
        path: '/groups',
        body: JSON.stringify({ ...base, backlogLimitBytes: bad }),
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'bad-backlog-limit' } });
    }
    expect(await listGroups(h.deps)).toEqual([]);
    const g = await createGroup(h.deps, { ...base, backlogLimitBytes: 1024 });
    expect(g.backlogLimitBytes).toBe(1024);
    await expect(patchGroup(h.deps, g.id, { backlogLimitBytes: 0 })).rejects.toMatchObject({
      code: 'bad-backlog-limit',
    });
    expect((await getGroup(h.deps, g.id)).backlogLimitBytes).toBe(1024);
    expect((await patchGroup(h.deps, g.id, { backlogLimitBytes: 4096 })).backlogLimitBytes).toBe(4096);
  });

  it('writes past the limit stop per-write tracking; the next sync copies only the chunks that differ, and tracking resumes after it', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const gw = await openGateway(harness, vol);
    await gw.write(vol, 0, randomBytesOf(16 * CHUNK, 1));
    const rp1 = await syncAndWait(harness, g.groupId);
    await patchGroup(harness.deps, g.groupId, { backlogLimitBytes: 4 * CHUNK });

    // 10 distinct chunks, some rewritten many times: 17 chunk writes, far past 4 chunks.
    for (let i = 0; i < 10; i++) await gw.write(vol, i * CHUNK, randomBytesOf(CHUNK, 10 + i));
    for (let i = 0; i < 7; i++) await gw.write(vol, (i % 3) * CHUNK, randomBytesOf(CHUNK, 30 + i));
    await waitFor('the overflow', async () => (await loadGroupItem(harness, g.groupId)).resyncByScan);
    const view = await getGroup(harness.deps, g.groupId);
    expect(view.pairs[0].resync).toBe('partial');
    const overflow = (await listEvents(harness.deps, g.groupId)).find((e) => e.kind === 'backlog-overflow');
    expect(overflow?.severity).toBe('warning');
    // Tracking is off: further writes add nothing to the backlog.
    const atOverflow = await backlogBytes(harness.deps, await loadGroupItem(harness, g.groupId));
    await gw.write(vol, 20 * CHUNK, randomBytesOf(2 * CHUNK, 40));
    await gw.write(vol, 5 * CHUNK, randomBytesOf(100, 41));
    expect(await backlogBytes(harness.deps, await loadGroupItem(harness, g.groupId))).toBe(atOverflow);

    // The resync: chunks 0-9, 20, 21 differ from RP 1; writes go on meanwhile (tracked again after its cut).
    const west = chunkWriteCounter(harness, 'west');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    // Three writes while it runs (fewer than the limit, so the backlog does not overflow again).
    const during = new WriteLog();
    for (let i = 0; i < 3; i++) await during.issue(gw, vol, (24 + i) * CHUNK, randomBytesOf(CHUNK, 100 + i));
    await waitFor(
      'the resync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
    );
    const job = await harness.deps.table.get<{ scan?: boolean; cutEpoch: number }>(
      keys.sync(g.groupId, syncId),
    );
    expect(job?.scan).toBe(true);
    const rp2Image = await readAll(harness, g.secondaries[0], recoveryPointId);
    const rp1Image = await readAll(harness, g.secondaries[0], rp1);
    let differing = 0;
    for (let c = 0; c < 32; c++) {
      if (
        !rp2Image.subarray(c * CHUNK, (c + 1) * CHUNK).equals(rp1Image.subarray(c * CHUNK, (c + 1) * CHUNK))
      )
        differing++;
    }
    // Never a full copy: each copy is a chunk that differs from RP 1 (the writes during the sync
    // that were in before its cut add at most the 3 chunks they touch).
    expect(west.count()).toBe(differing);
    expect(differing).toBeGreaterThanOrEqual(12);
    expect(differing).toBeLessThanOrEqual(15);
    const group = await waitFor('the resync request to clear', async () => {
      const x = await loadGroupItem(harness, g.groupId);
      return !x.resyncByScan && x;
    });
    expect(group.lastRp?.id).toBe(recoveryPointId);

    // Tracked again: the writes after the scan cut and new ones reach the next RP by their records.
    await gw.write(vol, 30 * CHUNK, randomBytesOf(CHUNK, 50));
    await gw.close();
    const rp3 = await syncAndWait(harness, g.groupId);
    const rp3job = (
      await harness.deps.table.queryPrefix<{ scan?: boolean; rpId: string }>(`GRP#${g.groupId}`, 'SYNC#')
    ).find((j) => j.rpId === rp3);
    expect(rp3job?.scan).toBeUndefined();
    expect((await readAll(harness, g.secondaries[0], rp3)).equals(await readAll(harness, vol))).toBe(true);
  }, 180_000);

  it('a gateway that crashed mid-writes without closing its session: the next sync recovers by scan, copying only what changed', async () => {
    h = await startHarness({ leaseSeconds: 1 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const first = await openGateway(harness, vol);
    await first.write(vol, 0, randomBytesOf(16 * CHUNK, 1));
    await first.close();
    const rp1 = await syncAndWait(harness, g.groupId);
    const log = new WriteLog();
    log.writes.push({
      order: -1,
      epoch: 0,
      volumeId: vol,
      offset: 0,
      data: randomBytesOf(16 * CHUNK, 1),
      issuedAt: 0,
      acked: true,
    });
    const gw = await openGateway(harness, vol);
    for (let i = 0; i < 9; i++)
      void log.issue(gw, vol, (i % 6) * CHUNK + 100 * i, randomBytesOf(3000, 60 + i)).catch(() => undefined);
    await log.settle().catch(() => undefined);
    gw.abandon();
    await waitFor("the dead gateway's lease to expire", async () => {
      const group = await loadGroupItem(harness, g.groupId);
      return (group.lease?.expiresAt ?? 0) < harness.deps.now();
    });
    const next = await waitFor('a new gateway to take over', () =>
      openGateway(harness, vol).catch(() => undefined),
    );
    await log.issue(next, vol, 10 * CHUNK, randomBytesOf(CHUNK, 70));
    await next.close();
    const west = chunkWriteCounter(harness, 'west');
    const rp2 = await syncAndWait(harness, g.groupId);
    const image = await readAll(harness, g.secondaries[0], rp2);
    expect(image.equals(log.imageAt(vol, SIZE, Number.MAX_SAFE_INTEGER))).toBe(true);
    expect(image.equals(await readAll(harness, vol))).toBe(true);
    // Chunks 0-5 (crashed session) and 10 (new session): 7 copies, never the 16 of a full copy.
    expect(west.count()).toBe(7);
    expect(rp1).not.toBe(rp2);
  }, 120_000);
});
