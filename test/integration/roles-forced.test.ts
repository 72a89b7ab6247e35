import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { groupPartition, keys } from '../../shared/aws/keys';
import { DomainError } from '../../shared/domain/errors';
import { fencing } from '../../shared/domain/fencing';
import type { Group, SyncJob } from '../../shared/domain/model';
import { createGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { requestRoleChange } from '../../shared/usecases/roles';
import { startSync } from '../../shared/usecases/sync/index';
import { createVolume } from '../../shared/usecases/volumes';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startApi,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
const SIZE = 16 * CHUNK;

describe('forced promotion with the primary site cut off', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    startRuntime(h);
  });
  afterEach(() => h.stack.heal());
  afterAll(async () => h?.stop());

  it('promotes west only after east lease expired, east refuses writes before that, west serves exactly its last RP', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const [east, west] = [g.primaries[0], g.secondaries[0]];
    const gw = await openGateway(h, east);
    await gw.write(east, 0, randomBytesOf(4 * CHUNK, 1));
    const rp = await syncAndWait(h, g.groupId);
    const atRp = await readAll(h, west, rp);
    // Unreplicated writes at east, then east is lost with its gateway still holding the lease.
    await gw.write(east, 2 * CHUNK, randomBytesOf(CHUNK, 2));
    h.stack.cut('east');
    // A sync that cannot finish, and a chunk a half-done copy left at west past the RP.
    const { syncId } = await startSync(h.deps, g.groupId);
    await h.deps.stores.west.putChunk(west, 9, randomBytesOf(CHUNK, 3));
    await h.deps.stores.west.putChunk(west, 1, randomBytesOf(CHUNK, 4));

    const before = (await h.deps.table.get<Group>(keys.group(g.groupId))) as Group;
    const expiresAt = before.lease?.expiresAt ?? 0;
    expect(expiresAt).toBeGreaterThan(Date.now());
    const view = await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary', force: true });
    expect(view.status).toBe('role-change-in-progress');

    // East's gateway cannot renew under a role change in progress: a write issued before its
    // lease ends is refused already (its answer may come later: a request to the cut site is
    // aborted, not answered), none is acknowledged, and once refused it refuses at once.
    let acknowledged = 0;
    const refused = await waitFor('east to refuse writes', async () => {
      const issuedAt = Date.now();
      try {
        await gw.write(east, 0, randomBytesOf(100, 5));
        acknowledged++;
        return false;
      } catch (e) {
        return e instanceof DomainError && e.code === 'lease-lost' && { issuedAt };
      }
    });
    expect(refused.issuedAt).toBeLessThan(expiresAt);
    expect(acknowledged).toBe(0);
    const again = Date.now();
    await expect(gw.write(east, 0, randomBytesOf(100, 6))).rejects.toMatchObject({ code: 'lease-lost' });
    expect(Date.now() - again).toBeLessThan(1000);

    const promoted = await waitFor('west promoted', async () => {
      const now = (await h.deps.table.get<Group>(keys.group(g.groupId))) as Group;
      return now.primarySite === 'west' && now.status === 'optimal' && now;
    });
    expect(promoted.roleEpoch).toBe(before.roleEpoch + 1);
    expect(promoted.lease).toBeUndefined();
    const flipAt = Date.parse(promoted.lastRp?.committedAt ?? '');
    expect(flipAt).toBeGreaterThan(expiresAt + fencing(h.deps.config.leaseSeconds).takeoverDelayMs);
    const aborted = await h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
    expect(aborted?.state).toBe('failed');

    // West, now primary, reads live exactly the RP: the half-copied chunks are gone.
    expect((await readAll(h, west)).equals(atRp)).toBe(true);
    const flipRp = promoted.lastRp?.id ?? '';
    expect((await readAll(h, west, flipRp)).equals(atRp)).toBe(true);
    const rps = await listRecoveryPoints(h.deps, g.groupId);
    expect(rps[0]).toMatchObject({ id: flipRp, kind: 'recovery-point', site: 'east' });

    // West takes writes now; east is still cut, so they wait in the change records.
    const gwWest = await openGateway(h, west);
    await gwWest.write(west, 5 * CHUNK, randomBytesOf(CHUNK, 6));
    await gwWest.close();
    await gw.close().catch(() => undefined);
  }, 90_000);
});

