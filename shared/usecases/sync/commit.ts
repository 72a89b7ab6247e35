import { randomBytes } from 'node:crypto';
import { keys } from '../../aws/keys';
import { stepBudgetChunks } from '../../config';
import { type Deps, isoNow } from '../../deps';
import { copiedVersions, decodeChunkRefs } from '../../domain/chunk-ref-text';
import { StreamCursor } from '../../domain/cursor';
import { compareVolumeIds } from '../../domain/delta';
import { MANIFEST_START, overlay } from '../../domain/manifest';
import type {
  ChunkRef,
  CommitProgress,
  Group,
  ManifestPosition,
  Pair,
  RecoveryPoint,
  SyncJob,
  Volume,
} from '../../domain/model';
import { recordEvent } from '../events';
import { loadPairs } from '../groups';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { finishCommit } from './cleanup';
import { failSync, lastRecoveryPoint, manifestKey, type StepResult, setJob, updateJob } from './job';

type TaskPosition = CommitProgress['task'];

const START: Omit<CommitProgress, 'attempt'> = {
  pair: 0,
  site: 'primary',
  pairTask: 0,
  task: { taskNo: 0, entry: 0 },
  previous: MANIFEST_START,
  parts: 0,
  chunks: 0,
  copied: 0,
  volumes: [],
  bytes: 0,
};

/**
 * Writes the RP's manifests, a budget of entries per call, then commits the RP. Per pair and
 * site, the new manifest is a streaming merge of the last RP's manifest with the copied
 * chunks (the copy tasks, in task order, are in chunk order per pair); a manifest longer
 * than one call's budget is written as parts under an index.
 */
export async function commit(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const started = (job.commitCalls ?? 0) + 1;
  // Counted before this call writes anything, once per call even when two overlap.
  const counted = await updateJob(
    deps,
    job,
    { set: { commitCalls: started } },
    job.commitCalls === undefined
      ? { expr: 'attribute_not_exists(commitCalls)' }
      : { expr: 'commitCalls = :n', values: { ':n': job.commitCalls } },
  );
  if (!counted) return 'progress';
  const pairs = new Map((await loadPairs(deps, group.id)).map((p) => [p.id, p]));
  const pairIds = job.pairIds ?? [];
  const last = await lastRecoveryPoint(deps, group);
  const budget = stepBudgetChunks(deps.config);
  let progress = job.commit ?? { ...START, attempt: randomBytes(4).toString('hex') };
  let written = 0;
  const read: ReadTasks = { tasks: [] };
  while (progress.pair < pairIds.length && written < budget) {
    const pair = pairs.get(pairIds[progress.pair]);
    const volume = pair && (await deps.table.get<Volume>(keys.volume(pair.primaryVolumeId)));
    if (!pair || !volume) {
      // Removed during the sync: not in this RP. Its tasks are skipped by the next pair.
      progress = { ...progress, pair: progress.pair + 1, site: 'primary', previous: MANIFEST_START };
      continue;
    }
    const slice = await writeSlice(deps, group, job, last, pair, progress, budget - written, read);
    written += slice.written;
    progress = slice.progress;
    if (slice.done) progress = nextManifest(group, job, pair, volume, progress);
  }
  // Counted along the chain of checkpoints: a call that died, or one whose checkpoint another
  // overwrote, leaves this count below commitCalls. A checkpoint without a count was saved
  // before calls were counted: the chain restarts at 0, below for good.
  const chained = job.commit === undefined ? 0 : job.commit.calls;
  progress = { ...progress, calls: chained === undefined ? 0 : chained + 1 };
  if (progress.pair < pairIds.length) {
    await setJob(deps, job, { commit: progress });
    return 'progress';
  }
  return commitRecoveryPoint(deps, group, { ...job, commitCalls: started }, pairs, progress);
}

/** After a manifest is complete: the pair's secondary manifest, or the next pair. */
function nextManifest(
  group: Group,
  job: SyncJob,
  pair: Pair,
  volume: Volume,
  progress: CommitProgress,
): CommitProgress {
  const fresh = { previous: MANIFEST_START, parts: 0, chunks: 0, copied: 0 };
  if (progress.site === 'primary') {
    return { ...progress, ...fresh, site: 'secondary', task: { taskNo: progress.pairTask, entry: 0 } };
  }
  // Both manifests hold the same chunk indices, so the secondary's counts are the pair's.
  const scanKey = job.scanManifests?.[pair.primaryVolumeId];
  const volumes = [
    ...progress.volumes,
    {
      pairId: pair.id,
      primaryVolumeId: pair.primaryVolumeId,
      secondaryVolumeId: pair.secondaryVolumeId,
      primaryManifestKey: scanKey ?? manifestKey(group.id, job.rpId, progress.attempt, pair.primaryVolumeId),
      secondaryManifestKey: manifestKey(group.id, job.rpId, progress.attempt, pair.secondaryVolumeId),
      chunks: progress.chunks,
      bytes: progress.chunks * volume.chunkSizeBytes,
    },
  ];
  return {
    ...progress,
    ...fresh,
    pair: progress.pair + 1,
    site: 'primary',
    pairTask: progress.task.taskNo,
    task: progress.task,
    volumes,
    bytes: progress.bytes + progress.copied * volume.chunkSizeBytes,
  };
}

