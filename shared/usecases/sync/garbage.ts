import { keys, syncObjects } from '../../aws/keys';
import type { Deps } from '../../deps';
import { chunkKey } from '../../domain/chunks';
import type { Group, RecoveryPoint, SyncJob } from '../../domain/model';
import { loadPairs } from '../groups';
import { type CopyTaskItem, taskPartition } from '../sync-progress';

/**
 * Deletes what a sync that ended without committing left in the buckets: the chunk versions
 * its copies made, its runs, its scan manifests and the manifests of every commit attempt of
 * its RP number. None of it is referenced by a committed RP: the copies are versions this sync
 * made, and the RP number was this sync's alone (failSync released the group first, so it can
 * never commit). Idempotent: failSync runs it again until the job is closed.
 */
export async function discardUncommitted(deps: Deps, group: Group, job: SyncJob): Promise<void> {
  const tasks = await deps.table.queryPrefix<Pick<CopyTaskItem, 'taskNo'>>(taskPartition(job.id), 'TASK#', [
    'taskNo',
  ]);
  for (const { taskNo } of tasks) {
    // Cancelled first: from this write on no copy is recorded on the task (a copy still in
    // flight deletes its own version), so the versions read here are all there will be.
    const task = await deps.table.update<CopyTaskItem>(
      keys.copyTask(job.id, taskNo),
      { set: { cancelled: true } },
      { expr: 'attribute_exists(pk)' },
    );
    if (!task) continue;
    await deps.stores[task.targetSite].deleteVersions(
      Object.entries(task.done ?? {}).map(([c, versionId]) => ({
        key: chunkKey(task.targetVolumeId, Number(c.slice(1))),
        versionId,
      })),
    );
  }
  const primary = deps.stores[group.primarySite];
  await primary.deleteEverything(syncObjects.runs(group.id, job.id));
  await primary.deleteEverything(syncObjects.scans(group.id, job.id));
  for (const site of [group.primarySite, group.secondarySite])
    await deps.stores[site].deleteEverything(syncObjects.attempts(group.id, job.rpId));
}

/**
 * After a commit, deletes what the committed RP does not use of what its sync wrote: runs a
 * crashed collect left, manifests of superseded commit attempts, older versions of rewritten
 * manifests, and the initial-sync base listings of the pairs the RP now holds. The latest
 * version of every manifest the RP names is kept (an expiry's purge still reads them).
 * Idempotent, part of the post-commit step.
 */
export async function tidyCommitted(deps: Deps, group: Group, job: SyncJob): Promise<void> {
  const primary = deps.stores[group.primarySite];
  await primary.deleteEverything(syncObjects.runs(group.id, job.id));
  const rp = await deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, job.rpNumber));
  // An RP item goes last when an RP expires: without it, nothing under its prefixes is read again.
  const named = rp?.volumes.flatMap((v) => [v.primaryManifestKey, v.secondaryManifestKey]) ?? [];
  const inUse = (key: string) => named.some((m) => key === m || key.startsWith(`${m}.part-`));
  for (const site of [group.primarySite, group.secondarySite])
    await deps.stores[site].deleteEverythingBut(syncObjects.attempts(group.id, job.rpId), inUse);
  await primary.deleteEverythingBut(syncObjects.scans(group.id, job.id), inUse);
  for (const pair of await loadPairs(deps, group.id)) {
    if (rp?.volumes.some((v) => v.pairId === pair.id)) await primary.deleteEverything(pair.baseManifestKey);
  }
}
