/**
 * npm run bench: request counts per operation (deterministic), bytes copied, memory, and copy
 * throughput as a ratio against a plain SDK copy loop run side by side on the same emulators.
 *   npm run bench [-- --only batching|delta|throughput|startup|nbd]
 */

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LocalStack, type Topology } from '../local/stack';
import { buildClients, RequestCounter } from '../shared/aws/clients';
import { buildDeps, type Deps } from '../shared/deps';
import { Gateway } from '../shared/gateway/gateway';
import { sha256Of } from '../shared/usecases/reads';
import { estimate, PRICES } from './cost';
import { ingestAll, syncByHand } from './driver';
import { BULK_CHUNKS, BULK_IN_FLIGHT, gatewayVsPutLoop, sqsPerThousand } from './gateway';
import { manifestMemory } from './memory';
import { nbdBench } from './nbd';
import { barChartPng, lineChartPng } from './plot';
import {
  initialCeilings,
  RCLONE_MODES,
  RCLONE_TRANSFERS,
  type ReplicationRow,
  ratios,
  replicationVsRclone,
} from './rclone';
import { measuredNow, mergeWithLatest, RESULTS_DIR, type Section, writeResults } from './results';
import { rpAge } from './rp-age';
import { cliStartup } from './startup';
import { type Driven, SYNC_COPIES, THROUGHPUT_ROUNDS, throughputAndMemory } from './throughput';
import { CHUNK, MiB, mirrored, range, writeChunks } from './workload';
import { zipfVsPerVersion } from './zipf';

const DELTA_CHUNKS = 200;
/** Syncs over the zipf section's writes, one row each, and the row the cost section prices. */
const ZIPF_SYNCS = [8, 4, 2, 1];
const ZIPF_COST_SYNCS = 2;

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
    for (const [label, perWrite, inFlight] of [
      [
        `${BULK_CHUNKS}-chunk writes, ${BULK_IN_FLIGHT} in flight (volume write)`,
        BULK_CHUNKS,
        BULK_IN_FLIGHT,
      ],
      ['50-chunk writes, 4 in flight', 50, 4],
      ['1-chunk writes, 64 in flight', 1, 64],
      ['1-chunk writes, 8 in flight', 1, 8],
    ] as const) {
      const gw = await Gateway.open(e.deps, g.primary);
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
  const existing = 256;
  // The issue's sizes: 1 GiB and 1 TiB sparse volumes, the same data and the same delta.
  for (const sizeBytes of [1024 * MiB, 1024 * 1024 * MiB]) {
    const e = await env(topology);
    try {
      const g = await mirrored(e.deps, sizeBytes);
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
        'volume size': sizeBytes >= 1024 * 1024 * MiB ? '1 TiB' : '1 GiB',
        'existing chunks': existing,
        'changed chunks': unique,
        'S3 requests': s3,
        'S3 per changed chunk': (s3 / unique).toFixed(3),
        'S3 CopyObject': e.counter.since(before, 's3', 'CopyObjectCommand'),
        'S3 GetObject': e.counter.since(before, 's3', 'GetObjectCommand'),
        'S3 PutObject': e.counter.since(before, 's3', 'PutObjectCommand'),
        'DynamoDB requests': e.counter.since(before, 'dynamodb'),
        'control requests (DynamoDB + SQS)':
          e.counter.since(before, 'dynamodb') + e.counter.since(before, 'sqs'),
        'SQS requests (sends/deletes)':
          e.counter.since(before, 'sqs', 'SendMessageBatchCommand') +
          e.counter.since(before, 'sqs', 'DeleteMessageBatchCommand'),
        'SQS receives (polling)': e.counter.since(before, 'sqs', 'ReceiveMessageCommand'),
      };
      // The written chunks only: hashing a terabyte of zeros would measure nothing.
      const written = { recoveryPointId: rp, offset: 0, length: existing * CHUNK };
      const [a, b] = await Promise.all([
        sha256Of(e.deps, g.primary, written),
        sha256Of(e.deps, g.secondary, written),
      ]);
      if (a !== b) throw new Error('the written chunks differ at the RP');
      rows.push(row);
    } finally {
      await e.stop();
    }
  }
  return rows;
}

