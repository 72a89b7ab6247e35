import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { route } from '../../shared/api/router';
import { keys } from '../../shared/aws/keys';
import type { Group, SyncJob } from '../../shared/domain/model';
import { cloneRecoveryPoint } from '../../shared/usecases/clones';
import { createGroup } from '../../shared/usecases/groups';
import { addPair, removePair } from '../../shared/usecases/pairs';
import { checksumVolume } from '../../shared/usecases/reads';
import { rpIdOf, startSync } from '../../shared/usecases/sync/index';
import { deleteVolume, getVolume, listVolumes, type VolumeView } from '../../shared/usecases/volumes';
import { type ControlCall, hookControl } from '../support/control-hooks';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
const SIZE = 8 * CHUNK;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Applies a write to an expected image. */
function patched(image: Buffer, offset: number, data: Uint8Array): Buffer {
  const out = Buffer.from(image);
  out.set(data, offset);
  return out;
}

/** Chunk objects stored under a volume's own prefix. */
async function ownChunks(h: Harness, site: string, volumeId: string): Promise<number> {
  let n = 0;
  for await (const _ of h.deps.stores[site].listChunks(volumeId)) n++;
  return n;
}

const listedRps = async (h: Harness, groupId: string) =>
  (await h.deps.table.get<Group>(keys.group(groupId)))?.recoveryPoints ?? [];

