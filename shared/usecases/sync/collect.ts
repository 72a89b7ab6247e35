import type { ChunkStore } from '../../aws/chunk-store';
import { changeRange, groupPartition, keys, syncObjects } from '../../aws/keys';
import { stepBudgetChunks } from '../../config';
import type { Deps } from '../../deps';
import { encodeChunkRefs } from '../../domain/chunk-ref-text';
import { type Cursor, StreamCursor } from '../../domain/cursor';
import {
  compareVolumeIds,
  DeltaBuilder,
  formatRunLine,
  latestOf,
  type RunEntry,
  runLinesFrom,
} from '../../domain/delta';
import { chunksPerTask, copyLanes } from '../../domain/group-rules';
import { changedSince, MANIFEST_START, overlay } from '../../domain/manifest';
import type {
  ChangeRecord,
  ChunkRef,
  CollectProgress,
  Group,
  ManifestPosition,
  Pair,
  PlanProgress,
  RecoveryPoint,
  SyncJob,
  Volume,
} from '../../domain/model';
import { CHUNKS_PER_TASK } from '../../tuning';
import { loadPairs } from '../groups';
import type { CopyTaskItem } from '../sync-progress';
import { epochsComplete } from './epochs';
import {
  failSync,
  inRecoveryPoint,
  lastRecoveryPoint,
  markSpilled,
  type StepResult,
  type StoredChangeBatch,
  setJob,
  updateJob,
} from './job';

type Completeness = 'complete' | 'waiting' | 'lost';

/** Reads epochsComplete's answer whether it is still a boolean or already the three-way one. */
const completeness = (r: boolean | Completeness): Completeness =>
  typeof r === 'boolean' ? (r ? 'complete' : 'waiting') : r;

/** At most this many entries (about 60 bytes each) are kept on the job item instead of in S3. */
const INLINE_RUN_ENTRIES = 1000;

const runKey = (groupId: string, syncId: string, n: number) =>
  `${syncObjects.runs(groupId, syncId)}run-${String(n).padStart(6, '0')}.txt`;

/** Named by the step's checkpoint, so a step re-run after a crash rewrites the same list. */
const supersededKey = (groupId: string, syncId: string, step: string) =>
  `${syncObjects.superseded(groupId, syncId)}${step}.txt`;

/**
 * The delta phase, a bounded amount per call: first the change batches of (last RP, cut] are
 * folded, a budget of records at a time, into sorted runs stored at the primary site; then
 * copy tasks are planned from a streaming merge of the runs, a budget of chunks at a time.
 * Every call checkpoints on the job where the next one goes on.
 */
export async function collect(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (!job.collect) return begin(deps, group, job);
  if (!job.collect.planning) return foldBatches(deps, group, job, job.collect);
  return plan(deps, group, job, job.collect.planning);
}

async function begin(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const cutEpoch = job.cutEpoch ?? 0;
  if (!job.scanManifests) {
    const status = completeness(await epochsComplete(deps, group, job.fromEpoch, cutEpoch));
    if (status === 'waiting') return 'waiting';
    if (status === 'lost') {
      // Records of the range are gone for good: a quiesced cut with a scan finds the delta instead.
      await updateJob(
        deps,
        job,
        { set: { state: 'cutting', scan: true }, remove: ['cutEpoch', 'cutAt', 'collect', 'pairIds'] },
        { expr: '#st = :from', names: { '#st': 'state' }, values: { ':from': 'collecting' } },
      );
      return 'progress';
    }
  }
  // The pairs are fixed here: a pair added after the cut waits for the next sync.
  const pairs = (await loadPairs(deps, group.id))
    .filter((p) => p.startEpoch <= cutEpoch)
    .sort((a, b) => compareVolumeIds(a.primaryVolumeId, b.primaryVolumeId));
  const missing = pairs.find((p) => job.scanManifests && !job.scanManifests[p.primaryVolumeId]);
  if (missing)
    return failSync(deps, job, `the scan cut has no manifest for volume ${missing.primaryVolumeId}`);
  const collect: CollectProgress = { runs: 0, ...(job.scanManifests && { planning: firstPlan(0) }) };
  await setJob(deps, job, { pairIds: pairs.map((p) => p.id), collect });
  return 'progress';
}

const firstPlan = (runs: number, perTask?: number): PlanProgress => ({
  ...(perTask !== undefined && { perTask }),
  pair: 0,
  runs: new Array(runs).fill(0),
  source: MANIFEST_START,
  previous: MANIFEST_START,
  taskNo: 0,
  chunksTotal: 0,
  bytesTotal: 0,
});

