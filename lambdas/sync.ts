import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { Deps } from '../shared/deps';
import { checkId } from '../shared/domain/ids';
import { driveSync, type StepResult } from '../shared/usecases/sync/index';
import { lambdaDeps } from './deps';
import { type InvocationContext, invocationLogger, logger } from './observability';

export interface SyncEvent {
  groupId: string;
  syncId: string;
}

export type SyncContext = Pick<Context, 'getRemainingTimeInMillis'> & InvocationContext;

/** Left of the invocation's time when the driver stops taking steps: one step and the lease release fit in it. */
const STOP_MARGIN_MS = 10_000;

/**
 * Drives one sync for as long as this invocation may run; the scheduler's next tick picks
 * it up again if it has not committed by then (every step is resumable). The remaining time
 * is asked before every step, so a budget that shrinks (the local runtime stopping) ends the drive.
 */
export function makeSyncHandler(
  getDeps: () => Deps,
  opts: { pollMs?: number; logger?: Logger } = {},
): (event: SyncEvent, context: SyncContext) => Promise<{ result: StepResult }> {
  return async (event, context) => {
    const log = invocationLogger(opts.logger ?? logger, context);
    const groupId = checkId(event.groupId, 'groupId');
    const syncId = checkId(event.syncId, 'syncId');
    log.appendKeys({ groupId, syncId });
    const deadline = Date.now() + context.getRemainingTimeInMillis() - STOP_MARGIN_MS;
    try {
      const result = await driveSync(
        getDeps(),
        groupId,
        syncId,
        deadline,
        opts.pollMs ?? 1000,
        () => context.getRemainingTimeInMillis() < STOP_MARGIN_MS,
      );
      log.info('sync drive ended', { result });
      return { result };
    } catch (e) {
      log.error('sync drive failed', e as Error);
      throw e;
    }
  };
}

export const handler = makeSyncHandler(lambdaDeps);
