import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Deps } from '../shared/deps';
import { groupMetrics } from '../shared/usecases/group-metrics';
import { tick } from '../shared/usecases/scheduler';
import { lambdaDeps } from './deps';
import { groupMetricsPublisher, publishGroupMetrics } from './group-metrics';
import { type InvocationContext, invocationLogger, logger } from './observability';
import type { SyncEvent } from './sync';

/** Hands a running sync to a driver; returns once the hand-over is accepted, not when the sync ends. */
export type InvokeSync = (event: SyncEvent) => Promise<void>;

export interface SchedulerOptions {
  invokeSync: InvokeSync;
  /** Where the metrics the alarms watch are published; without it no metrics are computed. */
  metrics?: Metrics;
  deployment?: string;
  logger?: Logger;
  /** Told of each group whose tick failed, besides the ERROR line logged for it. */
  onGroupError?: (groupId: string, error: string) => void;
}

/**
 * The one-minute tick: start due syncs, hand every running one to the sync function,
 * and emit the metrics the alarms watch.
 */
export function makeSchedulerHandler(
  getDeps: () => Deps,
  opts: SchedulerOptions,
): (event?: unknown, context?: InvocationContext) => Promise<{ started: string[]; driven: number }> {
  return async (_event, context) => {
    const deps = getDeps();
    const log = invocationLogger(opts.logger ?? logger, context);
    const result = await tick(deps);
    // One group's failure is reported and the others go on.
    for (const e of result.errors) {
      log.error('tick of a group failed', { groupId: e.groupId, error: e.error });
      opts.onGroupError?.(e.groupId, e.error);
    }
    for (const active of result.active) await opts.invokeSync(active);
    if (opts.metrics)
      publishGroupMetrics(opts.metrics, opts.deployment ?? 'volmirror', await groupMetrics(deps));
    // DEBUG: the local runtime ticks several times a second.
    log.debug('tick done', { started: result.started, driven: result.active.length });
    return { started: result.started, driven: result.active.length };
  };
}

/** The sync function, invoked asynchronously: the tick does not wait for the drive. */
export function lambdaInvoker(functionName: string | undefined): InvokeSync {
  let lambda: LambdaClient | undefined;
  return async (event) => {
    if (!functionName) throw new Error('VOLMIRROR_SYNC_FUNCTION is not set');
    lambda ??= new LambdaClient({});
    await lambda.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
  };
}

export const handler = makeSchedulerHandler(lambdaDeps, {
  invokeSync: lambdaInvoker(process.env.VOLMIRROR_SYNC_FUNCTION),
  metrics: groupMetricsPublisher(logger),
  deployment: process.env.VOLMIRROR_DEPLOYMENT,
});
