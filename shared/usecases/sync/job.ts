import { keys, pad } from '../../aws/keys';
import type { Deps } from '../../deps';
import type { Group, Pair, RecoveryPoint, SyncJob } from '../../domain/model';
import { recordEvent } from '../events';

/** Chunks per copy task: small enough that a retried task redoes little, large enough to batch. */
export const CHUNKS_PER_TASK = 64;
const MAX_RETRY_DELAY_MS = 60_000;

export interface StoredChangeBatch {
  epoch: number;
  session: string;
  batch: number;
  records: string;
  bytes: number;
}

export type StepResult = 'progress' | 'waiting' | 'done';

export const rpIdOf = (n: number) => `rp-${pad(n, 6)}`;
export const manifestKey = (groupId: string, rpId: string, volumeId: string) =>
  `manifests/${groupId}/${rpId}/${volumeId}.txt`;

export async function lastRecoveryPoint(deps: Deps, group: Group): Promise<RecoveryPoint | undefined> {
  if (!group.lastRp) return undefined;
  return deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, group.lastRp.number));
}

/** Whether this pair (not merely its primary volume, which may have been paired before) is in the RP. */
export const inRecoveryPoint = (rp: RecoveryPoint | undefined, pair: Pair) =>
  rp?.volumes.some((v) => v.pairId === pair.id) ?? false;

export async function setJob(
  deps: Deps,
  job: SyncJob,
  set: Partial<SyncJob>,
  from = job.state,
): Promise<boolean> {
  const ok = await deps.table.update(
    keys.sync(job.groupId, job.id),
    { set },
    {
      expr: '#st = :from',
      names: { '#st': 'state' },
      values: { ':from': from },
    },
  );
  return ok !== null;
}

export async function failSync(deps: Deps, job: SyncJob, why: string): Promise<StepResult> {
  await deps.table.update(keys.sync(job.groupId, job.id), { set: { state: 'failed', error: why } });
  await deps.table.update(
    keys.group(job.groupId),
    { remove: ['activeSync', 'cutRequest'] },
    {
      expr: 'activeSync.id = :s',
      values: { ':s': job.id },
    },
  );
  await recordEvent(deps, job.groupId, 'sync-failed', 'error', `sync ${job.id} failed: ${why}`);
  return 'done';
}

/** The other site is unreachable: pause the group and retry with capped exponential backoff. */
export async function pause(deps: Deps, group: Group, job: SyncJob, why: string): Promise<StepResult> {
  const retries = (job.retries ?? 0) + 1;
  const delay = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** Math.min(retries, 10));
  const first = job.state !== 'paused';
  await deps.table.update(keys.sync(group.id, job.id), {
    set: { state: 'paused', retries, retryAt: deps.now() + delay, pausedReason: why },
  });
  if (first) {
    await deps.table.update(
      keys.group(group.id),
      { set: { status: 'paused', pausedReason: why } },
      {
        expr: '#s = :ok',
        names: { '#s': 'status' },
        values: { ':ok': 'optimal' },
      },
    );
    await recordEvent(deps, group.id, 'link-down', 'error', `sync ${job.id} paused: ${why}`);
  }
  return 'waiting';
}
