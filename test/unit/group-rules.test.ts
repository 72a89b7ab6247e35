import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkPriority,
  checkResyncPolicy,
  checkSyncSettings,
  checkThresholds,
  chunksPerTask,
  copyLanes,
  DEFAULT_INTERVAL_SECONDS,
  groupStatus,
  leaseIsLive,
  PRIORITIES,
  pairStatus,
  syncDue,
} from '../../shared/domain/group-rules';
import {
  GROUP_STATUSES,
  type Group,
  type GroupStatus,
  type Pair,
  type PairStatus,
  type SyncSettings,
  type Thresholds,
} from '../../shared/domain/model';
import { CHUNKS_PER_TASK, COPIES_IN_FLIGHT } from '../../shared/tuning';
import { expectBadInput } from './domain-error';

function group(over: Partial<Group> = {}): Group {
  return {
    id: 'grp-000000000001',
    name: 'g1',
    status: 'optimal',
    primarySite: 'us-east-1',
    secondarySite: 'eu-west-1',
    roleEpoch: 1,
    sync: { mode: 'manual', intervalSeconds: 600 },
    priority: 'medium',
    resyncPolicy: 'automatic',
    thresholds: {},
    epoch: 1,
    rpCounter: 0,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

function pair(over: Partial<Pair> = {}): Pair {
  return {
    id: 'pair-000000000001',
    groupId: 'grp-000000000001',
    primaryVolumeId: 'vol-000000000001',
    secondaryVolumeId: 'vol-000000000002',
    startEpoch: 1,
    baseManifestKey: 'manifests/base',
    addedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

describe('checkSyncSettings', () => {
  const current: SyncSettings = { mode: 'scheduled', intervalSeconds: 120 };

  it.each<[string, unknown, SyncSettings | undefined, SyncSettings]>([
    ['default', undefined, undefined, { mode: 'manual', intervalSeconds: DEFAULT_INTERVAL_SECONDS }],
    ['keeps current when absent', undefined, current, current],
    ['empty object, no current', {}, undefined, { mode: 'manual', intervalSeconds: 600 }],
    ['empty object keeps current', {}, current, current],
    ['mode only', { mode: 'continuous' }, undefined, { mode: 'continuous', intervalSeconds: 600 }],
    ['mode only keeps interval', { mode: 'manual' }, current, { mode: 'manual', intervalSeconds: 120 }],
    [
      'interval only keeps mode',
      { intervalSeconds: 60 },
      current,
      { mode: 'scheduled', intervalSeconds: 60 },
    ],
    [
      'both',
      { mode: 'scheduled', intervalSeconds: 3600 },
      undefined,
      { mode: 'scheduled', intervalSeconds: 3600 },
    ],
    ['lowest interval', { intervalSeconds: 1 }, undefined, { mode: 'manual', intervalSeconds: 1 }],
    [
      'highest interval',
      { intervalSeconds: 604_800 },
      undefined,
      { mode: 'manual', intervalSeconds: 604_800 },
    ],
  ])('%s', (_name, input, cur, expected) => {
    expect(checkSyncSettings(input, cur)).toEqual(expected);
  });

  it.each<unknown>([
    null,
    'scheduled',
    5,
    true,
    { mode: 'hourly' },
    { mode: 'MANUAL' },
    { mode: 3 },
    { intervalSeconds: 0 },
    { intervalSeconds: -60 },
    { intervalSeconds: 604_801 },
    { intervalSeconds: 1.5 },
    { intervalSeconds: '60' },
    { intervalSeconds: Number.NaN },
    { intervalSeconds: Number.POSITIVE_INFINITY },
    { mode: 'scheduled', intervalSeconds: 0 },
  ])('rejects %j with 400 bad-sync and leaves current as it was', (input) => {
    const cur: SyncSettings = { mode: 'continuous', intervalSeconds: 30 };
    expectBadInput(() => checkSyncSettings(input, cur), 'bad-sync');
    expect(cur).toEqual({ mode: 'continuous', intervalSeconds: 30 });
  });
});

describe('checkPriority', () => {
  it('defaults to medium and keeps the current value when absent', () => {
    expect(checkPriority(undefined)).toBe('medium');
    expect(checkPriority(undefined, 'highest')).toBe('highest');
  });

  it.each(PRIORITIES)('accepts %s', (p) => {
    expect(checkPriority(p, 'lowest')).toBe(p);
  });

  it.each<unknown>(['urgent', 'HIGH', '', null, 3, {}])('rejects %j with 400 bad-priority', (p) => {
    expectBadInput(() => checkPriority(p), 'bad-priority');
  });
});

describe('checkResyncPolicy', () => {
  it.each<[unknown, 'automatic' | 'manual' | undefined, string]>([
    [undefined, undefined, 'automatic'],
    [undefined, 'manual', 'manual'],
    ['manual', 'automatic', 'manual'],
    ['automatic', 'manual', 'automatic'],
  ])('checkResyncPolicy(%j, current %j) = %s', (input, cur, expected) => {
    expect(checkResyncPolicy(input, cur)).toBe(expected);
  });

  it.each<unknown>(['auto', 'Manual', '', null, true, 1])(
    'rejects %j with 400 bad-resync-policy',
    (input) => {
      expectBadInput(() => checkResyncPolicy(input), 'bad-resync-policy');
    },
  );
});

describe('checkThresholds', () => {
  const current: Thresholds = { syncIntervalWarningSeconds: 900, backlogWarningBytes: 1 << 30 };

  it.each<[string, unknown, Thresholds | undefined, Thresholds]>([
    ['default', undefined, undefined, {}],
    ['keeps current when absent', undefined, current, current],
    ['empty object keeps current', {}, current, current],
    [
      'sets one, keeps the others',
      { recoveryPointAgeAlertSeconds: 3600 },
      current,
      { ...current, recoveryPointAgeAlertSeconds: 3600 },
    ],
    [
      'overrides one',
      { backlogWarningBytes: 5 },
      current,
      { syncIntervalWarningSeconds: 900, backlogWarningBytes: 5 },
    ],
    [
      'all three',
      { syncIntervalWarningSeconds: 1, recoveryPointAgeAlertSeconds: 2, backlogWarningBytes: 3 },
      undefined,
      { syncIntervalWarningSeconds: 1, recoveryPointAgeAlertSeconds: 2, backlogWarningBytes: 3 },
    ],
  ])('%s', (_name, input, cur, expected) => {
    expect(checkThresholds(input, cur)).toEqual(expected);
  });

  it('does not modify the current thresholds it was given', () => {
    const cur: Thresholds = { backlogWarningBytes: 10 };
    checkThresholds({ backlogWarningBytes: 20, syncIntervalWarningSeconds: 5 }, cur);
    expect(cur).toEqual({ backlogWarningBytes: 10 });
  });

  it.each<unknown>([
    null,
    5,
    'x',
    { unknown: 1 },
    { backlogWarningBytes: 0 },
    { backlogWarningBytes: -1 },
    { backlogWarningBytes: 1.5 },
    { backlogWarningBytes: '10' },
    { backlogWarningBytes: null },
    { syncIntervalWarningSeconds: Number.NaN },
    { recoveryPointAgeAlertSeconds: Number.POSITIVE_INFINITY },
    { backlogWarningBytes: 10, bogus: 1 },
    JSON.parse('{"__proto__": 1}'),
  ])('rejects %j with 400 bad-thresholds and leaves current as it was', (input) => {
    const cur: Thresholds = { backlogWarningBytes: 10 };
    expectBadInput(() => checkThresholds(input, cur), 'bad-thresholds');
    expect(cur).toEqual({ backlogWarningBytes: 10 });
  });
});

describe('copyLanes', () => {
  it('grows strictly with priority and is a positive whole number', () => {
    const lanes = PRIORITIES.map(copyLanes);
    expect(PRIORITIES).toEqual(['lowest', 'low', 'medium', 'high', 'highest']);
    for (const n of lanes) {
      expect(Number.isInteger(n)).toBe(true);
      expect(n).toBeGreaterThanOrEqual(1);
    }
    for (let i = 1; i < lanes.length; i++) expect(lanes[i]).toBeGreaterThan(lanes[i - 1]);
  });

  it('is monotone in priority (property)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...PRIORITIES), fc.constantFrom(...PRIORITIES), (a, b) => {
        const ia = PRIORITIES.indexOf(a);
        const ib = PRIORITIES.indexOf(b);
        expect(Math.sign(copyLanes(a) - copyLanes(b))).toBe(Math.sign(ia - ib));
      }),
    );
  });
});

