import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAlarmStore } from '../../shared/aws/alarms';
import { MemoryNotifier } from '../../shared/aws/notifications';
import { listEvents } from '../../shared/usecases/events';
import { createGroup, deleteGroup, getGroup, patchGroup } from '../../shared/usecases/groups';
import { tick } from '../../shared/usecases/scheduler';
import { getSync, startSync } from '../../shared/usecases/sync/index';
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

const CHUNK = 64 * 1024;

async function alertEvents(
  h: Harness,
  groupId: string,
  kind: 'alert-raised' | 'alert-cleared',
  alert: string,
) {
  return (await listEvents(h.deps, groupId)).filter((e) => e.kind === kind && e.message.includes(alert));
}

describe('status: alerts raised once and cleared', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('backlog, link-down and sync-interval alerts: one event when each starts, one when it ends, whatever the number of ticks', async () => {
    h = await startHarness();
    const harness = h;
    const notifier = new MemoryNotifier();
    harness.deps.notifier = notifier;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    await patchGroup(harness.deps, g.groupId, {
      thresholds: { backlogWarningBytes: 2 * CHUNK, syncIntervalWarningSeconds: 1 },
    });
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 1));
    await gw.close();
    await waitFor(
      'the backlog alert',
      async () => (await alertEvents(harness, g.groupId, 'alert-raised', 'backlog')).length > 0,
    );
    // Concurrent ticks (the runtime's and these) raise it once.
    await Promise.all([tick(harness.deps), tick(harness.deps), tick(harness.deps)]);
    expect(await alertEvents(harness, g.groupId, 'alert-raised', 'backlog')).toHaveLength(1);
    expect((await getGroup(harness.deps, g.groupId)).alerts.map((a) => a.kind)).toContain('backlog');

    // A sync that cannot reach the secondary: link-down, and it runs past the warning threshold.
    harness.stack.cut('west');
    const { syncId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor('link-down and sync-interval alerts', async () => {
      const raised = await listEvents(harness.deps, g.groupId);
      return (
        raised.some((e) => e.kind === 'alert-raised' && e.message.includes('link-down')) &&
        raised.some((e) => e.kind === 'alert-raised' && e.message.includes('sync-interval'))
      );
    });
    await Promise.all([tick(harness.deps), tick(harness.deps)]);
    expect(await alertEvents(harness, g.groupId, 'alert-raised', 'link-down')).toHaveLength(1);
    expect(await alertEvents(harness, g.groupId, 'alert-raised', 'sync-interval')).toHaveLength(1);

    harness.stack.heal('west');
    await waitFor(
      'the sync to commit',
      async () => (await getSync(harness.deps, g.groupId, syncId)).state === 'committed',
      60_000,
    );
    await waitFor('every alert to clear', async () => {
      const group = await harness.deps.table.get<{ alertsRaised?: string[] }>({
        pk: 'GROUPS',
        sk: g.groupId,
      });
      return (group?.alertsRaised ?? []).length === 0;
    });
    await Promise.all([tick(harness.deps), tick(harness.deps)]);
    for (const kind of ['backlog', 'link-down', 'sync-interval']) {
      expect(await alertEvents(harness, g.groupId, 'alert-cleared', kind)).toHaveLength(1);
      expect(await alertEvents(harness, g.groupId, 'alert-raised', kind)).toHaveLength(1);
    }
    expect((await getGroup(harness.deps, g.groupId)).alerts).toEqual([]);
    // Warning and error events went to the notifier; info ones did not.
    const sent = notifier.published.map((n) => n.kind);
    expect(sent.filter((k) => k === 'alert-raised')).toHaveLength(3);
    expect(sent).not.toContain('alert-cleared');
    expect(notifier.published.every((n) => n.severity !== ('info' as string))).toBe(true);

    // A later backlog raises it again, once.
    const gw2 = await openGateway(harness, g.primaries[0]);
    await gw2.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 2));
    await gw2.close();
    await waitFor(
      'the backlog alert again',
      async () => (await alertEvents(harness, g.groupId, 'alert-raised', 'backlog')).length === 2,
    );
    await syncAndWait(harness, g.groupId);
  }, 150_000);

  it('group create, change and delete put and delete its CloudWatch alarms with the user thresholds', async () => {
    h = await startHarness();
    const store = new MemoryAlarmStore();
    h.deps.alarms = { store, deployment: 'test', topicArn: 'arn:aws:sns:eu-west-1:000000000000:t' };
    const g = await createGroup(h.deps, {
      name: 'a',
      primarySite: 'east',
      secondarySite: 'west',
      thresholds: { recoveryPointAgeAlertSeconds: 300 },
    });
    expect([...store.alarms.values()].map((a) => [a.MetricName, a.Threshold])).toEqual([
      ['VolmirrorRecoveryPointAgeSeconds', 300],
    ]);
    await patchGroup(h.deps, g.id, { thresholds: { backlogWarningBytes: 4096 } });
    expect([...store.alarms.values()].map((a) => [a.MetricName, a.Threshold]).sort()).toEqual([
      ['VolmirrorBacklogBytes', 4096],
      ['VolmirrorRecoveryPointAgeSeconds', 300],
    ]);
    await deleteGroup(h.deps, g.id);
    expect(store.alarms.size).toBe(0);
  });
});
