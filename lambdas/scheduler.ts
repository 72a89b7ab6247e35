import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { groupMetrics } from '../shared/usecases/group-metrics';
import { tick } from '../shared/usecases/scheduler';
import { lambdaDeps } from './deps';
import { emfLines } from './emf';

const lambda = new LambdaClient({});

/**
 * EventBridge one-minute tick: start due syncs, hand every running one to the sync function,
 * and emit the metrics the alarms watch.
 */
export async function handler(): Promise<{ started: string[]; driven: number }> {
  const result = await tick(lambdaDeps());
  for (const e of result.errors) console.error(`tick of group ${e.groupId} failed: ${e.error}`);
  const fn = process.env.VOLMIRROR_SYNC_FUNCTION;
  if (!fn) throw new Error('VOLMIRROR_SYNC_FUNCTION is not set');
  for (const active of result.active) {
    await lambda.send(
      new InvokeCommand({
        FunctionName: fn,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(active)),
      }),
    );
  }
  const deployment = process.env.VOLMIRROR_DEPLOYMENT ?? 'volmirror';
  for (const line of emfLines(deployment, await groupMetrics(lambdaDeps())))
    process.stdout.write(`${line}\n`);
  return { started: result.started, driven: result.active.length };
}