describe('groupStatus', () => {
  it.each(GROUP_STATUSES)('a stored %s with no sync running is shown as stored', (status) => {
    expect(groupStatus(group({ status }))).toBe(status);
  });

  it.each<[GroupStatus, boolean, GroupStatus]>([
    ['optimal', true, 'synchronizing-initial'],
    ['optimal', false, 'synchronizing-interval'],
    ['paused', false, 'paused'],
    ['paused', true, 'paused'],
    ['user-suspended', false, 'user-suspended'],
    ['system-suspended', true, 'system-suspended'],
    ['role-change-pending', false, 'role-change-pending'],
    ['role-change-in-progress', false, 'role-change-in-progress'],
    ['failed', false, 'failed'],
  ])('stored %s with an active sync (initial=%s) is shown as %s', (status, initial, expected) => {
    expect(groupStatus(group({ status, activeSync: { id: 'sync-000000000001', initial } }))).toBe(expected);
  });
});

describe('pairStatus', () => {
  // group status -> [pair without a committed RP yet, pair with one]
  const table: [GroupStatus, PairStatus, PairStatus][] = [
    ['optimal', 'synchronizing', 'optimal'],
    ['failed', 'failed', 'failed'],
    ['user-suspended', 'stopped', 'stopped'],
    ['system-suspended', 'stopped', 'stopped'],
    ['paused', 'incomplete', 'incomplete'],
    ['role-change-pending', 'synchronizing', 'optimal'],
    ['role-change-in-progress', 'synchronizing', 'optimal'],
  ];

  it.each(table)('group %s: new pair %s, pair with an RP %s', (status, fresh, synced) => {
    expect(pairStatus(group({ status }), pair())).toBe(fresh);
    expect(pairStatus(group({ status }), pair({ firstRp: 3 }))).toBe(synced);
  });

  it('a pair whose first RP is number 0 counts as having one', () => {
    expect(pairStatus(group(), pair({ firstRp: 0 }))).toBe('optimal');
  });

  it('a running sync does not change an optimal pair with an RP, and initial pairs stay synchronizing', () => {
    const g = group({ activeSync: { id: 'sync-000000000001', initial: true } });
    expect(pairStatus(g, pair())).toBe('synchronizing');
    expect(pairStatus(g, pair({ firstRp: 1 }))).toBe('optimal');
  });
});

