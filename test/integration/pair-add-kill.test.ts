import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group, Pair, Volume } from '../../shared/domain/model';
import { createGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { tick } from '../../shared/usecases/scheduler';
import { createVolume, deleteVolume } from '../../shared/usecases/volumes';
import { type ControlCall, hookControl } from '../support/control-hooks';
import {
  type Harness,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

/**
 * The control-table writes of a pair add, in order: member lock, the add noted on the lock,
 * primary claim, secondary claim (or creation), pair item, the confirmation (the commit
 * point), the event, the lock release.
 */
const WRITES = 8;
const CONFIRMATION = 6;

const isWrite = (c: ControlCall) =>
  c.commandName === 'PutItemCommand' ||
  c.commandName === 'UpdateItemCommand' ||
  c.commandName === 'DeleteItemCommand';

/** The process dies right after its nth control-table write landed: nothing after it runs. */
class Killer {
  private armedAt = 0;
  private writes = 0;
  private dead = false;
  private ids: string[] = [];
  /** Counts only writes naming one of `ids`: the runtime may still be finishing an earlier sync. */
  arm(n: number, ids: string[]) {
    this.armedAt = n;
    this.writes = 0;
    this.dead = false;
    this.ids = ids;
  }
  disarm() {
    this.armedAt = 0;
    this.dead = false;
  }
  before = async () => {
    if (this.dead) throw new Error('killed');
  };
  after = async (c: ControlCall) => {
    if (this.armedAt === 0 || !isWrite(c)) return;
    const input = JSON.stringify(c.input);
    if (!this.ids.some((id) => input.includes(id))) return;
    if (++this.writes === this.armedAt) {
      this.dead = true;
      throw new Error('killed');
    }
  };
}

const cases = Array.from({ length: WRITES }, (_, i) => i + 1).flatMap((n) => [
  { n, settledBy: 'the tick' as const, secondary: 'given' as const },
  { n, settledBy: 'the next add' as const, secondary: 'created' as const },
]);

describe('a pair add killed after each of its writes', () => {
  let h: Harness;
  const killer = new Killer();
  beforeAll(async () => {
    h = await startHarness();
    // The test calls the tick itself; the runtime copies and ingests.
    startRuntime(h, { scheduler: false });
    // Short, so a dead add's lock expires soon; long enough that a live add under load keeps it.
    h.deps.config.memberLockSeconds = 4;
    hookControl(h, 'killAdd', { before: killer.before, after: killer.after });
  });
  afterAll(async () => h?.stop());

  async function volumesAt(site: string): Promise<string[]> {
    const all = await h.deps.table.queryPrefix<Volume>('VOLUMES', '');
    return all
      .filter((v) => v.site === site)
      .map((v) => v.id)
      .sort();
  }

  it.each(cases)(
    'killed after write $n, settled by $settledBy ($secondary secondary)',
    async ({ n, settledBy, secondary }) => {
      const group = await createGroup(h.deps, {
        name: `k${n}`,
        primarySite: 'east',
        secondarySite: 'west',
        sync: { mode: 'manual' },
      });
      const primary = await createVolume(h.deps, {
        name: `p${n}`,
        site: 'east',
        sizeBytes: 8 * CHUNK,
        chunkSizeBytes: CHUNK,
      });
      const given =
        secondary === 'given'
          ? await createVolume(h.deps, {
              name: `s${n}`,
              site: 'west',
              sizeBytes: 8 * CHUNK,
              chunkSizeBytes: CHUNK,
            })
          : undefined;
      const gw = await openGateway(h, primary.id);
      await gw.write(primary.id, CHUNK, randomBytesOf(3 * CHUNK, n));
      await gw.close();
      const westBefore = await volumesAt('west');

      killer.arm(n, [group.id, primary.id, ...(given ? [given.id] : [])]);
      await expect(
        addPair(h.deps, group.id, { primaryVolumeId: primary.id, secondaryVolumeId: given?.id }),
      ).rejects.toThrow();
      killer.disarm();
      await waitFor('the dead add’s member lock to expire', async () => {
        const g = await h.deps.table.get<Group>(keys.group(group.id));
        return g !== undefined && (g.memberLock?.expiresAt ?? 0) < Date.now();
      });

      const complete = n >= CONFIRMATION;
      if (settledBy === 'the tick') {
        await tick(h.deps);
      } else if (complete) {
        await expect(addPair(h.deps, group.id, { primaryVolumeId: primary.id })).rejects.toMatchObject({
          code: 'volume-in-pair',
        });
      } else {
        await addPair(h.deps, group.id, { primaryVolumeId: primary.id });
      }

      const pair = await h.deps.table.get<Pair>(keys.pair(group.id, primary.id));
      if (settledBy === 'the tick') {
        // Fully added, or both volumes free.
        expect(pair !== undefined).toBe(complete);
        const p = await h.deps.table.get<Volume>(keys.volume(primary.id));
        expect(p?.groupId).toBe(complete ? group.id : undefined);
        const s = await h.deps.table.get<Volume>(keys.volume(given?.id ?? ''));
        expect(s?.groupId).toBe(complete ? group.id : undefined);
        if (!complete) {
          // Free: the secondary can be deleted, and the primary added again with a new secondary.
          await deleteVolume(h.deps, given?.id);
          await addPair(h.deps, group.id, { primaryVolumeId: primary.id });
        }
      } else {
        // One new secondary: the completed add's, or the next add's (the dead add's one was deleted).
        const added = new Set(await volumesAt('west'));
        for (const v of westBefore) added.delete(v);
        expect(added.size).toBe(1);
      }

      const now = await h.deps.table.get<Pair>(keys.pair(group.id, primary.id));
      expect(now).toBeDefined();
      const westVolume = await h.deps.table.get<Volume>(keys.volume(now?.secondaryVolumeId ?? ''));
      expect(westVolume?.groupId).toBe(group.id);
      const rp = await syncAndWait(h, group.id);
      const image = await readAll(h, primary.id);
      expect((await readAll(h, now?.secondaryVolumeId ?? '', rp)).equals(image)).toBe(true);
      const g = await h.deps.table.get<Group>(keys.group(group.id));
      expect(g?.memberLock).toBeUndefined();
    },
    60_000,
  );
});
