import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { RecoveryPoint, SyncJob } from '../../shared/domain/model';
import { createGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { readVolume } from '../../shared/usecases/reads';
import { advanceSync, driveSync, startSync } from '../../shared/usecases/sync/index';
import { createVolume } from '../../shared/usecases/volumes';
import { type Harness, openGateway, randomBytesOf, startHarness, startRuntime } from '../support/harness';

const CHUNK = 64 * 1024;
/** Chunks a step may handle: small, so that one sync takes many steps. */
const BUDGET = 8;

/** Runs of written chunks: [first chunk, chunk count]. */
type Extents = [number, number][];

/** A couple of hundred chunks in clusters spread over a 2^20-chunk (64 GiB) sparse volume. */
const CLUSTER = 24;
const SPREAD: Extents = Array.from({ length: 8 }, (_, i) => [i * 131_000 + 17 * i, CLUSTER]);

async function readRange(
  h: Harness,
  volumeId: string,
  rpId: string | undefined,
  [first, count]: [number, number],
) {
  const parts: Uint8Array[] = [];
  for await (const p of readVolume(h.deps, volumeId, {
    recoveryPointId: rpId,
    offset: first * CHUNK,
    length: count * CHUNK,
  }))
    parts.push(p);
  return Buffer.concat(parts);
}

/** A checksum over the bytes of every extent, and the same extents compared one by one. */
async function expectSameExtents(
  h: Harness,
  primary: string,
  secondary: string,
  rpId: string,
  extents: Extents,
) {
  const p = createHash('sha256');
  const s = createHash('sha256');
  for (const e of extents) {
    const [a, b] = [await readRange(h, primary, undefined, e), await readRange(h, secondary, rpId, e)];
    expect(b.equals(a), `extent ${e}`).toBe(true);
    p.update(a);
    s.update(b);
  }
  expect(s.digest('hex')).toBe(p.digest('hex'));
}

async function writeExtents(h: Harness, volumeId: string, extents: Extents, seed: number) {
  const gw = await openGateway(h, volumeId);
  for (const [i, [first, count]] of extents.entries())
    await gw.write(volumeId, first * CHUNK, randomBytesOf(count * CHUNK, seed + i));
  await gw.close();
}

/** Calls advanceSync until the sync is done; counts the steps that did work, per phase. */
async function stepToEnd(h: Harness, groupId: string, syncId: string) {
  const steps: Record<string, number> = {};
  const deadline = Date.now() + 400_000;
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
    const job = await h.deps.table.get<SyncJob>(keys.sync(groupId, syncId));
    const result = await advanceSync(h.deps, groupId, syncId);
    if (result !== 'waiting' && job) steps[job.state] = (steps[job.state] ?? 0) + 1;
    if (result === 'done') return steps;
    if (result === 'waiting') await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`sync ${syncId} did not finish: ${JSON.stringify(steps)}`);
}

async function committedRp(h: Harness, groupId: string, syncId: string): Promise<RecoveryPoint> {
  const job = await h.deps.table.get<SyncJob>(keys.sync(groupId, syncId));
  expect(job?.state, job?.error).toBe('committed');
  const rp = await h.deps.table.get<RecoveryPoint>(keys.recoveryPoint(groupId, job?.rpNumber ?? 0));
  if (!rp) throw new Error('no RP item');
  return rp;
}

async function manifestEntries(h: Harness, site: string, key: string): Promise<number> {
  let n = 0;
  for await (const _ of h.deps.stores[site].readManifest(key)) n++;
  return n;
}

