import { isUnreachable } from '../aws/errors';
import { barrierRange, changeRange, groupPartition, keys, pad } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import { DeltaBuilder } from '../domain/delta';
import { conflict, notFound } from '../domain/errors';
import { copyLanes, leaseIsLive } from '../domain/group-rules';
import { checkId, newId } from '../domain/ids';
import { mergeManifests } from '../domain/manifest';
import type {
  Barrier,
  ChangeRecord,
  ChunkRef,
  Group,
  Pair,
  RecoveryPoint,
  RecoveryPointVolume,
  SyncJob,
  Volume,
} from '../domain/model';
import { recordEvent } from './events';
import { loadGroup, loadPairs } from './groups';
import { expireRecoveryPoints } from './recovery-points';
import { type CopyTaskItem, syncProgress, taskPartition } from './sync-progress';

/** Chunks per copy task: small enough that a retried task redoes little, large enough to batch. */
export const CHUNKS_PER_TASK = 64;
const BASE_LANES = 2;
const MAX_RETRY_DELAY_MS = 60_000;

export interface StoredChangeBatch {
  epoch: number;
  session: string;
  batch: number;
  records: string;
  bytes: number;
}

export interface SyncView {
  syncId: string;
  groupId: string;
  state: 'running' | 'paused' | 'committed' | 'failed';
  phase: SyncJob['state'];
  initial: boolean;
  chunksTotal: number;
  chunksCopied: number;
  bytesCopied: number;
  recoveryPointId: string;
  cutEpoch?: number;
  error?: string;
}

export const rpIdOf = (n: number) => `rp-${pad(n, 6)}`;
export const manifestKey = (groupId: string, rpId: string, volumeId: string) =>
  `manifests/${groupId}/${rpId}/${volumeId}.txt`;

/** Starts a sync of the group: one at a time, taken by a conditional write on the group. */
export async function startSync(
  deps: Deps,
  groupId: unknown,
): Promise<{ syncId: string; recoveryPointId: string }> {
  const group = await loadGroup(deps, groupId);
  if (group.status !== 'optimal')
    throw conflict(`group ${group.id} is ${group.status}; resume it first`, 'wrong-state');
  if (group.activeSync)
    throw conflict(`group ${group.id} already runs sync ${group.activeSync.id}`, 'sync-running');
  const pairs = await loadPairs(deps, group.id);
  if (pairs.length === 0) throw conflict(`group ${group.id} has no mirrored pairs`, 'group-empty');
  const last = await lastRecoveryPoint(deps, group);
  const initial = pairs.some((p) => !inRecoveryPoint(last, p));
  const syncId = newId('sync');
  const now = deps.now();
  const rpNumber = group.rpCounter + 1;
  const job: SyncJob = {
    id: syncId,
    groupId: group.id,
    rpNumber,
    rpId: rpIdOf(rpNumber),
    state: 'cutting',
    initial,
    roleEpoch: group.roleEpoch,
    fromEpoch: (group.lastRp?.epoch ?? 0) + 1,
    startedAt: isoNow(deps),
  };
  // The job exists before the group points at it, so whoever sees the pointer finds the job.
  await deps.table.put(keys.sync(group.id, syncId), job);
  const claimed = await deps.table.update<Group>(
    keys.group(group.id),
    { set: { activeSync: { id: syncId, initial }, lastSyncStartedAt: isoNow(deps), rpCounter: rpNumber } },
    {
      expr: 'attribute_not_exists(activeSync) AND #s = :ok AND roleEpoch = :re AND rpCounter = :n AND (attribute_not_exists(memberLock) OR memberLock.expiresAt < :now)',
      names: { '#s': 'status' },
      values: { ':ok': 'optimal', ':re': group.roleEpoch, ':n': group.rpCounter, ':now': now },
    },
  );
  if (!claimed) {
    await deps.table.delete(keys.sync(group.id, syncId));
    throw conflict(`group ${group.id} changed while starting the sync; try again`, 'sync-running');
  }
  await recordEvent(
    deps,
    group.id,
    'sync-started',
    'info',
    `${initial ? 'initial' : 'delta'} sync ${syncId} started for ${job.rpId}`,
  );
  return { syncId, recoveryPointId: job.rpId };
}

