/**
 * The names the handlers log and emit metrics under, shared with the CDK app that sets them in the
 * functions' environment and reads the metrics in alarms and the dashboard (cdk/metrics.ts), so
 * the two cannot drift apart.
 */
export const SERVICE_NAME = 'volmirror';

export const NAMESPACE = 'Volmirror';

export const CUSTOM_METRICS = {
  /** Age of each group's newest committed RP, emitted by every scheduler tick. */
  recoveryPointAge: 'VolmirrorRecoveryPointAgeSeconds',
  /** Groups in `paused` status (link down, needs attention), emitted by every tick. */
  pausedGroups: 'VolmirrorPausedGroups',
  /** Change-record bytes not yet in an RP (the reserved capacity), per group. */
  backlogBytes: 'VolmirrorBacklogBytes',
  /** Bytes copied to the secondary, per group, emitted by the copy worker. */
  bytesReplicated: 'VolmirrorBytesReplicated',
} as const;

/** The dimension names: every series carries Deployment; per-group series add GroupId. */
export const DIMENSIONS = { deployment: 'Deployment', groupId: 'GroupId' } as const;