/** Folds up to a budget of change records into one run: per chunk the latest (epoch, seq). */
async function foldBatches(
  deps: Deps,
  group: Group,
  job: SyncJob,
  progress: CollectProgress,
): Promise<StepResult> {
  const budget = stepBudgetChunks(deps.config);
  const planned = new Set(job.pairIds ?? []);
  const [from, to] = changeRange(job.fromEpoch, job.cutEpoch ?? 0);
  // Only the planned pairs' primary volumes: a record of another volume (a secondary written
  // while it was a primary, kept in a preserved-writes item) must never be called superseded.
  const pairs = (await loadPairs(deps, group.id)).filter((p) => planned.has(p.id));
  const primaries = new Set(pairs.map((p) => p.primaryVolumeId));
  const delta = new DeltaBuilder(primaries);
  let records = 0;
  let lastBatch = progress.lastBatch;
  let more = false;
  for await (const item of deps.table.query<StoredChangeBatch>(
    groupPartition(group.id),
    progress.lastBatch ?? from,
    to,
  )) {
    const sk = keys.changeBatch(group.id, item.epoch, item.session, item.batch).sk;
    if (sk === progress.lastBatch) continue;
    if (records >= budget) {
      more = true;
      break;
    }
    const batch = JSON.parse(item.records) as ChangeRecord[];
    // A record made under an earlier pairing of the same volume is not part of this pair's delta.
    for (const r of batch) if (planned.has(r.pairId)) delta.add(item.epoch, r);
    records += batch.length;
    lastBatch = sk;
  }
  const entries = delta.runEntries();
  const superseded = delta.superseded();
  if (
    progress.runs === 0 &&
    !more &&
    entries.length <= INLINE_RUN_ENTRIES &&
    superseded.length <= INLINE_RUN_ENTRIES
  ) {
    // The whole delta fits one small run: kept on the job, it costs no S3 request.
    const inline = entries.map(formatRunLine).join('');
    const inlineSuperseded = superseded.length > 0 ? superseded.map(formatRunLine).join('') : undefined;
    await setJob(deps, job, {
      collect: {
        lastBatch,
        runs: 1,
        inlineRun: inline,
        inlineSuperseded,
        // Sized once, here: a planning step re-run after a crash must cut the same tasks.
        planning: firstPlan(1, chunksPerTask(deltaBound(pairs, entries.length), copyLanes(group.priority))),
      },
    });
    return 'progress';
  }
  await markSpilled(deps, job, [
    ...(superseded.length > 0 ? (['superseded'] as const) : []),
    ...(entries.length > 0 ? (['runs'] as const) : []),
  ]);
  if (superseded.length > 0)
    await deps.stores[group.primarySite].writeRun(
      supersededKey(group.id, job.id, `fold-${progress.runs + 1}`),
      superseded,
    );
  let runs = progress.runs;
  // Run n is a function of the checkpoint, so a step re-run after a crash rewrites it unchanged.
  if (entries.length > 0)
    await deps.stores[group.primarySite].writeRun(runKey(group.id, job.id, ++runs), entries);
  const next: CollectProgress = { lastBatch, runs, ...(!more && { planning: firstPlan(runs) }) };
  await setJob(deps, job, { collect: next });
  return 'progress';
}

/**
 * At most how many chunks the delta holds: the run's entries and the base listing of each pair
 * on its initial sync; undefined if such a base was never counted. `firstRp` is set just after
 * the pair's first commit: a pair still seen as initial only makes the tasks larger.
 */
function deltaBound(pairs: Pair[], entries: number): number | undefined {
  let bound = entries;
  for (const p of pairs) {
    if (p.firstRp !== undefined) continue;
    if (p.baseChunks === undefined) return undefined;
    bound += p.baseChunks;
  }
  return bound;
}

