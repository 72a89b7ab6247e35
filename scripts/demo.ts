/**
 * The main job, end to end on the embedded stack: two volumes of different sizes in one
 * consistency group, a random + hot-spot workload while scheduled syncs run, a checksum
 * check of both volumes at every recovery point at both sites, and a summary.
 *   npm run demo [-- --seconds 40 --interval 4 --endpoint http://127.0.0.1:4566]
 *   npm run demo -- --failover   (site loss, forced promotion, return, failback: demo-failover.ts)
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { interactiveLogger } from '../lambdas/observability';
import { LocalApiServer } from '../local/http-server';
import { LocalRuntime } from '../local/runtime';
import { LocalStack } from '../local/stack';
import { buildClients, RequestCounter } from '../shared/aws/clients';
import { buildDeps } from '../shared/deps';
import { formatBytes } from '../shared/domain/sizes';
import { Gateway } from '../shared/gateway/gateway';
import type { GroupView, PairView } from '../shared/usecases/groups';
import { checksumVolume } from '../shared/usecases/reads';
import type { RecoveryPointView } from '../shared/usecases/recovery-points';
import type { SyncView } from '../shared/usecases/sync/index';
import type { VolumeView } from '../shared/usecases/volumes';
import { failoverDemo } from './demo-failover';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '40' },
    interval: { type: 'string', default: '4' },
    endpoint: { type: 'string' },
    failover: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(values.seconds);
const INTERVAL = Number(values.interval);
const CHUNK = 64 * 1024;
const VOLUMES = [
  { name: 'orders-db', sizeBytes: 16 * 1024 * 1024 },
  { name: 'orders-log', sizeBytes: 4 * 1024 * 1024 },
];

const log = (msg: string) => console.log(`${new Date().toISOString().slice(11, 19)}  ${msg}`);

async function main(): Promise<number> {
  log(
    values.endpoint
      ? `using the endpoint ${values.endpoint} for both sites (east, west) and the control table`
      : 'starting the embedded stack: an emulator per site (east, west) and one for the control table',
  );
  const stack = await LocalStack.start({ leaseSeconds: 5, endpoint: values.endpoint });
  const clients = buildClients(stack.config);
  const counter = new RequestCounter().attach(clients);
  const deps = buildDeps(stack.config, clients);
  const runtime = new LocalRuntime(deps, {
    copyWorkers: 4,
    tickMs: 250,
    logger: interactiveLogger(),
  }).start();
  const token = randomBytes(16).toString('hex');
  const api = await LocalApiServer.start(deps, token);
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.json()) as T & { error?: { message: string } };
    if (!res.ok) throw new Error(`${method} ${path}: ${json.error?.message}`);
    return json;
  };
  let failures = 0;
  try {
    // Manual until both pairs are in: a scheduled sync that starts between the two pair adds
    // (a slow endpoint makes that likely) refuses the second one.
    const group = await call<GroupView>('POST', '/groups', {
      name: 'orders',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'manual' },
      thresholds: { recoveryPointAgeAlertSeconds: INTERVAL * 5 },
    });
    const pairs: { primary: string; secondary: string; sizeBytes: number; name: string }[] = [];
    for (const v of VOLUMES) {
      const vol = await call<VolumeView>('POST', '/volumes', {
        name: v.name,
        site: 'east',
        sizeBytes: v.sizeBytes,
        chunkSizeBytes: CHUNK,
      });
      const pair = await call<PairView>('POST', `/groups/${group.id}/pairs`, { primaryVolumeId: vol.id });
      pairs.push({
        primary: vol.id,
        secondary: pair.secondaryVolumeId,
        sizeBytes: v.sizeBytes,
        name: v.name,
      });
      log(
        `pair ${v.name}: ${vol.id} (east, ${formatBytes(v.sizeBytes)}) -> ${pair.secondaryVolumeId} (west)`,
      );
    }
    await call<GroupView>('PATCH', `/groups/${group.id}`, {
      sync: { mode: 'scheduled', intervalSeconds: INTERVAL },
    });
    log(`group ${group.id}: scheduled sync every ${INTERVAL}s`);

    const gw = await Gateway.open(deps, pairs[0].primary);
    let bytesWritten = 0;
    let writes = 0;
    let seed = 1;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    // Lay down a base image first, so the initial sync has a real volume to copy.
    await gw.write(pairs[0].primary, 0, randomBytes(6 * 1024 * 1024));
    await gw.write(pairs[1].primary, 0, randomBytes(1024 * 1024));
    bytesWritten += 7 * 1024 * 1024;
    const deadline = Date.now() + SECONDS * 1000;
    const lanes = Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
        const p = pairs[rand(10) < 7 ? 0 : 1];
        const hot = rand(10) < 7;
        const span = hot ? 256 * 1024 : p.sizeBytes;
        const length = 4096 * (1 + rand(32));
        const offset = Math.min(p.sizeBytes - length, 4096 * rand(span / 4096));
        await gw.write(p.primary, offset, randomBytes(length));
        bytesWritten += length;
        writes++;
      }
    });

    const verified = new Set<string>();
    let replicated = 0;
    let rpMismatches = 0;
    const verifyLoop = async () => {
      for (let i = 0; i < 10_000 && (Date.now() < deadline + 30_000 || verified.size === 0); i++) {
        const g = await call<GroupView>('GET', `/groups/${group.id}`);
        if (g.activeSyncId) {
          const s = await call<SyncView>('GET', `/groups/${group.id}/syncs/${g.activeSyncId}`);
          if (s.chunksTotal > 0 && process.stdout.isTTY) {
            process.stdout.write(
              `\r          sync ${s.syncId} (${s.phase}): ${s.chunksCopied}/${s.chunksTotal} chunks   `,
            );
          }
        }
        const rps = await call<RecoveryPointView[]>('GET', `/groups/${group.id}/recovery-points`);
        for (const rp of [...rps].reverse()) {
          if (verified.has(rp.id)) continue;
          verified.add(rp.id);
          replicated += rp.bytes;
          const sums = await Promise.all(
            pairs.flatMap((p) => [
              checksumVolume(deps, p.primary, rp.id),
              checksumVolume(deps, p.secondary, rp.id),
            ]),
          );
          const match = pairs.every((_, j) => sums[2 * j].sha256 === sums[2 * j + 1].sha256);
          if (!match) rpMismatches++;
          if (process.stdout.isTTY) process.stdout.write('\r');
          log(
            `${rp.id} committed (cut epoch ${rp.epoch}, ${formatBytes(rp.bytes)} copied): ` +
              pairs.map((p, j) => `${p.name} ${sums[2 * j].sha256.slice(0, 12)}`).join(', ') +
              (match ? '  east == west ✓' : '  MISMATCH ✗'),
          );
        }
        if (
          Date.now() > deadline &&
          writes > 0 &&
          !g.activeSyncId &&
          g.lastRecoveryPoint &&
          verified.size > 1
        ) {
          const last = rps[0];
          if (last && Date.parse(last.cutAt) > deadline) break;
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    };
    const verifying = verifyLoop();
    await Promise.all(lanes);
    await gw.close();
    log(
      `workload done: ${writes} writes, ${formatBytes(bytesWritten)}; waiting for the last RP to take everything`,
    );
    await verifying;

    const g = await call<GroupView>('GET', `/groups/${group.id}`);
    const rps = await call<RecoveryPointView[]>('GET', `/groups/${group.id}/recovery-points`);
    const liveMatches = await Promise.all(
      pairs.map(async (p) => {
        const [live, rp] = await Promise.all([
          checksumVolume(deps, p.primary),
          checksumVolume(deps, p.secondary),
        ]);
        return live.sha256 === rp.sha256;
      }),
    );
    failures += rpMismatches + (liveMatches.every(Boolean) ? 0 : 1);
    console.log('\nSummary');
    console.table({
      'recovery points committed': { value: verified.size },
      'RPs verified (both volumes, both sites)': { value: verified.size - rpMismatches },
      'RPs retained': { value: rps.length },
      'last RP age (s)': { value: g.recoveryPointAgeSeconds },
      'bytes written by the application': { value: formatBytes(bytesWritten) },
      'bytes replicated to west': { value: formatBytes(replicated) },
      'secondary == primary after the last RP': { value: liveMatches.every(Boolean) ? 'yes' : 'NO' },
      'S3 requests': { value: counter.total('s3') },
      'SQS requests': { value: counter.total('sqs') },
      'DynamoDB requests': { value: counter.total('dynamodb') },
      'group status': { value: g.status },
    });
    if (runtime.errors.length) console.log('runtime errors:', runtime.errors.slice(-5));
  } finally {
    await runtime.stop();
    await api.stop();
    clients.destroy();
    await stack.stop();
  }
  return failures === 0 ? 0 : 1;
}

(values.failover ? failoverDemo() : main()).then(
  (code) => process.exit(code),
  (e) => {
    console.error(`demo failed: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  },
);
