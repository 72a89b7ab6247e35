import { afterEach, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Deps } from '../../shared/deps';
import type { Group } from '../../shared/domain/model';
import { cloneRecoveryPoint } from '../../shared/usecases/clones';
import { tick } from '../../shared/usecases/scheduler';
import { deleteVolume, listVolumes } from '../../shared/usecases/volumes';
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

const CHUNK = 64 * 1024;
const SIZE = 4 * CHUNK;
/** Past the grace an in-flight clone creation is given before its pin counts as leaked. */
const LATER_MS = 20 * 60_000;

const groupOf = (h: Harness, id: string) => h.deps.table.get<Group>(keys.group(id));
const later = (h: Harness): Deps => ({ ...h.deps, now: () => Date.now() + LATER_MS });
const isPinWrite = (c: ControlCall) =>
  c.commandName === 'UpdateItemCommand' && JSON.stringify(c.input).includes('clones');

/**
 * Kills the process right after `step` succeeds: from then on every control-table request
 * fails, as the clean-up a live process would run never happens.
 */
function crashAfter(h: Harness, name: string, step: (c: ControlCall) => boolean): { revive(): void } {
  let armed = true;
  let dead = false;
  hookControl(h, name, {
    before: async () => {
      if (dead) throw new Error('process died');
    },
    after: async (c) => {
      if (armed && step(c)) {
        armed = false;
        dead = true;
      }
    },
  });
  return {
    revive() {
      dead = false;
    },
  };
}

/** A group with one committed RP 1 and retention 1, its sync's clean-up finished. */
async function groupWithRp(h: Harness, seed: number) {
  startRuntime(h);
  const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
  const gw = await openGateway(h, g.primaries[0]);
  await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, seed));
  const rp1 = await syncAndWait(h, g.groupId);
  await waitFor(
    'the sync clean-up to finish',
    async () => ((await groupOf(h, g.groupId))?.openSyncs ?? []).length === 0,
  );
  return { g, gw, rp1 };
}

describe('RP clone pins never leak', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a crash between the pin and the clone volume: a tick past the grace drops the pin, the RP expires', async () => {
    h = await startHarness({ retention: 1 });
    const harness = h;
    const { g, gw, rp1 } = await groupWithRp(harness, 1);
    const volumes = (await listVolumes(harness.deps)).length;
    const crash = crashAfter(harness, 'crashAfterPin', isPinWrite);
    await expect(cloneRecoveryPoint(harness.deps, g.groupId, rp1)).rejects.toThrow(/process died/);
    crash.revive();
    expect((await listVolumes(harness.deps)).length).toBe(volumes);
    const leaked = (await groupOf(harness, g.groupId))?.clones ?? {};
    expect(Object.values(leaked)).toEqual([1]);

    // Within the grace the pin may be a clone still being made: a tick keeps it.
    await tick(harness.deps);
    expect((await groupOf(harness, g.groupId))?.clones).toEqual(leaked);
    await tick(later(harness));
    expect((await groupOf(harness, g.groupId))?.clones).toBeUndefined();

    // Unpinned, RP 1 expires with the next commit (retention 1).
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 2));
    await syncAndWait(harness, g.groupId);
    await gw.close();
    await waitFor(
      'RP 1 to expire',
      async () => (await harness.deps.table.get(keys.recoveryPoint(g.groupId, 1))) === undefined,
    );
  }, 120_000);

  it('a crash between the clone delete and its unpin: a tick past the grace drops the pin', async () => {
    h = await startHarness({ retention: 1 });
    const harness = h;
    const { g, gw, rp1 } = await groupWithRp(harness, 3);
    const [clone, other] = [
      ...(await cloneRecoveryPoint(harness.deps, g.groupId, rp1)).volumes,
      ...(await cloneRecoveryPoint(harness.deps, g.groupId, rp1)).volumes,
    ];
    const isCloneDelete = (c: ControlCall) =>
      c.commandName === 'DeleteItemCommand' && JSON.stringify(c.input).includes(clone.id);
    const crash = crashAfter(harness, 'crashAfterDelete', isCloneDelete);
    await expect(deleteVolume(harness.deps, clone.id)).rejects.toThrow(/process died/);
    crash.revive();
    expect(Object.keys((await groupOf(harness, g.groupId))?.clones ?? {}).sort()).toEqual(
      [clone.id, other.id].sort(),
    );

    // Only the dead clone's pin goes: the live clone keeps RP 1 however old its pin.
    await tick(later(harness));
    expect((await groupOf(harness, g.groupId))?.clones).toEqual({ [other.id]: 1 });
    await deleteVolume(harness.deps, other.id);
    expect((await groupOf(harness, g.groupId))?.clones).toBeUndefined();
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 4));
    await syncAndWait(harness, g.groupId);
    await gw.close();
    await waitFor(
      'RP 1 to expire',
      async () => (await harness.deps.table.get(keys.recoveryPoint(g.groupId, 1))) === undefined,
    );
  }, 120_000);
});