/** Writes up to `room` entries of one manifest from the checkpoint; `done` when it is complete. */
async function writeSlice(
  deps: Deps,
  group: Group,
  job: SyncJob,
  last: RecoveryPoint | undefined,
  pair: Pair,
  progress: CommitProgress,
  room: number,
  read: ReadTasks,
): Promise<{ progress: CommitProgress; written: number; done: boolean }> {
  const primary = progress.site === 'primary';
  // With a scan cut the RP's primary manifest is the scan manifest itself: nothing to write.
  if (primary && job.scanManifests?.[pair.primaryVolumeId]) return { progress, written: 0, done: true };
  const store = deps.stores[primary ? group.primarySite : group.secondarySite];
  const prior = last?.volumes.find((v) => v.pairId === pair.id);
  const priorKey = primary ? prior?.primaryManifestKey : prior?.secondaryManifestKey;
  const key = manifestKey(
    group.id,
    job.rpId,
    progress.attempt,
    primary ? pair.primaryVolumeId : pair.secondaryVolumeId,
  );
  const previous = new StreamCursor<ChunkRef, ManifestPosition>(
    (from) => (priorKey ? store.readManifestFrom(priorKey, from) : noEntries()),
    progress.previous,
  );
  const copied = new StreamCursor<ChunkRef, TaskPosition>(
    (from) => copiedChunks(deps, job.id, pair.primaryVolumeId, primary, from, read),
    progress.task,
  );
  let copiedTaken = 0;
  const counted = {
    peek: () => copied.peek(),
    take: async () => {
      const ref = await copied.take();
      if (ref) copiedTaken++;
      return ref;
    },
  };
  const merged = overlay(previous, counted);
  const entries: ChunkRef[] = [];
  let more: boolean;
  try {
    while (entries.length < room) {
      const ref = await merged.take();
      if (!ref) break;
      entries.push(ref);
    }
    more = (await merged.peek()) !== undefined;
  } finally {
    await previous.close();
    await copied.close();
  }
  let parts = progress.parts;
  if (!more && parts === 0) {
    await store.writeManifestPart(key, 0, entries);
  } else {
    // Part n is a function of the checkpoint, so a call re-run after a crash rewrites it unchanged.
    await store.writeManifestPart(key, ++parts, entries);
    if (!more) await store.writeManifestIndex(key, parts);
  }
  const next: CommitProgress = {
    ...progress,
    task: copied.position(),
    previous: previous.position(),
    parts,
    chunks: progress.chunks + entries.length,
    copied: progress.copied + copiedTaken,
  };
  return { progress: next, written: entries.length, done: !more };
}

async function* noEntries<T>(): AsyncGenerator<T> {}

/**
 * The copy tasks of one pair that the primary manifest's pass read whole, from its first task:
 * the secondary manifest's pass in the same call reads them here instead of from the table.
 * At most a step's budget of chunks.
 */
interface ReadTasks {
  whole?: { volumeId: string; from: number };
  tasks: CopyTaskItem[];
}

/** The pair's tasks from `from`: the ones the primary pass read whole, else from the table. */
async function* pairTasks(
  deps: Deps,
  syncId: string,
  volumeId: string,
  primary: boolean,
  from: TaskPosition,
  read: ReadTasks,
): AsyncGenerator<CopyTaskItem> {
  if (!primary && read.whole?.volumeId === volumeId && read.whole.from === from.taskNo) {
    yield* read.tasks;
    return;
  }
  const keep = primary && from.entry === 0;
  read.whole = undefined;
  read.tasks = [];
  for await (const t of deps.table.query<CopyTaskItem>(
    taskPartition(syncId),
    keys.copyTask(syncId, from.taskNo).sk,
    'TASK#\uffff',
  )) {
    const order = compareVolumeIds(t.sourceVolumeId, volumeId);
    // Tasks of a volume ordered before the pair's belong to a pair removed during the sync.
    if (order < 0) continue;
    if (order > 0) break;
    if (keep) read.tasks.push(t);
    yield t;
  }
  if (keep) read.whole = { volumeId, from: from.taskNo };
}

/**
 * The copied chunks of one pair from a task position: the source version for the primary
 * manifest, the copy's version for the secondary one.
 */
