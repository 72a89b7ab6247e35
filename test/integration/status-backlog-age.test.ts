import { afterEach, describe, expect, it } from 'vitest';
import { route } from '../../shared/api/router';
import { keys } from '../../shared/aws/keys';
import { MAX_BACKLOG_LIMIT_SECONDS } from '../../shared/domain/group-rules';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { createGroup, getGroup, listGroups, patchGroup } from '../../shared/usecases/groups';
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
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
const SIZE = 32 * CHUNK;

describe('status: backlog overflow by age', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('validates backlogLimitSeconds: a positive whole number below the change queue retention', async () => {
    h = await startHarness();
    const base = { name: 'a', primarySite: 'east', secondarySite: 'west' };
    for (const bad of [0, -5, 2.5, '1h', MAX_BACKLOG_LIMIT_SECONDS + 1, 14 * 86_400]) {
      const res = await route(h.deps, {
        method: 'POST',
        path: '/groups',
        body: JSON.stringify({ ...base, backlogLimitSeconds: bad }),
      });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'bad-backlog-limit' } });
      expect(JSON.stringify(res.body)).toContain('backlogLimitSeconds');
    }
    expect(await listGroups(h.deps)).toEqual([]);
    const g = await createGroup(h.deps, { ...base, backlogLimitSeconds: 3_600 });
    expect(g.backlogLimitSeconds).toBe(3_600);
    const res = await route(h.deps, {
      method: 'PATCH',
      path: `/groups/${g.id}`,
      body: JSON.stringify({ backlogLimitSeconds: MAX_BACKLOG_LIMIT_SECONDS + 1 }),
    });
    expect(res.status).toBe(400);
    expect((await getGroup(h.deps, g.id)).backlogLimitSeconds).toBe(3_600);
    expect(
      (await patchGroup(h.deps, g.id, { backlogLimitSeconds: MAX_BACKLOG_LIMIT_SECONDS }))
        .backlogLimitSeconds,
    ).toBe(MAX_BACKLOG_LIMIT_SECONDS);
    // The byte limit and the age limit are set and removed independently.
    await patchGroup(h.deps, g.id, { backlogLimitBytes: 4096 });
    const cleared = await patchGroup(h.deps, g.id, { backlogLimitSeconds: null });
    expect(cleared.backlogLimitSeconds).toBeUndefined();
    expect(cleared.backlogLimitBytes).toBe(4096);
  });

  it('records older than the age limit while the link is cut: overflow, then the healed link resyncs by scan, copying only the chunks that differ', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const gw = await openGateway(harness, vol);
    await gw.write(vol, 0, randomBytesOf(16 * CHUNK, 1));
    const rp1 = await syncAndWait(harness, g.groupId);
    // No byte limit: only the age can overflow this backlog, a few small writes.
    await patchGroup(harness.deps, g.groupId, { backlogLimitSeconds: 2 });

    harness.stack.cut('west');
    // Chunks 3, 4, 5 and 20; chunk 4 rewritten three times.
    await gw.write(vol, 3 * CHUNK, randomBytesOf(3 * CHUNK, 2));
    for (let i = 0; i < 3; i++) await gw.write(vol, 4 * CHUNK + 10, randomBytesOf(100, 3 + i));
    await gw.write(vol, 20 * CHUNK, randomBytesOf(CHUNK, 7));
    await waitFor(
      'the overflow',
      async () => (await harness.deps.table.get<Group>(keys.group(g.groupId)))?.resyncByScan,
      30_000,
    );
    // The event is recorded just after the group is marked: wait for it too.
    const event = await waitFor(
      'the overflow event',
      async () => (await listEvents(harness.deps, g.groupId)).find((e) => e.kind === 'backlog-overflow'),
      10_000,
    );
    expect(event?.severity).toBe('warning');
    expect(event?.message).toContain('above the limit of 2s');
    const view = await getGroup(harness.deps, g.groupId);
    expect(view.pairs[0].resync).toBe('partial');
    // The records the overflow found are still there until the resync: their age is shown.
    expect(view.backlogAgeSeconds).toBeGreaterThanOrEqual(2);
    // One more write while tracking is off: the scan must find it too.
    await gw.write(vol, 30 * CHUNK, randomBytesOf(CHUNK, 8));
    await gw.close();

    harness.stack.heal('west');
    const west = chunkWriteCounter(harness, 'west');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the resync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    );
    const job = await harness.deps.table.get<{ scan?: boolean }>(keys.sync(g.groupId, syncId));
    expect(job?.scan).toBe(true);
    // Chunks 3, 4, 5, 20 and 30 differ from RP 1: five copies, never the 16 (or 32) of a full copy.
    expect(west.count()).toBe(5);
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(await readAll(harness, vol)),
    ).toBe(true);
    expect(recoveryPointId).not.toBe(rp1);
  }, 120_000);
});
