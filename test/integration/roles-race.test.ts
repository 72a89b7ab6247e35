import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../shared/aws/keys';
import { DomainError } from '../../shared/domain/errors';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { requestRoleChange } from '../../shared/usecases/roles';
import {
  type Harness,
  mirroredGroup,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { RoleFollowingWriter } from '../support/role-writer';

const CHUNK = 64 * 1024;
const SIZE = 8 * CHUNK;
const ROUNDS = 50;

describe('racing promotions', () => {
  let h: Harness;
  beforeAll(async () => {
    // A short lease keeps the forced rounds (which wait out the old lease) quick.
    h = await startHarness({ leaseSeconds: 1, retention: 4 });
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  it(`${ROUNDS} rounds of concurrent planned and forced requests from both sites: one winner each, role epoch strictly increasing, never two writers`, async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const writer = new RoleFollowingWriter(h, g.groupId, [
      { bySite: { east: g.primaries[0], west: g.secondaries[0] }, sizeBytes: SIZE, chunkSize: CHUNK },
    ]);
    writer.start();
    await waitFor('first writes', async () => writer.acked.length > 0);
    await syncAndWait(h, g.groupId);
    const load = async () => (await h.deps.table.get<Group>(keys.group(g.groupId))) as Group;
    const epochs: number[] = [(await load()).roleEpoch];
    for (let round = 0; round < ROUNDS; round++) {
      const before = await load();
      const other = before.secondarySite;
      // Every request below asks for the same outcome (other becomes primary), by different routes.
      const requests = [
        { site: other, role: 'primary' },
        { site: before.primarySite, role: 'secondary' },
        { site: other, role: 'primary', force: true },
        { site: before.primarySite, role: 'secondary', force: round % 2 === 0 },
      ];
      const outcomes = await Promise.allSettled(requests.map((r) => requestRoleChange(h.deps, g.groupId, r)));
      const winners = outcomes.filter((o) => o.status === 'fulfilled');
      expect(winners, `round ${round}`).toHaveLength(1);
      for (const o of outcomes) {
        if (o.status === 'rejected') {
          expect(o.reason).toBeInstanceOf(DomainError);
          expect([409, 422]).toContain((o.reason as DomainError).status);
        }
      }
      const after = await waitFor(
        `round ${round} to finish`,
        async () => {
          const now = await load();
          return now.status === 'optimal' && now.roleEpoch > before.roleEpoch && now;
        },
        30_000,
      ).catch(async (e: Error) => {
        const events = (await listEvents(h.deps, g.groupId, 8)).map((x) => `${x.kind}: ${x.message}`);
        throw new Error(
          `${e.message}\ngroup: ${JSON.stringify(await load())}\nevents: ${events.join('\n')}\nerrors: ${JSON.stringify(h.runtime?.errors.slice(-5))}`,
        );
      });
      expect(after.roleEpoch).toBe(before.roleEpoch + 1);
      expect(after.primarySite).toBe(other);
      epochs.push(after.roleEpoch);
      // The writer follows: at least one write under the new epoch before the next round.
      await waitFor(
        `a write under role epoch ${after.roleEpoch}`,
        async () => writer.acked.some((w) => w.roleEpoch === after.roleEpoch),
        30_000,
      );
    }
    await writer.stop();
    for (let i = 1; i < epochs.length; i++) expect(epochs[i]).toBeGreaterThan(epochs[i - 1]);
    // No overlap: every write acknowledged under an epoch ended before the next epoch's first was issued.
    const spans = new Map<number, { first: number; last: number }>();
    for (const w of writer.acked) {
      const s = spans.get(w.roleEpoch) ?? { first: w.issuedAt, last: w.ackedAt };
      spans.set(w.roleEpoch, { first: Math.min(s.first, w.issuedAt), last: Math.max(s.last, w.ackedAt) });
    }
    const seen = [...spans.keys()].sort((a, b) => a - b);
    expect(seen.length).toBe(ROUNDS + 1);
    for (let i = 1; i < seen.length; i++) {
      expect(spans.get(seen[i - 1])?.last, `epochs ${seen[i - 1]} and ${seen[i]}`).toBeLessThan(
        spans.get(seen[i])?.first ?? 0,
      );
    }
  }, 600_000);
});
