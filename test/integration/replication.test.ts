import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumVolume } from '../../shared/usecases/reads';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

describe('replication end to end', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  it('initial then delta sync: the secondary at each RP equals the primary at the same RP', async () => {
    const g = await mirroredGroup(h, [
      { sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK },
      { sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK },
    ]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(3 * CHUNK + 100, 1));
    await gw.write(g.primaries[1], 5 * CHUNK + 7, randomBytesOf(1000, 2));
    const rp1 = await syncAndWait(h, g.groupId);
    for (const [i, p] of g.primaries.entries()) {
      const a = await checksumVolume(h.deps, p, rp1);
      const b = await checksumVolume(h.deps, g.secondaries[i], rp1);
      expect(b.sha256).toBe(a.sha256);
    }
    await gw.write(g.primaries[0], 10 * CHUNK, randomBytesOf(CHUNK, 3));
    const rp2 = await syncAndWait(h, g.groupId);
    const live = await readAll(h, g.primaries[0]);
    expect((await readAll(h, g.secondaries[0], rp2)).equals(live)).toBe(true);
    expect((await readAll(h, g.secondaries[0], rp1)).equals(live)).toBe(false);
    await gw.close();
  });
});
