import type { Condition, Update } from '../../aws/control-table';
import { keys, pad } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import { conflict, DomainError } from '../../domain/errors';
import type { Group, Pair, RecoveryPoint, SyncJob } from '../../domain/model';
import { recordEvent } from '../events';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { discardUncommitted } from './garbage';

const MAX_RETRY_DELAY_MS = 60_000;

export interface StoredChangeBatch {
  epoch: number;
  session: string;
  batch: number;
  records: string;
  bytes: number;
  /** When ingest stored it (ms): the backlog's age is its oldest batch's. */
  storedAt?: number;
}

export type StepResult = 'progress' | 'waiting' | 'done';

export const rpIdOf = (n: number) => `rp-${pad(n, 6)}`;
export const manifestKey = (groupId: string, rpId: string, attempt: string, volumeId: string) =>
  `manifests/${groupId}/${rpId}/${attempt}/${volumeId}.txt`;

export async function lastRecoveryPoint(deps: Deps, group: Group): Promise<RecoveryPoint | undefined> {
  if (!group.lastRp) return undefined;
  return deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, group.lastRp.number));
}

/** Whether this pair (not merely its primary volume, which may have been paired before) is in the RP. */
export const inRecoveryPoint = (rp: RecoveryPoint | undefined, pair: Pair) =>
  rp?.volumes.some((v) => v.pairId === pair.id) ?? false;

/** The right to drive a sync (see driver.ts): held by one driver at a time, for a lease. */
export interface DriverLease {
  holder: string;
  expiresAt: number;
}

/** A job as a driver reads it: `driver` is the lease it was read under. */
export type DrivenJob = SyncJob & { driver?: DriverLease };

const DRIVER_LEASE_LOST = 'driver-lease-lost';

/** Another driver took the sync over: the step's reads are stale and it must stop. */
export const driverLeaseLost = (syncId: string) =>
  conflict(`another driver took sync ${syncId} over`, DRIVER_LEASE_LOST);

export const isDriverLeaseLost = (e: unknown) => e instanceof DomainError && e.code === DRIVER_LEASE_LOST;

/**
 * Every job write of a step: conditional on the driver the job was read under still holding
 * it (a takeover changes the holder, a release removes it), so a driver that stalled past its
 * lease never writes a stale checkpoint over its successor's. A refusal caused by the fence
 * throws driverLeaseLost; one caused by `condition` alone returns null, as before.
 */
export async function updateJob(
  deps: Deps,
  job: DrivenJob,
  update: Update,
  condition?: Condition,
): Promise<SyncJob | null> {
  const me = job.driver?.holder;
  const expr = [condition?.expr, me !== undefined && 'driver.holder = :me'].filter(Boolean).join(' AND ');
  const key = keys.sync(job.groupId, job.id);
  const done = await deps.table.update<SyncJob>(
    key,
    update,
    expr
      ? {
          expr,
          names: condition?.names,
          values: { ...condition?.values, ...(me !== undefined && { ':me': me }) },
        }
      : undefined,
  );
  if (done === null && me !== undefined) {
    const now = await deps.table.get<DrivenJob>(key);
    if (now?.driver?.holder !== me) throw driverLeaseLost(job.id);
  }
  return done;
}

export async function setJob(
  deps: Deps,
  job: SyncJob,
  set: Partial<SyncJob>,
  from = job.state,
): Promise<boolean> {
  const ok = await updateJob(
    deps,
    job,
    { set },
    {
      expr: '#st = :from',
      names: { '#st': 'state' },
      values: { ':from': from },
    },
  );
  return ok !== null;
}

export type Spill = 'runs' | 'superseded';

const spillFlag = { runs: 'spilledRuns', superseded: 'spilledSuperseded' } as const;

/**
 * Marks the job before its first run or superseded list is written to S3, whatever its state,
 * so that the mark of a kind is stored before any object of that kind exists: the clean-up
 * lists a prefix only for a job that may hold objects under it (`maySpill`). One write for
 * every kind not marked yet.
 */
export async function markSpilled(deps: Deps, job: SyncJob, kinds: Spill[]): Promise<void> {
  const flags = kinds.map((k) => spillFlag[k]).filter((f) => !(job.spilled && job[f]));
  if (flags.length === 0) return;
  const set = { spilled: true, ...Object.fromEntries(flags.map((f) => [f, true])) };
  await deps.table.update(keys.sync(job.groupId, job.id), { set }, { expr: 'attribute_exists(pk)' });
  Object.assign(job, set);
}

