import type { ChunkStore } from '../../aws/chunk-store';
import { keys, syncObjects } from '../../aws/keys';
import type { Deps } from '../../deps';
import { copiedVersions } from '../../domain/chunk-ref-text';
import { chunkKey } from '../../domain/chunks';
import type { Positioned } from '../../domain/cursor';
import { type RunEntry, runLinesFrom } from '../../domain/delta';
import type { Group, Pair, RecoveryPoint, SyncJob } from '../../domain/model';
import { primaryManifestSite, primarySiteAt } from '../../domain/roles';
import { supersededAtScan } from '../../domain/scan-superseded';
import { loadPairs } from '../groups';
import { type CopyTaskItem, taskPartition } from '../sync-progress';
import { maySpill } from './job';

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
      [...copiedVersions(task)].map(([index, versionId]) => ({
        key: chunkKey(task.targetVolumeId, index),
        versionId,
      })),
    );
  }
  const primary = syncPrimary(deps, group, job);
  if (maySpill(job, 'runs')) await primary.deleteEverything(syncObjects.runs(group.id, job.id));
  // The lists only: the versions stay, their change records are kept for the next sync.
  if (maySpill(job, 'superseded')) await primary.deleteEverything(syncObjects.superseded(group.id, job.id));
  if (scanned(job)) await primary.deleteEverything(syncObjects.scans(group.id, job.id));
  for (const site of [group.primarySite, group.secondarySite])
    await deps.stores[site].deleteEverything(syncObjects.attempts(group.id, job.rpId));
}

/**
 * Where the sync wrote what it keeps at its primary: the site that was primary at its start. A
 * clean-up retried after a role change (a forced promotion whose abort of the sync was cut
 * short, a post-commit step that could not reach a site) runs with the group's sites swapped.
 */
const syncPrimary = (deps: Deps, group: Group, job: SyncJob) =>
  deps.stores[primarySiteAt(group, job.roleEpoch)];

/**
 * After a commit, deletes what the committed RP does not use of what its sync wrote: the runs
 * planning read, manifests of superseded commit attempts, older versions of rewritten
 * manifests, the initial-sync base listings of the pairs the RP now holds, and the primary
 * chunk versions its delta superseded. The latest
 * version of every manifest the RP names is kept (an expiry's purge still reads them).
 * Idempotent, part of the post-commit step.
 */
export async function tidyCommitted(deps: Deps, group: Group, job: SyncJob): Promise<void> {
  const primary = syncPrimary(deps, group, job);
  if (maySpill(job, 'runs')) await primary.deleteEverything(syncObjects.runs(group.id, job.id));
  const rp = await deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, job.rpNumber));
  // An RP item goes last when an RP expires: without it, nothing under its prefixes is read again.
  const named = rp?.volumes.flatMap((v) => [v.primaryManifestKey, v.secondaryManifestKey]) ?? [];
  const inUse = (key: string) => named.some((m) => key === m || key.startsWith(`${m}.part-`));
  // A commit whose every call ran to its end wrote each object under its attempt once and no
  // other attempt: nothing there to delete (SyncJob.commitCalls).
  if (job.commitCalls === undefined || job.commitCalls !== job.commit?.calls) {
    for (const site of [group.primarySite, group.secondarySite])
      await deps.stores[site].deleteEverythingBut(syncObjects.attempts(group.id, job.rpId), inUse);
  }
  if (scanned(job)) await primary.deleteEverythingBut(syncObjects.scans(group.id, job.id), inUse);
  const pairs = await loadPairs(deps, group.id);
  // Before the base listings go: a pair's first image is its floor.
  if (rp && job.scanManifests) await deleteScanSuperseded(deps, group, job, rp, pairs);
  for (const pair of pairs) {
    // A pair's base is its first RP's to delete (firstRp is set just after that commit, so
    // while it is unset every sync that holds the pair tries); later syncs need not list it.
    const firstHere = pair.firstRp === undefined || pair.firstRp === job.rpNumber;
    if (firstHere && rp?.volumes.some((v) => v.pairId === pair.id))
      await primary.deleteEverything(pair.baseManifestKey);
  }
  if (rp) await deleteSuperseded(primary, group.id, job);
}

/** Only a sync with a quiesced cut writes scan manifests (Group.cutRequestScan follows job.scan). */
const scanned = (job: SyncJob) => job.scan === true || job.scanManifests !== undefined;

/**
 * Deletes the primary chunk versions that a later write of the same chunk displaced before the
 * cut (collect listed them): no RP names them (this RP took the later write, older RPs were cut
 * before they were written) and the live volume shows a later version. Only after the commit:
 * an uncommitted sync's change records are read again by the next sync.
 */
async function deleteSuperseded(store: ChunkStore, groupId: string, job: SyncJob): Promise<void> {
  const inline = job.collect?.inlineSuperseded;
  if (inline) await deleteListed(store, runLinesFrom(inline, 0));
  if (!maySpill(job, 'superseded')) return;
  const prefix = syncObjects.superseded(groupId, job.id);
  await store.consumeEverything(prefix, (key) => deleteListed(store, store.readRunFrom(key, 0)));
}

