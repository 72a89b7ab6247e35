import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { requestRoleChange } from '../../shared/usecases/roles';
import { startSync } from '../../shared/usecases/sync/index';
import {
  chunkWriteCounter,
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
const SIZE = 16 * CHUNK;

describe('return of the old primary after a forced promotion, and failback', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ retention: 2 });
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  const load = async (id: string) => (await h.deps.table.get<Group>(keys.group(id))) as Group;

  async function writeChunks(volumeId: string, chunks: number[], seed: number): Promise<void> {
    const gw = await openGateway(h, volumeId);
    for (const c of chunks) await gw.write(volumeId, c * CHUNK, randomBytesOf(CHUNK, seed + c));
    await gw.close();
  }

  it("keeps east's unreplicated writes as preserved-writes, resyncs east with only the chunks changed on either side, fails back with deltas", async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const [east, west] = [g.primaries[0], g.secondaries[0]];
    const eastCopies = chunkWriteCounter(h, 'east');
    const westCopies = chunkWriteCounter(h, 'west');
    await writeChunks(east, [0, 1, 2, 3], 1);
    await syncAndWait(h, g.groupId);
    // Written at east, never replicated: east is lost right after.
    await writeChunks(east, [2, 6], 100);
    const eastImage = await readAll(h, east);
    h.stack.cut('east');
    await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary', force: true });
    const promoted = await waitFor('west promoted', async () => {
      const now = await load(g.groupId);
      return now.primarySite === 'west' && now.status === 'optimal' && now;
    });
    expect(promoted.preserveWrites?.site).toBe('east');
    await writeChunks(west, [1, 6, 9], 200);
    // Nothing is copied over east before its writes are kept.
    await expect(startSync(h.deps, g.groupId)).rejects.toMatchObject({ code: 'preservation-pending' });

    eastCopies.reset();
    h.stack.heal('east');
    await waitFor('east writes preserved', async () => (await load(g.groupId)).preserveWrites === undefined);
    const preserved = (await listRecoveryPoints(h.deps, g.groupId)).find(
      (r) => r.kind === 'preserved-writes',
    );
    expect(preserved).toMatchObject({ site: 'east', bytes: 2 * CHUNK });
    expect((await readAll(h, east, preserved?.id)).equals(eastImage)).toBe(true);
    // East's own changes, restored locally: chunk 2 gets its RP version back (one copy), chunk 6,
    // not in the RP, is hidden by a delete marker (no copy).
    expect(eastCopies.count()).toBe(1);

    // The resync: only what west changed (1, 6, 9) crosses; east equals west at its RP.
    eastCopies.reset();
    const resync = await syncAndWait(h, g.groupId);
    expect(eastCopies.count()).toBe(3);
    const westLive = await readAll(h, west);
    expect((await readAll(h, east, resync)).equals(westLive)).toBe(true);
    expect((await readAll(h, west, resync)).equals(westLive)).toBe(true);

    // Failback: a planned change back to east copies nothing that did not change.
    westCopies.reset();
    eastCopies.reset();
    await requestRoleChange(h.deps, g.groupId, { site: 'east', role: 'primary' });
    await waitFor('east primary again', async () => {
      const now = await load(g.groupId);
      return now.primarySite === 'east' && now.status === 'optimal';
    });
    expect(westCopies.count() + eastCopies.count()).toBe(0);
    expect((await readAll(h, east)).equals(westLive)).toBe(true);
    await writeChunks(east, [4], 300);
    westCopies.reset();
    await syncAndWait(h, g.groupId);
    expect(westCopies.count()).toBe(1);

    // More RPs than the retention: the preserved image is never expired.
    for (let i = 0; i < 3; i++) {
      await writeChunks(east, [i], 400 + i * 10);
      await syncAndWait(h, g.groupId);
    }
    await waitFor('clean-ups done', async () => ((await load(g.groupId)).openSyncs ?? []).length === 0);
    const rps = await listRecoveryPoints(h.deps, g.groupId);
    expect(rps.filter((r) => r.kind === 'recovery-point').length).toBeLessThanOrEqual(2);
    expect(rps.some((r) => r.id === preserved?.id)).toBe(true);
    expect((await readAll(h, east, preserved?.id)).equals(eastImage)).toBe(true);
  }, 120_000);
});
