import type { Deps } from '../deps';
import type { Group, RecoveryPoint } from '../domain/model';
import { loadPairs } from './groups';

type Entry = RecoveryPoint['volumes'][number];

/**
 * What an expiring RP leaves of a pair removed since: its successor has no entry for the pair,
 * and none after it will (a pair id is never added again), so its manifests at both sites
 * would be kept forever. They are deleted unless the listed predecessor (a pinned RP) shares
 * them (an RP a flip wrote reuses its predecessor's manifests). The chunk versions they name
 * stay: the freed volumes may be mirrored again, by RPs that name versions this one does too.
 * A pair still in the group (an RP that left it out) keeps everything, as before.
 */
export async function dropRemovedPairManifests(
  deps: Deps,
  group: Group,
  old: RecoveryPoint,
  entry: Entry,
  previous: Entry | undefined,
): Promise<void> {
  if ((await loadPairs(deps, group.id)).some((p) => p.id === entry.pairId)) return;
  const primarySite = old.site === group.secondarySite ? group.primarySite : group.secondarySite;
  const shared = new Set([previous?.primaryManifestKey, previous?.secondaryManifestKey]);
  for (const [site, key] of [
    [primarySite, entry.primaryManifestKey],
    [old.site, entry.secondaryManifestKey],
  ] as const) {
    if (shared.has(key)) continue;
    const store = deps.stores[site];
    // Every version, the index last: a purge stopped midway is finished by the next one.
    await store.deleteVersions(await store.manifestVersions(key));
  }
}