describe('RP clones', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a clone is the RP, writable, isolated from the group, pinned against expiry until deleted', async () => {
    h = await startHarness({ retention: 1 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [
      { sizeBytes: SIZE, chunkSizeBytes: CHUNK },
      { sizeBytes: SIZE, chunkSizeBytes: CHUNK },
    ]);
    const gw = await openGateway(harness, g.primaries[0]);
    // Chunks 0-4 written, 5-7 sparse: the clone reads zeros there until it writes them.
    await gw.write(g.primaries[0], 0, randomBytesOf(5 * CHUNK, 1));
    await gw.write(g.primaries[1], CHUNK, randomBytesOf(3 * CHUNK, 2));
    const rp1 = await syncAndWait(harness, g.groupId);
    const images = [await readAll(harness, g.primaries[0], rp1), await readAll(harness, g.primaries[1], rp1)];

    // Creating the clones copies no chunk: not one S3 request. The committed sync's clean-up
    // runs after its RP is listed: let it finish, so its requests are not counted as the clone's.
    await waitFor('the sync clean-up to finish', async () => {
      const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
    const s3Before = harness.counter.total('s3');
    const created = await route(harness.deps, {
      method: 'POST',
      path: `/groups/${g.groupId}/recovery-points/${rp1}/clones`,
    });
    expect(created.status).toBe(201);
    expect(harness.counter.total('s3')).toBe(s3Before);
    const clones = (created.body as { volumes: VolumeView[] }).volumes;
    expect(clones).toHaveLength(2);
    for (const c of clones) {
      expect(c.site).toBe('west');
      expect(c.groupId).toBeUndefined();
      expect(c.sizeBytes).toBe(SIZE);
      expect(await ownChunks(harness, 'west', c.id)).toBe(0);
    }
    // One clone per pair, in the RP's order: c0 is the clone of pair 0.
    const [c0, c1] = g.secondaries.map((s) => {
      const c = clones.find((v) => v.base?.volumeId === s);
      if (!c) throw new Error(`no clone of ${s}`);
      return c.id;
    });

    // The clone reads the RP while the group writes and syncs go on.
    const [during] = await Promise.all([
      readAll(harness, c0),
      (async () => {
        await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 3));
        await syncAndWait(harness, g.groupId);
      })(),
    ]);
    expect(sha(during)).toBe(sha(images[0]));
    // Retention 1 and more syncs: RP 1 stays (pinned), the RPs after it expire.
    await gw.write(g.primaries[0], 3 * CHUNK, randomBytesOf(2 * CHUNK, 4));
    await gw.write(g.primaries[1], 0, randomBytesOf(4 * CHUNK, 5));
    const rp3 = await syncAndWait(harness, g.groupId);
    await gw.write(g.primaries[0], CHUNK, randomBytesOf(CHUNK, 6));
    const rp4 = await syncAndWait(harness, g.groupId);
    // Expiry runs after the commit: wait for it.
    await waitFor(
      'RP 3 to expire',
      async () => (await harness.deps.table.get(keys.recoveryPoint(g.groupId, 3))) === undefined,
    );
    expect(rp3).not.toBe(rp4);
    for (const [i, c] of [c0, c1].entries()) {
      expect((await checksumVolume(harness.deps, c)).sha256).toBe(sha(images[i]));
    }
    expect(await listedRps(harness, g.groupId)).toEqual([1, 4]);

    // Before the clone is written: the group's RPs, its live primaries and its mirror.
    const groupSums = async () => ({
      rp1: [
        sha(await readAll(harness, g.secondaries[0], rp1)),
        sha(await readAll(harness, g.secondaries[1], rp1)),
      ],
      primaries: [sha(await readAll(harness, g.primaries[0])), sha(await readAll(harness, g.primaries[1]))],
      mirror: [sha(await readAll(harness, g.secondaries[0])), sha(await readAll(harness, g.secondaries[1]))],
    });
    const before = await groupSums();
    expect(before.rp1).toEqual(images.map(sha));

    // Partial chunk writes merge into the base content; a sparse chunk starts from zeros.
    const cgw = await openGateway(harness, c0);
    const writes: [number, Uint8Array][] = [
      [CHUNK + 100, randomBytesOf(300, 7)],
      [4 * CHUNK - 10, randomBytesOf(CHUNK, 8)],
      [6 * CHUNK + 5, randomBytesOf(50, 9)],
      [2 * CHUNK, randomBytesOf(CHUNK, 10)],
    ];
    let expected = images[0];
    for (const [offset, data] of writes) {
      await cgw.write(c0, offset, data);
      expected = patched(expected, offset, data);
    }
    await cgw.close();
    expect(sha(await readAll(harness, c0))).toBe(sha(expected));
    expect(sha(await readAll(harness, c1))).toBe(sha(images[1]));
    expect(await groupSums()).toEqual(before);
    // The mirror goes on from the group's own writes only.
    await gw.write(g.primaries[0], 7 * CHUNK, randomBytesOf(CHUNK, 11));
    const rp5 = await syncAndWait(harness, g.groupId);
    for (let i = 0; i < 2; i++) {
      expect(sha(await readAll(harness, g.secondaries[i], rp5))).toBe(
        sha(await readAll(harness, g.primaries[i], rp5)),
      );
    }
    expect(sha(await readAll(harness, g.secondaries[0], rp1))).toBe(sha(images[0]));

    // Deleting the clones unpins RP 1: the next sync's expiry removes it.
    for (const c of [c0, c1]) await deleteVolume(harness.deps, c);
    expect((await harness.deps.table.get<Group>(keys.group(g.groupId)))?.clones).toBeUndefined();
    expect(await ownChunks(harness, 'west', c0)).toBe(0);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 12));
    const last = await syncAndWait(harness, g.groupId);
    await gw.close();
    // Expiry unlists and purges oldest first, so RP 1 is gone before RP 5 is unlisted.
    await waitFor(
      'RPs 1 and 5 to expire',
      async () =>
        (await harness.deps.table.get(keys.recoveryPoint(g.groupId, 1))) === undefined &&
        (await listedRps(harness, g.groupId)).length === 1,
    );
    expect(rpIdOf(6)).toBe(last);
    expect(await listedRps(harness, g.groupId)).toEqual([6]);
    for (let i = 0; i < 2; i++) {
      expect(sha(await readAll(harness, g.secondaries[i], last))).toBe(
        sha(await readAll(harness, g.primaries[i], last)),
      );
    }
  }, 180_000);

  it('a clone made while expiry is unlisting its RP either pins it first or is refused', async () => {
    h = await startHarness({ retention: 1 });
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(4 * CHUNK, 31));
    const rp1 = await syncAndWait(harness, g.groupId);
    const image = await readAll(harness, g.secondaries[0], rp1);
    await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 32));
    await gw.close();
    // The clone is made between expiry's read of the group and its unlisting write of RP 1.
    const isUnlisting = (c: ControlCall) =>
      c.commandName === 'UpdateItemCommand' &&
      String(c.input.ConditionExpression).includes('recoveryPoints = :old') &&
      !JSON.stringify(c.input).includes('"lastRp"');
    let armed = true;
    let clone: VolumeView | undefined;
    hookControl(harness, 'cloneDuringExpiry', {
      before: async (c) => {
        if (!armed || !isUnlisting(c)) return;
        armed = false;
        [clone] = (await cloneRecoveryPoint(harness.deps, g.groupId, rp1)).volumes;
      },
    });
    const { syncId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the sync and its expiry to finish',
      async () => (await harness.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId)))?.finishedAt,
      60_000,
    );
    expect(armed).toBe(false);
    if (!clone) throw new Error('no clone was made');
    expect(sha(await readAll(harness, clone.id))).toBe(sha(image));
    expect(await listedRps(harness, g.groupId)).toEqual([1, 2]);
  }, 120_000);

  it('a clone of an unknown or malformed RP is refused and creates nothing; a clone is never paired, its base never deleted', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 21));
    await gw.close();
    const rp1 = await syncAndWait(harness, g.groupId);
    const volumes = (await listVolumes(harness.deps)).length;
    const clonesOf = (rpId: string) =>
      route(harness.deps, { method: 'POST', path: `/groups/${g.groupId}/recovery-points/${rpId}/clones` });
    expect((await clonesOf('rp-999')).status).toBe(404);
    expect((await clonesOf('..')).status).toBe(400);
    await expect(cloneRecoveryPoint(harness.deps, 'grp-nope', 'rp-1')).rejects.toMatchObject({ status: 404 });
    expect((await listVolumes(harness.deps)).length).toBe(volumes);
    expect((await harness.deps.table.get<Group>(keys.group(g.groupId)))?.clones).toBeUndefined();

    // A clone cannot be mirrored: a sync would not see the content it reads from its base.
    const [clone] = (await cloneRecoveryPoint(harness.deps, g.groupId, rp1)).volumes;
    const back = await createGroup(harness.deps, {
      name: 'back',
      primarySite: 'west',
      secondarySite: 'east',
    });
    await expect(addPair(harness.deps, back.id, { primaryVolumeId: clone.id })).rejects.toMatchObject({
      status: 409,
      code: 'clone-volume',
    });
    expect((await getVolume(harness.deps, clone.id)).groupId).toBeUndefined();

    // The secondary's chunk versions are the clone's base: it outlives its pair, not its clones.
    await removePair(harness.deps, g.groupId, g.primaries[0]);
    await expect(deleteVolume(harness.deps, g.secondaries[0])).rejects.toMatchObject({ code: 'clone-base' });
    expect(sha(await readAll(harness, clone.id))).toBe(sha(await readAll(harness, g.primaries[0])));
    await deleteVolume(harness.deps, clone.id);
    await deleteVolume(harness.deps, g.secondaries[0]);
  }, 60_000);
});
