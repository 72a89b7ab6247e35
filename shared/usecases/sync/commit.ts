import { keys } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import { mergeManifests } from '../../domain/manifest';
import type {
  ChunkRef,
  Group,
  RecoveryPoint,
  RecoveryPointVolume,
  SyncJob,
  Volume,
} from '../../domain/model';
import { loadPairs } from '../groups';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { finishCommit } from './cleanup';
import { failSync, lastRecoveryPoint, manifestKey, type StepResult, setJob } from './job';

export async function commit(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
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
    const prev = last?.volumes.find((v) => v.pairId === pair.id);
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
      pairId: pair.id,
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
      set: {
        lastRp: { id: rp.id, number: rp.number, epoch: rp.epoch, cutAt: rp.cutAt, committedAt },
        recoveryPoints: [...(group.recoveryPoints ?? []), rp.number],
      },
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
  await finishCommit(deps, group.id, job, rp, bytes);
  return 'done';
}