export async function getSync(deps: Deps, groupId: unknown, syncId: unknown): Promise<SyncView> {
  const gid = checkId(groupId, 'groupId');
  const sid = checkId(syncId, 'syncId');
  const job = await deps.table.get<SyncJob>(keys.sync(gid, sid));
  if (!job) throw notFound('sync', sid);
  const progress = await syncProgress(deps, sid);
  const state =
    job.state === 'committed' || job.state === 'failed' || job.state === 'paused' ? job.state : 'running';
  return {
    syncId: job.id,
    groupId: job.groupId,
    state,
    phase: job.state,
    initial: job.initial,
    chunksTotal: job.chunksTotal ?? progress.chunksTotal,
    chunksCopied:
      job.state === 'committed' ? (job.chunksTotal ?? progress.chunksCopied) : progress.chunksCopied,
    bytesCopied: job.state === 'committed' ? (job.bytesTotal ?? progress.bytesCopied) : progress.bytesCopied,
    recoveryPointId: job.rpId,
    ...(job.cutEpoch !== undefined && { cutEpoch: job.cutEpoch }),
    ...(job.error && { error: job.error }),
  };
}

export async function lastRecoveryPoint(deps: Deps, group: Group): Promise<RecoveryPoint | undefined> {
  if (!group.lastRp) return undefined;
  return deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, group.lastRp.number));
}

const inRecoveryPoint = (rp: RecoveryPoint | undefined, pair: Pair) =>
  rp?.volumes.some((v) => v.primaryVolumeId === pair.primaryVolumeId) ?? false;

export type StepResult = 'progress' | 'waiting' | 'done';

/**
 * Moves a sync one step along cutting -> collecting -> copying -> committing -> committed.
 * Every step reads its state from the table and is safe to repeat, so a sync killed at any
 * line resumes where it stopped when any process calls this again.
 */
export async function advanceSync(deps: Deps, groupId: string, syncId: string): Promise<StepResult> {
  const job = await deps.table.get<SyncJob>(keys.sync(groupId, syncId));
  const group = await deps.table.get<Group>(keys.group(groupId));
  if (!group || !job) return 'done';
  if (job.state === 'committed' || job.state === 'failed') return 'done';
  if (group.activeSync?.id !== job.id && group.lastRp?.number !== job.rpNumber) {
    return failSync(deps, job, 'the group no longer runs this sync');
  }
  if (group.roleEpoch !== job.roleEpoch) return failSync(deps, job, 'the role epoch changed during the sync');
  if (group.status === 'user-suspended') return 'waiting';
  try {
    switch (job.state) {
      case 'cutting':
        return await cut(deps, group, job);
      case 'collecting':
        return await collect(deps, group, job);
      case 'copying':
      case 'paused':
        return await copy(deps, group, job);
      case 'committing':
        return await commit(deps, group, job);
    }
  } catch (e) {
    if (isUnreachable(e)) return pause(deps, group, job, (e as Error).message);
    throw e;
  }
}

