import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { SyncJob } from '../../shared/domain/model';
import { advanceSync, startSync } from '../../shared/usecases/sync/index';
import { type Harness, mirroredGroup, openGateway, randomBytesOf, startHarness } from '../support/harness';

// epochsComplete's 'lost' answer is the gateway helper's: stand it in here.
const answer = vi.hoisted(() => ({ value: 'lost' as boolean | string }));
vi.mock('../../shared/usecases/sync/epochs', () => ({
  epochsComplete: async () => answer.value,
}));

const CHUNK = 64 * 1024;

describe('collect when change tracking was lost', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ topology: 'shared' });
  });
  afterAll(async () => h?.stop());

  it('sends the job back to a quiesced scan cut, with no cut epoch and no plan', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNK, 1));
    await gw.close();
    const { syncId } = await startSync(h.deps, g.groupId);
    const job = async () => h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    for (let i = 0; i < 20 && (await job())?.state === 'cutting'; i++)
      await advanceSync(h.deps, g.groupId, syncId);
    expect((await job())?.state).toBe('collecting');
    expect((await job())?.cutEpoch).toBeDefined();

    answer.value = 'waiting';
    expect(await advanceSync(h.deps, g.groupId, syncId)).toBe('waiting');
    answer.value = 'lost';
    expect(await advanceSync(h.deps, g.groupId, syncId)).toBe('progress');
    const after = await job();
    expect(after?.state).toBe('cutting');
    expect(after?.scan).toBe(true);
    expect(after?.cutEpoch).toBeUndefined();
    expect(after?.collect).toBeUndefined();
    expect(after?.pairIds).toBeUndefined();
  }, 60_000);
});
