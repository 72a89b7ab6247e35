import { randomBytes } from 'node:crypto';
import { groupPartition, keys } from '../aws/keys';
import type { Deps } from '../deps';
import type { Group, Pair, SyncJob } from '../domain/model';
import { recordEvent } from './events';
import { failSync, type StepResult } from './sync/job';
import type { CopyTaskItem } from './sync-progress';

const AUTO_RESUME_BASE_MS = 2_000;
const AUTO_RESUME_CAP_MS = 10 * 60_000;

/** When an automatic group retries after its n-th suspension in a row: capped, with jitter. */
export function autoResumeDelayMs(n: number, random: () => number = Math.random): number {
  const ceiling = Math.min(AUTO_RESUME_CAP_MS, AUTO_RESUME_BASE_MS * 2 ** Math.max(0, n - 1));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** One request for a resync by scan; the sync that consumes it clears that one only. */
export const scanResyncRequest = (afterRp: number): NonNullable<Group['resyncByScan']> => ({
  token: `rs-${randomBytes(4).toString('hex')}`,
  afterRp,
});

/**
 * A member failed (a copy refused for good: access denied, a source version missing): the
 * pair is `failed`, the group `system-suspended` (its other pairs show `stopped`) and marked
 * for a resync by scan, then the sync ends as failed, so every sync still ends. The scan, not
 * the change records, finds the delta on resume: a record may name a version that is gone.
 * Only this group stops; the tick serves the others as before.
 */
export async function suspendForMemberFailure(
  deps: Deps,
  group: Group,
  job: SyncJob,
  taskNo: number,
  why: string,
): Promise<StepResult> {
  const task = await deps.table.get<CopyTaskItem>(keys.copyTask(job.id, taskNo));
  const pairs = await deps.table.queryPrefix<Pair>(groupPartition(group.id), 'PAIR#');
  const pair = pairs.find((p) => p.primaryVolumeId === task?.sourceVolumeId);
  const retries = (group.autoResume?.retries ?? 0) + 1;
  const suspended = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: {
        status: 'system-suspended',
        suspendedReason: `copy refused: ${why}`,
        failedPairs: pair ? [pair.id] : [],
        resyncByScan: group.resyncByScan ?? scanResyncRequest(job.rpNumber),
        autoResume: { retries, retryAt: deps.now() + autoResumeDelayMs(retries) },
      },
      remove: ['pausedReason'],
    },
    {
      expr: 'activeSync.id = :id AND #s IN (:ok, :p)',
      names: { '#s': 'status' },
      values: { ':id': job.id, ':ok': 'optimal', ':p': 'paused' },
    },
  );
  if (suspended) {
    const what = pair ? `pair ${pair.primaryVolumeId} -> ${pair.secondaryVolumeId}` : `task ${taskNo}`;
    const next =
      group.resyncPolicy === 'automatic'
        ? 'it resumes by itself and resyncs by scan once the fault clears'
        : 'fix the volume or bucket, then resume the group (a resync by scan follows)';
    await recordEvent(
      deps,
      group.id,
      'member-failed',
      'error',
      `${what} failed (${why}); group system-suspended; ${next}`,
    );
  }
  return failSync(deps, job, `copy task ${taskNo}: ${why}`);
}

/**
 * The tick's part of the `automatic` resync policy: a system-suspended group is resumed once
 * its backoff has passed; if the fault is still there, the resync suspends it again with a
 * longer backoff. A `manual` group waits for the user's resume.
 */
export async function autoResume(deps: Deps, group: Group, now: number): Promise<boolean> {
  if (group.status !== 'system-suspended' || group.resyncPolicy !== 'automatic') return false;
  if (!group.autoResume || group.autoResume.retryAt > now) return false;
  const resumed = await deps.table.update<Group>(
    keys.group(group.id),
    { set: { status: 'optimal' }, remove: ['failedPairs', 'suspendedReason'] },
    {
      expr: '#s = :ss AND autoResume.retryAt = :at',
      names: { '#s': 'status' },
      values: { ':ss': 'system-suspended', ':at': group.autoResume.retryAt },
    },
  );
  if (!resumed) return false;
  await recordEvent(
    deps,
    group.id,
    'resumed',
    'info',
    `resumed automatically (attempt ${group.autoResume.retries}); resync by scan`,
  );
  return true;
}

/** Whether the next sync must find its delta by a scan instead of the change records. */
export const needsScanResync = (group: Group): boolean => group.resyncByScan !== undefined;

/**
 * After a sync that consumed a resync request committed: the request is done (unless a newer
 * one replaced it) and the automatic-resume backoff starts over.
 */
export async function clearScanResync(deps: Deps, groupId: string, job: SyncJob): Promise<void> {
  if (job.resyncToken) {
    await deps.table.update(
      keys.group(groupId),
      { remove: ['resyncByScan'] },
      { expr: 'resyncByScan.#t = :t', names: { '#t': 'token' }, values: { ':t': job.resyncToken } },
    );
  }
  await deps.table.update(
    keys.group(groupId),
    { remove: ['autoResume'] },
    {
      expr: 'attribute_exists(autoResume) AND #s = :ok',
      names: { '#s': 'status' },
      values: { ':ok': 'optimal' },
    },
  );
}
