import { keys } from '../aws/keys';
import { type Deps, isoNow, siteNames } from '../deps';
import { chunkPrefix } from '../domain/chunks';
import { conflict, notFound } from '../domain/errors';
import { checkId, checkSiteName, newId } from '../domain/ids';
import type { Volume } from '../domain/model';
import { DEFAULT_CHUNK } from '../domain/sizes';
import { releaseClone } from './clones';

export interface VolumeView extends Omit<Volume, 'lease'> {
  location: { region: string; bucket: string; prefix: string };
}

/** A volume to create, as the API's schema (shared/api/schemas) has checked and read it. */
export interface CreateVolumeInput {
  name: string;
  site: string;
  sizeBytes: number;
  chunkSizeBytes?: number;
}

export async function createVolume(deps: Deps, input: CreateVolumeInput): Promise<VolumeView> {
  // Which sites exist is the deployment's: the schema knows only that a site is a string.
  const site = checkSiteName(input.site, siteNames(deps), 'site');
  const { name, sizeBytes, chunkSizeBytes = DEFAULT_CHUNK } = input;
  const volume: Volume = { id: newId('vol'), name, site, sizeBytes, chunkSizeBytes, createdAt: isoNow(deps) };
  await deps.table.put(keys.volume(volume.id), volume, { expr: 'attribute_not_exists(pk)' });
  return view(deps, volume);
}

export async function loadVolume(deps: Deps, id: unknown): Promise<Volume> {
  const volumeId = checkId(id, 'volumeId');
  const volume = await deps.table.get<Volume>(keys.volume(volumeId));
  if (!volume) throw notFound('volume', volumeId);
  return volume;
}

export async function getVolume(deps: Deps, id: unknown): Promise<VolumeView> {
  return view(deps, await loadVolume(deps, id));
}

export async function listVolumes(deps: Deps): Promise<VolumeView[]> {
  const volumes = await deps.table.queryPrefix<Volume>('VOLUMES', '');
  return volumes.map((v) => view(deps, v));
}

export async function deleteVolume(deps: Deps, id: unknown): Promise<void> {
  const volume = await loadVolume(deps, id);
  // Its chunk versions are what an RP clone of it reads where the clone never wrote.
  const clone = (await deps.table.queryPrefix<Volume>('VOLUMES', '')).find(
    (v) => v.base?.volumeId === volume.id,
  );
  if (clone)
    throw conflict(
      `volume ${volume.id} is the base of RP clone ${clone.id}; delete the clone first`,
      'clone-base',
    );
  const ok = await deps.table.delete(keys.volume(volume.id), { expr: 'attribute_not_exists(groupId)' });
  if (!ok)
    throw conflict(`volume ${volume.id} is in a mirrored pair; remove the pair first`, 'volume-in-pair');
  // After the item is gone, so no read of the clone is left to need its base.
  await releaseClone(deps, volume);
  await deps.stores[volume.site].deleteEverything(chunkPrefix(volume.id));
}

export function view(deps: Deps, volume: Volume): VolumeView {
  const { lease: _lease, ...rest } = volume;
  const site = deps.config.sites.find((s) => s.name === volume.site);
  return {
    ...rest,
    location: { region: site?.region ?? '', bucket: site?.bucket ?? '', prefix: chunkPrefix(volume.id) },
  };
}
