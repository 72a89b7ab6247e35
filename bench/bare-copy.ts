import type { Deps } from '../shared/deps';

/**
 * Copies the chunk versions `refs` of `volumeId` from east into west under another volume
 * id, `inFlight` at a time, through the ChunkStore call the copy workers use (CopyObject on one
 * shared S3 service, GET and PUT across two) and nothing else: the floor any copier of these
 * chunks stands on. Returns its time in milliseconds.
 */
export async function bareCopyLoop(
  deps: Deps,
  volumeId: string,
  refs: [number, string][],
  targetVolumeId: string,
  inFlight: number,
): Promise<number> {
  const east = deps.stores.east;
  const west = deps.stores.west;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      // Bounded: each turn takes one of the refs.
      while (next < refs.length) {
        const [index, versionId] = refs[next++];
        await west.copyChunkFrom(east, volumeId, targetVolumeId, index, versionId);
      }
    }),
  );
  return performance.now() - started;
}

/** The latest stored version of every chunk of a volume at east, listed before a copy is timed. */
export async function chunkVersions(deps: Deps, volumeId: string): Promise<[number, string][]> {
  const refs: [number, string][] = [];
  for await (const ref of deps.stores.east.listChunks(volumeId)) refs.push(ref);
  return refs;
}
