import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Topology } from '../../local/stack';
import { checksumVolume } from '../../shared/usecases/reads';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll, WriteLog } from '../support/workload';

const CHUNK = 64 * 1024;
const SIZES = [24 * CHUNK, 10 * CHUNK];
const SYNCS = 4;

describe.each<Topology>(['per-site', 'shared'])('write-order consistency (%s emulators)', (topology) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ topology });
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  it('every RP holds exactly the writes of its epochs, identical at both sites, for both volumes', async () => {
    const g = await mirroredGroup(
      h,
      SIZES.map((sizeBytes) => ({ sizeBytes, chunkSizeBytes: CHUNK })),
    );
    const gw = await openGateway(h, g.primaries[0]);
    const log = new WriteLog();
    let done = false;
    const targets = g.primaries.map((volumeId, i) => ({ volumeId, sizeBytes: SIZES[i], chunkSize: CHUNK }));
    const writer = log.run(gw, targets, { concurrency: 4, max: 2000, stop: () => done });
    const committedAt: number[] = [];
    try {
      for (let i = 0; i < SYNCS; i++) {
        // Let writes go on between two cuts, so every cut falls in the middle of the I/O.
        const acked = log.writes.filter((w) => w.acked).length;
        await waitFor(
          'writes between two cuts',
          async () => log.writes.filter((w) => w.acked).length >= acked + 8,
        );
        await syncAndWait(h, g.groupId);
        committedAt.push(Date.now());
      }
    } finally {
      done = true;
      await writer;
      await log.settle();
    }
    const rps = (await listRecoveryPoints(h.deps, g.groupId)).reverse();
    expect(rps.length).toBe(SYNCS);
    // The cuts fell in the middle of the I/O: writes of the next epoch were issued before the RP committed.
    const splitting = rps.filter((rp, i) =>
      log.writes.some((w) => w.epoch > rp.epoch && w.issuedAt < committedAt[i]),
    );
    expect(splitting.length).toBe(SYNCS);
    for (const rp of rps) {
      for (const [i, primary] of g.primaries.entries()) {
        const expected = log.imageAt(primary, SIZES[i], rp.epoch);
        const atPrimary = await readAll(h, primary, rp.id);
        const atSecondary = await readAll(h, g.secondaries[i], rp.id);
        expect(atPrimary.equals(expected), `primary ${i} at ${rp.id} (epoch ${rp.epoch})`).toBe(true);
        expect(atSecondary.equals(expected), `secondary ${i} at ${rp.id}`).toBe(true);
        const sum = await checksumVolume(h.deps, g.secondaries[i], rp.id);
        expect(sum.sha256).toBe(createHash('sha256').update(expected).digest('hex'));
      }
    }
    // After the writer stops, one more sync takes everything: nothing acknowledged is lost.
    await gw.close();
    const final = await syncAndWait(h, g.groupId);
    for (const [i, primary] of g.primaries.entries()) {
      const live = await readAll(h, primary);
      expect(live.equals(log.imageAt(primary, SIZES[i], Number.MAX_SAFE_INTEGER))).toBe(true);
      expect((await readAll(h, g.secondaries[i], final)).equals(live)).toBe(true);
    }
    expect(log.writes.every((w) => w.acked)).toBe(true);
  });
});