async function setJob(deps: Deps, job: SyncJob, set: Partial<SyncJob>, from = job.state): Promise<boolean> {
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

async function cut(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (group.cutDone?.syncId === job.id) {
    await setJob(deps, job, { state: 'collecting', cutEpoch: group.cutDone.epoch, cutAt: group.cutDone.at });
    return 'progress';
  }
  const now = deps.now();
  if (leaseIsLive(group.lease, now)) {
    // The gateway sees the request on its next lease renewal and closes its epoch.
    if (group.cutRequest !== job.id) {
      await deps.table.update(
        keys.group(group.id),
        { set: { cutRequest: job.id } },
        {
          expr: 'activeSync.id = :s',
          values: { ':s': job.id },
        },
      );
    }
    return 'waiting';
  }
  // No live writer: the sync closes the epoch itself, conditional on nobody taking the lease.
  const e = group.epoch;
  const at = isoNow(deps);
  const clean = group.lease === undefined;
  const updated = await deps.table.update<Group>(
    keys.group(group.id),
    { set: { epoch: e + 1, cutDone: { syncId: job.id, epoch: e, at } }, remove: ['lease', 'cutRequest'] },
    {
      expr: `#e = :e AND ${clean ? 'attribute_not_exists(lease)' : 'lease.expiresAt < :now'}`,
      names: { '#e': 'epoch' },
      values: { ':e': e, ':now': now },
    },
  );
  if (!updated) return 'waiting';
  if (clean) {
    // Released cleanly: nobody wrote in epoch e, so its barrier is empty.
    const barrier: Barrier = { epoch: e, session: job.id, batches: 0, missing: [], sealedAt: at };
    await deps.table.put(keys.barrier(group.id, e), barrier);
  }
  await setJob(deps, job, { state: 'collecting', cutEpoch: e, cutAt: at });
  return 'progress';
}

async function collect(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const cutEpoch = job.cutEpoch ?? 0;
  const complete = await epochsComplete(deps, group, job.fromEpoch, cutEpoch);
  if (!complete) return 'waiting';
  const delta = new DeltaBuilder();
  const [from, to] = changeRange(job.fromEpoch, cutEpoch);
  for await (const item of deps.table.query<StoredChangeBatch>(groupPartition(group.id), from, to)) {
    for (const r of JSON.parse(item.records) as ChangeRecord[]) delta.add(item.epoch, r);
  }
  const pairs = await loadPairs(deps, group.id);
  const last = await lastRecoveryPoint(deps, group);
  const source = deps.stores[group.primarySite];
  let taskNo = 0;
  let chunksTotal = 0;
  let bytesTotal = 0;
  for (const pair of pairs) {
    const volume = await deps.table.get<Volume>(keys.volume(pair.primaryVolumeId));
    if (!volume) continue;
    // Initial sync: every existing chunk (the listing taken at pair add, plus later writes).
    const chunks: AsyncIterable<ChunkRef> | Iterable<ChunkRef> = inRecoveryPoint(last, pair)
      ? delta.delta(pair.primaryVolumeId)
      : mergeManifests(source.readManifest(pair.baseManifestKey), delta.delta(pair.primaryVolumeId));
    let batch: ChunkRef[] = [];
    const flush = async () => {
      const task: CopyTaskItem = {
        syncId: job.id,
        groupId: group.id,
        taskNo,
        sourceSite: group.primarySite,
        targetSite: group.secondarySite,
        sourceVolumeId: pair.primaryVolumeId,
        targetVolumeId: pair.secondaryVolumeId,
        chunkSizeBytes: volume.chunkSizeBytes,
        chunks: batch,
        chunkCount: batch.length,
        done: {},
        doneCount: 0,
        doneBytes: 0,
      };
      // Planning is deterministic, so a re-run after a crash finds the same tasks in place.
      await deps.table.put(keys.copyTask(job.id, taskNo), task, { expr: 'attribute_not_exists(pk)' });
      chunksTotal += batch.length;
      bytesTotal += batch.length * volume.chunkSizeBytes;
      taskNo++;
      batch = [];
    };
    for await (const ref of chunks) {
      batch.push(ref);
      if (batch.length === CHUNKS_PER_TASK) await flush();
    }
    if (batch.length > 0) await flush();
  }
  await setJob(deps, job, {
    state: 'copying',
    tasksTotal: taskNo,
    tasksEnqueued: 0,
    chunksTotal,
    bytesTotal,
  });
  return 'progress';
}

/**
 * True when every epoch in [from, to] has its barrier and every batch the barrier names is
 * stored. An epoch without a barrier belonged to a gateway that crashed: it is sealed with
 * what was ingested once the change queue has drained.
 */
async function epochsComplete(deps: Deps, group: Group, from: number, to: number): Promise<boolean> {
  if (to < from) return true;
  const [bFrom, bTo] = barrierRange(from, to);
  const barriers = new Map<number, Barrier>();
  for await (const b of deps.table.query<Barrier>(groupPartition(group.id), bFrom, bTo))
    barriers.set(b.epoch, b);
  const [cFrom, cTo] = changeRange(from, to);
  const stored = new Map<number, Set<string>>();
  for await (const item of deps.table.query<StoredChangeBatch>(groupPartition(group.id), cFrom, cTo, [
    'epoch',
    'session',
    'batch',
  ])) {
    const set = stored.get(item.epoch) ?? new Set();
    set.add(`${item.session}#${item.batch}`);
    stored.set(item.epoch, set);
  }
  let drained: boolean | undefined;
  const liveFrom = leaseIsLive(group.lease, deps.now())
    ? (group.lease?.startEpoch ?? 0)
    : Number.MAX_SAFE_INTEGER;
  for (let e = from; e <= to; e++) {
    const b = barriers.get(e);
    if (!b) {
      // A live gateway writes its barrier right after answering the cut: wait for it.
      if (e >= liveFrom) return false;
      drained ??= (await deps.changeQueues[group.primarySite].depth()) === 0;
      if (!drained) return false;
      const sealed: Barrier = {
        epoch: e,
        session: 'recovered',
        batches: 0,
        missing: [],
        recovered: true,
        sealedAt: isoNow(deps),
      };
      await deps.table.put(keys.barrier(group.id, e), sealed, { expr: 'attribute_not_exists(pk)' });
      await recordEvent(
        deps,
        group.id,
        'epoch-recovered',
        'warning',
        `epoch ${e} sealed after its gateway stopped without closing it`,
      );
      continue;
    }
    if (b.recovered) continue;
    const have = stored.get(e) ?? new Set();
    for (let n = 0; n < b.batches; n++) {
      if (!b.missing.includes(n) && !have.has(`${b.session}#${n}`)) return false;
    }
  }
  return true;
}

async function copy(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (job.state === 'paused') {
    if ((job.retryAt ?? 0) > deps.now()) return 'waiting';
    await probeSites(deps, group);
    // Messages may have been lost to the DLQ while the link was down: enqueue the rest again.
    for (const t of await loadUnfinished(deps, job.id)) {
      if (t.error) await deps.table.update(keys.copyTask(job.id, t.taskNo), { remove: ['error'] });
    }
    await setJob(deps, job, { state: 'copying', tasksEnqueued: 0, retries: 0 }, 'paused');
    await deps.table.update(
      keys.group(group.id),
      { set: { status: 'optimal' }, remove: ['pausedReason'] },
      {
        expr: '#s = :p',
        names: { '#s': 'status' },
        values: { ':p': 'paused' },
      },
    );
    await recordEvent(
      deps,
      group.id,
      'link-up',
      'info',
      `${group.secondarySite} reachable again; sync ${job.id} resumes`,
    );
    return 'progress';
  }
  const total = job.tasksTotal ?? 0;
  const enqueued = job.tasksEnqueued ?? 0;
  const unfinished = await loadUnfinished(deps, job.id);
  const failing = unfinished.find((t) => t.error);
  if (failing?.error) return pause(deps, group, job, failing.error);
  if (unfinished.length === 0 && enqueued >= total) {
    await setJob(deps, job, { state: 'committing' });
    return 'progress';
  }
  const inFlight = unfinished.filter((t) => t.taskNo < enqueued).length;
  const lanes = BASE_LANES * copyLanes(group.priority);
  const room = Math.max(0, lanes - inFlight);
  if (room === 0 || enqueued >= total) return 'waiting';
  const next = unfinished.filter((t) => t.taskNo >= enqueued).slice(0, room);
  const upTo = next.length ? next[next.length - 1].taskNo + 1 : total;
  await deps.copyQueues[group.secondarySite].sendAll(
    next.map((t) => JSON.stringify({ syncId: job.id, groupId: group.id, taskNo: t.taskNo })),
  );
  await deps.table.update(keys.sync(group.id, job.id), { set: { tasksEnqueued: upTo } });
  return 'progress';
}

async function loadUnfinished(deps: Deps, syncId: string) {
  const tasks = await deps.table.queryPrefix<
    Pick<CopyTaskItem, 'taskNo' | 'chunkCount' | 'doneCount' | 'error'>
  >(taskPartition(syncId), 'TASK#', ['taskNo', 'chunkCount', 'doneCount', 'error']);
  return tasks.filter((t) => t.doneCount < t.chunkCount);
}

async function commit(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const pairs = await loadPairs(deps, group.id);
  const last = await lastRecoveryPoint(deps, group);
  const copied = new Map<string, ChunkRef[]>();
  const primaryDelta = new Map<string, ChunkRef[]>();
  for await (const t of deps.table.query<CopyTaskItem>(taskPartition(job.id), 'TASK#', 'TASK#\uffff')) {
    const target = copied.get(t.sourceVolumeId) ?? [];
    const source = primaryDelta.get(t.sourceVolumeId) ?? [];
    for (const [index, versionId] of t.chunks) {
      const copiedVersion = t.done?.[`c${index}`];
      if (!copiedVersion) throw new Error(`task ${t.taskNo} of ${job.id} is missing chunk ${index}`);
      target.push([index, copiedVersion]);
      source.push([index, versionId]);
    }
    copied.set(t.sourceVolumeId, target);
    primaryDelta.set(t.sourceVolumeId, source);
  }
  const primary = deps.stores[group.primarySite];
  const secondary = deps.stores[group.secondarySite];
  const volumes: RecoveryPointVolume[] = [];
  let bytes = 0;
  for (const pair of pairs) {
    const prev = last?.volumes.find((v) => v.primaryVolumeId === pair.primaryVolumeId);
    const sorted = (refs: ChunkRef[] | undefined) => (refs ?? []).sort((a, b) => a[0] - b[0]);
    const primaryKey = manifestKey(group.id, job.rpId, pair.primaryVolumeId);
    const secondaryKey = manifestKey(group.id, job.rpId, pair.secondaryVolumeId);
    const delta = sorted(primaryDelta.get(pair.primaryVolumeId));
    // An initial pair's copy list already is its whole manifest.
    const chunks = await primary.writeManifest(
      primaryKey,
      mergeManifests(prev ? primary.readManifest(prev.primaryManifestKey) : [], delta),
    );
    await secondary.writeManifest(
      secondaryKey,
      mergeManifests(
        prev ? secondary.readManifest(prev.secondaryManifestKey) : [],
        sorted(copied.get(pair.primaryVolumeId)),
      ),
    );
    const volume = await deps.table.get<Volume>(keys.volume(pair.primaryVolumeId));
    const chunkSize = volume?.chunkSizeBytes ?? 0;
    bytes += delta.length * chunkSize;
    volumes.push({
      primaryVolumeId: pair.primaryVolumeId,
      secondaryVolumeId: pair.secondaryVolumeId,
      primaryManifestKey: primaryKey,
      secondaryManifestKey: secondaryKey,
      chunks,
      bytes: chunks * chunkSize,
    });
  }
  const committedAt = isoNow(deps);
  const rp: RecoveryPoint = {
    id: job.rpId,
    number: job.rpNumber,
    groupId: group.id,
    kind: 'recovery-point',
    site: group.secondarySite,
    epoch: job.cutEpoch ?? 0,
    roleEpoch: job.roleEpoch,
    cutAt: job.cutAt ?? committedAt,
    committedAt,
    bytes,
    volumes,
  };
  await deps.table.put(keys.recoveryPoint(group.id, rp.number), rp);
  // The commit point: one conditional write, refused if the role epoch moved under the sync.
  const committed = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: { lastRp: { id: rp.id, number: rp.number, epoch: rp.epoch, cutAt: rp.cutAt, committedAt } },
      remove: ['activeSync', 'cutRequest'],
    },
    {
      expr: 'roleEpoch = :re AND activeSync.id = :s AND (attribute_not_exists(lastRp) OR lastRp.#n < :n)',
      names: { '#n': 'number' },
      values: { ':re': job.roleEpoch, ':s': job.id, ':n': rp.number },
    },
  );
  if (!committed) {
    const now = await deps.table.get<Group>(keys.group(group.id));
    if (now?.lastRp?.number !== rp.number)
      return failSync(deps, job, 'the group changed under the commit (role epoch or sync)');
  }
  await setJob(deps, job, { state: 'committed', committedAt });
  for (const pair of pairs.filter((p) => p.firstRp === undefined)) {
    await deps.table.update(keys.pair(group.id, pair.primaryVolumeId), { set: { firstRp: rp.number } });
  }
  await recordEvent(
    deps,
    group.id,
    'rp-committed',
    'info',
    `${rp.id} committed at epoch ${rp.epoch}: ${bytes} bytes copied`,
  );
  await cleanUp(deps, group.id, job);
  await expireRecoveryPoints(deps, group.id);
  return 'done';
}

