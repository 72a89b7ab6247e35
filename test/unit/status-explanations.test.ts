import { describe, expect, it } from 'vitest';
import type { GroupView } from '../../cli/api-client';
import { GROUP_STATUS_HELP, PAIR_STATUS_HELP, renderStatus } from '../../cli/commands/status';
import { GROUP_STATUSES, type GroupStatus, PAIR_STATUSES, type PairStatus } from '../../shared/domain/model';

function group(status: GroupStatus, pairStatus: PairStatus = 'optimal'): GroupView {
  return {
    id: 'grp-1',
    name: 'g1',
    status,
    roles: { east: 'primary', west: 'secondary' },
    roleEpoch: 1,
    primarySite: 'east',
    secondarySite: 'west',
    sync: { mode: 'manual', intervalSeconds: 600 },
    priority: 'medium',
    resyncPolicy: 'automatic',
    thresholds: {},
    backlogBytes: 0,
    pairs: [{ primaryVolumeId: 'vol-a', secondaryVolumeId: 'vol-b', status: pairStatus }],
    alerts: [],
  };
}

describe('status: what the operator should do', () => {
  it.each(GROUP_STATUSES)('group %s has a one-line explanation, shown by volmirror status', (status) => {
    const help = GROUP_STATUS_HELP[status];
    expect(help.length).toBeGreaterThan(10);
    expect(help).not.toContain('\n');
    const out = renderStatus([group(status)], []);
    if (status === 'optimal') expect(out).not.toContain(help);
    else expect(out).toContain(`g1: ${status}: ${help}`);
  });

  it.each(PAIR_STATUSES)('pair %s has a one-line explanation', (status) => {
    const help = PAIR_STATUS_HELP[status];
    expect(help.length).toBeGreaterThan(5);
    expect(help).not.toContain('\n');
    expect(renderStatus([group('optimal', status)], [])).toContain(status);
  });

  it.each(['failed', 'orphan', 'incomplete'] as PairStatus[])('a %s pair gets its advice line', (status) => {
    expect(renderStatus([group('paused', status)], [])).toContain(
      `g1: pair vol-a ${status}: ${PAIR_STATUS_HELP[status]}`,
    );
  });

  it('an optimal deployment prints no advice', () => {
    expect(renderStatus([group('optimal')], []).split('\n')).toHaveLength(3);
  });
});