/** Plans copy tasks for up to a budget of chunks, pair after pair in pairIds order. */
async function plan(deps: Deps, group: Group, job: SyncJob, progress: PlanProgress): Promise<StepResult> {
  const budget = stepBudgetChunks(deps.config);
  const source = deps.stores[group.primarySite];
  const pairIds = job.pairIds ?? [];
  const pairs = new Map((await loadPairs(deps, group.id)).map((p) => [p.id, p]));
  const last = await lastRecoveryPoint(deps, group);
  const inlineRun = job.collect?.inlineRun;
  const runs = progress.runs.map(
    (offset, i) =>
      new StreamCursor<RunEntry, number>(
        (at) =>
          inlineRun !== undefined
            ? runLinesFrom(inlineRun, at)
            : source.readRunFrom(runKey(group.id, job.id, i + 1), at),
        offset,
      ),
  );
  let { pair: p, source: sourceAt, previous: previousAt, taskNo, chunksTotal, bytesTotal } = progress;
  const stepName = `plan-${p}-${taskNo}`;
  const superseded: RunEntry[] = [];
  // A task never holds more than a step may plan.
  const perTask = Math.min(progress.perTask ?? CHUNKS_PER_TASK, budget);
  let planned = 0;
  try {
    while (planned < budget && p < pairIds.length) {
      const pair = pairs.get(pairIds[p]);
      const volume = pair && (await deps.table.get<Volume>(keys.volume(pair.primaryVolumeId)));
      let exhausted = true;
      if (pair && volume) {
        const inputs = pairDelta(source, job, last, pair, runs, sourceAt, previousAt, (e) =>
          superseded.push(e),
        );
        try {
          for (;;) {
            if (planned >= budget) {
              exhausted = (await inputs.delta.peek()) === undefined;
              break;
            }
            const chunks: ChunkRef[] = [];
            for (let ref = await inputs.delta.take(); ref; ) {
              chunks.push(ref);
              if (chunks.length === perTask) break;
              ref = await inputs.delta.take();
            }
            if (chunks.length === 0) break;
            await putTask(deps, group, job, pair, volume, taskNo++, chunks);
            planned += chunks.length;
            chunksTotal += chunks.length;
            bytesTotal += chunks.length * volume.chunkSizeBytes;
          }
          sourceAt = inputs.sourceAt();
          previousAt = inputs.previousAt();
        } finally {
          await inputs.close();
        }
      }
      if (!exhausted) break;
      p++;
      sourceAt = MANIFEST_START;
      previousAt = MANIFEST_START;
    }
  } finally {
    await Promise.all(runs.map((r) => r.close()));
  }
  // Written before the checkpoint moves on: a crash here re-plans the step and rewrites the list.
  if (superseded.length > 0) {
    await markSpilled(deps, job, ['superseded']);
    await source.writeRun(supersededKey(group.id, job.id, stepName), superseded);
  }
  if (p < pairIds.length) {
    const next: PlanProgress = {
      ...(progress.perTask !== undefined && { perTask: progress.perTask }),
      pair: p,
      runs: runs.map((r) => r.position()),
      source: sourceAt,
      previous: previousAt,
      taskNo,
      chunksTotal,
      bytesTotal,
    };
    await setJob(deps, job, { collect: { ...(job.collect as CollectProgress), planning: next } });
    return 'progress';
  }
  await setJob(deps, job, {
    state: 'copying',
    tasksTotal: taskNo,
    tasksEnqueued: 0,
    chunksTotal,
    bytesTotal,
  });
  // The runs were only the input of planning: the clean-up after the commit (or the discard of
  // a failed sync) deletes them, off the path to the RP.
  return 'progress';
}

/**
 * One pair's delta as a cursor, from saved positions: with a scan, the chunks the scan holds
 * at another version than the last RP; otherwise the runs' latest writes, over the base
 * listing when the pair takes its initial sync.
 */
function pairDelta(
  store: ChunkStore,
  job: SyncJob,
  last: RecoveryPoint | undefined,
  pair: Pair,
  runs: Cursor<RunEntry>[],
  sourceAt: ManifestPosition,
  previousAt: ManifestPosition,
  onSuperseded: (e: RunEntry) => void,
) {
  const manifest = (key: string | undefined, at: ManifestPosition) =>
    new StreamCursor<ChunkRef, ManifestPosition>(
      (from) => (key ? store.readManifestFrom(key, from) : empty()),
      at,
    );
  const prior = last?.volumes.find((v) => v.pairId === pair.id);
  const scanKey = job.scanManifests?.[pair.primaryVolumeId];
  const initial = !inRecoveryPoint(last, pair);
  const base = manifest(scanKey ?? (initial ? pair.baseManifestKey : undefined), sourceAt);
  const previous = manifest(scanKey ? prior?.primaryManifestKey : undefined, previousAt);
  const delta = scanKey
    ? changedSince(base, previous)
    : initial
      ? overlay(base, latestOf(runs, pair.primaryVolumeId, onSuperseded))
      : latestOf(runs, pair.primaryVolumeId, onSuperseded);
  return {
    delta,
    sourceAt: () => base.position(),
    previousAt: () => previous.position(),
    close: async () => {
      await base.close();
      await previous.close();
    },
  };
}

async function* empty<T>(): AsyncGenerator<T> {}

async function putTask(
  deps: Deps,
  group: Group,
  job: SyncJob,
  pair: Pair,
  volume: Volume,
  taskNo: number,
  chunks: ChunkRef[],
): Promise<void> {
  const task: CopyTaskItem = {
    syncId: job.id,
    groupId: group.id,
    taskNo,
    sourceSite: group.primarySite,
    targetSite: group.secondarySite,
    sourceVolumeId: pair.primaryVolumeId,
    targetVolumeId: pair.secondaryVolumeId,
    chunkSizeBytes: volume.chunkSizeBytes,
    chunks: encodeChunkRefs(chunks),
    chunkCount: chunks.length,
    doneCount: 0,
    doneBytes: 0,
  };
  // Planning is deterministic, so a re-run after a crash finds the same tasks in place.
  await deps.table.put(keys.copyTask(job.id, taskNo), task, { expr: 'attribute_not_exists(pk)' });
}
