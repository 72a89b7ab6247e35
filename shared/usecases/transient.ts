import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import type { Group, SyncJob } from '../domain/model';
import { pause, type StepResult } from './sync/job';

/**
 * Consecutive steps failing with throttling, server errors or timeouts before the sync counts
 * the site as out and pauses: with the SDK's own 3 attempts per request and the backoff below
 * (about 15 s in all), a fraction of failing requests never gets there, a lasting outage does.
 */
export const TRANSIENT_STREAK_TO_PAUSE = 8;
const BASE_MS = 200;
const CAP_MS = 5_000;

/** Capped exponential backoff with full jitter, so that retrying drivers do not retry in step. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A step failed with a transient error: counts it on the job (conditional on the phase read),
 * waits the backoff and lets the driver run the same step again; a lasting run of them pauses.
 * The driver removes the count after a step that succeeds.
 */
export async function retryTransient(deps: Deps, group: Group, job: SyncJob, e: Error): Promise<StepResult> {
  const counted = await deps.table.update<SyncJob>(
    keys.sync(job.groupId, job.id),
    { add: { transientFailures: 1 } },
    { expr: '#st = :st', names: { '#st': 'state' }, values: { ':st': job.state } },
  );
  const n = counted?.transientFailures ?? 0;
  if (n >= TRANSIENT_STREAK_TO_PAUSE) {
    return pause(deps, group, job, `${n} attempts in a row failed: ${e.name}: ${e.message}`);
  }
  await new Promise((r) => setTimeout(r, backoffMs(n)));
  return 'waiting';
}
