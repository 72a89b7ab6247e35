import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import {
  type Harness,
  type MirroredGroup,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { expectOnlyLiveAndRetained } from '../support/versions';

const CHUNK = 64 * 1024;

/**
 * A delta sync costs about one S3 request per changed chunk: its bookkeeping (manifests and
 * clean-up) adds a few requests whatever the delta, and lists only the prefixes the sync
 * wrote to. Counted at the SDK, from the sync's start until its post-commit work is done.
 */
describe('S3 requests of a small delta sync', () => {
  let h: Harness;
  let g: MirroredGroup;
  let seed = 0;

  async function write(chunks: number[]): Promise<void> {
    const gw = await openGateway(h, g.primaries[0]);
    for (const c of chunks) await gw.write(g.primaries[0], c * CHUNK, randomBytesOf(CHUNK, ++seed));
    await gw.close();
  }

  /** Requests of one sync, by S3 operation, with its clean-up finished. */
  async function syncRequests(): Promise<{ total: number; lists: number; copies: number }> {
    const before = h.counter.snapshot();
    await syncAndWait(h, g.groupId);
    await waitFor('the clean-up', async () => {
      const group = await h.deps.table.get<Group>(keys.group(g.groupId));
      return (group?.openSyncs ?? []).length === 0;
    });
    return {
      total: h.counter.since(before, 's3'),
      lists: h.counter.since(before, 's3', 'ListObjectVersionsCommand'),
      copies: h.counter.since(before, 's3', 'west', 'PutObjectCommand'),
    };
  }

  beforeAll(async () => {
    h = await startHarness({ retention: 10 });
    startRuntime(h);
    g = await mirroredGroup(h, [{ sizeBytes: 256 * CHUNK, chunkSizeBytes: CHUNK }]);
    await write([0, 1, 2, 3]);
    await syncAndWait(h, g.groupId);
  }, 120_000);
  afterAll(async () => h?.stop());

  it('20 changed chunks: no list (nothing under a prefix the sync never wrote, and a clean commit left nothing)', async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => 10 + i * 7);
    await write(chunks);
    const r = await syncRequests();
    // Runs, scans, superseded lists and the pair's consumed base manifest were never written;
    // the commit's one call wrote each manifest once, so its attempt prefix holds no garbage.
    expect(r.lists).toBe(0);
    expect(r.copies).toBeGreaterThanOrEqual(20);
    expect(r.total).toBeLessThanOrEqual(2 * 20 + 8);
    await expectOnlyLiveAndRetained(h, g, 'a small delta sync');
  }, 90_000);

  it('the same chunks rewritten before the cut: the superseded versions are deleted without a list', async () => {
    await write([40, 41, 40, 41, 40]);
    const r = await syncRequests();
    expect(r.lists).toBe(0);
    await expectOnlyLiveAndRetained(h, g, 'a sync over rewritten chunks');
  }, 90_000);

  /** Requests of one sync whose delta is folded in steps of 4 records: each step writes a run. */
  async function spilledSyncRequests() {
    h.deps.config.stepBudgetChunks = 4;
    try {
      return await syncRequests();
    } finally {
      h.deps.config.stepBudgetChunks = undefined;
    }
  }

  it('a delta spilled to runs, nothing rewritten: one list (the runs, after the commit)', async () => {
    await write(Array.from({ length: 12 }, (_, i) => 100 + i));
    const r = await spilledSyncRequests();
    // The superseded prefix was never written to, and the runs are listed once, not again
    // when planning ends.
    expect(r.lists).toBe(1);
    expect(r.copies).toBeGreaterThanOrEqual(12);
    await expectOnlyLiveAndRetained(h, g, 'a spilled delta sync');
  }, 90_000);

  it('a delta spilled to runs with rewritten chunks: two lists (runs, superseded lists)', async () => {
    await write([120, 121, 122, 123, 124, 125, 120, 121, 122, 123, 124, 125]);
    const r = await spilledSyncRequests();
    expect(r.lists).toBe(2);
    await expectOnlyLiveAndRetained(h, g, 'a spilled sync over rewritten chunks');
  }, 90_000);
});
