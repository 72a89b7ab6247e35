/**
 * The disaster-recovery half, end to end on the embedded stack: the east site is lost (its
 * network path cut for real), west is promoted by force, takes writes, east returns with its
 * unreplicated writes kept as preserved-writes, is resynced with deltas, and the roles fail back
 * to east with a planned change. Each resync's bytes copied are printed next to the chunks that
 * changed. Run by `npm run demo -- --failover`.
 */
import { LocalRuntime } from '../local/runtime';
import { LocalStack } from '../local/stack';
import { buildClients } from '../shared/aws/clients';
import { keys } from '../shared/aws/keys';
import { buildDeps, type Deps } from '../shared/deps';
import type { Group } from '../shared/domain/model';
import { formatBytes } from '../shared/domain/sizes';
import { Gateway } from '../shared/gateway/gateway';
import { createGroup } from '../shared/usecases/groups';
import { addPair } from '../shared/usecases/pairs';
import { checksumVolume } from '../shared/usecases/reads';
import { listRecoveryPoints } from '../shared/usecases/recovery-points';
import { requestRoleChange } from '../shared/usecases/roles';
import { getSync, startSync } from '../shared/usecases/sync/index';
import { createVolume } from '../shared/usecases/volumes';

const CHUNK = 64 * 1024;
const SIZE = 8 * 1024 * 1024;
const log = (msg: string) => console.log(`${new Date().toISOString().slice(11, 19)}  ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | false | undefined>, seconds = 60): Promise<T> {
  for (let i = 0; i < seconds * 5; i++) {
    const v = await probe();
    if (v) return v;
    await sleep(200);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Writes whole random chunks through a gateway; returns how many distinct chunks changed. */
async function writeChunks(deps: Deps, volumeId: string, count: number, seed: number): Promise<number> {
  const gw = await Gateway.open(deps, volumeId);
  const touched = new Set<number>();
  for (let i = 0; i < count; i++) {
    const chunk = (seed * 31 + i * 17) % (SIZE / CHUNK);
    touched.add(chunk);
    await gw.write(volumeId, chunk * CHUNK, Buffer.alloc(CHUNK, (seed + i) % 251));
  }
  await gw.close();
  return touched.size;
}

async function sync(deps: Deps, runtime: LocalRuntime, groupId: string, changed: string): Promise<string> {
  const { syncId, recoveryPointId } = await startSync(deps, groupId);
  runtime.drive(groupId, syncId);
  const s = await until(`${recoveryPointId}`, async () => {
    const v = await getSync(deps, groupId, syncId);
    if (v.state === 'failed') throw new Error(`sync failed: ${v.error}`);
    return v.state === 'committed' && v;
  });
  log(
    `${recoveryPointId}: copied ${s.chunksTotal} chunks (${formatBytes(s.bytesCopied)}); changed: ${changed}`,
  );
  return recoveryPointId;
}

export async function failoverDemo(): Promise<number> {
  log('starting the embedded stack: an emulator per site (east, west) and one for the control table');
  const stack = await LocalStack.start({ leaseSeconds: 3 });
  const clients = buildClients(stack.config);
  const deps = buildDeps(stack.config, clients);
  const runtime = new LocalRuntime(deps, { copyWorkers: 4, tickMs: 200 }).start();
  const group = async () => (await deps.table.get<Group>(keys.group(g.id))) as Group;
  const g = await createGroup(deps, { name: 'orders', primarySite: 'east', secondarySite: 'west' });
  try {
    const vol = await createVolume(deps, {
      name: 'orders-db',
      site: 'east',
      sizeBytes: SIZE,
      chunkSizeBytes: CHUNK,
    });
    const { secondaryVolumeId: west } = await addPair(deps, g.id, { primaryVolumeId: vol.id });
    const east = vol.id;
    const initial = await writeChunks(deps, east, 64, 1);
    await sync(deps, runtime, g.id, `${initial} chunks written at east (initial sync)`);
    await sync(deps, runtime, g.id, `${await writeChunks(deps, east, 10, 2)} chunks written at east`);

    const lost = await writeChunks(deps, east, 5, 3);
    log(`east took ${lost} more chunks of writes, then its site is lost (network path cut)`);
    stack.cut('east');
    await requestRoleChange(deps, g.id, { site: 'west', role: 'primary', force: true });
    log('forced promotion of west requested; waiting out east write lease');
    const promoted = await until('west promoted', async () => {
      const now = await group();
      return now.primarySite === 'west' && now.status === 'optimal' && now;
    });
    log(`west is primary at role epoch ${promoted.roleEpoch}, serving ${promoted.lastRp?.id} exactly`);
    const atWest = await writeChunks(deps, west, 12, 4);
    log(`west took ${atWest} chunks of writes`);

    stack.heal('east');
    log('east is back');
    await until('east writes preserved', async () => (await group()).preserveWrites === undefined);
    for (const rp of (await listRecoveryPoints(deps, g.id)).filter((r) => r.kind === 'preserved-writes')) {
      log(
        `kept: ${rp.id} kind ${rp.kind} at ${rp.site}, ${formatBytes(rp.bytes)} east wrote after its last RP`,
      );
    }
    await sync(
      deps,
      runtime,
      g.id,
      `${atWest} chunks at west, ${lost} chunks at east (restored locally at east)`,
    );

    await requestRoleChange(deps, g.id, { site: 'east', role: 'primary' });
    log('failback to east requested (planned)');
    await until('east primary again', async () => {
      const now = await group();
      return now.primarySite === 'east' && now.status === 'optimal';
    });
    log(`east is primary again at role epoch ${(await group()).roleEpoch}`);
    const last = await sync(
      deps,
      runtime,
      g.id,
      `${await writeChunks(deps, east, 6, 5)} chunks written at east`,
    );
    const [a, b] = await Promise.all([checksumVolume(deps, east, last), checksumVolume(deps, west, last)]);
    const same = a.sha256 === b.sha256;
    log(
      `${last}: east ${a.sha256.slice(0, 16)}… west ${b.sha256.slice(0, 16)}… ${same ? 'equal' : 'DIFFERENT'}`,
    );
    return same ? 0 : 1;
  } finally {
    await runtime.stop();
    clients.destroy();
    await stack.stop();
  }
}
