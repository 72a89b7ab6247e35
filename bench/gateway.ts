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
export async function gatewayVsPutLoop(chunks: number, inFlight: number) {
  const e = await wireEnv('per-site');
  try {
    const g = await mirrored(e.deps, 4 * chunks * CHUNK);
    const rows = [];
    const total = { gateway: 0, loop: 0 };
    const bucket = e.config.sites[0].bucket;
    const s3 = e.deps.stores.east.s3;
    // Alternate which goes first: the emulator's dict grows as objects are added.
    for (const [round_, first] of [
      [0, 'gateway'],
      [1, 'loop'],
    ] as const) {
      const base = round_ * 2 * chunks;
      const runGateway = async () => {
        const gw = await Gateway.open(e.deps, g.primary);
        const t = performance.now();
        await writeChunks(gw, g.primary, range(chunks, base), 1, inFlight);
        await gw.close();
        return (performance.now() - t) / 1000;
      };
      const runLoop = async () => {
        const todo = range(chunks, base + chunks);
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
      const [a, b] = first === 'gateway' ? [await runGateway(), await runLoop()] : [0, 0];
      const [c, d] = first === 'loop' ? [await runLoop(), await runGateway()] : [0, 0];
      const gwS = a + d;
      const loopS = b + c;
      total.gateway += gwS;
      total.loop += loopS;
      const mib = (chunks * CHUNK) / MiB;
      rows.push({
        run: `${chunks} one-chunk writes, ${inFlight} in flight, ${first} first`,
        'gateway MiB/s': round(mib / gwS),
        'PutObject loop MiB/s': round(mib / loopS),
        'ratio (gateway / loop)': round(loopS / gwS),
      });
    }
    // One order alone can favour a side (2026-12-06: 0.84 with the gateway first, 1.18 with the
    // loop first; the second side was the faster both times): both orders together cancel that.
    const mib = (2 * chunks * CHUNK) / MiB;
    rows.push({
      run: `both orders together (${2 * chunks} writes each side)`,
      'gateway MiB/s': round(mib / total.gateway),
      'PutObject loop MiB/s': round(mib / total.loop),
      'ratio (gateway / loop)': round(total.loop / total.gateway),
    });
    return rows;
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
