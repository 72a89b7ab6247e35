import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { SyncPause } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { getGroup, patchGroup, resumeGroup, suspendGroup } from '../../shared/usecases/groups';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
const VOL = { sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK };

describe('status: resume under the manual resync policy while the link is down', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('resume with the link still cut shows paused, not healthy; the same sync goes on by itself once the link heals', async () => {
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
    const pauseOf = async () =>
      (await harness.deps.table.get<{ pause?: SyncPause }>(keys.sync(g.groupId, syncId)))?.pause;
    const retriesBefore = (await pauseOf())?.retries ?? 0;

    const resumed = await resumeGroup(harness.deps, g.groupId);
    expect(resumed.status).toBe('paused');
    expect(resumed.alerts.map((a) => a.kind)).toContain('link-down');
    expect(resumed.pairs.map((p) => p.status)).toEqual(['incomplete']);
    // The resume retries at once; the retry still finds the link cut: the group stays paused throughout.
    await waitFor('a retry after the resume', async () => {
      expect((await getGroup(harness.deps, g.groupId)).status).toBe('paused');
      return ((await pauseOf())?.retries ?? 0) > retriesBefore;
    });
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('paused');
    expect((await getSync(harness.deps, g.groupId, syncId)).state).toBe('paused');

    // No second resume: the user's resume holds until the sync reaches the other site.
    harness.stack.heal('west');
    await waitFor(
      'the same sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    );
    const view = await getGroup(harness.deps, g.groupId);
    expect(view.status).toBe('optimal');
    expect(view.lastRecoveryPoint?.id).toBe(recoveryPointId);
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(
        await readAll(harness, g.primaries[0]),
      ),
    ).toBe(true);
    const kinds = (await listEvents(harness.deps, g.groupId)).map((e) => e.kind);
    expect(kinds).toContain('resumed');
    expect(kinds).toContain('link-up');
  }, 120_000);

  it('suspended during a pause, then resumed with the link still cut: back to paused at the failed retry, on by itself once healed', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [VOL]);
    await patchGroup(harness.deps, g.groupId, { resyncPolicy: 'manual' });
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(5 * CHUNK, 9));
    await gw.close();
    harness.stack.cut('west');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the group to pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
    );
    // A long pause has a long backoff: its next retry is ten minutes away.
    await harness.deps.table.update(
      keys.sync(g.groupId, syncId),
      { set: { 'pause.retryAt': Date.now() + 600_000 } },
      { expr: 'attribute_exists(pause)' },
    );
    expect((await suspendGroup(harness.deps, g.groupId)).status).toBe('user-suspended');
    await resumeGroup(harness.deps, g.groupId);
    // The resumed sync retries at once, not at the end of its backoff, and finds the link cut:
    // the group must say so.
    const paused = await waitFor(
      'the group to show paused again',
      async () => {
        const v = await getGroup(harness.deps, g.groupId);
        return v.status === 'paused' && v;
      },
      20_000,
    );
    expect(paused.alerts.map((a) => a.kind)).toContain('link-down');
    harness.stack.heal('west');
    await waitFor(
      'the same sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    );
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
    expect(
      (await readAll(harness, g.secondaries[0], recoveryPointId)).equals(
        await readAll(harness, g.primaries[0]),
      ),
    ).toBe(true);
  }, 120_000);
});