/** Removes what the committed RP consumed: change batches, barriers, copy tasks. */
async function cleanUp(deps: Deps, groupId: string, job: SyncJob): Promise<void> {
  const cutEpoch = job.cutEpoch ?? 0;
  const pk = groupPartition(groupId);
  const [cFrom, cTo] = changeRange(1, cutEpoch);
  const [bFrom, bTo] = barrierRange(1, cutEpoch);
  const doomed = [
    ...(await deps.table.queryKeys(pk, cFrom, cTo)),
    ...(await deps.table.queryKeys(pk, bFrom, bTo)),
    ...(await deps.table.queryKeys(taskPartition(job.id), 'TASK#', 'TASK#\uffff')),
  ];
  await deps.table.deleteMany(doomed);
}

async function failSync(deps: Deps, job: SyncJob, why: string): Promise<StepResult> {
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

async function probeSites(deps: Deps, group: Group): Promise<void> {
  await Promise.all([group.primarySite, group.secondarySite].map((s) => deps.copyQueues[s].depth()));
}

const DRIVER_LEASE_MS = 30_000;

/**
 * Takes or renews the right to drive a sync. The scheduler hands every running sync to a new
 * invocation each tick; with this lease, one drives and the others return at once.
 */
async function holdDriverLease(
  deps: Deps,
  groupId: string,
  syncId: string,
  holder: string,
): Promise<boolean> {
  const now = deps.now();
  const held = await deps.table.update(
    keys.sync(groupId, syncId),
    { set: { driver: { holder, expiresAt: now + DRIVER_LEASE_MS } } },
    {
      expr: 'attribute_exists(pk) AND (attribute_not_exists(driver) OR driver.holder = :h OR driver.expiresAt < :now)',
      values: { ':h': holder, ':now': now },
    },
  );
  return held !== null;
}

/**
 * Drives a sync until it commits, fails, or the deadline passes (a Lambda's time budget).
 * Returns 'waiting' at once when another driver holds the sync.
 */
export async function driveSync(
  deps: Deps,
  groupId: string,
  syncId: string,
  deadline: number,
  pollMs = 100,
  cancelled: () => boolean = () => false,
): Promise<StepResult> {
  const holder = newId('gw');
  let renewedAt = 0;
  let result: StepResult = 'progress';
  for (let i = 0; i < 1_000_000 && Date.now() < deadline && !cancelled(); i++) {
    if (Date.now() - renewedAt > DRIVER_LEASE_MS / 3) {
      if (!(await holdDriverLease(deps, groupId, syncId, holder))) return 'waiting';
      renewedAt = Date.now();
    }
    result = await advanceSync(deps, groupId, syncId);
    if (result === 'done') return result;
    if (result === 'waiting') await new Promise((r) => setTimeout(r, pollMs));
  }
  // Let the next tick's driver take over at once instead of waiting out the lease.
  await deps.table.update(
    keys.sync(groupId, syncId),
    { remove: ['driver'] },
    {
      expr: 'driver.holder = :h',
      values: { ':h': holder },
    },
  );
  return result;
}
