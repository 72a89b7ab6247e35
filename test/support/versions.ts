import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { keys } from '../../shared/aws/keys';
import { chunkKey } from '../../shared/domain/chunks';
import type { Group, RecoveryPoint } from '../../shared/domain/model';
import { type Harness, type MirroredGroup, waitFor } from './harness';

export interface ListedVersion {
  key: string;
  versionId: string;
  latest: boolean;
  deleteMarker: boolean;
}

/** Every object version and delete marker in a site's bucket, or under a prefix. */
export async function listVersions(h: Harness, site: string, prefix?: string): Promise<ListedVersion[]> {
  const out: ListedVersion[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (let page = 0; page < 100; page++) {
    const res = await h.clients.sites[site].s3.send(
      new ListObjectVersionsCommand({
        Bucket: h.deps.stores[site].bucket,
        Prefix: prefix,
        KeyMarker: keyMarker,
        VersionIdMarker: versionMarker,
      }),
    );
    for (const [list, deleteMarker] of [
      [res.Versions ?? [], false],
      [res.DeleteMarkers ?? [], true],
    ] as const)
      for (const v of list)
        out.push({
          key: v.Key ?? '',
          versionId: v.VersionId ?? '',
          latest: v.IsLatest === true,
          deleteMarker,
        });
    if (!res.IsTruncated) break;
    keyMarker = res.NextKeyMarker;
    versionMarker = res.NextVersionIdMarker;
  }
  return out;
}

/** Every object version (and delete marker) in a site's bucket, or under a prefix, as `key@versionId`. */
export async function versionsAt(h: Harness, site: string, prefix?: string): Promise<string[]> {
  return (await listVersions(h, site, prefix)).map((v) => `${v.key}@${v.versionId}`).sort();
}

/** The latest versions of a manifest's objects (its key, or its index and parts). */
export async function manifestObjects(h: Harness, site: string, key: string): Promise<string[]> {
  const res = await h.clients.sites[site].s3.send(
    new ListObjectVersionsCommand({ Bucket: h.deps.stores[site].bucket, Prefix: key }),
  );
  return (res.Versions ?? [])
    .filter((v) => v.IsLatest && (v.Key === key || v.Key?.startsWith(`${key}.part-`)))
    .map((v) => `${v.Key}@${v.VersionId}`);
}

/**
 * What may stay: the live primary volume (the latest version of each chunk), and for every
 * retained RP the chunk versions its manifests name and the manifests themselves.
 */
export async function expectedVersions(h: Harness, g: MirroredGroup): Promise<Record<string, string[]>> {
  const group = await h.deps.table.get<Group>(keys.group(g.groupId));
  const want: Record<string, Set<string>> = { east: new Set(), west: new Set() };
  for (const volumeId of g.primaries) {
    for await (const [index, versionId] of h.deps.stores.east.listChunks(volumeId))
      want.east.add(`${chunkKey(volumeId, index)}@${versionId}`);
  }
  for (const n of group?.recoveryPoints ?? []) {
    const rp = await h.deps.table.get<RecoveryPoint>(keys.recoveryPoint(g.groupId, n));
    for (const v of rp?.volumes ?? []) {
      for (const [site, volumeId, key] of [
        ['east', v.primaryVolumeId, v.primaryManifestKey],
        ['west', v.secondaryVolumeId, v.secondaryManifestKey],
      ] as const) {
        for await (const [index, versionId] of h.deps.stores[site].readManifest(key))
          want[site].add(`${chunkKey(volumeId, index)}@${versionId}`);
        for (const o of await manifestObjects(h, site, key)) want[site].add(o);
      }
    }
  }
  return { east: [...want.east].sort(), west: [...want.west].sort() };
}

/**
 * Waits until each site's bucket holds exactly the live primary volume and the retained RPs'
 * versions and manifests; on a timeout, fails naming what is left over and what is missing.
 */
export async function expectOnlyLiveAndRetained(h: Harness, g: MirroredGroup, after: string): Promise<void> {
  let last: { actual: Record<string, string[]>; expected: Record<string, string[]> } | undefined;
  try {
    // Copies still in flight when a sync ended delete their own versions: wait for them.
    await waitFor(
      `only live and retained versions after ${after}`,
      async () => {
        const expected = await expectedVersions(h, g);
        const actual = { east: await versionsAt(h, 'east'), west: await versionsAt(h, 'west') };
        last = { actual, expected };
        return JSON.stringify(actual) === JSON.stringify(expected);
      },
      20_000,
    );
  } catch {
    const extra = (site: 'east' | 'west') =>
      last?.actual[site].filter((v) => !last?.expected[site].includes(v));
    const missing = (site: 'east' | 'west') =>
      last?.expected[site].filter((v) => !last?.actual[site].includes(v));
    expect({ east: extra('east'), west: extra('west') }, `left over after ${after}`).toEqual({
      east: [],
      west: [],
    });
    expect({ east: missing('east'), west: missing('west') }, `missing after ${after}`).toEqual({
      east: [],
      west: [],
    });
  }
}
