import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group, Volume } from '../../shared/domain/model';
import { deleteGroup, loadPairs } from '../../shared/usecases/groups';
import { addPair, removePair, settleMemberChange } from '../../shared/usecases/pairs';
import { createVolume, listVolumes } from '../../shared/usecases/volumes';
import { hookControl } from '../support/control-hooks';
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

async function volume(h: Harness, id: string): Promise<Volume | undefined> {
  return h.deps.table.get<Volume>(keys.volume(id));
}

describe('pairs', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('an interrupted pair add leaves the primary free and deletes the secondary it created', async () => {
    h = await startHarness();
    const g = await mirroredGroup(h, []);
    const vol = await createVolume(h.deps, {
      name: 'v',
      site: 'east',
      sizeBytes: 8 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    // The base manifest is written at the primary site: cut off, the add fails midway.
    h.stack.cut('east');
    await expect(addPair(h.deps, g.groupId, { primaryVolumeId: vol.id })).rejects.toBeDefined();
    h.stack.heal('east');
    expect((await volume(h, vol.id))?.groupId).toBeUndefined();
    expect((await listVolumes(h.deps)).filter((v) => v.site === 'west')).toHaveLength(0);
    expect(await loadPairs(h.deps, g.groupId)).toHaveLength(0);
    // Both volumes free: the same add succeeds now.
    await addPair(h.deps, g.groupId, { primaryVolumeId: vol.id });
  });

  it('a pair add whose member lock was lost before it finished is not committed', async () => {
    h = await startHarness();
    const harness = h;
    const g = await mirroredGroup(harness, []);
    const vol = await createVolume(harness.deps, {
      name: 'v',
      site: 'east',
      sizeBytes: 8 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    // Another process takes the (expired) member lock just before the pair item is written.
    let stolen = false;
    hookControl(harness, 'stealMemberLock', {
      before: async (c) => {
        const sk = (c.input.Item as { sk?: { S?: string } | string } | undefined)?.sk;
        const s = typeof sk === 'string' ? sk : sk?.S;
        if (!stolen && c.commandName === 'PutItemCommand' && s?.startsWith('PAIR#')) {
          stolen = true;
          await harness.deps.table.update(keys.group(g.groupId), {
            set: { memberLock: { holder: 'other', expiresAt: Date.now() + 60_000 } },
          });
        }
      },
    });
    await expect(addPair(harness.deps, g.groupId, { primaryVolumeId: vol.id })).rejects.toMatchObject({
      status: 409,
    });
    expect(stolen).toBe(true);
    expect(await loadPairs(harness.deps, g.groupId)).toHaveLength(0);
    expect((await volume(harness, vol.id))?.groupId).toBeUndefined();
    expect((await listVolumes(harness.deps)).filter((v) => v.site === 'west')).toHaveLength(0);
    const group = await harness.deps.table.get<Group>(keys.group(g.groupId));
    // Never confirmed; the undo bumps it once, so a gateway that loaded the pair item reloads.
    expect(group?.membersVersion).toBe(1);
  });

  it('an empty group under a dead removal is deleted only once the removal is settled; a bare dead lock does not hold it', async () => {
    h = await startHarness();
    const g = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const [pair] = await loadPairs(h.deps, g.groupId);
    // A removal died after deleting the pair item: its note is on the expired lock, and both
    // volumes are still claimed by the group.
    const removing = {
      pairId: pair.id,
      primaryVolumeId: pair.primaryVolumeId,
      secondaryVolumeId: pair.secondaryVolumeId,
    };
    await h.deps.table.update(keys.group(g.groupId), {
      set: { memberLock: { holder: 'dead', expiresAt: Date.now() - 1, removing } },
    });
    await h.deps.table.delete(keys.pair(g.groupId, pair.primaryVolumeId));
    await expect(deleteGroup(h.deps, g.groupId)).rejects.toMatchObject({ status: 409, code: 'sync-running' });
    // What the scheduler tick does for such a group.
    const group = await h.deps.table.get<Group>(keys.group(g.groupId));
    if (group) await settleMemberChange(h.deps, group);
    for (const id of [pair.primaryVolumeId, pair.secondaryVolumeId])
      expect((await volume(h, id))?.groupId).toBeUndefined();
    // A lock with no note (its holder died before noting anything) holds nothing back once expired.
    await h.deps.table.update(keys.group(g.groupId), {
      set: { memberLock: { holder: 'dead', expiresAt: Date.now() - 1 } },
    });
    await deleteGroup(h.deps, g.groupId);
    expect(await h.deps.table.get<Group>(keys.group(g.groupId))).toBeUndefined();
  });

  it('removing a pair bumps membersVersion and fences the volume while the group lease runs', async () => {
    h = await startHarness();
    const g = await mirroredGroup(h, [
      { sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK },
      { sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK },
    ]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 41));
    const before = await h.deps.table.get<Group>(keys.group(g.groupId));
    expect(before?.membersVersion).toBe(2);
    await removePair(h.deps, g.groupId, g.primaries[1]);
    const after = await h.deps.table.get<Group>(keys.group(g.groupId));
    expect(after?.membersVersion).toBe(3);
    const removed = await volume(h, g.primaries[1]);
    expect(removed?.groupId).toBeUndefined();
    expect(removed?.lease?.holder).toBe('fence');
    expect(removed?.lease?.expiresAt).toBeGreaterThan(after?.lease?.expiresAt ?? Number.POSITIVE_INFINITY);
    expect((await volume(h, g.secondaries[1]))?.groupId).toBeUndefined();
    // No volume gateway may write it while the group's gateway still may.
    await expect(openGateway(h, g.primaries[1])).rejects.toMatchObject({ code: 'lease-held' });
    await gw.close();
  });

  it('a volume removed, written outside the group, and added again with a new secondary is mirrored whole', async () => {
    h = await startHarness();
    startRuntime(h);
    const g = await mirroredGroup(h, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const primary = g.primaries[0];
    const gw = await openGateway(h, primary);
    await gw.write(primary, 0, randomBytesOf(4 * CHUNK, 51));
    await gw.close();
    await syncAndWait(h, g.groupId);
    await removePair(h.deps, g.groupId, primary);
    // Outside the group the volume has its own lease and writer.
    const alone = await openGateway(h, primary);
    await alone.write(primary, 2 * CHUNK, randomBytesOf(6 * CHUNK, 52));
    await alone.close();
    const again = await addPair(h.deps, g.groupId, { primaryVolumeId: primary });
    expect(again.secondaryVolumeId).not.toBe(g.secondaries[0]);
    const gw2 = await openGateway(h, primary);
    await gw2.write(primary, 10 * CHUNK, randomBytesOf(CHUNK, 53));
    await gw2.close();
    const rp = await syncAndWait(h, g.groupId);
    const image = await readAll(h, primary);
    expect(image.subarray(2 * CHUNK, 8 * CHUNK).some((b) => b !== 0)).toBe(true);
    expect((await readAll(h, again.secondaryVolumeId, rp)).equals(image)).toBe(true);
  });
});
