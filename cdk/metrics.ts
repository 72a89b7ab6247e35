import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { DIMENSIONS, NAMESPACE } from '../shared/telemetry-names';

/**
 * The custom metrics the alarms and the dashboard read, as CloudWatch embedded metric format
 * (EMF) records the scheduler writes to stdout each tick through Powertools Metrics
 * (lambdas/group-metrics.ts): namespace `Volmirror`, dimension sets
 * [["Deployment"], ["Deployment", "GroupId"]] so that the Deployment-only series, read with
 * Maximum, is the worst group. VolmirrorBytesReplicated is not emitted yet.
 */
export { CUSTOM_METRICS, DIMENSIONS, NAMESPACE, SERVICE_NAME } from '../shared/telemetry-names';

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
    dimensionsMap: { [DIMENSIONS.deployment]: deployment },
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
