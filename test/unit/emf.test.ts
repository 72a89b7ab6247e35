import { describe, expect, it } from 'vitest';
import { emfLines } from '../../lambdas/emf';

describe('EMF metric lines', () => {
  it('one line per group with RP age and backlog, and one with the paused count', () => {
    const lines = emfLines(
      'prod',
      [
        { groupId: 'grp-a', recoveryPointAgeSeconds: 30, backlogBytes: 10, paused: false },
        { groupId: 'grp-b', backlogBytes: 0, paused: true },
      ],
      1000,
    ).map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatchObject({
      Deployment: 'prod',
      GroupId: 'grp-a',
      VolmirrorRecoveryPointAgeSeconds: 30,
    });
    expect(lines[0]._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name)).toEqual([
      'VolmirrorRecoveryPointAgeSeconds',
      'VolmirrorBacklogBytes',
    ]);
    // A group with no RP yet reports no age rather than a made-up one.
    expect(lines[1].VolmirrorRecoveryPointAgeSeconds).toBeUndefined();
    expect(lines[2]).toMatchObject({ Deployment: 'prod', VolmirrorPausedGroups: 1 });
  });
});
