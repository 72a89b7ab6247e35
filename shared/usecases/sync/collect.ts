import { changeRange, groupPartition, keys } from '../../aws/keys';
import type { Deps } from '../../deps';
import { DeltaBuilder } from '../../domain/delta';
import { mergeManifests } from '../../domain/manifest';
import type { ChangeRecord, ChunkRef, Group, SyncJob, Volume } from '../../domain/model';
import { loadPairs } from '../groups';
import type { CopyTaskItem } from '../sync-progress';
import { epochsComplete } from './epochs';
import {
  CHUNKS_PER_TASK,
  inRecoveryPoint,
  lastRecoveryPoint,
  type StepResult,
  type StoredChangeBatch,
  setJob,
} from './job';

export async function collect(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const cutEpoch = job.cutEpoch ?? 0;
  const status = await epochsComplete(deps, group, job.fromEpoch, cutEpoch);
  if (status === 'waiting') return 'waiting';
  if (status === 'lost' && !job.scan) {
    await deps.table.update(
      keys.sync(job.groupId, job.id),
      { set: { state: 'cutting', scan: true }, remove: ['cutEpoch'] },
      { expr: '#s = :s', names: { '#s': 'state' }, values: { ':s': job.state } },
    );
    return 'progress';
  }
  const pairs = await loadPairs(deps, group.id);
  // A record made under an earlier pairing of the same volume is not part of this pair's delta.
  const current = new Set(pairs.map((p) => p.id));
  const delta = new DeltaBuilder();
  const [from, to] = changeRange(job.fromEpoch, cutEpoch);
  for await (const item of deps.table.query<StoredChangeBatch>(groupPartition(group.id), from, to)) {
    for (const r of JSON.parse(item.records) as ChangeRecord[]) {
      if (current.has(r.pairId)) delta.add(item.epoch, r);
    }
  }
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
