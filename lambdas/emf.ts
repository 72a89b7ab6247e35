import type { GroupMetrics } from '../shared/usecases/group-metrics';

const NAMESPACE = 'Volmirror';

/**
 * CloudWatch embedded metric format lines, one per group plus one per deployment, written
 * raw to stdout (Lambda's JSON log format would wrap console.log). cdk/metrics.ts names them.
 */
export function emfLines(deployment: string, metrics: GroupMetrics[], at = Date.now()): string[] {
  const lines = metrics.map((m) =>
    JSON.stringify({
      _aws: {
        Timestamp: at,
        CloudWatchMetrics: [
          {
            Namespace: NAMESPACE,
            Dimensions: [['Deployment'], ['Deployment', 'GroupId']],
            Metrics: [
              ...(m.recoveryPointAgeSeconds === undefined
                ? []
                : [{ Name: 'VolmirrorRecoveryPointAgeSeconds', Unit: 'Seconds' }]),
              { Name: 'VolmirrorBacklogBytes', Unit: 'Bytes' },
            ],
          },
        ],
      },
      Deployment: deployment,
      GroupId: m.groupId,
      ...(m.recoveryPointAgeSeconds !== undefined && {
        VolmirrorRecoveryPointAgeSeconds: m.recoveryPointAgeSeconds,
      }),
      VolmirrorBacklogBytes: m.backlogBytes,
    }),
  );
  lines.push(
    JSON.stringify({
      _aws: {
        Timestamp: at,
        CloudWatchMetrics: [
          {
            Namespace: NAMESPACE,
            Dimensions: [['Deployment']],
            Metrics: [{ Name: 'VolmirrorPausedGroups', Unit: 'Count' }],
          },
        ],
      },
      Deployment: deployment,
      VolmirrorPausedGroups: metrics.filter((m) => m.paused).length,
    }),
  );
  return lines;
}
