/**
 * Initial-sync copy throughput against a bare copy loop of the same chunk versions at the same
 * concurrency, on the same emulators: streamed (per-site: GET from the primary, PUT into the
 * secondary) or server-side (one shared S3 service: CopyObject). The emulator's speed drifts
 * between runs by more than the differences measured, so each row is several rounds, each a
 * sync and a bare loop of its own volume back to back, in alternating order; the row reports the
 * median ratio and every round's.
 */

import type { Topology } from '../local/stack';
import { keys } from '../shared/aws/keys';
import type { Deps } from '../shared/deps';
import { copyLanes } from '../shared/domain/group-rules';
import type { Group } from '../shared/domain/model';
import { Gateway } from '../shared/gateway/gateway';
import { COPIES_IN_FLIGHT } from '../shared/tuning';
import { bareCopyLoop, chunkVersions } from './bare-copy';
import { ingestAll, syncByHand, syncByRuntime, type TimedSync } from './driver';
import { CHUNK, MiB, mirrored, range, writeChunks } from './workload';

/** The lanes a medium-priority sync keeps in flight, one worker each. */
export const COPY_WORKERS = copyLanes('medium');
/** The copies a medium-priority sync keeps in flight, and so the bare loop's concurrency. */
export const SYNC_COPIES = COPY_WORKERS * COPIES_IN_FLIGHT;
export const THROUGHPUT_ROUNDS = 3;

export type Driven = 'by hand' | 'runtime';

export interface ThroughputEnv {
  deps: Deps;
  stop(): Promise<void>;
}

interface Round {
  sync: TimedSync;
  baselineMs: number;
}

export async function throughputAndMemory(
  env: (t: Topology) => Promise<ThroughputEnv>,
  topology: Topology,
  chunks: number,
  driven: Driven,
  rounds = THROUGHPUT_ROUNDS,
): Promise<Record<string, unknown>> {
  const e = await env(topology);
  try {
    const groups = [];
    for (let r = 0; r < rounds; r++) {
      const g = await mirrored(e.deps, chunks * CHUNK);
      const gw = await Gateway.open(e.deps, g.primary);
      await writeChunks(gw, g.primary, range(chunks), 64, 4);
      await gw.close();
      groups.push(g);
    }
    await ingestAll(e.deps, 'east');

    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const measured: Round[] = [];
    for (const [r, g] of groups.entries()) {
      const sync = async () => {
        const sampler = setInterval(() => {
          const m = process.memoryUsage();
          peakRss = Math.max(peakRss, m.rss);
          peakHeap = Math.max(peakHeap, m.heapUsed);
        }, 20);
        try {
          return driven === 'runtime'
            ? await syncByRuntime(e.deps, g.groupId, COPY_WORKERS)
            : await timedSyncByHand(e.deps, g.groupId);
        } finally {
          clearInterval(sampler);
        }
      };
      const baseline = async () =>
        bareCopyLoop(e.deps, g.primary, await chunkVersions(e.deps, g.primary), `baseline-${r}`, SYNC_COPIES);
      if (r % 2 === 0) {
        const s = await sync();
        measured.push({ sync: s, baselineMs: await baseline() });
      } else {
        const b = await baseline();
        measured.push({ sync: await sync(), baselineMs: b });
      }
    }

    const mib = (chunks * CHUNK) / MiB;
    const rate = (ms: number) => mib / (ms / 1000);
    const toRp = measured.map((m) => m.baselineMs / m.sync.committedMs);
    const whole = measured.map((m) => m.baselineMs / m.sync.finishedMs);
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' / ');
    return {
      copy: topology === 'shared' ? 'server-side (CopyObject)' : 'streamed (GET -> PUT)',
      'volume data': `${mib} MiB (${chunks} chunks)`,
      'sync driven':
        driven === 'runtime' ? `as volmirror up runs it (${COPY_WORKERS} copy workers)` : 'by hand',
      'volmirror MiB/s to the RP committed': median(measured.map((m) => rate(m.sync.committedMs))).toFixed(1),
      'volmirror MiB/s with the clean-up': median(measured.map((m) => rate(m.sync.finishedMs))).toFixed(1),
      'bare loop MiB/s': median(measured.map((m) => rate(m.baselineMs))).toFixed(1),
      'median ratio to the RP committed': median(toRp).toFixed(2),
      'median ratio with the clean-up': median(whole).toFixed(2),
      'rounds, ratio to the RP committed': list(toRp),
      'rounds, ratio with the clean-up': list(whole),
      'peak RSS growth during syncs (MiB)': ((peakRss - base.rss) / MiB).toFixed(1),
      'peak heap growth during syncs (MiB)': ((peakHeap - base.heapUsed) / MiB).toFixed(1),
    };
  } finally {
    await e.stop();
  }
}

async function timedSyncByHand(deps: Deps, groupId: string): Promise<TimedSync> {
  const t0 = Date.now();
  const recoveryPointId = await syncByHand(deps, groupId, 'east', 'west');
  const finishedMs = Date.now() - t0;
  const group = await deps.table.get<Group>(keys.group(groupId));
  const committedAt = group?.lastRp?.committedAt;
  if (!committedAt) throw new Error(`${recoveryPointId} has no commit time`);
  return { recoveryPointId, committedMs: Date.parse(committedAt) - t0, finishedMs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}
