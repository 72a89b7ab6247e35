import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { Deps } from '../shared/deps';
import { groupMetrics } from '../shared/usecases/group-metrics';
import { tick } from '../shared/usecases/scheduler';
import { lambdaDeps } from './deps';
import { emfLines } from './emf';
import type { SyncEvent } from './sync';

/** Hands a running sync to a driver; returns once the hand-over is accepted, not when the sync ends. */
export type InvokeSync = (event: SyncEvent) => Promise<void>;

export interface SchedulerOptions {
  invokeSync: InvokeSync;
  /** Where the metric lines go; without it no metrics are computed. */
  emitMetrics?: (lines: string[]) => void;
  deployment?: string;
  onGroupError?: (groupId: string, error: string) => void;
}

const logGroupError = (groupId: string, error: string) =>
  console.error(JSON.stringify({ level: 'error', msg: 'tick of a group failed', groupId, error }));

/**
 * The one-minute tick: start due syncs, hand every running one to the sync function,
 * and emit the metrics the alarms watch.
 */
export function makeSchedulerHandler(
  getDeps: () => Deps,
  opts: SchedulerOptions,
): () => Promise<{ started: string[]; driven: number }> {
  return async () => {
    const deps = getDeps();
    const result = await tick(deps);
    // One group's failure is reported and the others go on.
    for (const e of result.errors) (opts.onGroupError ?? logGroupError)(e.groupId, e.error);
    for (const active of result.active) await opts.invokeSync(active);
    if (opts.emitMetrics)
      opts.emitMetrics(emfLines(opts.deployment ?? 'volmirror', await groupMetrics(deps)));
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
  // Raw stdout: Lambda's JSON log format would wrap console.log, and EMF needs the bare line.
  emitMetrics: (lines) => {
    for (const line of lines) process.stdout.write(`${line}\n`);
  },
  deployment: process.env.VOLMIRROR_DEPLOYMENT,
});
