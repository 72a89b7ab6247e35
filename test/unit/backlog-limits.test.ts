import { describe, expect, it } from 'vitest';
import {
  backlogOverflow,
  CHANGE_QUEUE_RETENTION_SECONDS,
  checkBacklogLimitSeconds,
  MAX_BACKLOG_LIMIT_SECONDS,
} from '../../shared/domain/group-rules';
import type { Group } from '../../shared/domain/model';
import { expectBadInput } from './domain-error';

const NOW = Date.parse('2026-11-22T12:00:00Z');

function group(over: Partial<Group> = {}): Group {
  return {
    id: 'grp-1',
    name: 'g',
    status: 'optimal',
    primarySite: 'east',
    secondarySite: 'west',
    roleEpoch: 1,
    sync: { mode: 'manual', intervalSeconds: 600 },
    priority: 'medium',
    resyncPolicy: 'automatic',
    thresholds: {},
    epoch: 1,
    rpCounter: 0,
    createdAt: '2026-11-22T00:00:00Z',
    ...over,
  };
}

describe('backlog limits', () => {
  it('the age limit is a whole number of seconds from 1 to an hour below the change queue retention', () => {
    expect(MAX_BACKLOG_LIMIT_SECONDS).toBe(CHANGE_QUEUE_RETENTION_SECONDS - 3600);
    expect(checkBacklogLimitSeconds(1)).toBe(1);
    expect(checkBacklogLimitSeconds(MAX_BACKLOG_LIMIT_SECONDS)).toBe(MAX_BACKLOG_LIMIT_SECONDS);
    expect(checkBacklogLimitSeconds(undefined, 60)).toBe(60);
    expect(checkBacklogLimitSeconds(null, 60)).toBeUndefined();
    for (const bad of [
      0,
      -1,
      1.5,
      '60',
      MAX_BACKLOG_LIMIT_SECONDS + 1,
      CHANGE_QUEUE_RETENTION_SECONDS,
      2e20,
    ]) {
      const e = expectBadInput(() => checkBacklogLimitSeconds(bad), 'bad-backlog-limit');
      expect(e.message).toContain(String(MAX_BACKLOG_LIMIT_SECONDS));
    }
  });

  it('overflows on bytes above the byte limit, or on the oldest record older than the age limit', () => {
    expect(backlogOverflow(group(), { bytes: 10 ** 12 }, NOW)).toBeUndefined();
    expect(backlogOverflow(group({ backlogLimitBytes: 100 }), { bytes: 100 }, NOW)).toBeUndefined();
    expect(backlogOverflow(group({ backlogLimitBytes: 100 }), { bytes: 101 }, NOW)).toContain('101 bytes');
    const aged = group({ backlogLimitSeconds: 60 });
    expect(backlogOverflow(aged, { bytes: 1, oldestAt: NOW - 60_000 }, NOW)).toBeUndefined();
    expect(backlogOverflow(aged, { bytes: 1, oldestAt: NOW - 61_000 }, NOW)).toContain('61s old');
    // No record with a storing time: no age to judge.
    expect(backlogOverflow(aged, { bytes: 1 }, NOW)).toBeUndefined();
  });

  it('without an age limit of its own a group overflows before SQS could drop a record', () => {
    const oldest = NOW - (MAX_BACKLOG_LIMIT_SECONDS + 1) * 1000;
    expect(backlogOverflow(group(), { bytes: 1, oldestAt: oldest + 2000 }, NOW)).toBeUndefined();
    expect(backlogOverflow(group(), { bytes: 1, oldestAt: oldest }, NOW)).toContain(
      `limit of ${MAX_BACKLOG_LIMIT_SECONDS}s`,
    );
  });
});
