/**
 * npm run bench: request counts per operation (deterministic), bytes copied, memory, and copy
 * throughput as a ratio against a plain SDK copy loop run side by side on the same emulators.
 *   npm run bench [-- --only batching|delta|throughput|startup]
 */

import { parseArgs } from 'node:util';
import { LocalStack, type Topology } from '../local/stack';
import { buildClients, RequestCounter } from '../shared/aws/clients';
import { buildDeps, type Deps } from '../shared/deps';
import { BULK_LINGER_MS, Gateway } from '../shared/gateway/gateway';
import { checksumVolume } from '../shared/usecases/reads';
import { ingestAll, syncByHand } from './driver';
import { cliStartup } from './startup';
import { CHUNK, MiB, mirrored, range, writeChunks } from './workload';

const DELTA_CHUNKS = 200;

interface Env {
  stack: LocalStack;
  deps: Deps;
  counter: RequestCounter;
  stop(): Promise<void>;
}

async function env(topology: Topology): Promise<Env> {
  const stack = await LocalStack.start({ topology, leaseSeconds: 30 });
  const clients = buildClients(stack.config);
  const counter = new RequestCounter().attach(clients);
  const deps = buildDeps(stack.config, clients);
  return {
    stack,
    deps,
    counter,
    async stop() {
      clients.destroy();
      await stack.stop();
    },
  };
}

async function batching(): Promise<Record<string, unknown>[]> {
  const e = await env('per-site');
  try {
    const g = await mirrored(e.deps, 2048 * CHUNK);
    const rows: Record<string, unknown>[] = [];
    for (const [label, perWrite, inFlight, lingerMs] of [
      ['50-chunk writes, 4 in flight, bulk linger (volume write)', 50, 4, BULK_LINGER_MS],
      ['50-chunk writes, 4 in flight, default linger', 50, 4, undefined],
      ['1-chunk writes, 64 in flight, default linger', 1, 64, undefined],
      ['1-chunk writes, 8 in flight, default linger', 1, 8, undefined],
    ] as const) {
      const gw = await Gateway.open(e.deps, g.primary, { lingerMs });
      const before = gw.messagesSent;
      const writesBefore = gw.chunkWrites;
      await writeChunks(gw, g.primary, range(1000), perWrite, inFlight);
      rows.push({
        scenario: label,
        'chunk writes': gw.chunkWrites - writesBefore,
        'SQS messages': gw.messagesSent - before,
        'messages per 1,000 chunk writes': Math.round(
          ((gw.messagesSent - before) * 1000) / (gw.chunkWrites - writesBefore),
        ),
      });
      await gw.close();
    }
    return rows;
  } finally {
    await e.stop();
  }
}

async function deltaSyncs(topology: Topology): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  for (const existing of [256, 2048]) {
    const e = await env(topology);
    try {
      // Volume size differs 64x and existing data 8x; the delta stays 200 chunks.
      const g = await mirrored(e.deps, existing * 32 * CHUNK);
      const gw = await Gateway.open(e.deps, g.primary);
      await writeChunks(gw, g.primary, range(existing), 64, 4);
      await gw.close();
      await syncByHand(e.deps, g.groupId, 'east', 'west');
      const gw2 = await Gateway.open(e.deps, g.primary);
      const delta = range(DELTA_CHUNKS).map((i) => (i * 7919) % existing);
      const unique = new Set(delta).size;
      await writeChunks(gw2, g.primary, delta, 1, 16);
      await gw2.close();
      await ingestAll(e.deps, 'east');
      const before = e.counter.snapshot();
      const rp = await syncByHand(e.deps, g.groupId, 'east', 'west');
      const s3 = e.counter.since(before, 's3');
      const row = {
        topology,
        'volume size': `${(existing * 32 * CHUNK) / MiB} MiB`,
        'existing chunks': existing,
        'changed chunks': unique,
        'S3 requests': s3,
        'S3 per changed chunk': (s3 / unique).toFixed(3),
        'S3 CopyObject': e.counter.since(before, 's3', 'CopyObjectCommand'),
        'S3 GetObject': e.counter.since(before, 's3', 'GetObjectCommand'),
        'S3 PutObject': e.counter.since(before, 's3', 'PutObjectCommand'),
        'DynamoDB requests': e.counter.since(before, 'dynamodb'),
        'SQS requests (sends/deletes)':
          e.counter.since(before, 'sqs', 'SendMessageBatchCommand') +
          e.counter.since(before, 'sqs', 'DeleteMessageBatchCommand'),
        'SQS receives (polling)': e.counter.since(before, 'sqs', 'ReceiveMessageCommand'),
      };
      const [a, b] = await Promise.all([
        checksumVolume(e.deps, g.primary, rp),
        checksumVolume(e.deps, g.secondary, rp),
      ]);
      if (a.sha256 !== b.sha256) throw new Error('checksums differ at the RP');
      rows.push(row);
    } finally {
      await e.stop();
    }
  }
  return rows;
}

