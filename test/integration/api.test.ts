import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApiServer } from '../../local/http-server';
import { Gateway } from '../../shared/gateway/gateway';
import { type Harness, startApi, startHarness, startRuntime, waitFor } from '../support/harness';

const CHUNK = 64 * 1024;

describe('REST API', () => {
  let h: Harness;
  let server: LocalApiServer;
  let token: string;
  const call = async (method: string, path: string, body?: unknown, auth = true) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(auth && { authorization: `Bearer ${token}` }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  /** Everything a refused request must leave unchanged. */
  const state = async () => {
    const volumes = (await call('GET', '/volumes')).body;
    const groups = (await call('GET', '/groups')).body;
    return JSON.stringify({
      volumes,
      groups: groups.map((g: { recoveryPointAgeSeconds?: number }) => ({ ...g, recoveryPointAgeSeconds: 0 })),
    });
  };

  beforeAll(async () => {
    h = await startHarness();
    startRuntime(h);
    ({ server, token } = await startApi(h));
  });
  afterAll(async () => {
    await server?.stop();
    await h?.stop();
  });

  it('serves health without auth and refuses everything else without the token', async () => {
    expect(await call('GET', '/health', undefined, false)).toEqual({ status: 200, body: { status: 'ok' } });
    const res = await call('GET', '/volumes', undefined, false);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
  });

  it('runs the whole job: volumes, group, pair, manual sync, status, recovery points, events', async () => {
    const a = await call('POST', '/volumes', {
      name: 'db',
      site: 'east',
      sizeBytes: '1MiB',
      chunkSizeBytes: '64KiB',
    });
    expect(a.status).toBe(201);
    expect(a.body.location).toMatchObject({ region: 'us-east-1', prefix: `volumes/${a.body.id}/chunks/` });
    const g = await call('POST', '/groups', {
      name: 'g',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'manual' },
    });
    expect(g.status).toBe(201);
    expect(g.body.roles).toEqual({ east: 'primary', west: 'secondary' });
    const pair = await call('POST', `/groups/${g.body.id}/pairs`, { primaryVolumeId: a.body.id });
    expect(pair.status).toBe(201);
    const secondary = await call('GET', `/volumes/${pair.body.secondaryVolumeId}`);
    expect(secondary.body).toMatchObject({
      site: 'west',
      sizeBytes: 1024 * 1024,
      role: 'secondary',
      groupId: g.body.id,
    });
    const gw = await Gateway.open(h.deps, a.body.id, { renewEveryMs: 100 });
    await gw.write(a.body.id, 1000, new Uint8Array(CHUNK).fill(7));
    await gw.close();
    const started = await call('POST', `/groups/${g.body.id}/sync`);
    expect(started.status).toBe(202);
    const again = await call('POST', `/groups/${g.body.id}/sync`);
    expect(again.status).toBe(409);
    const done = await waitFor('commit', async () => {
      const s = await call('GET', `/groups/${g.body.id}/syncs/${started.body.syncId}`);
      return s.body.state === 'committed' ? s.body : undefined;
    });
    expect(done).toMatchObject({
      chunksTotal: 2,
      chunksCopied: 2,
      bytesCopied: 2 * CHUNK,
      recoveryPointId: started.body.recoveryPointId,
    });
    const group = await call('GET', `/groups/${g.body.id}`);
    expect(group.body).toMatchObject({
      status: 'optimal',
      backlogBytes: 0,
      lastRecoveryPoint: { id: started.body.recoveryPointId },
    });
    expect(group.body.pairs[0].status).toBe('optimal');
    const rps = await call('GET', `/groups/${g.body.id}/recovery-points`);
    expect(rps.body.map((r: { id: string; kind: string }) => [r.id, r.kind])).toEqual([
      [started.body.recoveryPointId, 'recovery-point'],
    ]);
    const events = await call('GET', `/groups/${g.body.id}/events`);
    expect(events.body[0].kind).toBe('rp-committed');
    expect((await call('DELETE', `/volumes/${a.body.id}`)).status).toBe(409);
    expect((await call('DELETE', `/groups/${g.body.id}`)).status).toBe(409);
    expect((await call('POST', `/groups/${g.body.id}/suspend`)).body.status).toBe('user-suspended');
    expect((await call('POST', `/groups/${g.body.id}/sync`)).status).toBe(409);
    expect((await call('POST', `/groups/${g.body.id}/resume`)).body.status).toBe('optimal');
    expect((await call('PATCH', `/groups/${g.body.id}`, { priority: 'high' })).body.priority).toBe('high');
    // The gateway refuses to write a secondary volume.
    await expect(Gateway.open(h.deps, pair.body.secondaryVolumeId)).rejects.toMatchObject({
      code: 'secondary-volume',
    });
    expect((await call('DELETE', `/groups/${g.body.id}/pairs/${a.body.id}`)).status).toBe(204);
    expect((await call('DELETE', `/groups/${g.body.id}`)).status).toBe(204);
    expect((await call('DELETE', `/volumes/${a.body.id}`)).status).toBe(204);
  });

  it('refuses bad input with a clear 4xx and changes nothing', async () => {
    const p = await call('POST', '/volumes', {
      name: 'p',
      site: 'east',
      sizeBytes: 8 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    const small = await call('POST', '/volumes', {
      name: 's',
      site: 'west',
      sizeBytes: 4 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    const g = await call('POST', '/groups', { name: 'g2', primarySite: 'east', secondarySite: 'west' });
    const g3 = await call('POST', '/groups', { name: 'g3', primarySite: 'east', secondarySite: 'west' });
    const paired = await call('POST', '/volumes', {
      name: 'q',
      site: 'east',
      sizeBytes: 8 * CHUNK,
      chunkSizeBytes: CHUNK,
    });
    expect(
      (await call('POST', `/groups/${g3.body.id}/pairs`, { primaryVolumeId: paired.body.id })).status,
    ).toBe(201);
    const before = await state();
    const cases: [string, string, unknown, number, string][] = [
      ['POST', '/volumes', { name: 'x', site: 'east', sizeBytes: 'lots' }, 400, 'bad-input'],
      ['POST', '/volumes', { name: 'x', site: 'east', sizeBytes: 0 }, 400, 'bad-size'],
      [
        'POST',
        '/volumes',
        { name: 'x', site: 'east', sizeBytes: CHUNK + 1, chunkSizeBytes: CHUNK },
        400,
        'bad-size',
      ],
      [
        'POST',
        '/volumes',
        { name: 'x', site: 'east', sizeBytes: '1MiB', chunkSizeBytes: 3000 },
        400,
        'bad-chunk-size',
      ],
      ['POST', '/volumes', { name: '../x', site: 'east', sizeBytes: '1MiB' }, 400, 'bad-name'],
      ['POST', '/volumes', { name: 'x', site: 'mars', sizeBytes: '1MiB' }, 400, 'bad-site'],
      ['POST', '/volumes', '{not json', 400, 'bad-json'],
      ['GET', '/volumes/..%2F..%2Fetc', undefined, 400, 'bad-id'],
      ['GET', '/volumes/vol-a%2Fb', undefined, 400, 'bad-id'],
      ['GET', '/volumes/vol-000000000000', undefined, 404, 'volume-not-found'],
      ['GET', '/groups/grp-000000000000', undefined, 404, 'group-not-found'],
      ['POST', '/groups/grp-000000000000/sync', undefined, 404, 'group-not-found'],
      ['POST', '/groups', { name: 'g', primarySite: 'east', secondarySite: 'east' }, 400, 'same-site'],
      [
        'POST',
        '/groups',
        { name: 'g', primarySite: 'east', secondarySite: 'west', sync: { mode: 'often' } },
        400,
        'bad-sync',
      ],
      [
        'POST',
        `/groups/${g.body.id}/pairs`,
        { primaryVolumeId: p.body.id, secondaryVolumeId: small.body.id },
        400,
        'secondary-too-small',
      ],
      ['POST', `/groups/${g.body.id}/pairs`, { primaryVolumeId: paired.body.id }, 409, 'volume-in-pair'],
      ['POST', `/groups/${g.body.id}/pairs`, { primaryVolumeId: small.body.id }, 400, 'wrong-site'],
      ['POST', `/groups/${g.body.id}/pairs`, { primaryVolumeId: '../../x' }, 400, 'bad-id'],
      ['POST', `/groups/${g.body.id}/sync`, undefined, 409, 'group-empty'],
      ['PATCH', `/groups/${g.body.id}`, { roleEpoch: 9 }, 400, 'bad-input'],
      ['DELETE', `/groups/${g.body.id}/pairs/${p.body.id}`, undefined, 404, 'pair-not-found'],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await call(method, path, body);
      expect({ method, path, status: res.status, code: res.body?.error?.code }).toEqual({
        method,
        path,
        status,
        code,
      });
      expect(res.body.error.message.length).toBeGreaterThan(10);
    }
    expect(await state()).toBe(before);
  });
});