async function* copiedChunks(
  deps: Deps,
  syncId: string,
  volumeId: string,
  primary: boolean,
  from: TaskPosition,
  read: ReadTasks,
) {
  for await (const t of pairTasks(deps, syncId, volumeId, primary, from, read)) {
    const chunks = decodeChunkRefs(t.chunks);
    const copied = copiedVersions(t);
    for (let i = t.taskNo === from.taskNo ? from.entry : 0; i < chunks.length; i++) {
      const [index, versionId] = chunks[i];
      const copiedVersion = copied.get(index);
      if (!copiedVersion) throw new Error(`task ${t.taskNo} of ${syncId} is missing chunk ${index}`);
      const value: ChunkRef = [index, primary ? versionId : copiedVersion];
      yield { value, next: { taskNo: t.taskNo, entry: i + 1 } };
    }
  }
}

async function commitRecoveryPoint(
  deps: Deps,
  group: Group,
  job: SyncJob,
  pairs: Map<string, Pair>,
  progress: CommitProgress,
): Promise<StepResult> {
  let rp: RecoveryPoint | undefined;
  if (group.recoveryPoints?.includes(job.rpNumber)) {
    // A retry after the commit point: the RP is committed and immutable, it is only read.
    rp = await deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, job.rpNumber));
    if (!rp) throw new Error(`${job.rpId} is listed by group ${group.id} but its item is missing`);
  } else {
    const committedAt = isoNow(deps);
    rp = {
      id: job.rpId,
      number: job.rpNumber,
      groupId: group.id,
      kind: 'recovery-point',
      site: group.secondarySite,
      epoch: job.cutEpoch ?? 0,
      roleEpoch: job.roleEpoch,
      cutAt: job.cutAt ?? committedAt,
      committedAt,
      bytes: progress.bytes,
      volumes: progress.volumes,
    };
    // The first item written wins: an overlapping attempt commits that one, never its own.
    const first = await deps.table.put(keys.recoveryPoint(group.id, rp.number), rp, {
      expr: 'attribute_not_exists(pk)',
    });
    if (!first) {
      const stored = await deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, job.rpNumber));
      if (!stored) throw new Error(`the item of ${job.rpId} vanished while committing`);
      rp = stored;
    }
    if (!(await publish(deps, group, job, rp)))
      return failSync(deps, job, 'the group changed under the commit (role epoch or sync)');
  }
  // Before the job reads committed, so whoever sees the commit sees its event; one item per RP.
  await recordEvent(
    deps,
    group.id,
    'rp-committed',
    'info',
    `${rp.id} committed at epoch ${rp.epoch}: ${rp.bytes} bytes copied`,
    { at: rp.committedAt, id: rp.id },
  );
  await setJob(deps, job, { state: 'committed', committedAt: rp.committedAt, commit: progress });
  // Only the pairs this sync planned are in the RP; a pair added since waits for the next sync.
  for (const v of rp.volumes) {
    const pair = pairs.get(v.pairId);
    if (pair && pair.firstRp === undefined) {
      // The group is released: the pair may have been removed (and its volume paired anew) since.
      await deps.table.update(
        keys.pair(group.id, pair.primaryVolumeId),
        { set: { firstRp: rp.number } },
        { expr: '#id = :p', names: { '#id': 'id' }, values: { ':p': pair.id } },
      );
    }
  }
  await finishCommit(deps, group.id, { ...job, commit: progress });
  return 'done';
}

/**
 * The commit point: one conditional write that lists the RP, refused if the role epoch moved
 * under the sync or the group no longer runs it. The list is part of the condition, so an RP
 * expiry running meanwhile (the previous sync's clean-up) is never undone; then it is retried.
 */
async function publish(deps: Deps, group: Group, job: SyncJob, rp: RecoveryPoint): Promise<boolean> {
  let current = group;
  for (let attempt = 0; attempt < 10; attempt++) {
    const listed = current.recoveryPoints ?? [];
    const done = await deps.table.update<Group>(
      keys.group(group.id),
      {
        set: {
          lastRp: {
            id: rp.id,
            number: rp.number,
            epoch: rp.epoch,
            cutAt: rp.cutAt,
            committedAt: rp.committedAt,
          },
          recoveryPoints: [...listed, rp.number],
        },
        remove: ['activeSync', 'cutRequest'],
      },
      {
        expr: 'roleEpoch = :re AND activeSync.id = :s AND (attribute_not_exists(lastRp) OR lastRp.#n < :n) AND (attribute_not_exists(recoveryPoints) OR recoveryPoints = :rps)',
        names: { '#n': 'number' },
        values: { ':re': job.roleEpoch, ':s': job.id, ':n': rp.number, ':rps': listed },
      },
    );
    if (done) return true;
    const now = await deps.table.get<Group>(keys.group(group.id));
    if (!now) return false;
    if (now.recoveryPoints?.includes(rp.number)) return true;
    if (now.roleEpoch !== job.roleEpoch || now.activeSync?.id !== job.id) return false;
    current = now;
  }
  return false;
}