describe('forced promotion rules: each refusal is a 422 naming the rule and changes nothing', () => {
  let h: Harness;
  beforeAll(async () => {
    // No runtime: syncs and role changes stay where the test leaves them.
    h = await startHarness();
  });
  afterAll(async () => h?.stop());

  async function snapshot(groupId: string) {
    const items = await h.deps.table.queryPrefix<Record<string, unknown>>(groupPartition(groupId), '');
    const group = await h.deps.table.get(keys.group(groupId));
    return JSON.stringify({ group, items: items.filter((i) => !('kind' in i && 'severity' in i)) });
  }

  async function expectRefused(groupId: string, rule: string) {
    const before = await snapshot(groupId);
    const refusal = await requestRoleChange(h.deps, groupId, {
      site: 'west',
      role: 'primary',
      force: true,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(DomainError);
    expect(refusal).toMatchObject({ status: 422, code: 'forced-promotion-refused' });
    expect((refusal as Error).message).toContain(`rule ${rule}`);
    expect(await snapshot(groupId)).toBe(before);
  }

  const emptyGroup = () => createGroup(h.deps, { name: 'r', primarySite: 'east', secondarySite: 'west' });

  it('group-empty', async () => {
    await expectRefused((await emptyGroup()).id, 'group-empty');
  });

  it('pair-without-recovery-point', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    await expectRefused(g.groupId, 'pair-without-recovery-point');
  });

  it('initial-sync-running', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    await startSync(h.deps, g.groupId);
    await expectRefused(g.groupId, 'initial-sync-running');
  });

  it('role-change-pending', async () => {
    const g = await emptyGroup();
    const vol = await createVolume(h.deps, {
      name: 'p',
      site: 'east',
      sizeBytes: SIZE,
      chunkSizeBytes: CHUNK,
    });
    await addPair(h.deps, g.id, { primaryVolumeId: vol.id });
    await requestRoleChange(h.deps, g.id, { site: 'west', role: 'primary' });
    await expectRefused(g.id, 'role-change-pending');
  });

  it('role-change-in-progress', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    // Committed RP first, driven by hand (no runtime here).
    startRuntime(h);
    await syncAndWait(h, g.groupId);
    await h.runtime?.stop();
    h.runtime = undefined;
    await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary', force: true });
    await expectRefused(g.groupId, 'role-change-in-progress');
  }, 60_000);

  it('the route: 202 with the group, 400 for a bad body and 404 for an unknown group, changing nothing', async () => {
    const { server, token } = await startApi(h);
    try {
      const call = async (path: string, body: unknown) => {
        const res = await fetch(`${server.url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, body: (await res.json()) as unknown };
      };
      const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
      const before = await snapshot(g.groupId);
      const bad = await call(`/groups/${g.groupId}/role`, { site: 'mars', role: 'primary' });
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'bad-site' } } });
      expect((await call('/groups/grp-000000000000/role', { site: 'west', role: 'primary' })).status).toBe(
        404,
      );
      expect(await snapshot(g.groupId)).toBe(before);
      const ok = await call(`/groups/${g.groupId}/role`, { site: 'west', role: 'primary' });
      expect(ok).toMatchObject({ status: 202, body: { id: g.groupId, status: 'role-change-pending' } });
    } finally {
      await server.stop();
    }
  });

  it('no pair is added while a role change is under way (it would miss the RP the flip swaps)', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary' });
    const extra = await createVolume(h.deps, {
      name: 'x',
      site: 'east',
      sizeBytes: SIZE,
      chunkSizeBytes: CHUNK,
    });
    const before = await snapshot(g.groupId);
    await expect(addPair(h.deps, g.groupId, { primaryVolumeId: extra.id })).rejects.toMatchObject({
      status: 409,
    });
    expect(await snapshot(g.groupId)).toBe(before);
  });

  it('group-failed', async () => {
    const g = await emptyGroup();
    await h.deps.table.update(keys.group(g.id), { set: { status: 'failed' } });
    await expectRefused(g.id, 'group-failed');
  });
});
