import { PutObjectCommand } from '@aws-sdk/client-s3';
import { chunkKey } from '../shared/domain/chunks';
import { Gateway } from '../shared/gateway/gateway';
import { WRITE_INFLIGHT_BYTES, WRITE_PIECE_BYTES } from '../shared/tuning';
import { wireEnv } from './wire-env';
import { CHUNK, chunkData, MiB, mirrored, range, writeChunks } from './workload';

const round = (x: number) => Math.round(x * 100) / 100;

/** The writes `volume write --file` sends: pieces of WRITE_PIECE_BYTES, WRITE_INFLIGHT_BYTES at once. */
export const BULK_CHUNKS = WRITE_PIECE_BYTES / CHUNK;
export const BULK_IN_FLIGHT = WRITE_INFLIGHT_BYTES / WRITE_PIECE_BYTES;

/**
 * Gateway write throughput against a plain PutObject loop of the same chunks and concurrency,
 * and the SQS messages each writer sends per 1,000 chunk writes (the gateway's own count and
 * the SendMessage requests at the wire).
 */
export async function gatewayVsPutLoop(chunks: number, inFlight: number, rounds = 3) {
  const e = await wireEnv('per-site');
  try {
    const g = await mirrored(e.deps, 2 * rounds * 2 * chunks * CHUNK);
    const bucket = e.config.sites[0].bucket;
    const s3 = e.deps.stores.east.s3;
    let base = 0;
    const runGateway = async () => {
      const gw = await Gateway.open(e.deps, g.primary);
      const t = performance.now();
      await writeChunks(gw, g.primary, range(chunks, base), 1, inFlight);
      await gw.close();
      base += chunks;
      return (performance.now() - t) / 1000;
    };
    const runLoop = async () => {
      const todo = range(chunks, base);
      base += chunks;
      let next = 0;
      const t = performance.now();
      await Promise.all(
        Array.from({ length: inFlight }, async () => {
          for (let k = 0; k < 10_000_000 && next < todo.length; k++) {
            const c = todo[next++];
            await s3.send(
              new PutObjectCommand({
                Bucket: bucket,
                Key: `baseline/${chunkKey(g.primary, c)}`,
                Body: chunkData(c),
              }),
            );
          }
        }),
      );
      return (performance.now() - t) / 1000;
    };
    // Each order, `rounds` times, alternating: one order alone can favour a side (2026-12-06: 0.84
    // with the gateway first, 1.18 with the loop first; the second side was the faster both times).
    const runs: { first: 'gateway' | 'loop'; gateway: number; loop: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      // Properties are evaluated in order: each pair runs its first side first.
      runs.push({ first: 'gateway', gateway: await runGateway(), loop: await runLoop() });
      runs.push({ first: 'loop', loop: await runLoop(), gateway: await runGateway() });
    }
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const row = (run: string, of: typeof runs) => {
      const gateway = sum(of.map((x) => x.gateway));
      const loop = sum(of.map((x) => x.loop));
      const mib = (of.length * chunks * CHUNK) / MiB;
      return {
        run,
        'gateway MiB/s': round(mib / gateway),
        'PutObject loop MiB/s': round(mib / loop),
        'ratio (gateway / loop)': round(loop / gateway),
        'rounds, ratio': of.map((x) => round(x.loop / x.gateway).toFixed(2)).join(' / '),
      };
    };
    const each = `${chunks} one-chunk writes, ${inFlight} in flight`;
    return [
      row(
        `${each}, gateway first, ${rounds} rounds`,
        runs.filter((x) => x.first === 'gateway'),
      ),
      row(
        `${each}, loop first, ${rounds} rounds`,
        runs.filter((x) => x.first === 'loop'),
      ),
      row(`all ${2 * rounds} rounds together (${2 * rounds * chunks} writes each side)`, runs),
    ];
  } finally {
    await e.stop();
  }
}

/** SQS messages per 1,000 chunk writes: bulk (50-chunk writes) and 4 KiB writes at 64 in flight. */
export async function sqsPerThousand() {
  const e = await wireEnv('per-site');
  try {
    const g = await mirrored(e.deps, 4096 * CHUNK);
    const rows = [];
    for (const [label, kind] of [
      [`bulk: ${BULK_CHUNKS}-chunk writes, ${BULK_IN_FLIGHT} in flight (volume write)`, 'bulk'],
      ['4 KiB writes to 1,000 chunks, 64 in flight', 'small'],
    ] as const) {
      const gw = await Gateway.open(e.deps, g.primary);
      const before = e.wire.snapshot();
      const sent = gw.messagesSent;
      const writes = gw.chunkWrites;
      if (kind === 'bulk') await writeChunks(gw, g.primary, range(1000), BULK_CHUNKS, BULK_IN_FLIGHT);
      else {
        let next = 0;
        await Promise.all(
          Array.from({ length: 64 }, async () => {
            for (let k = 0; k < 10_000 && next < 1000; k++) {
              const c = 1000 + next++;
              await gw.write(g.primary, c * CHUNK + 4096, new Uint8Array(4096).fill(c % 251));
            }
          }),
        );
      }
      await gw.close();
      const n = gw.chunkWrites - writes;
      rows.push({
        writes: label,
        'chunk writes': n,
        'SQS messages (gateway count)': gw.messagesSent - sent,
        'messages per 1,000 chunk writes': Math.round(((gw.messagesSent - sent) * 1000) / n),
        'SQS send requests at the wire':
          e.wire.since(before, 'sqs SendMessageBatch').requests +
          e.wire.since(before, 'sqs SendMessage').requests,
      });
    }
    return rows;
  } finally {
    await e.stop();
  }
}
