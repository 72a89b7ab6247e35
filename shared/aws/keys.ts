import type { Key } from './control-table';

/** Sort keys are zero-padded so that key order is numeric order. */
export const pad = (n: number, width = 12) => String(n).padStart(width, '0');

export const keys = {
  volume: (id: string): Key => ({ pk: 'VOLUMES', sk: id }),
  group: (id: string): Key => ({ pk: 'GROUPS', sk: id }),
  pair: (groupId: string, primaryVolumeId: string): Key => ({
    pk: `GRP#${groupId}`,
    sk: `PAIR#${primaryVolumeId}`,
  }),
  recoveryPoint: (groupId: string, n: number): Key => ({ pk: `GRP#${groupId}`, sk: `RP#${pad(n)}` }),
  sync: (groupId: string, syncId: string): Key => ({ pk: `GRP#${groupId}`, sk: `SYNC#${syncId}` }),
  barrier: (groupId: string, epoch: number): Key => ({ pk: `GRP#${groupId}`, sk: `BARRIER#${pad(epoch)}` }),
  changeBatch: (groupId: string, epoch: number, session: string, batch: number): Key => ({
    pk: `GRP#${groupId}`,
    sk: `CHG#${pad(epoch)}#${session}#${pad(batch, 8)}`,
  }),
  event: (groupId: string, at: string, suffix: string): Key => ({
    pk: `GRP#${groupId}`,
    sk: `EVENT#${at}#${suffix}`,
  }),
  copyTask: (syncId: string, taskNo: number): Key => ({ pk: `SYNC#${syncId}`, sk: `TASK#${pad(taskNo, 8)}` }),
};

export const groupPartition = (groupId: string) => `GRP#${groupId}`;
/** Sort-key range of the change batches of epochs [from, to]. */
export const changeRange = (from: number, to: number): [string, string] => [
  `CHG#${pad(from)}`,
  `CHG#${pad(to)}#\uffff`,
];
export const barrierRange = (from: number, to: number): [string, string] => [
  `BARRIER#${pad(from)}`,
  `BARRIER#${pad(to)}`,
];

/** Object key prefixes of one sync in the buckets, so its clean-up finds everything it wrote. */
export const syncObjects = {
  /** Sorted runs of the collect phase (primary site). */
  runs: (groupId: string, syncId: string) => `runs/${groupId}/${syncId}/`,
  /** Scan manifests of a quiesced cut (primary site). */
  scans: (groupId: string, syncId: string) => `manifests/${groupId}/scan-${syncId}/`,
  /** Versions of the primary volumes that the sync's delta superseded, deleted once it commits (primary site). */
  superseded: (groupId: string, syncId: string) => `superseded/${groupId}/${syncId}/`,
  /** Manifests of every commit attempt of one RP number (both sites). */
  attempts: (groupId: string, rpId: string) => `manifests/${groupId}/${rpId}/`,
};

/** Whether a manifest is a scan's: a listing of its volume at a quiesced cut. */
export const isScanManifest = (groupId: string, key: string) => key.startsWith(`manifests/${groupId}/scan-`);
