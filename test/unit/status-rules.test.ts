import { describe, expect, it } from 'vitest';
import { alarmNames, alarmSpecs, MemoryAlarmStore, syncGroupAlarms } from '../../shared/aws/alarms';
import { subjectOf } from '../../shared/aws/notifications';
import {
  alertChanges,
  alertsOf,
  checkBacklogLimit,
  storesChangeBatch,
} from '../../shared/domain/group-rules';
import type { Group } from '../../shared/domain/model';

const base: Group = {
  id: 'grp-1',
  name: 'g1',
  status: 'optimal',
  primarySite: 'east',
  secondarySite: 'west',
  roleEpoch: 1,
  sync: { mode: 'manual', intervalSeconds: 600 },
  priority: 'medium',
  resyncPolicy: 'automatic',
  thresholds: {},
  epoch: 10,
  rpCounter: 3,
  createdAt: '2026-01-01T00:00:00Z',
};

describe('status: alert rules', () => {
  it('raises each alert once and clears it once', () => {
    const g = { ...base, status: 'paused' as const, thresholds: { backlogWarningBytes: 10 } };
    const now = alertsOf(g, { backlogBytes: 11, now: 0 });
    expect(now.map((a) => a.kind)).toEqual(['link-down', 'backlog']);
    const first = alertChanges([], now);
    expect(first.raise.map((a) => a.kind)).toEqual(['link-down', 'backlog']);
    expect(first.next).toEqual(['backlog', 'link-down']);
    expect(alertChanges(first.next, now)).toEqual({ raise: [], clear: [], next: first.next });
    const later = alertChanges(
      first.next,
      alertsOf({ ...g, status: 'optimal' }, { backlogBytes: 11, now: 0 }),
    );
    expect(later.clear).toEqual(['link-down']);
    expect(later.raise).toEqual([]);
  });

  it('member failure, role conflict and orphan are alerts', () => {
    for (const status of ['system-suspended', 'role-conflict', 'orphan'] as const) {
      const kinds = alertsOf({ ...base, status }, { backlogBytes: 0, now: 0 }).map((a) => a.kind);
      expect(kinds).toEqual([status === 'system-suspended' ? 'member-failed' : status]);
    }
  });

  it('validates the backlog limit', () => {
    expect(checkBacklogLimit(undefined, 5)).toBe(5);
    expect(checkBacklogLimit(null, 5)).toBeUndefined();
    expect(checkBacklogLimit(4096)).toBe(4096);
    for (const bad of [0, -1, 2.5, '1GiB', true, 2.325448678553386e157, Number.MAX_SAFE_INTEGER + 1])
      expect(() => checkBacklogLimit(bad)).toThrow(/backlogLimitBytes/);
  });
});

describe('status: which change batches ingest keeps while a resync by scan is pending', () => {
  const pending: Group = { ...base, resyncByScan: { token: 'rs-1', afterRp: 3 } };
  it('keeps everything without a pending resync', () => {
    expect(storesChangeBatch(base, 5)).toBe(true);
    expect(storesChangeBatch(undefined, 5)).toBe(true);
  });
  it('drops batches before the scan cut', () => {
    expect(storesChangeBatch(pending, 11)).toBe(false);
  });
  it('keeps batches after the running resync sync took its scan cut', () => {
    const cut: Group = {
      ...pending,
      activeSync: { id: 'sync-2', initial: false },
      cutDone: { syncId: 'sync-2', epoch: 12, at: 'x', scan: { v: 'k' } },
    };
    expect(storesChangeBatch(cut, 12)).toBe(false);
    expect(storesChangeBatch(cut, 13)).toBe(true);
    // A scan cut of another (earlier) sync does not count.
    expect(storesChangeBatch({ ...cut, activeSync: undefined }, 13)).toBe(false);
  });
  it('keeps batches after the RP of the resync once it committed, before the request is cleared', () => {
    const committed: Group = {
      ...pending,
      lastRp: { id: 'rp-000004', number: 4, epoch: 12, cutAt: 'x', committedAt: 'y' },
    };
    expect(storesChangeBatch(committed, 13)).toBe(true);
    expect(storesChangeBatch(committed, 12)).toBe(false);
    const older: Group = {
      ...committed,
      lastRp: { ...(committed.lastRp as NonNullable<Group['lastRp']>), number: 3 },
    };
    expect(storesChangeBatch(older, 13)).toBe(false);
  });
});

describe('status: CloudWatch alarms per group', () => {
  it('puts an alarm per threshold set, with the user’s values, and deletes the ones unset', async () => {
    const store = new MemoryAlarmStore();
    const g = { ...base, thresholds: { recoveryPointAgeAlertSeconds: 900, backlogWarningBytes: 1 << 30 } };
    await syncGroupAlarms(store, 'prod', g, 'arn:aws:sns:eu-west-1:1:t');
    const specs = [...store.alarms.values()];
    expect(specs.map((s) => [s.MetricName, s.Threshold])).toEqual([
      ['VolmirrorRecoveryPointAgeSeconds', 900],
      ['VolmirrorBacklogBytes', 1 << 30],
    ]);
    expect(specs[0].Dimensions).toEqual([
      { Name: 'Deployment', Value: 'prod' },
      { Name: 'GroupId', Value: 'grp-1' },
    ]);
    expect(specs[0].AlarmActions).toEqual(['arn:aws:sns:eu-west-1:1:t']);
    await syncGroupAlarms(store, 'prod', { ...g, thresholds: { recoveryPointAgeAlertSeconds: 60 } });
    expect([...store.alarms.values()].map((s) => s.Threshold)).toEqual([60]);
    await store.delete(alarmNames('prod', 'grp-1'));
    expect(store.alarms.size).toBe(0);
    expect(alarmSpecs('prod', base)).toEqual([]);
  });

  it('notification subjects fit SNS', () => {
    const s = subjectOf({
      groupId: 'g'.repeat(200),
      kind: 'alert-raised',
      severity: 'error',
      message: 'm',
      at: 'x',
    });
    expect(s.length).toBeLessThanOrEqual(100);
  });
});
