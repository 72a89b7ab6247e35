import { afterEach, describe, expect, it } from 'vitest';
import { getGroup } from '../../shared/usecases/groups';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

describe('sync lifecycle', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  it('a sync paused while collecting resumes collecting: the initial RP equals the primary image', async () => {
    h = await startHarness();
    const harness = h;
    startRuntime(harness);
    const g = await mirroredGroup(harness, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(harness, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(6 * CHUNK, 11));
    await gw.close();
    // The primary site's link is cut: collect cannot read the initial sync's base manifest.
    harness.stack.cut('east');
    const { syncId, recoveryPointId } = await startSync(harness.deps, g.groupId);
    harness.runtime?.drive(g.groupId, syncId);
    await waitFor(
      'the group to pause',
      async () => (await getGroup(harness.deps, g.groupId)).status === 'paused',
    );
    const paused = await getSync(harness.deps, g.groupId, syncId);
    expect(paused.state).toBe('paused');
    expect(paused.phase).toBe('collecting');

    harness.stack.heal('east');
    await waitFor(
      'the same sync to commit',
      async () => {
        const s = await getSync(harness.deps, g.groupId, syncId);
        if (s.state === 'failed') throw new Error(`sync failed: ${s.error}`);
        return s.state === 'committed';
      },
      60_000,
    );
    const primary = await readAll(harness, g.primaries[0]);
    expect(primary.some((b) => b !== 0)).toBe(true);
    expect((await readAll(harness, g.secondaries[0], recoveryPointId)).equals(primary)).toBe(true);
    expect((await getGroup(harness.deps, g.groupId)).status).toBe('optimal');
  });
});