function deleteListed(store: ChunkStore, entries: AsyncIterable<Positioned<RunEntry, number>>) {
  return deleteStreamed(
    store,
    (async function* () {
      for await (const { value } of entries)
        yield { key: chunkKey(value.volumeId, value.chunk), versionId: value.versionId };
    })(),
  );
}

/** Deletes object versions from a stream, a DeleteObjects request per 1,000, holding one batch. */
async function deleteStreamed(store: ChunkStore, doomed: AsyncIterable<{ key: string; versionId: string }>) {
  let batch: { key: string; versionId: string }[] = [];
  for await (const v of doomed) {
    batch.push(v);
    if (batch.length === 1000) {
      await store.deleteVersions(batch);
      batch = [];
    }
  }
  await store.deleteVersions(batch);
}

/**
 * A scan cut is taken when change records were lost (a gateway gone without closing its epoch,
 * a backlog over its limit), so the versions those writes superseded are in no list. Per
 * scanned volume, the chunk history at the primary names them: older than the version the
 * scan found, newer than the one the pair's previous image held (supersededAtScan). That image
 * is the pair's last listed RP before this one, or for its first RP its base listing; when
 * neither can be read the volume is left as it is. Versions that any listed or pinned RP names
 * are kept whatever their place.
 */
async function deleteScanSuperseded(
  deps: Deps,
  group: Group,
  job: SyncJob,
  rp: RecoveryPoint,
  pairs: Pair[],
): Promise<void> {
  const site = primarySiteAt(group, job.roleEpoch);
  const store = deps.stores[site];
  const kept = await keptRecoveryPoints(deps, group);
  for (const entry of rp.volumes) {
    const scanKey = job.scanManifests?.[entry.primaryVolumeId];
    if (!scanKey) continue;
    const floor = await floorManifest(deps, group, job, entry, site, kept, pairs);
    if (floor === null) continue;
    const held = manifestsNaming(group, kept, entry.primaryVolumeId, site);
    const doomed = supersededAtScan(
      store.chunkHistories(entry.primaryVolumeId),
      store.readManifest(scanKey),
      store.readManifest(floor),
      held.map((key) => store.readManifest(key)),
    );
    await deleteStreamed(
      store,
      (async function* () {
        for await (const [index, versionId] of doomed)
          yield { key: chunkKey(entry.primaryVolumeId, index), versionId };
      })(),
    );
  }
}

/** The RPs something may still read: listed, or pinned by a clone. */
async function keptRecoveryPoints(deps: Deps, group: Group): Promise<RecoveryPoint[]> {
  const numbers = new Set([...(group.recoveryPoints ?? []), ...Object.values(group.clones ?? {})]);
  const items = await Promise.all(
    [...numbers].map((n) => deps.table.get<RecoveryPoint>(keys.recoveryPoint(group.id, n))),
  );
  return items.filter((r): r is RecoveryPoint => r !== undefined).sort((a, b) => b.number - a.number);
}

/** The manifest keys, at `site`, of every kept RP's image of the volume. */
function manifestsNaming(group: Group, kept: RecoveryPoint[], volumeId: string, site: string): string[] {
  const keys = new Set<string>();
  for (const r of kept)
    for (const v of r.volumes) {
      if (v.primaryVolumeId === volumeId && primaryManifestSite(group, r) === site)
        keys.add(v.primaryManifestKey);
      if (v.secondaryVolumeId === volumeId && r.site === site) keys.add(v.secondaryManifestKey);
    }
  return [...keys];
}

/**
 * The pair's previous image of its primary volume at `site`: the primary manifest of its last
 * kept RP before this one, or, when this is its first RP, its base listing. Null for an image
 * that cannot be read (expired, deleted, of another volume): then nothing is deleted.
 */
async function floorManifest(
  deps: Deps,
  group: Group,
  job: SyncJob,
  entry: RecoveryPoint['volumes'][number],
  site: string,
  kept: RecoveryPoint[],
  pairs: Pair[],
): Promise<string | null> {
  for (const r of kept) {
    if (r.number >= job.rpNumber || r.kind === 'preserved-writes') continue;
    const previous = r.volumes.find((v) => v.pairId === entry.pairId);
    if (!previous) continue;
    const same = previous.primaryVolumeId === entry.primaryVolumeId && primaryManifestSite(group, r) === site;
    return same ? previous.primaryManifestKey : null;
  }
  const pair = pairs.find((p) => p.id === entry.pairId);
  if (!pair || (pair.firstRp !== undefined && pair.firstRp !== job.rpNumber)) return null;
  const stored = await deps.stores[site].manifestVersions(pair.baseManifestKey);
  return stored.length > 0 ? pair.baseManifestKey : null;
}