describe('sync in bounded steps', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ topology: 'shared' });
    h.deps.config.stepBudgetChunks = BUDGET;
    // Copy workers and ingest only: the test itself drives the syncs, step by step.
    startRuntime(h, { scheduler: false });
  });
  afterAll(async () => h?.stop());

  it('a large sparse volume commits the right RP across many steps, then a delta RP over a manifest in parts', async () => {
    const group = await createGroup(h.deps, {
      name: 'big',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'manual' },
    });
    const vol = await createVolume(h.deps, {
      name: 'big',
      site: 'east',
      sizeBytes: 2 ** 20 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    const pair = await addPair(h.deps, group.id, { primaryVolumeId: vol.id });
    await writeExtents(h, vol.id, SPREAD, 1);
    const written = SPREAD.reduce((n, [, c]) => n + c, 0);

    const first = await startSync(h.deps, group.id);
    const steps = await stepToEnd(h, group.id, first.syncId);
    const rp = await committedRp(h, group.id, first.syncId);
    // Folding, planning and manifest writing each take many bounded steps.
    expect(steps.collecting).toBeGreaterThan(written / BUDGET);
    expect(steps.committing).toBeGreaterThanOrEqual((2 * written) / BUDGET);
    const [v] = rp.volumes;
    expect(v.chunks).toBe(written);
    expect(rp.bytes).toBe(written * CHUNK);
    // A manifest longer than one step's budget is stored as parts of at most a budget each.
    const objects = new Set(
      (await h.deps.stores.west.manifestVersions(v.secondaryManifestKey)).map((o) => o.key),
    );
    expect(objects.size - 1).toBe(Math.ceil(written / BUDGET));
    expect(await manifestEntries(h, 'west', v.secondaryManifestKey)).toBe(written);
    await expectSameExtents(h, vol.id, pair.secondaryVolumeId, rp.id, [...SPREAD, [5, 40], [2 ** 20 - 8, 8]]);

    // Rewrite a part of some clusters and add new ones: the next RP merges with the parts.
    const rewrite: Extents = [
      [SPREAD[3][0] + 10, 10],
      [SPREAD[6][0], CLUSTER],
      [2 ** 20 - 100, 20],
    ];
    await writeExtents(h, vol.id, rewrite, 500);
    const second = await startSync(h.deps, group.id);
    await stepToEnd(h, group.id, second.syncId);
    const rp2 = await committedRp(h, group.id, second.syncId);
    expect(rp2.bytes).toBe((10 + CLUSTER + 20) * CHUNK);
    expect(rp2.volumes[0].chunks).toBe(written + 20);
    await expectSameExtents(h, vol.id, pair.secondaryVolumeId, rp2.id, [...SPREAD, ...rewrite]);
    // The first RP still serves its own image.
    const old = await readRange(h, pair.secondaryVolumeId, rp.id, SPREAD[6]);
    expect(old.equals(Buffer.from(randomBytesOf(CLUSTER * CHUNK, 1 + 6)))).toBe(true);
  }, 600_000);

  it('drivers dropped every few steps, and steps killed after a write, resume to the same RP', async () => {
    const vol = await createVolume(h.deps, {
      name: 'kr',
      site: 'east',
      sizeBytes: 2 ** 16 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    // Data from before the pair: the initial sync merges the base listing with the runs.
    const before: Extents = [
      [0, 50],
      [30_000, 60],
    ];
    await writeExtents(h, vol.id, before, 7);
    const group = await createGroup(h.deps, {
      name: 'kr',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'manual' },
    });
    const pair = await addPair(h.deps, group.id, { primaryVolumeId: vol.id });
    const after: Extents = [
      [20, 100],
      [40_000, 90],
      [65_000, 200],
    ];
    await writeExtents(h, vol.id, after, 70);

    // Each store write below runs, then its step dies before the checkpoint: once each.
    const kills: string[] = [];
    const stores = [h.deps.stores.east, h.deps.stores.west];
    const restore: (() => void)[] = [];
    for (const store of stores) {
      for (const name of ['writeRun', 'writeManifestPart', 'writeManifestIndex'] as const) {
        const original = store[name].bind(store) as (...a: unknown[]) => Promise<void>;
        let fired = false;
        (store as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
          await original(...args);
          if (!fired && args[1] !== 0) {
            fired = true;
            kills.push(`${store.site.name}.${name}`);
            throw new Error(`killed after ${name}`);
          }
        };
        restore.push(() => {
          (store as unknown as Record<string, unknown>)[name] = original;
        });
      }
    }
    const { syncId } = await startSync(h.deps, group.id);
    let drivers = 0;
    try {
      for (; drivers < 500; drivers++) {
        const job = await h.deps.table.get<SyncJob>(keys.sync(group.id, syncId));
        if (job?.state === 'committed' || job?.state === 'failed') break;
        let calls = 0;
        await driveSync(h.deps, group.id, syncId, Date.now() + 60_000, 20, () => calls++ >= 3).catch(
          async (e: Error) => {
            if (!e.message.startsWith('killed')) throw e;
            // A dead driver keeps its driver lease: play its expiry.
            await h.deps.table.update(keys.sync(group.id, syncId), { remove: ['driver'] });
          },
        );
      }
    } finally {
      for (const r of restore) r();
    }
    expect(kills.sort()).toEqual([
      'east.writeManifestIndex',
      'east.writeManifestPart',
      'east.writeRun',
      'west.writeManifestIndex',
      'west.writeManifestPart',
    ]);
    expect(drivers).toBeGreaterThan(10);
    const rp = await committedRp(h, group.id, syncId);
    const distinct = 50 + 60 + 100 + 90 + 200 - 30;
    expect(rp.volumes[0].chunks).toBe(distinct);
    expect(rp.bytes).toBe(distinct * CHUNK);
    await expectSameExtents(h, vol.id, pair.secondaryVolumeId, rp.id, [...before, ...after, [1000, 10]]);
  }, 600_000);
});
