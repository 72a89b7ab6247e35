import type { Deps } from '../shared/deps';
import type { Gateway } from '../shared/gateway/gateway';
import { createGroup } from '../shared/usecases/groups';
import { addPair } from '../shared/usecases/pairs';
import { createVolume } from '../shared/usecases/volumes';

export const CHUNK = 64 * 1024;
export const MiB = 1024 * 1024;

export async function mirrored(deps: Deps, sizeBytes: number, chunkSizeBytes = CHUNK) {
  const group = await createGroup(deps, { name: 'bench', primarySite: 'east', secondarySite: 'west' });
  const vol = await createVolume(deps, { name: 'v', site: 'east', sizeBytes, chunkSizeBytes });
  const pair = await addPair(deps, group.id, { primaryVolumeId: vol.id });
  return { groupId: group.id, primary: vol.id, secondary: pair.secondaryVolumeId };
}

/**
 * A chunk's bytes at a generation: every (chunk, generation) differs, so a changed chunk has
 * a new checksum and neither side can skip it by content.
 */
export function chunkData(i: number, generation = 0, size = CHUNK): Uint8Array {
  const b = new Uint8Array(size).fill((i + generation * 17) % 251);
  const v = new DataView(b.buffer);
  v.setUint32(0, i);
  v.setUint32(4, generation);
  return b;
}

export const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function runs(chunks: number[]): number[][] {
  const out: number[][] = [];
  for (const c of chunks) {
    const last = out.at(-1);
    if (last && last[last.length - 1] === c - 1) last.push(c);
    else out.push([c]);
  }
  return out;
}

/** Writes whole chunks, `perWrite` chunks per write, `inFlight` writes at once. */
export async function writeChunks(
  gw: Gateway,
  volumeId: string,
  chunks: number[],
  perWrite: number,
  inFlight: number,
  generation = 0,
  chunkSize = CHUNK,
) {
  const writes: number[][] = [];
  for (let i = 0; i < chunks.length; i += perWrite) writes.push(chunks.slice(i, i + perWrite));
  let next = 0;
  const lanes = Array.from({ length: inFlight }, async () => {
    for (let k = 0; k < 10_000_000 && next < writes.length; k++) {
      const group = writes[next++];
      // Contiguous runs become one write; scattered chunks one write each.
      for (const run of runs(group)) {
        const data = new Uint8Array(run.length * chunkSize);
        for (const [j, c] of run.entries()) data.set(chunkData(c, generation, chunkSize), j * chunkSize);
        await gw.write(volumeId, run[0] * chunkSize, data);
      }
    }
  });
  await Promise.all(lanes);
}

/** `count` distinct chunk indexes of `of`, spread evenly (a deterministic stride). */
export function spread(count: number, of: number): number[] {
  const out = new Set<number>();
  for (let i = 0; out.size < count && i < of * 4; i++) out.add(Math.floor((i * of) / count) % of);
  return [...out].sort((a, b) => a - b);
}