/** Initial sync of `chunks` chunks: volmirror's copy path vs a bare GET->PUT loop, 4 in flight each. */
async function throughputAndMemory(chunks: number): Promise<Record<string, unknown>> {
  const e = await env('per-site');
  try {
    const g = await mirrored(e.deps, chunks * CHUNK);
    const gw = await Gateway.open(e.deps, g.primary);
    await writeChunks(gw, g.primary, range(chunks), 64, 4);
    await gw.close();
    await ingestAll(e.deps, 'east');
    global.gc?.();
    const base = process.memoryUsage();
    let peakRss = base.rss;
    let peakHeap = base.heapUsed;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    }, 20);
    const t0 = performance.now();
    await syncByHand(e.deps, g.groupId, 'east', 'west');
    const volmirrorMs = performance.now() - t0;
    clearInterval(sampler);

    const east = e.deps.stores.east;
    const west = e.deps.stores.west;
    const refs: [number, string][] = [];
    for await (const ref of east.listChunks(g.primary)) refs.push(ref);
    const t1 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let k = 0; k < 1_000_000 && next < refs.length; k++) {
          const [index, versionId] = refs[next++];
          await west.copyChunkFrom(east, g.primary, 'baseline', index, versionId);
        }
      }),
    );
    const baselineMs = performance.now() - t1;
    const mib = (chunks * CHUNK) / MiB;
    return {
      'volume data': `${mib} MiB (${chunks} chunks)`,
      'volmirror initial sync MiB/s': (mib / (volmirrorMs / 1000)).toFixed(1),
      'bare GET->PUT loop MiB/s': (mib / (baselineMs / 1000)).toFixed(1),
      'throughput ratio (volmirror / bare)': (baselineMs / volmirrorMs).toFixed(2),
      'peak RSS growth during sync (MiB)': ((peakRss - base.rss) / MiB).toFixed(1),
      'peak heap growth during sync (MiB)': ((peakHeap - base.heapUsed) / MiB).toFixed(1),
    };
  } finally {
    await e.stop();
  }
}

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const wanted = (section: string) => !values.only || values.only === section;

async function main() {
  if (wanted('batching')) {
    console.log('\n# Change-record batching: 1,000 chunk writes per row (per-site emulators)');
    console.table(await batching());
  }
  if (wanted('delta')) {
    for (const t of ['shared', 'per-site'] as const) {
      console.log(`\n# Delta sync of ${DELTA_CHUNKS} chunk writes, ${t} emulators (deterministic driver)`);
      console.table(await deltaSyncs(t));
    }
  }
  if (wanted('throughput')) {
    console.log('\n# Initial sync throughput and memory (per-site emulators, streamed copy)');
    console.table([await throughputAndMemory(256), await throughputAndMemory(2048)]);
  }
  if (wanted('startup')) {
    console.log(
      `\n# CLI startup of \`volmirror --help\`, built vs loaded through tsx (Node ${process.version})`,
    );
    console.table(cliStartup());
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