describe('syncDue', () => {
  const now = Date.parse('2026-03-01T12:00:00.000Z');
  const iso = (ms: number) => new Date(ms).toISOString();

  it.each<[string, Partial<Group>, boolean]>([
    ['manual, never synced', { sync: { mode: 'manual', intervalSeconds: 1 } }, false],
    [
      'manual, long overdue',
      { sync: { mode: 'manual', intervalSeconds: 1 }, lastSyncStartedAt: iso(now - 86_400_000) },
      false,
    ],
    ['continuous, idle', { sync: { mode: 'continuous', intervalSeconds: 600 } }, true],
    [
      'continuous, just synced',
      { sync: { mode: 'continuous', intervalSeconds: 600 }, lastSyncStartedAt: iso(now) },
      true,
    ],
    [
      'continuous, sync running',
      {
        sync: { mode: 'continuous', intervalSeconds: 600 },
        activeSync: { id: 'sync-000000000001', initial: false },
      },
      false,
    ],
    ['scheduled, never synced', { sync: { mode: 'scheduled', intervalSeconds: 600 } }, true],
    [
      'scheduled, interval just elapsed',
      { sync: { mode: 'scheduled', intervalSeconds: 600 }, lastSyncStartedAt: iso(now - 600_000) },
      true,
    ],
    [
      'scheduled, 1 ms early',
      { sync: { mode: 'scheduled', intervalSeconds: 600 }, lastSyncStartedAt: iso(now - 599_999) },
      false,
    ],
    [
      'scheduled, half way',
      { sync: { mode: 'scheduled', intervalSeconds: 600 }, lastSyncStartedAt: iso(now - 300_000) },
      false,
    ],
    [
      'scheduled, interval elapsed since the start but not since the cut',
      {
        sync: { mode: 'scheduled', intervalSeconds: 600 },
        lastSyncStartedAt: iso(now - 600_000),
        lastRp: {
          id: 'rp-000000000001',
          number: 1,
          epoch: 3,
          cutAt: iso(now - 599_000),
          committedAt: iso(now - 500_000),
        },
      },
      false,
    ],
    [
      'scheduled, interval elapsed since the cut',
      {
        sync: { mode: 'scheduled', intervalSeconds: 600 },
        lastSyncStartedAt: iso(now - 700_000),
        lastRp: {
          id: 'rp-000000000001',
          number: 1,
          epoch: 3,
          cutAt: iso(now - 600_000),
          committedAt: iso(now - 500_000),
        },
      },
      true,
    ],
    [
      'scheduled, overdue but a sync is running',
      {
        sync: { mode: 'scheduled', intervalSeconds: 600 },
        lastSyncStartedAt: iso(now - 3_600_000),
        activeSync: { id: 'sync-000000000001', initial: true },
      },
      false,
    ],
  ])('%s -> %s', (_name, over, expected) => {
    expect(syncDue(group(over), now)).toBe(expected);
  });

  it.each(GROUP_STATUSES.filter((s) => s !== 'optimal'))('never while the group is %s', (status) => {
    for (const mode of ['continuous', 'scheduled', 'manual'] as const) {
      expect(
        syncDue(
          group({ status, sync: { mode, intervalSeconds: 1 }, lastSyncStartedAt: iso(now - 86_400_000) }),
          now,
        ),
      ).toBe(false);
    }
  });

  it('scheduled: due iff at least intervalSeconds have passed since the last start (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 604_800 }),
        fc.integer({ min: 0, max: 2 * 604_800_000 }),
        (interval, ago) => {
          const g = group({
            sync: { mode: 'scheduled', intervalSeconds: interval },
            lastSyncStartedAt: iso(now - ago),
          });
          expect(syncDue(g, now)).toBe(ago >= interval * 1000);
        },
      ),
    );
  });
});

