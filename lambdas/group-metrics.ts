import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { CUSTOM_METRICS, DIMENSIONS, NAMESPACE } from '../shared/telemetry-names';
import type { GroupMetrics } from '../shared/usecases/group-metrics';

/**
 * Metrics writing EMF records to stdout in the namespace the alarms read. Powertools adds a
 * `service` dimension by default; it is cleared because CloudWatch keys a series by its exact
 * dimension set, and the alarms read Deployment (and GroupId) alone.
 */
export function groupMetricsPublisher(log: Logger): Metrics {
  const metrics = new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || NAMESPACE,
    logger: log,
  });
  metrics.clearDefaultDimensions();
  return metrics;
}

/**
 * One EMF record per group (RP age when the group has an RP, and backlog) under both dimension
 * sets, [Deployment, GroupId] and [Deployment]: the Deployment-only series, read with Maximum,
 * is the worst group. Then one record with the paused count. All are written before it returns.
 */
export function publishGroupMetrics(metrics: Metrics, deployment: string, groups: GroupMetrics[]): void {
  metrics.setDefaultDimensions({ [DIMENSIONS.deployment]: deployment });
  try {
    for (const g of groups) {
      metrics.addDimension(DIMENSIONS.groupId, g.groupId);
      // A dimension set of the default dimensions alone: the record also counts for [Deployment].
      metrics.addDimensions({});
      if (g.recoveryPointAgeSeconds !== undefined)
        metrics.addMetric(CUSTOM_METRICS.recoveryPointAge, MetricUnit.Seconds, g.recoveryPointAgeSeconds);
      metrics.addMetric(CUSTOM_METRICS.backlogBytes, MetricUnit.Bytes, g.backlogBytes);
      metrics.publishStoredMetrics();
    }
    metrics.addMetric(CUSTOM_METRICS.pausedGroups, MetricUnit.Count, groups.filter((g) => g.paused).length);
    metrics.publishStoredMetrics();
  } finally {
    // What a failure left stored is dropped, so nothing is carried into the next invocation.
    metrics.clearMetrics();
    metrics.clearDimensions();
  }
}
