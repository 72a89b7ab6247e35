import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { tick } from '../shared/usecases/scheduler';
import { lambdaDeps } from './deps';

const lambda = new LambdaClient({});

/** EventBridge one-minute tick: start due syncs and hand every running one to the sync function. */
export async function handler(): Promise<{ started: string[]; driven: number }> {
  const result = await tick(lambdaDeps());
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
  return { started: result.started, driven: result.active.length };
}