/** Whether the sync may have written objects of this kind (see SyncJob.spilledRuns). */
export function maySpill(job: SyncJob, kind: Spill): boolean {
  if (!job.spilled) return false;
  if (!job.spilledRuns && !job.spilledSuperseded) return true;
  return job[spillFlag[kind]] === true;
}

/** A failed job; `unpublished` when failSync took the group from it while it still ran it. */
type FailedJob = SyncJob & { unpublished?: boolean; failedAt?: string };

/** The sync failSync last took a group from, and why. */
interface Abandoned {
  id: string;
  why: string;
  event: string;
}

/**
 * Ends a sync that cannot commit. The group is released first: from then on the commit's
 * conditional write (activeSync.id = this sync) is refused, so a failed job never has an RP.
 * The change records stay (the next sync copies them); the copy tasks go, and so do the
 * objects the sync wrote (its copies, runs and manifests).
 */
export async function failSync(
  deps: Deps,
  job: SyncJob,
  why: string,
  event = 'sync-failed',
): Promise<StepResult> {
  // The release names the sync it took the group from and why, so whoever finishes failing the
  // job (this call, or a driver that sees the group released) records that reason, and knows
  // its RP was never published (publishing removes activeSync too, but sets no abandonedSync).
  await deps.table.update(
    keys.group(job.groupId),
    {
      remove: ['activeSync', 'cutRequest', 'cutRequestScan'],
      set: { abandonedSync: { id: job.id, why, event } },
    },
    { expr: 'activeSync.id = :s', values: { ':s': job.id } },
  );
  const group = await deps.table.get<Group & { abandonedSync?: Abandoned }>(keys.group(job.groupId));
  if (group?.lastRp?.number === job.rpNumber) return 'progress';
  // Only then is what the sync wrote nobody's; otherwise (published, or the marker already
  // overwritten by a later failure) nothing is deleted.
  const abandoned = group?.abandonedSync?.id === job.id ? group.abandonedSync : undefined;
  if (abandoned) {
    why = abandoned.why;
    event = abandoned.event;
  }
  const set: Partial<FailedJob> = {
    state: 'failed',
    error: why,
    failedAt: isoNow(deps),
    ...(abandoned && { unpublished: true }),
  };
  const failed = await deps.table.update<FailedJob>(
    keys.sync(job.groupId, job.id),
    { set, remove: ['pause', 'driver'] },
    {
      expr: 'NOT #st IN (:c, :f)',
      names: { '#st': 'state' },
      values: { ':c': 'committed', ':f': 'failed' },
    },
  );
  // Failed already: finish what a process killed midway through this left undone.
  const ended = failed ?? (await deps.table.get<FailedJob>(keys.sync(job.groupId, job.id)));
  if (ended?.state !== 'failed') return 'done';
  // Before the tasks go: they record the chunk versions the sync's copies made.
  if (group && ended.unpublished) await discardUncommitted(deps, group, job);
  await deps.table.deleteMany(await deps.table.queryKeys(taskPartition(job.id), 'TASK#', 'TASK#\uffff'));
  await unpauseGroup(deps, job.groupId);
  // After the clean-up, so the event means the sync is wholly ended; recorded by every call that
  // finds the job failed, under one key, so a call killed in the clean-up leaves it to the retry.
  await recordEvent(deps, job.groupId, event, 'error', `sync ${job.id} failed: ${ended.error ?? why}`, {
    at: ended.failedAt ?? isoNow(deps),
    id: job.id,
  });
  if (group) await closeOpenSync(deps, group, job.id);
  return 'done';
}

/** A group paused for a sync that no longer runs goes back to optimal. */
async function unpauseGroup(deps: Deps, groupId: string): Promise<void> {
  await deps.table.update(
    keys.group(groupId),
    { set: { status: 'optimal' }, remove: ['pausedReason'] },
    {
      expr: '#s = :p AND attribute_not_exists(activeSync)',
      names: { '#s': 'status' },
      values: { ':p': 'paused' },
    },
  );
}

