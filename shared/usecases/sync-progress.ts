import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import type { CopyTask } from '../domain/model';

export interface CopyTaskItem extends CopyTask {
  chunkCount: number;
  /** Landed copies: one `encodeChunkRefs` string per record (see `copiedVersions`). */
  copied?: string[];
  /** Per-chunk record of landed copies in tasks planned by the previous version. */
  done?: Record<string, string>;
  /** Deliveries that claimed the task; only the latest one's records are accepted. */
  claims?: number;
  doneCount: number;
  doneBytes: number;
  /** Why the last attempt could not reach a site; cleared when the sync resumes. */
  error?: string;
  /** An error no retry mends (a missing source version, access denied): the sync fails with it. */
  failed?: string;
  /** Throttling and server errors seen since the last resume; past a limit they count as a fault. */
  transientErrors?: number;
  /** Set when its sync ended without committing: no copy is recorded on it any more. */
  cancelled?: boolean;
}

export const taskPartition = (syncId: string) => keys.copyTask(syncId, 0).pk;

export interface Progress {
  chunksCopied: number;
  bytesCopied: number;
  chunksTotal: number;
}

/** Copy progress per source volume, summed over the sync's task items. */
export async function syncProgressByVolume(
  deps: Deps,
  syncId: string,
): Promise<Map<string, { chunksCopied: number; chunksTotal: number }>> {
  const out = new Map<string, { chunksCopied: number; chunksTotal: number }>();
  for (const t of await loadTaskSummaries(deps, syncId)) {
    const cur = out.get(t.sourceVolumeId) ?? { chunksCopied: 0, chunksTotal: 0 };
    cur.chunksCopied += t.doneCount;
    cur.chunksTotal += t.chunkCount;
    out.set(t.sourceVolumeId, cur);
  }
  return out;
}

export function loadTaskSummaries(deps: Deps, syncId: string) {
  return deps.table.queryPrefix<
    Pick<CopyTaskItem, 'taskNo' | 'sourceVolumeId' | 'chunkCount' | 'doneCount' | 'doneBytes'>
  >(taskPartition(syncId), 'TASK#', ['taskNo', 'sourceVolumeId', 'chunkCount', 'doneCount', 'doneBytes']);
}

export async function syncProgress(deps: Deps, syncId: string): Promise<Progress> {
  let chunksCopied = 0;
  let bytesCopied = 0;
  let chunksTotal = 0;
  for (const t of await loadTaskSummaries(deps, syncId)) {
    chunksCopied += t.doneCount;
    bytesCopied += t.doneBytes;
    chunksTotal += t.chunkCount;
  }
  return { chunksCopied, bytesCopied, chunksTotal };
}
