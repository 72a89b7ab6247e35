import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinkProxy } from '../../local/link-proxy';
import { buildClients, type Clients } from '../../shared/aws/clients';
import type { ControlTable } from '../../shared/aws/control-table';
import { keys } from '../../shared/aws/keys';
import { Queue } from '../../shared/aws/queues';
import type { MirrorConfig } from '../../shared/config';
import { buildDeps, type Deps } from '../../shared/deps';
import type { Barrier, ChunkRef, Group, SyncJob } from '../../shared/domain/model';
import { Gateway } from '../../shared/gateway/gateway';
import { listEvents } from '../../shared/usecases/events';
import { startSync } from '../../shared/usecases/sync/index';
import {
  chunkWriteCounter,
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';
import { readAll, WriteLog } from '../support/workload';

const CHUNK = 64 * 1024;
// Long enough that renewals keep up on a loaded machine, short enough for takeovers in a test.
const LEASE_SECONDS = 4;

const portOf = (url: string | undefined) => Number(new URL(url ?? '').port);

/**
 * A second process's view of the stack: its own clients, whose east-site traffic (and, when
 * asked, control-table traffic) goes through link proxies of its own that can be stalled.
 */
async function isolatedDeps(h: Harness, opts: { table?: boolean } = {}) {
  const east = h.stack.config.sites.find((s) => s.name === 'east');
  const s3Link = await LinkProxy.start(portOf(east?.endpoint));
  const tableLink = opts.table ? await LinkProxy.start(portOf(h.stack.config.control.endpoint)) : undefined;
  const config: MirrorConfig = {
    ...h.stack.config,
    control: { ...h.stack.config.control, ...(tableLink && { endpoint: tableLink.url }) },
    sites: h.stack.config.sites.map((s) => (s.name === 'east' ? { ...s, endpoint: s3Link.url } : s)),
  };
  const clients: Clients = buildClients(config);
  const deps: Deps = buildDeps(config, clients);
  const links = [s3Link, ...(tableLink ? [tableLink] : [])];
  return {
    deps,
    stall: () => {
      for (const l of links) l.stall();
    },
    release: () => {
      for (const l of links) l.release();
    },
    async stop() {
      clients.destroy();
      await Promise.all(links.map((l) => l.stop()));
    },
  };
}

const codeOf = (e: unknown) => (e as { code?: string }).code;

async function syncJobAndWait(h: Harness, groupId: string): Promise<{ rp: string; job: SyncJob }> {
  const { syncId } = await startSync(h.deps, groupId);
  h.runtime?.drive(groupId, syncId);
  await syncAndWaitFor(h, groupId, syncId);
  const job = await h.deps.table.get<SyncJob>(keys.sync(groupId, syncId));
  if (!job) throw new Error(`sync ${syncId} is gone`);
  return { rp: job.rpId, job };
}

async function syncAndWaitFor(h: Harness, groupId: string, syncId: string): Promise<void> {
  await waitFor(
    `sync ${syncId} to commit`,
    async () => {
      const job = await h.deps.table.get<SyncJob>(keys.sync(groupId, syncId));
      if (job?.state === 'failed') throw new Error(`sync failed: ${job.error}`);
      return job?.state === 'committed';
    },
    60_000,
  );
}

async function chunksOf(h: Harness, key: string): Promise<ChunkRef[]> {
  const out: ChunkRef[] = [];
  for await (const ref of h.deps.stores.east.readManifest(key)) out.push(ref);
  return out;
}

describe('fencing', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ leaseSeconds: LEASE_SECONDS });
    startRuntime(h);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('a gateway that lost its lease never lands a write after a newer session acknowledged one to the same chunk', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const link = await isolatedDeps(h, { table: true });
    try {
      const a = await Gateway.open(link.deps, vol, { renewEveryMs: 100 });
      await a.write(vol, 0, randomBytesOf(CHUNK, 1));
      // A's PUT is held on the wire, and so are its renewals: its lease runs out.
      link.stall();
      let aAcked = false;
      const aWrite = a.write(vol, 0, randomBytesOf(CHUNK, 2)).then(() => {
        aAcked = true;
      });
      const aSettled = aWrite.catch((e: unknown) => e);
      const b = await waitFor(
        'gateway B to take the lease over',
        async () => {
          try {
            return await openGateway(h, vol);
          } catch (e) {
            if (codeOf(e) === 'lease-held') return false;
            throw e;
          }
        },
        15_000,
      );
      expect(b.currentEpoch).toBeGreaterThan(a.currentEpoch);
      const bBytes = randomBytesOf(CHUNK, 3);
      await b.write(vol, 0, bBytes);
      // The stalled bytes of A now reach S3 if A still had a request waiting for them.
      link.release();
      expect(codeOf(await aSettled)).toBe('lease-lost');
      expect(aAcked).toBe(false);
      await b.write(vol, CHUNK, randomBytesOf(10, 4));
      const live = await h.deps.stores.east.getChunk(vol, 0);
      expect(Buffer.from(live ?? []).equals(Buffer.from(bBytes))).toBe(true);
      await b.close();
      a.abandon();
      const rp = await syncAndWait(h, g.groupId);
      expect((await readAll(h, g.secondaries[0], rp)).subarray(0, CHUNK).equals(Buffer.from(bBytes))).toBe(
        true,
      );
    } finally {
      await link.stop();
    }
  });

  it('a cut waiting for a slow write does not stop lease renewal, and is answered once the write lands', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const link = await isolatedDeps(h);
    try {
      const gw = await Gateway.open(link.deps, vol, { renewEveryMs: 100 });
      await gw.write(vol, 0, randomBytesOf(CHUNK, 5));
      link.stall();
      const slow = gw.write(vol, 0, randomBytesOf(CHUNK, 6));
      const cutRequest = 'sync-fencingtest01';
      await h.deps.table.update(keys.group(g.groupId), { set: { cutRequest } });
      const leaseNow = async () =>
        (await h.deps.table.get<Group>(keys.group(g.groupId)))?.lease?.expiresAt ?? 0;
      const before = await leaseNow();
      await waitFor(
        'the lease to be renewed while the cut waits',
        async () => (await leaseNow()) > before + 600,
        2_000,
      );
      link.release();
      await slow;
      const done = await waitFor('the cut to be answered', async () => {
        const group = await h.deps.table.get<Group>(keys.group(g.groupId));
        return group?.cutDone?.syncId === cutRequest && group.cutDone;
      });
      const barrier = await h.deps.table.get<Barrier>(keys.barrier(g.groupId, done.epoch));
      expect(barrier?.batches).toBeGreaterThanOrEqual(1);
      expect(gw.currentEpoch).toBe(done.epoch + 1);
      await gw.close();
    } finally {
      await link.stop();
    }
  });

  it('a failed barrier write is retried until it lands', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    let failures = 2;
    const flaky = Object.create(h.deps.table) as ControlTable;
    flaky.put = (key, item, condition) => {
      if (key.sk.startsWith('BARRIER#') && failures > 0) {
        failures--;
        return Promise.reject(new Error('injected: the control table is briefly unreachable'));
      }
      return h.deps.table.put(key, item, condition);
    };
    const gw = await Gateway.open({ ...h.deps, table: flaky }, vol, { renewEveryMs: 100 });
    const epoch = gw.currentEpoch;
    await gw.write(vol, 0, randomBytesOf(CHUNK, 7));
    await gw.close();
    expect(failures).toBe(0);
    const barrier = await h.deps.table.get<Barrier>(keys.barrier(g.groupId, epoch));
    expect(barrier).toMatchObject({ epoch, session: gw.session, batches: 1 });
    expect((await h.deps.table.get<Group>(keys.group(g.groupId)))?.lease).toBeUndefined();
  });

  it('a write after close() is refused with gateway-closed, and a zero-length write returns at once', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const gw = await openGateway(h, vol);
    const sent = gw.messagesSent;
    const empty = await Promise.race([
      gw.write(vol, 100, new Uint8Array(0)).then(() => 'returned'),
      new Promise((r) => setTimeout(() => r('still waiting'), 2_000)),
    ]);
    expect(empty).toBe('returned');
    expect(gw.messagesSent).toBe(sent);
    await gw.write(vol, 0, randomBytesOf(100, 8));
    await gw.close();
    const written = gw.chunkWrites;
    await expect(gw.write(vol, 0, randomBytesOf(100, 9))).rejects.toMatchObject({
      status: 409,
      code: 'gateway-closed',
    });
    expect(gw.chunkWrites).toBe(written);
  });

  it('a member list that moved is reloaded on renewal: the removed volume is refused, the others go on', async () => {
    const g = await mirroredGroup(h, [
      { sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK },
      { sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK },
    ]);
    const [kept, removed] = g.primaries;
    const gw = await openGateway(h, kept);
    await gw.write(removed, 0, randomBytesOf(100, 10));
    // The pair removal as the gateway sees it: the pair item goes and membersVersion moves.
    await h.deps.table.delete(keys.pair(g.groupId, removed));
    await h.deps.table.update(keys.group(g.groupId), { add: { membersVersion: 1 } });
    await waitFor(
      'writes to the removed volume to be refused',
      async () => {
        try {
          await gw.write(removed, 0, randomBytesOf(100, 11));
          return false;
        } catch (e) {
          return codeOf(e) === 'not-in-scope';
        }
      },
      5_000,
    );
    await gw.write(kept, 0, randomBytesOf(100, 12));
    const group = await h.deps.table.get<Group>(keys.group(g.groupId));
    expect(group?.lease?.holder).toBe(gw.session);
    await gw.close();
  });

  it('a gateway that dies without closing its epoch: the sync scans, and the RP equals the image, copying only changed chunks', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const log = new WriteLog();
    const first = await openGateway(h, vol);
    for (let i = 0; i < 8; i++) await log.issue(first, vol, i * CHUNK, randomBytesOf(CHUNK, 20 + i));
    await first.close();
    await syncAndWait(h, g.groupId);
    const gw = await openGateway(h, vol);
    for (const i of [2, 3, 9]) await log.issue(gw, vol, i * CHUNK + 7, randomBytesOf(500, 40 + i));
    gw.abandon();
    const west = chunkWriteCounter(h, 'west');
    const { rp, job } = await syncJobAndWait(h, g.groupId);
    expect(job.scan).toBe(true);
    expect(job.scanManifests?.[vol]).toBeDefined();
    expect(
      (await readAll(h, g.secondaries[0], rp)).equals(log.imageAt(vol, 16 * CHUNK, Number.MAX_SAFE_INTEGER)),
    ).toBe(true);
    expect(west.count()).toBe(3);
    expect((await listEvents(h.deps, g.groupId)).map((e) => e.kind)).toContain('epoch-recovered');
    // The next writer starts after every epoch the dead one could have used.
    const next = await openGateway(h, vol);
    expect(next.currentEpoch).toBeGreaterThan(gw.currentEpoch);
    await next.close();
  });

  it('an acknowledged write whose change message never reaches ingest: after the tracking timeout the sync scans', async () => {
    h.deps.config.trackingTimeoutSeconds = 1;
    const g = await mirroredGroup(h, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const first = await openGateway(h, vol);
    await first.write(vol, 0, randomBytesOf(6 * CHUNK, 60));
    await first.close();
    await syncAndWait(h, g.groupId);
    // The first change message goes where no ingest reads it, as a dead-lettered one would.
    const dead = new Queue(
      h.clients.sites.east.sqs,
      await Queue.create(h.clients.sites.east.sqs, `dead-${g.groupId}`, 30),
    );
    const real = h.deps.changeQueues.east;
    let diverted = 0;
    const diverting = Object.create(real) as Queue;
    diverting.send = (body, signal) => (diverted++ === 0 ? dead.send(body, signal) : real.send(body, signal));
    const gw = await Gateway.open(
      { ...h.deps, changeQueues: { ...h.deps.changeQueues, east: diverting } },
      vol,
      {
        renewEveryMs: 100,
      },
    );
    const lostBytes = randomBytesOf(CHUNK, 61);
    await gw.write(vol, 4 * CHUNK, lostBytes);
    await gw.write(vol, 10 * CHUNK, randomBytesOf(CHUNK, 62));
    await gw.close();
    expect(diverted).toBe(2);
    const { syncId } = await startSync(h.deps, g.groupId);
    h.runtime?.drive(g.groupId, syncId);
    const job = await waitFor(
      'the sync to take a scanned cut',
      async () => {
        const j = await h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
        return j?.scan && j.scanManifests ? j : false;
      },
      20_000,
    );
    const scanned = new Map(await chunksOf(h, job.scanManifests?.[vol] ?? ''));
    const latest = new Map<number, string>();
    for await (const [i, v] of h.deps.stores.east.listChunks(vol)) latest.set(i, v);
    expect(scanned).toEqual(latest);
    expect([...scanned.keys()]).toEqual([0, 1, 2, 3, 4, 5, 10]);
    await syncAndWaitFor(h, g.groupId, syncId);
  });
  it('a scan requested of a live gateway: writes are held while it lists, and the cut holds exactly the acknowledged writes', async () => {
    h.deps.config.trackingTimeoutSeconds = 1;
    const g = await mirroredGroup(h, [{ sizeBytes: 16 * CHUNK, chunkSizeBytes: CHUNK }]);
    const vol = g.primaries[0];
    const real = h.deps.changeQueues.east;
    const dead = new Queue(
      h.clients.sites.east.sqs,
      await Queue.create(h.clients.sites.east.sqs, `dead-live-${g.groupId}`, 30),
    );
    let sends = 0;
    const diverting = Object.create(real) as Queue;
    diverting.send = (body, signal) => (sends++ === 0 ? dead.send(body, signal) : real.send(body, signal));
    const gw = await Gateway.open(
      { ...h.deps, changeQueues: { ...h.deps.changeQueues, east: diverting } },
      vol,
      {
        renewEveryMs: 100,
      },
    );
    const log = new WriteLog();
    await log.issue(gw, vol, 0, randomBytesOf(3 * CHUNK, 70));
    await log.issue(gw, vol, 5 * CHUNK, randomBytesOf(CHUNK, 71));
    const { syncId } = await startSync(h.deps, g.groupId);
    h.runtime?.drive(g.groupId, syncId);
    // Writes go on while the sync waits out the tracking timeout and asks for the scan.
    let seed = 80;
    const job = await waitFor(
      'the gateway to answer with a scanned cut',
      async () => {
        await log.issue(gw, vol, (seed % 4) * CHUNK + 11, randomBytesOf(300, seed++));
        const j = await h.deps.table.get<SyncJob>(keys.sync(g.groupId, syncId));
        return j?.scan && j.scanManifests && j.cutEpoch !== undefined ? j : false;
      },
      20_000,
    );
    const cutEpoch = job.cutEpoch ?? -1;
    expect(gw.currentEpoch).toBeGreaterThan(cutEpoch);
    await log.issue(gw, vol, 7 * CHUNK, randomBytesOf(CHUNK, 99));
    // The scanned manifest is the image at the cut: every write of epochs <= cut, none after.
    const image = Buffer.alloc(16 * CHUNK);
    for (const [i, v] of await chunksOf(h, job.scanManifests?.[vol] ?? '')) {
      const bytes = await h.deps.stores.east.getChunk(vol, i, v);
      image.set(bytes ?? [], i * CHUNK);
    }
    expect(image.equals(log.imageAt(vol, 16 * CHUNK, cutEpoch))).toBe(true);
    expect(log.writes.some((w) => w.epoch > cutEpoch)).toBe(true);
    await gw.close();
    await syncAndWaitFor(h, g.groupId, syncId);
  });
});
