import type { Context } from 'aws-lambda';
import { checkId } from '../shared/domain/ids';
import { driveSync, type StepResult } from '../shared/usecases/sync/index';
import { lambdaDeps } from './deps';

/**
 * Drives one sync for as long as this invocation may run; the scheduler's next tick picks
 * it up again if it has not committed by then (every step is resumable).
 */
export async function handler(
  event: { groupId: string; syncId: string },
  context: Pick<Context, 'getRemainingTimeInMillis'>,
): Promise<{ result: StepResult }> {
  const groupId = checkId(event.groupId, 'groupId');
  const syncId = checkId(event.syncId, 'syncId');
  const deadline = Date.now() + context.getRemainingTimeInMillis() - 10_000;
  return { result: await driveSync(lambdaDeps(), groupId, syncId, deadline, 1000) };
}