/**
 * A site is unreachable: pause the group and retry with capped exponential backoff. The job
 * keeps its phase, which re-runs on resume. Conditional on the phase read, so a job that moved
 * on meanwhile (above all a committed one) is never rewritten.
 */
export async function pause(deps: Deps, group: Group, job: SyncJob, why: string): Promise<StepResult> {
  const retries = (job.pause?.retries ?? 0) + 1;
  const delay = Math.min(MAX_RETRY_DELAY_MS, 500 * 2 ** Math.min(retries, 10));
  const paused = await updateJob(
    deps,
    job,
    {
      set: {
        pause: {
          reason: why,
          retries,
          retryAt: deps.now() + delay,
          ...(job.pause?.userResumed && { userResumed: true }),
        },
      },
    },
    {
      expr: '#st = :st AND #st IN (:cut, :col, :cop, :com)',
      names: { '#st': 'state' },
      values: {
        ':st': job.state,
        ':cut': 'cutting',
        ':col': 'collecting',
        ':cop': 'copying',
        ':com': 'committing',
      },
    },
  );
  if (!paused) return 'waiting';
  // Also on a failed retry: a group resumed from user-suspended while the link was down shows
  // optimal until this puts it back to paused.
  const shown = await deps.table.update(
    keys.group(group.id),
    { set: { status: 'paused', pausedReason: why } },
    {
      expr: '#s = :ok AND activeSync.id = :id',
      names: { '#s': 'status' },
      values: { ':ok': 'optimal', ':id': job.id },
    },
  );
  if (shown || !job.pause)
    await recordEvent(deps, group.id, 'link-down', 'error', `sync ${job.id} paused: ${why}`);
  return 'waiting';
}

/**
 * Once the retry time has come and both sites answer, the pause is lifted and the paused
 * phase runs again (every phase is idempotent). The unfinished copy tasks are offered again:
 * their messages may have gone to the DLQ while the link was down.
 */
export async function resume(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if ((job.pause?.retryAt ?? 0) > deps.now()) return 'waiting';
  await Promise.all([group.primarySite, group.secondarySite].map((s) => deps.copyQueues[s].depth()));
  if (job.state === 'copying') {
    const offered = deps.table.query<Pick<CopyTaskItem, 'taskNo' | 'error'>>(
      taskPartition(job.id),
      keys.copyTask(job.id, job.tasksLow ?? 0).sk,
      'TASK#\uffff',
      ['taskNo', 'error'],
    );
    const errored = [];
    for await (const t of offered) if (t.error) errored.push(t);
    // Only while the task exists: the sync may have ended meanwhile (an abort, a takeover) and
    // deleted its tasks, and an unconditional update would create an item nothing deletes.
    for (const t of errored) {
      await deps.table.update(
        keys.copyTask(job.id, t.taskNo),
        { remove: ['error', 'transientErrors'] },
        { expr: 'attribute_exists(pk)' },
      );
    }
  }
  const resumed = await updateJob(
    deps,
    job,
    { remove: ['pause'], ...(job.state === 'copying' && { set: { tasksEnqueued: job.tasksLow ?? 0 } }) },
    { expr: '#st = :st', names: { '#st': 'state' }, values: { ':st': job.state } },
  );
  if (!resumed) return 'progress';
  await deps.table.update(
    keys.group(group.id),
    { set: { status: 'optimal' }, remove: ['pausedReason'] },
    { expr: '#s = :p', names: { '#s': 'status' }, values: { ':p': 'paused' } },
  );
  await recordEvent(deps, group.id, 'link-up', 'info', `sites reachable again; sync ${job.id} resumes`);
  return 'progress';
}

/** Takes a sync off the group's open list once it has ended (finished or failed). */
export async function closeOpenSync(deps: Deps, group: Group, syncId: string): Promise<void> {
  let current: Group | undefined = group;
  for (let i = 0; i < 3 && current?.openSyncs?.includes(syncId); i++) {
    const open = current.openSyncs;
    const done = await deps.table.update(
      keys.group(group.id),
      { set: { openSyncs: open.filter((s) => s !== syncId) } },
      { expr: 'openSyncs = :o', values: { ':o': open } },
    );
    if (done) return;
    current = await deps.table.get<Group>(keys.group(group.id));
  }
}
