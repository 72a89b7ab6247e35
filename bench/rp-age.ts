/**
 * RP age under a steady write load, in continuous and in scheduled mode: the age of the newest
 * committed RP (now minus its cut time), sampled every second, beside the duration of each
 * sync (its start to its commit: in continuous mode the next sync starts as one ends, so the
 * age peaks at about two durations). The replication runtime runs as `volmirror up` runs it,
 * with the default lease, whose renewal is when a gateway sees a cut request.
 */

import { LocalRuntime } from '../local/runtime';
import { LocalStack } from '../local/stack';
import { buildClients } from '../shared/aws/clients';
import { buildDeps, type Deps } from '../shared/deps';
import type { SyncJob, SyncMode } from '../shared/domain/model';
import { Gateway } from '../shared/gateway/gateway';
import { patchGroup } from '../shared/usecases/groups';
import { listRecoveryPoints } from '../shared/usecases/recovery-points';
import { CHUNK, chunkData, mirrored } from './workload';

const VOLUME_CHUNKS = 256;
const WRITE_EVERY_MS = 100;
const SCHEDULED_INTERVAL_SECONDS = 10;

export interface RpAgeRun {
  row: Record<string, string | number>;
  /** [seconds since the load started, RP age in seconds]. */
  ages: [number, number][];
}

const quantile = (sorted: number[], q: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const round1 = (x: number) => Math.round(x * 10) / 10;

export async function rpAge(mode: SyncMode, seconds: number): Promise<RpAgeRun> {
  const stack = await LocalStack.start({ topology: 'per-site' });
  const clients = buildClients(stack.config);
  const deps = buildDeps(stack.config, clients);
  const runtime = new LocalRuntime(deps, { tickMs: 200, syncPollMs: 50 }).start();
  try {
    const g = await mirrored(deps, VOLUME_CHUNKS * CHUNK);
    await setMode(deps, g.groupId, mode);
    await newestRp(deps, g.groupId, 120_000);
    const gw = await Gateway.open(deps, g.primary);
    const started = Date.now();
    const until = started + seconds * 1000;
    let writes = 0;
    const load = (async () => {
      for (let i = 0; i < 1_000_000 && Date.now() < until; i++) {
        const chunk = (i * 7919) % VOLUME_CHUNKS;
        await gw.write(g.primary, chunk * CHUNK, chunkData(chunk, i + 1));
        writes++;
        await new Promise((r) => setTimeout(r, WRITE_EVERY_MS));
      }
    })();
    const ages: [number, number][] = [];
    const cuts = new Map<string, number>();
    for (let s = 1; s <= seconds; s++) {
      await new Promise((r) => setTimeout(r, started + s * 1000 - Date.now()));
      const now = Date.now();
      for (const rp of await listRecoveryPoints(deps, g.groupId)) cuts.set(rp.id, Date.parse(rp.cutAt));
      const newest = Math.max(...cuts.values());
      ages.push([s, (now - newest) / 1000]);
    }
    await load;
    await gw.close();
    const jobs = await deps.table.queryPrefix<SyncJob>(`GRP#${g.groupId}`, 'SYNC#');
    const durations = jobs
      .filter((j) => j.committedAt && Date.parse(j.startedAt) >= started)
      .map((j) => (Date.parse(j.committedAt as string) - Date.parse(j.startedAt)) / 1000)
      .sort((a, b) => a - b);
    const sortedAges = ages.map(([, a]) => a).sort((a, b) => a - b);
    const p99 = quantile(sortedAges, 0.99);
    const medianSync = quantile(durations, 0.5);
    return {
      row: {
        mode: mode === 'scheduled' ? `scheduled, every ${SCHEDULED_INTERVAL_SECONDS} s` : mode,
        'load (64 KiB writes/s)': round1(writes / seconds),
        'seconds sampled': seconds,
        'RP age p50 (s)': round1(quantile(sortedAges, 0.5)),
        'RP age p99 (s)': round1(p99),
        'RPs committed': durations.length,
        'sync duration p50 (s)': round1(medianSync),
        'sync duration p99 (s)': round1(quantile(durations, 0.99)),
        'RP age p99 / sync duration p50': round1(p99 / medianSync),
      },
      ages,
    };
  } finally {
    await runtime.stop();
    clients.destroy();
    await stack.stop();
  }
}

async function setMode(deps: Deps, groupId: string, mode: SyncMode): Promise<void> {
  await patchGroup(deps, groupId, { sync: { mode, intervalSeconds: SCHEDULED_INTERVAL_SECONDS } });
}

/** Waits (bounded) for the group's first RP: the initial sync of the new pair. */
async function newestRp(deps: Deps, groupId: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await listRecoveryPoints(deps, groupId)).length === 0) {
    if (Date.now() > deadline) throw new Error('no initial RP');
    await new Promise((r) => setTimeout(r, 200));
  }
}