describe('leaseIsLive', () => {
  it.each<[{ expiresAt: number } | undefined, number, boolean]>([
    [undefined, 0, false],
    [{ expiresAt: 1000 }, 999, true],
    [{ expiresAt: 1000 }, 1000, false],
    [{ expiresAt: 1000 }, 1001, false],
    [{ expiresAt: 0 }, -1, true],
  ])('leaseIsLive(%j, %d) = %s', (lease, now, expected) => {
    expect(leaseIsLive(lease, now)).toBe(expected);
  });
});

describe('chunksPerTask', () => {
  it.each([
    [undefined, 8, 64],
    [0, 8, 16],
    [10, 8, 16],
    [64, 8, 16],
    [256, 8, 32],
    [300, 8, 38],
    [512, 8, 64],
    [4096, 8, 64],
    [1000, 2, 64],
    [256, 32, 16],
  ])('a delta of %s chunks over %i lanes: tasks of %i', (delta, lanes, expected) => {
    expect(CHUNKS_PER_TASK).toBe(64);
    expect(COPIES_IN_FLIGHT).toBe(16);
    expect(chunksPerTask(delta, lanes)).toBe(expected);
  });

  it('keeps nearly as many copies in flight as the lanes allow, in tasks of 16 to 64 chunks (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom(...PRIORITIES),
        (delta, priority) => {
          const lanes = copyLanes(priority);
          const size = chunksPerTask(delta, lanes);
          expect(size).toBeGreaterThanOrEqual(COPIES_IN_FLIGHT);
          expect(size).toBeLessThanOrEqual(CHUNKS_PER_TASK);
          if (delta >= lanes * CHUNKS_PER_TASK) expect(size).toBe(CHUNKS_PER_TASK);
          // The first tasks offered (one per lane), each keeping up to COPIES_IN_FLIGHT copies going.
          const sizes = Array.from({ length: Math.ceil(delta / size) }, (_, i) =>
            Math.min(size, delta - i * size),
          );
          const inFlight = sizes.slice(0, lanes).reduce((n, s) => n + Math.min(s, COPIES_IN_FLIGHT), 0);
          expect(inFlight).toBeGreaterThanOrEqual((15 / 16) * Math.min(delta, lanes * COPIES_IN_FLIGHT));
        },
      ),
    );
  });
});
