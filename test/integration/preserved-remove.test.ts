import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../local/emulator';
import { writeLocalConfig } from '../../local/local-config';
import { route } from '../../shared/api/router';
import { groupPartition, keys } from '../../shared/aws/keys';
import { chunkKey } from '../../shared/domain/chunks';
import type { ChunkRef, Group, RecoveryPoint } from '../../shared/domain/model';
import { cloneRecoveryPoint } from '../../shared/usecases/clones';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { requestRoleChange } from '../../shared/usecases/roles';
import { deleteVolume } from '../../shared/usecases/volumes';
import { type ControlCall, hookControl } from '../support/control-hooks';
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
const SIZE = 8 * CHUNK;
const BIN = join(ROOT, 'bin', 'volmirror.mjs');

function cli(home: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { AWS_ENDPOINT_URL: _ignored, VOLMIRROR_API_URL: _url, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: 60_000, env: { ...env, VOLMIRROR_HOME: home } },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('removing a preserved-writes item', () => {
  let h: Harness;
  let home: string;
  let stopApi: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    h = await startHarness({ retention: 2 });
    startRuntime(h);
    const api = await startApi(h);
    stopApi = () => api.server.stop();
    home = mkdtempSync(join(tmpdir(), 'volmirror-preserved-'));
    writeLocalConfig(
      {
        apiUrl: api.server.url,
        token: api.token,
        config: h.stack.config,
        pid: process.pid,
        sites: ['east', 'west'],
        endpoints: {},
        adminUrl: 'http://127.0.0.1:9',
        emulatorPids: [],
        topology: 'per-site',
        startedAt: new Date().toISOString(),
      },
      { VOLMIRROR_HOME: home },
    );
  });
  afterAll(async () => {
    h?.stack.heal();
    await stopApi?.();
    await h?.stop();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const load = async (id: string) => (await h.deps.table.get<Group>(keys.group(id))) as Group;

  async function writeChunks(volumeId: string, chunks: number[], seed: number): Promise<void> {
    const gw = await openGateway(h, volumeId);
    for (const c of chunks) await gw.write(volumeId, c * CHUNK, randomBytesOf(CHUNK, seed + c));
    await gw.close();
  }

  /** Whether a chunk version still exists in a site's bucket. */
  async function versionExists(
    site: string,
    volumeId: string,
    [index, versionId]: ChunkRef,
  ): Promise<boolean> {
    const bucket = h.deps.config.sites.find((s) => s.name === site)?.bucket;
    const out = await h.clients.sites[site].s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: chunkKey(volumeId, index) }),
    );
    return (out.Versions ?? []).some((v) => v.VersionId === versionId);
  }

  /** A forced promotion with east cut for real, east's unreplicated writes preserved on its return. */
  async function preservedGroup() {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    const [east, west] = [g.primaries[0], g.secondaries[0]];
    await writeChunks(east, [0, 1, 2, 3], 1);
    await syncAndWait(h, g.groupId);
    // Written at east, never replicated: east is lost right after.
    await writeChunks(east, [2, 6], 100);
    h.stack.cut('east');
    try {
      await requestRoleChange(h.deps, g.groupId, { site: 'west', role: 'primary', force: true });
      await waitFor('west promoted', async () => {
        const now = await load(g.groupId);
        return now.primarySite === 'west' && now.status === 'optimal';
      });
      await writeChunks(west, [1, 6], 200);
    } finally {
      h.stack.heal('east');
    }
    await waitFor('east writes preserved', async () => (await load(g.groupId)).preserveWrites === undefined);
    const last = await syncAndWait(h, g.groupId);
    // The sync's clean-up and expiry done: nothing else writes the group's RP list meanwhile.
    await waitFor(
      'the sync clean-up to finish',
      async () => ((await load(g.groupId)).openSyncs ?? []).length === 0,
    );
    const items = await h.deps.table.queryPrefix<RecoveryPoint>(groupPartition(g.groupId), 'RP#');
    const preserved = items.find((r) => r.kind === 'preserved-writes');
    if (!preserved) throw new Error('no preserved-writes item');
    const refs: ChunkRef[] = [];
    for await (const ref of h.deps.stores.east.readManifest(preserved.volumes[0].secondaryManifestKey))
      refs.push(ref);
    return { g, east, west, last, preserved, refs };
  }

  const del = (groupId: string, rpId: string) =>
    route(h.deps, { method: 'DELETE', path: `/groups/${groupId}/recovery-points/${rpId}` });

  it('refuses committed RPs and a pinned item (API and CLI), changing nothing; then `rp remove` deletes the item and the versions only it held', async () => {
    const { g, east, west, last, preserved, refs } = await preservedGroup();
    const before = await listRecoveryPoints(h.deps, g.groupId);
    expect(before.map((r) => r.id)).toContain(preserved.id);

    const committed = await del(g.groupId, last);
    expect(committed.status).toBe(409);
    expect(committed.body).toMatchObject({ error: { code: 'not-preserved-writes' } });
    const [clone] = (await cloneRecoveryPoint(h.deps, g.groupId, preserved.id)).volumes;
    const pinned = await del(g.groupId, preserved.id);
    expect(pinned.status).toBe(409);
    expect(pinned.body).toMatchObject({ error: { code: 'rp-pinned' } });
    expect(await listRecoveryPoints(h.deps, g.groupId)).toEqual(before);
    for (const ref of refs) expect(await versionExists('east', east, ref)).toBe(true);
    await deleteVolume(h.deps, clone.id);

    const refused = await cli(home, ['rp', 'remove', g.groupId, last]);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('committed recovery point');
    const removed = await cli(home, ['rp', 'remove', g.groupId, preserved.id, '--json']);
    expect(removed.stderr).toBe('');
    expect(JSON.parse(removed.stdout)).toEqual({
      groupId: g.groupId,
      recoveryPointId: preserved.id,
      removed: true,
    });
    expect((await listRecoveryPoints(h.deps, g.groupId)).map((r) => r.id)).toEqual(
      before.filter((r) => r.id !== preserved.id).map((r) => r.id),
    );
    expect(await h.deps.table.get(keys.recoveryPoint(g.groupId, preserved.number))).toBeUndefined();
    // East's own writes (chunks 2 and 6) were only in the item: gone. The rest is still read.
    const only = refs.filter(([i]) => i === 2 || i === 6);
    expect(only).toHaveLength(2);
    for (const ref of only) expect(await versionExists('east', east, ref)).toBe(false);
    for (const ref of refs.filter(([i]) => i !== 2 && i !== 6))
      expect(await versionExists('east', east, ref)).toBe(true);
    expect((await readAll(h, east, last)).equals(await readAll(h, west, last))).toBe(true);
    expect((await del(g.groupId, preserved.id)).status).toBe(404);
    const events = await route(h.deps, { method: 'GET', path: `/groups/${g.groupId}/events` });
    expect(JSON.stringify(events.body)).toContain('preserved-writes-removed');
  }, 180_000);

  it('a removal that dies after unlisting the item is finished by the next call', async () => {
    const { g, east, last, preserved, refs } = await preservedGroup();
    const isUnlisting = (c: ControlCall) =>
      c.commandName === 'UpdateItemCommand' &&
      String(c.input.ConditionExpression).includes('recoveryPoints = :old') &&
      !JSON.stringify(c.input).includes('"lastRp"');
    let armed = false;
    hookControl(h, `dieAfterUnlist-${g.groupId}`, {
      after: async (c) => {
        if (armed && isUnlisting(c)) {
          armed = false;
          throw new Error('process died');
        }
      },
    });
    armed = true;
    expect((await del(g.groupId, preserved.id)).status).toBe(500);
    expect(armed).toBe(false);
    // Unlisted: no read or clone starts on it; its data is still there.
    expect((await listRecoveryPoints(h.deps, g.groupId)).map((r) => r.id)).not.toContain(preserved.id);
    for (const ref of refs) expect(await versionExists('east', east, ref)).toBe(true);

    expect((await del(g.groupId, preserved.id)).status).toBe(204);
    expect(await h.deps.table.get(keys.recoveryPoint(g.groupId, preserved.number))).toBeUndefined();
    for (const ref of refs.filter(([i]) => i === 2 || i === 6))
      expect(await versionExists('east', east, ref)).toBe(false);
    expect((await listRecoveryPoints(h.deps, g.groupId)).map((r) => r.id)).toContain(last);
  }, 180_000);
});
