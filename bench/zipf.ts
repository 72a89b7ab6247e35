import { Gateway } from '../shared/gateway/gateway';
import { checksumVolume } from '../shared/usecases/reads';
import { ingestAll, syncByHand } from './driver';
import { wireEnv } from './wire-env';
import { CHUNK, MiB, mirrored } from './workload';

/** Deterministic PRNG (mulberry32), so that every run writes the same offsets. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A sampler of ranks 0..n-1 with P(k) proportional to 1/(k+1)^s. */
function zipf(n: number, s: number, random: () => number) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    sum += 1 / (k + 1) ** s;
    cdf[k] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export interface ZipfOptions {
  chunks: number;
  writes: number;
  syncs: number;
  writeBytes: number;
  inFlight: number;
  exponent: number;
}

/**
 * Many small writes on a Zipf hot spot, a sync after each equal share of them (the sync
 * interval): what volmirror
 * replicated (its syncs' S3 requests and bytes at the wire) against per-version replication
 * (S3 CRR), which sends every object version the writes left in the bucket.
 */
export async function zipfVsPerVersion(o: ZipfOptions) {
  const e = await wireEnv('per-site');
  try {
    const g = await mirrored(e.deps, o.chunks * CHUNK);
    const random = prng(42);
    const rank = zipf(o.chunks, o.exponent, random);
    // Hot ranks land on scattered chunks, as a file system's hot blocks would.
    const chunkOfRank = (r: number) => (r * 2654435761) % o.chunks;
    const perChunk = CHUNK / o.writeBytes;
    let replicated = { requests: 0, bytes: 0 };
    let gatewayPuts = 0;
    let gatewayGets = 0;
    // Every chunk version the writes made is a gateway PUT, counted at the wire: the bucket
    // cannot be listed for them afterwards, as each sync's clean-up deletes the ones it superseded.
    let gatewayPutBytes = 0;
    let next = 0;
    let rp = '';
    const start = e.wire.snapshot();
    let chunkWrites = 0;
    let writingMs = 0;
    for (let s = 0; s < o.syncs; s++) {
      const gw = await Gateway.open(e.deps, g.primary);
      const beforeWrites = e.wire.snapshot();
      const t0 = performance.now();
      const end = Math.round(((s + 1) * o.writes) / o.syncs);
      await Promise.all(
        Array.from({ length: o.inFlight }, async () => {
          for (let k = 0; k < 1_000_000 && next < end; k++) {
            next++;
            const chunk = chunkOfRank(rank());
            const block = Math.floor(random() * perChunk);
            const data = new Uint8Array(o.writeBytes).fill(next % 251);
            await gw.write(g.primary, chunk * CHUNK + block * o.writeBytes, data);
          }
        }),
      );
      await gw.close();
      writingMs += performance.now() - t0;
      chunkWrites += gw.chunkWrites;
      const puts = e.wire.since(beforeWrites, 's3 PutObject');
      gatewayPuts += puts.requests;
      gatewayPutBytes += puts.bytesUp;
      gatewayGets += e.wire.since(beforeWrites, 's3 GetObject').requests;
      await ingestAll(e.deps, 'east');
      const before = e.wire.snapshot();
      const beforeWest = e.siteWire.west.snapshot();
      rp = await syncByHand(e.deps, g.groupId, 'east', 'west');
      // Bytes replicated: the chunk bodies PUT into the secondary site's bucket.
      replicated = {
        requests: replicated.requests + e.wire.since(before, 's3').requests,
        bytes: replicated.bytes + e.siteWire.west.since(beforeWest, 's3 PutObject').bytesUp,
      };
    }
    // Every request of the workload (writes, ingest, syncs), for the cost estimate.
    const workload: Record<string, number> = {};
    for (const service of ['s3', 'sqs', 'dynamodb']) {
      for (const [op, n] of Object.entries(e.wire.byOperation(start, service)))
        workload[`${service} ${op}`] = n;
    }
    const v = { count: gatewayPuts, bytes: gatewayPutBytes };
    const [a, b] = await Promise.all([
      checksumVolume(e.deps, g.primary, rp),
      checksumVolume(e.deps, g.secondary, rp),
    ]);
    // CRR sends each version once (a PUT of its bytes) to the other region.
    const crrBytes = v.bytes;
    const row = {
      workload: `${o.writes} writes of ${o.writeBytes / 1024} KiB, Zipf s=${o.exponent} over ${o.chunks} chunks, ${o.inFlight} in flight`,
      syncs: o.syncs,
      'writes per sync': Math.round(o.writes / o.syncs),
      'seconds of writes per sync (at the gateway rate measured)': round(writingMs / 1000 / o.syncs),
      'chunk versions written (gateway PutObject at the wire)': v.count,
      'per-version replication MiB (versions x size)': round(crrBytes / MiB),
      'per-version replication requests (>= 1 per version)': v.count,
      'volmirror replicated MiB (PUT bodies into the secondary)': round(replicated.bytes / MiB),
      'volmirror S3 requests in its syncs': replicated.requests,
      'bytes ratio (per-version / volmirror)': round(crrBytes / Math.max(1, replicated.bytes)),
      'requests ratio (per-version / volmirror)': round(v.count / Math.max(1, replicated.requests)),
      verified: a.sha256 === b.sha256,
    };
    return {
      row,
      usage: {
        requests: workload,
        chunkWrites,
        gatewayPuts,
        gatewayGets,
        versions: v.count,
        versionBytes: v.bytes,
        replicatedBytes: replicated.bytes,
      },
    };
  } finally {
    await e.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
