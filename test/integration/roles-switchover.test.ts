import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { requestRoleChange } from '../../shared/usecases/roles';
import {
  chunkWriteCounter,
  type Harness,
  mirroredGroup,
  openGateway,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { RoleFollowingWriter } from '../support/role-writer';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
const SIZE = 16 * CHUNK;

describe('planned role change (switchover) under a write workload', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ retention: 32 });
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  const group = async (id: string) => (await h.deps.table.get<Group>(keys.group(id))) as Group;

  async function switchTo(groupId: string, site: string): Promise<Group> {
    const view = await requestRoleChange(h.deps, groupId, { site, role: 'primary' });
    expect(view.status).toBe('role-change-pending');
    return waitFor(
      `${site} to become primary`,
      async () => {
        const g = await group(groupId);
        return g.primarySite === site && g.status === 'optimal' && g;
      },
      // A deadline, not a property: the final sync runs under a write workload on a shared CPU.
      60_000,
    ).catch(async (e: Error) => {
      const events = (await listEvents(h.deps, groupId, 8)).map((x) => `${x.kind}: ${x.message}`);
      throw new Error(
        `${e.message}\ngroup: ${JSON.stringify(await group(groupId))}\nevents: ${events.join('\n')}\nerrors: ${JSON.stringify(h.runtime?.errors.slice(-5))}`,
      );
    });
  }

  it('switches over and back: no acknowledged write lost, equal images at every RP, resyncs copy only changed chunks', async () => {
    const g = await mirroredGroup(h, [
      { sizeBytes: SIZE, chunkSizeBytes: CHUNK },
      { sizeBytes: SIZE, chunkSizeBytes: CHUNK },
    ]);
    const pairs = g.primaries.map((p, i) => ({
      bySite: { east: p, west: g.secondaries[i] },
      sizeBytes: SIZE,
      chunkSize: CHUNK,
    }));
    const east = chunkWriteCounter(h, 'east');
    const west = chunkWriteCounter(h, 'west');
    const writer = new RoleFollowingWriter(h, g.groupId, pairs);
    writer.start();
    await waitFor('writes at east', async () => writer.acked.length >= 10);
    await syncAndWait(h, g.groupId);
    const epoch0 = (await group(g.groupId)).roleEpoch;

    // Over to west while the writer goes on; it follows the primary once the change is done.
    const atWest = await switchTo(g.groupId, 'west');
    expect(atWest.roleEpoch).toBe(epoch0 + 1);
    expect(atWest.secondarySite).toBe('east');
    await waitFor('writes at west', async () => writer.acked.filter((w) => w.site === 'west').length >= 10);
    // Demoted: east's volumes take no writes (`volume write` goes through the same gateway).
    await expect(openGateway(h, g.primaries[0])).rejects.toMatchObject({
      status: 409,
      code: 'secondary-volume',
    });

    // Deltas only in the new direction: the first sync copies to east exactly the chunks written at west.
    await writer.stop();
    east.reset();
    await syncAndWait(h, g.groupId);
    const westChunks = writer.chunksWritten((w) => w.site === 'west');
    const changedAtWest = [...westChunks.values()].reduce((n, s) => n + s.size, 0);
    expect(east.count()).toBe(changedAtWest);

    // And back to east, writes going on.
    writer.start();
    await waitFor(
      'more writes at west',
      async () => writer.acked.filter((w) => w.site === 'west').length >= 20,
    );
    const before = writer.acked.length;
    const atEast = await switchTo(g.groupId, 'east');
    expect(atEast.roleEpoch).toBe(epoch0 + 2);
    await waitFor(
      'writes at east again',
      async () => writer.acked.filter((w) => w.roleEpoch === atEast.roleEpoch).length >= 10,
    );
    await writer.stop();
    expect(writer.acked.length).toBeGreaterThan(before);
    const eastAfter = writer.chunksWritten((w) => w.roleEpoch === atEast.roleEpoch);
    west.reset();
    const finalRp = await syncAndWait(h, g.groupId);
    expect(west.count()).toBe([...eastAfter.values()].reduce((n, s) => n + s.size, 0));

    // Every acknowledged write, in order per pair, is in the final RP at the secondary (west).
    expect(writer.uncertain).toEqual([]);
    for (const [i, secondary] of g.secondaries.entries()) {
      expect((await readAll(h, secondary, finalRp)).equals(writer.expectedImage(i))).toBe(true);
    }
    // Both sides of every RP hold the same image, in either direction.
    await waitFor('clean-ups done', async () => ((await group(g.groupId)).openSyncs ?? []).length === 0);
    const rps = await listRecoveryPoints(h.deps, g.groupId);
    expect(rps.length).toBeGreaterThanOrEqual(7);
    for (const rp of rps) {
      for (const v of rp.volumes) {
        const a = await readAll(h, v.primaryVolumeId, rp.id);
        const b = await readAll(h, v.secondaryVolumeId, rp.id);
        expect(a.equals(b), `${rp.id} ${v.primaryVolumeId}`).toBe(true);
      }
    }
    // Never two writers at once: writes acknowledged under one role epoch all precede the next epoch's first.
    const byEpoch = new Map<number, { first: number; last: number }>();
    for (const w of writer.acked) {
      const e = byEpoch.get(w.roleEpoch) ?? { first: w.issuedAt, last: w.ackedAt };
      byEpoch.set(w.roleEpoch, { first: Math.min(e.first, w.issuedAt), last: Math.max(e.last, w.ackedAt) });
    }
    const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
    for (let i = 1; i < epochs.length; i++) {
      expect(byEpoch.get(epochs[i - 1])?.last).toBeLessThan(byEpoch.get(epochs[i])?.first ?? 0);
    }
  }, 120_000);
});