const THROUGHPUT_ROWS: [Topology, number, Driven][] = [
  ['per-site', 256, 'by hand'],
  ['per-site', 2048, 'by hand'],
  ['per-site', 2048, 'runtime'],
  ['shared', 2048, 'by hand'],
  ['shared', 2048, 'runtime'],
];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    chunks: { type: 'string', default: '8192' },
    'zipf-chunks': { type: 'string', default: '512' },
    'zipf-writes': { type: 'string', default: '8000' },
    'memory-chunks': { type: 'string', default: '1000000' },
    'rp-age-seconds': { type: 'string', default: '120' },
  },
});
const only = values.only?.split(',');
const wanted = (section: string) => !only || only.includes(section);
const num = (v: string | undefined) => Number(v);

async function main() {
  const sections: Section[] = [];
  const add = (s: Section) => {
    sections.push({ ...s, measured: measuredNow() });
    console.log(`\n# ${s.name}: ${s.title}`);
    console.table(s.rows);
  };
  if (wanted('rclone')) {
    const chunks = num(values.chunks);
    const rows: ReplicationRow[] = [];
    for (const t of ['shared', 'per-site'] as const) {
      console.log(`rclone section, ${t} topology, ${chunks} chunks`);
      rows.push(...(await replicationVsRclone(t, chunks, [1, 10, 50], console.log)));
    }
    const r = ratios(rows);
    add({
      name: 'rclone',
      title: `delta sync vs rclone on ${chunks} chunks of 64 KiB (${(chunks * CHUNK) / MiB} MiB)`,
      rows: r,
      notes: [
        'Ratios above 1 mean volmirror is ahead. Requests and bytes are counted at the wire (bench/wire-counter.ts) for both tools.',
        `rclone: \`rclone copy\` (initial) and \`rclone sync\` (deltas), each in its default mode (size and modification time, which S3 keeps as object metadata: a HEAD per object whose size matches) and with \`--checksum\` (the listing's MD5s, no HEAD for an unchanged object), each into its own prefix; provider Other, ${RCLONE_TRANSFERS} transfers and checkers (volmirror's copies in flight); shared topology: one remote, so rclone copies server-side too.`,
        "volmirror: the sync only (handlers run by bench/driver.ts, a receive's copy tasks at once); the change ingest that runs as writes happen is not in its time. 'time' runs from the sync's start until its post-commit clean-up is done; 'time to up to date' until its RP is committed (the RP item's commit time), when the secondary serves the new image. Requests count both.",
        "Verified: volmirror by the SHA-256 of the primary and secondary images at the RP; rclone by every destination object's ETag (MD5) equal to its source's.",
      ],
    });
    add({
      name: 'rclone-ceiling',
      title: 'initial step: the same chunk copies alone, the most any tool can be ahead of rclone',
      rows: initialCeilings(rows),
      notes: [
        `The bare loop copies every chunk version of the primary with nothing else (no listing, no check, no bookkeeping), ${RCLONE_TRANSFERS} at a time, through the ChunkStore call the copy workers use: CopyObject on one shared S3 service, GET and PUT per-site. It runs right after rclone on the same emulators and is verified by ETags like rclone.`,
        "rclone's own extra requests on top of these copies are a HEAD per object and the listings: the cheap requests. A tool that makes the same copies can be ahead of rclone by at most rclone's time over the bare loop's.",
      ],
    });
    add({
      name: 'rclone-detail',
      title: 'each run of the rclone section',
      rows: rows.map(({ 'S3 requests by operation': ops, ...row }) => ({ ...row, 'S3 operations': ops })),
    });
    const steps = r.filter((x) => x.topology === 'shared' && x.baseline === RCLONE_MODES[0].tool);
    const tools: ReplicationRow['tool'][] = ['volmirror', ...RCLONE_MODES.map((m) => m.tool)];
    const plot = (file: string, what: 'S3 requests' | 'wall s', topology: string) =>
      barChartPng(
        join(RESULTS_DIR, file),
        `${what} to bring the secondary up to date (${topology} S3, ${chunks} chunks)`,
        tools,
        steps.map((x) => ({
          label: x.step,
          values: tools.map(
            (tool) =>
              rows.find((y) => y.tool === tool && y.step === x.step && y.topology === topology)?.[what] ?? 0,
          ),
        })),
      );
    plot('rclone-requests-shared.png', 'S3 requests', 'shared');
    plot('rclone-requests-per-site.png', 'S3 requests', 'per-site');
  }
  if (wanted('zipf')) {
    const workload = {
      chunks: num(values['zipf-chunks']),
      writes: num(values['zipf-writes']),
      writeBytes: 4096,
      inFlight: 64,
      exponent: 1.2,
    };
    // The same writes, synced at shorter and longer intervals: coalescing grows with the writes
    // a sync takes in, and per-version replication does not change.
    const runs = [];
    for (const syncs of ZIPF_SYNCS) runs.push(await zipfVsPerVersion({ ...workload, syncs }));
    const z = runs.find((r) => r.row.syncs === ZIPF_COST_SYNCS) ?? runs[0];
    add({
      name: 'zipf',
      title: 'coalescing vs per-version replication (S3 CRR) on a Zipf hot spot (per-site emulators)',
      rows: runs.map((r) => r.row),
      notes: [
        'Per-version replication sends every object version the writes made, at its size: the gateway PutObject requests and their bodies, counted at the wire (the bucket no longer holds them all: each sync deletes the versions it superseded).',
        "volmirror's bytes are the chunk bodies its syncs PUT into the secondary site, counted at the wire. It copies each chunk changed between two cuts once, whole, so its bytes follow the distinct chunks a sync interval touches: the bytes ratio is about the writes per sync over the distinct chunks they hit.",
        `The cost section below prices the run with ${ZIPF_COST_SYNCS} syncs.`,
      ],
    });
    add({
      name: 'cost',
      title: `estimated AWS cost of the zipf workload, ${PRICES.region} list prices as of ${PRICES.date}`,
      rows: [estimate(z.usage)],
      notes: [
        `Prices (${PRICES.region}, ${PRICES.date}): ${Object.entries(PRICES)
          .filter(([k]) => k !== 'region' && k !== 'date')
          .map(([k, v]) => `${k} $${v}`)
          .join('; ')}.`,
        "The primary writes (the writers' chunk PutObjects) are the same under both schemes and left out; a DynamoDB request is taken as one request unit; Lambda: one 512 MB, 300 ms invocation per handled SQS batch (an estimate, not measured).",
        'CRR + RTC: one replication PUT per object version, inter-region transfer and the RTC fee per GB of every version.',
      ],
    });
  }
  if (wanted('gateway')) {
    add({
      name: 'gateway',
      title: 'gateway write throughput vs a plain PutObject loop (per-site emulators)',
      rows: await gatewayVsPutLoop(512, 16),
      notes: [
        "The gateway's time runs from its first write to its close (the last change records published); opening it (the group's write lease) is not in it, as making the S3 client is not in the loop's.",
        'A write is acknowledged once its chunk is stored and its change record sent; a message leaves when no other write of the epoch is still storing, so 16 writers send about one message per 16 writes and wait for it.',
        'Each order runs 3 times, the two orders alternating, on fresh chunks each time; the last row takes every round together. Single rounds of this 3-second run have ranged from 0.73 to 1.18.',
      ],
    });
    add({
      name: 'gateway-sqs',
      title: 'SQS messages per 1,000 chunk writes',
      rows: await sqsPerThousand(),
    });
  }
  if (wanted('memory')) {
    const chunks = num(values['memory-chunks']);
    add({
      name: 'memory',
      title: 'manifest merge and write of a commit, in a process of its own',
      rows: [await manifestMemory(chunks, Math.round(chunks / 100))],
      notes: [
        'The previous manifest lists every chunk (the worst case of a sparse volume: all of it written); 1% of the chunks are merged in and the new manifest is written in parts, as the commit step does (ChunkStore.readManifest, mergeManifests, ChunkStore.writeManifest).',
        'Peak RSS is process.resourceUsage().maxRSS of the child; the idle child loads the same modules and does nothing.',
      ],
    });
  }
  if (wanted('batching')) {
    add({
      name: 'batching',
      title: 'change-record batching: 1,000 chunk writes per row (per-site emulators)',
      rows: await batching(),
    });
  }
  if (wanted('delta')) {
    for (const t of ['shared', 'per-site'] as const) {
      add({
        name: `delta-${t}`,
        title: `delta sync of ${DELTA_CHUNKS} chunk writes, ${t} emulators (deterministic driver)`,
        rows: await deltaSyncs(t),
        notes: [
          'A 1 GiB and a 1 TiB sparse volume, each with the same 256 chunks written and the same 200 changed; target: control requests (DynamoDB + SQS) per sync within 10% of each other.',
          'Verified: the written chunks of the primary and the secondary at the RP have the same SHA-256.',
        ],
      });
    }
  }
  if (wanted('throughput')) {
    const rows = [];
    for (const [topology, chunks, driven] of THROUGHPUT_ROWS)
      rows.push(await throughputAndMemory(env, topology, chunks, driven));
    add({
      name: 'throughput',
      title: `initial sync throughput against a bare copy loop at the same concurrency (${SYNC_COPIES} copies in flight), and memory`,
      rows,
      notes: [
        `Each row is ${THROUGHPUT_ROUNDS} rounds on the same emulators; a round syncs a volume of its own and copies the same chunk versions with the bare loop, one right after the other, in alternating order (the emulator's speed drifts between runs by more than the differences measured). Ratios are bare-loop time over sync time: above 1 the sync is faster.`,
        'The bare loop copies through the same ChunkStore call as the copy workers: per-site, a GET from the primary and a PUT into the secondary; on one shared S3 service, a CopyObject.',
        "'to the RP committed' runs from the sync's start to its RP's commit time (the secondary serves the new image); 'with the clean-up' until its post-commit work is done.",
        'By hand, the copy tasks of one receive run together and the next are offered when they are all done; the runtime offers a task as soon as a lane frees, but its pollers load the same emulators.',
      ],
    });
  }
  if (wanted('rp-age')) {
    const seconds = num(values['rp-age-seconds']);
    const runs = [await rpAge('continuous', seconds), await rpAge('scheduled', seconds)];
    add({
      name: 'rp-age',
      title: `RP age under a steady write load, sampled every second for ${seconds} s (per-site emulators, local runtime)`,
      rows: runs.map((r) => r.row),
      notes: [
        "RP age: now minus the cut time of the newest committed RP. Sync duration: a sync's start to its commit (its cut waits for the gateway's next lease renewal). Target: RP age p99 <= 2x the sync duration in continuous mode.",
        'Plot: rp-age.png.',
      ],
    });
    lineChartPng(
      join(RESULTS_DIR, 'rp-age.png'),
      'RP age under a steady write load',
      { x: 's', y: 'RP age (s)' },
      runs.map((r) => ({ label: String(r.row.mode), points: r.ages })),
    );
  }
  if (wanted('nbd')) {
    const { rows, ceiling } = await nbdBench();
    add({
      name: 'nbd',
      title: 'fio through the NBD export vs fio through s3backer, same S3 emulator (bench/nbd.ts)',
      rows,
      notes: [
        'One fio job at iodepth 1 on both sides; each job on a fresh mount (cold caches); time runs from starting fio until every byte written is in S3 and the process has exited. Ratios above 1 mean the export is ahead.',
        's3backer answers fsync without writing its cache; the export stores and publishes what it acknowledged before answering each fsync.',
      ],
    });
    add({
      name: 'nbd-ceiling',
      title:
        'the NBD transport at iodepth 1: the same fio job against qemu-nbd serving the image from memory',
      rows: ceiling,
      notes: [
        "qemu-nbd (QEMU's C server) answers from /dev/shm over the same loopback TCP and the same fio `nbd` engine: what a server that only reads memory reaches over this transport on this machine, one request at a time. s3backer is reached through FUSE, not a socket.",
      ],
    });
  }
  if (wanted('startup')) {
    add({
      name: 'startup',
      title: `CLI startup of \`volmirror --help\`, built vs loaded through tsx (Node ${process.version})`,
      rows: cliStartup() as unknown as Record<string, unknown>[],
    });
  }
  writeResults(mergeWithLatest(sections), {
    command:
      'npm run bench [-- --only rclone,zipf,gateway,memory,batching,delta,throughput,rp-age,startup] [--chunks N]',
    'last run': new Date().toISOString(),
    node: process.version,
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
