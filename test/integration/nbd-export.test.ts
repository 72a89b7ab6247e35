import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Deps } from '../../shared/deps';
import { chunkPrefix, indexOfChunkKey } from '../../shared/domain/chunks';
import type { Group } from '../../shared/domain/model';
import { openExport } from '../../shared/nbd/open-export';
import { readVolume } from '../../shared/usecases/reads';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import {
  type Harness,
  mirroredGroup,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';

const CHUNK = 64 * 1024;
const BLOCK = 4096;
const SIZE = 16 * CHUNK;
const BLOCKS = SIZE / BLOCK;

async function image(h: Harness, volumeId: string, recoveryPointId?: string): Promise<Uint8Array> {
  const out = new Uint8Array(SIZE);
  let at = 0;
  for await (const piece of readVolume(h.deps, volumeId, { recoveryPointId })) {
    out.set(piece, at);
    at += piece.length;
  }
  return out;
}

/** A block stamped with its write's number, so a block read back tells which write it holds. */
const stamped = (n: number) => {
  const b = randomBytesOf(BLOCK, n);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};

describe('NBD exports over the gateway', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  it('every RP holds every write acknowledged before its cut, those acknowledged from the buffer included', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    // A buffer that holds the whole volume and a flusher that never stores unasked: only the cut stores.
    const exp = await openExport(h.deps, g.primaries[0], {
      readOnly: false,
      renewEveryMs: 100,
      writeBack: { bufferBytes: SIZE, flushDelayMs: 600_000 },
    });
    const acked: { block: number; n: number; at: number }[] = [];
    let stop = false;
    const writer = (async () => {
      for (let n = 1; n <= BLOCKS && !stop; n++) {
        const block = n - 1;
        await exp.write(block * BLOCK, stamped(n), { fua: false });
        acked.push({ block, n, at: Date.now() });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      for (let i = 0; i < 2; i++) {
        const before = acked.length;
        await waitFor('writes between cuts', async () => acked.length >= Math.min(BLOCKS, before + 10));
        await syncAndWait(h, g.groupId);
      }
    } finally {
      stop = true;
      await writer;
    }
    const rps = await listRecoveryPoints(h.deps, g.groupId);
    expect(rps.length).toBe(2);
    for (const rp of rps) {
      const cutAt = Date.parse(rp.cutAt);
      const img = await image(h, g.secondaries[0], rp.id);
      const before = acked.filter((w) => w.at < cutAt);
      expect(before.length).toBeGreaterThan(0);
      for (const w of before) {
        expect(new DataView(img.buffer).getUint32(w.block * BLOCK), `write ${w.n} in ${rp.id}`).toBe(w.n);
      }
    }
    await exp.close();
  });

  it('after a FLUSH, a killed export loses nothing flushed; a second writer of the group is refused with lease-held', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const options = {
      readOnly: false,
      renewEveryMs: 100,
      writeBack: { bufferBytes: SIZE, flushDelayMs: 600_000 },
    };
    const exp = await openExport(h.deps, g.primaries[0], options);
    const flushed = randomBytesOf(3 * CHUNK + 1000, 1);
    await exp.write(500, flushed, { fua: false });
    await exp.flush();
    await exp.write(4 * CHUNK, randomBytesOf(CHUNK, 2), { fua: false });

    // Another process (its own Deps) finds the group leased.
    const other: Deps = { ...h.deps };
    await expect(openExport(other, g.primaries[0], { readOnly: false })).rejects.toMatchObject({
      code: 'lease-held',
    });

    exp.abandon();
    const reopened = await waitFor(
      'the lease of the killed export to be taken over',
      async () => openExport(other, g.primaries[0], options).catch(() => undefined),
      30_000,
    );
    try {
      expect(await reopened.read(500, flushed.length)).toEqual(flushed);
    } finally {
      await reopened.close();
    }
  });

  it('a lost lease stops the export acknowledging writes', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const exp = await openExport(h.deps, g.primaries[0], { readOnly: false, renewEveryMs: 100 });
    await exp.write(0, randomBytesOf(BLOCK, 3), { fua: true });
    await h.deps.table.update<Group>(keys.group(g.groupId), { set: { 'lease.holder': 'gw-intruder' } });
    await waitFor('the export to refuse writes', async () =>
      exp.write(0, randomBytesOf(BLOCK, 4), { fua: false }).then(
        () => false,
        (e) => e.errno === 'ESHUTDOWN',
      ),
    );
    await expect(exp.flush()).rejects.toMatchObject({ errno: expect.stringMatching(/ESHUTDOWN|EIO/) });
    exp.abandon();
  });

  it('serves a secondary and a named RP read-only; a write is refused with EPERM', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const exp = await openExport(h.deps, g.primaries[0], { readOnly: false, renewEveryMs: 100 });
    const first = randomBytesOf(SIZE, 5);
    await exp.write(0, first, { fua: false });
    const rp1 = await syncAndWait(h, g.groupId);
    const secondary = await openExport(h.deps, g.secondaries[0], { readOnly: false });
    await exp.write(0, randomBytesOf(CHUNK, 6), { fua: false });
    await syncAndWait(h, g.groupId);
    await exp.close();
    try {
      expect(secondary.readOnly).toBe(true);
      expect(secondary.recoveryPointId).toBe(rp1);
      // Opened before the second RP: it keeps serving the first.
      expect(await secondary.read(0, SIZE)).toEqual(first);
      await expect(secondary.write(0, new Uint8Array(BLOCK), { fua: false })).rejects.toMatchObject({
        errno: 'EPERM',
      });
      const atRp = await openExport(h.deps, `${g.primaries[0]}@${rp1}`, { readOnly: false });
      expect(atRp.readOnly).toBe(true);
      expect(await atRp.read(CHUNK - 10, 20)).toEqual(first.subarray(CHUNK - 10, CHUNK + 10));
      await atRp.close();
    } finally {
      await secondary.close();
    }
  });

  it('a TRIM of whole chunks stores them empty at both sites; a partial TRIM merges; both read as zeros', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const exp = await openExport(h.deps, g.primaries[0], { readOnly: false, renewEveryMs: 100 });
    const expected = randomBytesOf(SIZE, 7);
    await exp.write(0, expected, { fua: false });
    await syncAndWait(h, g.groupId);
    await exp.trim(2 * CHUNK, 4 * CHUNK, { fua: false });
    await exp.writeZeroes(8 * CHUNK + 100, BLOCK, { fua: false });
    await exp.flush();
    expected.fill(0, 2 * CHUNK, 6 * CHUNK);
    expected.fill(0, 8 * CHUNK + 100, 8 * CHUNK + 100 + BLOCK);
    expect(await exp.read(0, SIZE)).toEqual(expected);
    const rp = await syncAndWait(h, g.groupId);
    await exp.close();

    const wholeChunks = new Map(Array.from({ length: SIZE / CHUNK }, (_, i) => [i, CHUNK]));
    for (const i of [2, 3, 4, 5]) wholeChunks.set(i, 0);
    expect(await latestSizes('east', g.primaries[0])).toEqual(wholeChunks);
    expect(await latestSizes('west', g.secondaries[0])).toEqual(wholeChunks);
    expect(await image(h, g.secondaries[0], rp)).toEqual(expected);
  });

  /** The size of the latest version of every chunk of a volume, by chunk index. */
  async function latestSizes(site: string, volumeId: string): Promise<Map<number, number>> {
    const store = h.deps.stores[site];
    const out = await store.s3.send(
      new ListObjectVersionsCommand({ Bucket: store.bucket, Prefix: chunkPrefix(volumeId) }),
    );
    const sizes = new Map<number, number>();
    for (const v of out.Versions ?? [])
      if (v.IsLatest && v.Key) sizes.set(indexOfChunkKey(v.Key), v.Size ?? -1);
    return new Map([...sizes].sort((a, b) => a[0] - b[0]));
  }
});
