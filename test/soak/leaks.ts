import { groupPartition, keys } from '../../shared/aws/keys';
import { chunkKey, chunkPrefix } from '../../shared/domain/chunks';
import type { Group, RecoveryPoint } from '../../shared/domain/model';
import { primaryManifestSite } from '../../shared/domain/roles';
import { loadPairs } from '../../shared/usecases/groups';
import { listVersions } from '../support/versions';
import type { SoakRun } from './system';

/**
 * The chunk versions of the group's member volumes that nothing will ever read or delete: not
 * the latest version of its chunk (the live volume), and named by no RP the group keeps
 * (listed, pinned by a clone) and by no preserved-writes item. Each one is storage paid for
 * ever. Checked once every sync of the run has ended and been cleaned up; copies still in flight
 * when a sync ended delete their own versions, so it waits up to `boundMs` for the set to empty.
 * A volume whose pair was removed during the run is left out: the versions an expired RP of a
 * removed pair names stay by design (the freed volume may be mirrored again). Delete markers are
 * left out too: a role change hides chunks an RP does not hold with them, and they hold no bytes.
 * A volume a role change reverted is counted, not a violation: the revert's copies of RP versions
 * and the old primary's writes its preserved-writes item does not name stay (a known leak).
 */
export async function checkLeakedVersions(run: SoakRun, boundMs: number): Promise<void> {
  const reverted = (v: string) => run.revertedVolumes.has(/^[^:]+:volumes\/([^/]+)\//.exec(v)?.[1] ?? '');
  const endBy = Date.now() + boundMs;
  let known: string[] = [];
  let unknown: string[] = [];
  for (let i = 0; i < 1_000; i++) {
    const leaked = await leakedVersions(run);
    known = leaked.filter(reverted);
    unknown = leaked.filter((v) => !reverted(v));
    // The known leak does not go away: only the others are waited for.
    if (unknown.length === 0 || Date.now() > endBy) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (known.length > 0) {
    run.counts.add('versions-leaked-after-revert', known.length);
    run.notes.push(
      `${known.length} chunk version(s) of volumes a role change reverted are neither live nor held by an RP (a known leak: ${known.slice(0, 3).join(', ')})`,
    );
  }
  if (unknown.length > 0)
    run.oracle.violation(
      'leaked-version',
      `${boundMs} ms after every sync ended, ${unknown.length} chunk version(s) are neither live nor held by an RP: ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ', ...' : ''}`,
    );
}

async function leakedVersions(run: SoakRun): Promise<string[]> {
  const group = await run.deps.table.get<Group>(keys.group(run.groupId));
  if (!group) return [];
  const held = await heldVersions(run, group);
  const removed = new Set(run.volumes.filter((v) => v.pairRemoved).map((v) => v.key));
  const checked = run.volumes.filter((v) => !removed.has(v.key));
  const volumeIds = new Set<string>();
  for (const p of await loadPairs(run.deps, run.groupId)) {
    if (!checked.some((v) => v.primaryId === p.primaryVolumeId || v.primaryId === p.secondaryVolumeId))
      continue;
    volumeIds.add(p.primaryVolumeId);
    volumeIds.add(p.secondaryVolumeId);
  }
  const leaked: string[] = [];
  for (const site of Object.keys(run.deps.stores))
    for (const volumeId of volumeIds)
      for (const v of await listVersions(run.stack.h, site, chunkPrefix(volumeId))) {
        const name = `${v.key}@${v.versionId}`;
        if (!v.latest && !v.deleteMarker && !held.has(`${site}:${name}`)) leaked.push(`${site}:${name}`);
      }
  return leaked.sort();
}

/** `site:key@versionId` of every chunk version a kept RP or a preserved-writes item names. */
async function heldVersions(run: SoakRun, group: Group): Promise<Set<string>> {
  const kept = new Set([...(group.recoveryPoints ?? []), ...Object.values(group.clones ?? {})]);
  const all = await run.deps.table.queryPrefix<RecoveryPoint>(groupPartition(group.id), 'RP#');
  const held = new Set<string>();
  for (const rp of all) {
    if (rp.kind !== 'preserved-writes' && !kept.has(rp.number)) continue;
    const primarySite = primaryManifestSite(group, rp);
    for (const v of rp.volumes)
      for (const [site, volumeId, key] of [
        [primarySite, v.primaryVolumeId, v.primaryManifestKey],
        [rp.site, v.secondaryVolumeId, v.secondaryManifestKey],
      ] as const)
        for await (const [index, versionId] of run.deps.stores[site].readManifest(key))
          held.add(`${site}:${chunkKey(volumeId, index)}@${versionId}`);
  }
  return held;
}
