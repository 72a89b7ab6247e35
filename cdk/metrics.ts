import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';

/**
 * The custom metrics the alarms and the dashboard read, as CloudWatch embedded metric format
 * (EMF) lines the app writes to stdout: namespace `Volmirror`, dimension sets
 * [["Deployment"], ["Deployment", "GroupId"]] so that the Deployment-only series, read with
 * Maximum, is the worst group. The scheduler emits them each tick (lambdas/emf.ts);
 * VolmirrorBytesReplicated is not emitted yet.
 */
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

/** Lines at level ERROR in a function's JSON log, counted by a metric filter per function. */
export const LOGGED_ERRORS_NAMESPACE = 'Volmirror/LoggedErrors';

export function deploymentMetric(
  name: string,
  deployment: string,
  region: string,
  statistic: 'Maximum' | 'Sum',
): Metric {
  return new Metric({
    namespace: NAMESPACE,
    metricName: name,
    dimensionsMap: { Deployment: deployment },
    statistic,
    period: Duration.minutes(1),
    region,
  });
}

export function loggedErrorsMetric(functionName: string, region: string): Metric {
  return new Metric({
    namespace: LOGGED_ERRORS_NAMESPACE,
    metricName: functionName,
    statistic: 'Sum',
    period: Duration.minutes(5),
    region,
  });
}
