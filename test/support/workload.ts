import type { Gateway } from '../../shared/gateway/gateway';
import { readVolume } from '../../shared/usecases/reads';
import { type Harness, randomBytesOf } from './harness';

/** One write as the test issued it: enough to rebuild the image at any cut. */
export interface IssuedWrite {
  order: number;
  epoch: number;
  volumeId: string;
  offset: number;
  data: Uint8Array;
  issuedAt: number;
  acked: boolean;
}

/**
 * Issues writes without waiting for each other, noting the epoch each was issued in. The
 * gateway serializes writes per chunk in issue order, so applying the writes of epochs <= E
 * in issue order gives the image at cut E.
 */
export class WriteLog {
  readonly writes: IssuedWrite[] = [];
  private readonly pending = new Set<Promise<void>>();

  issue(gw: Gateway, volumeId: string, offset: number, data: Uint8Array): Promise<void> {
    const w: IssuedWrite = {
      order: this.writes.length,
      epoch: gw.currentEpoch,
      volumeId,
      offset,
      data,
      issuedAt: Date.now(),
      acked: false,
    };
    this.writes.push(w);
    const p = gw.write(volumeId, offset, data).then(() => {
      w.acked = true;
    });
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * Keeps `concurrency` writes in flight until `stop()` returns true or `max` writes were
   * issued: the I/O that goes on while syncs cut epochs.
   */
  async run(
    gw: Gateway,
    targets: { volumeId: string; sizeBytes: number; chunkSize: number }[],
    opts: { concurrency: number; max: number; stop: () => boolean; seed?: number },
  ): Promise<void> {
    let seed = opts.seed ?? 1;
    const lanes = Array.from({ length: opts.concurrency }, async () => {
      while (!opts.stop() && this.writes.length < opts.max) {
        const t = targets[seed % targets.length];
        const { offset, data } = randomWrite(t.sizeBytes, t.chunkSize, seed++);
        await this.issue(gw, t.volumeId, offset, data);
      }
    });
    await Promise.all(lanes);
  }

  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  /** The expected content of a volume at cut `epoch`. */
  imageAt(volumeId: string, sizeBytes: number, epoch: number): Buffer {
    const image = Buffer.alloc(sizeBytes);
    for (const w of this.writes) {
      if (w.volumeId === volumeId && w.epoch <= epoch) image.set(w.data, w.offset);
    }
    return image;
  }
}

/** Random and hot-spot writes: 70% land in the first 4 chunks, the rest anywhere. */
export function randomWrite(
  sizeBytes: number,
  chunkSize: number,
  seed: number,
): { offset: number; data: Uint8Array } {
  const rand = (n: number) => Math.floor(((Math.sin(seed * 9301 + n * 49297) + 1) / 2) * 1e9);
  const hot = rand(1) % 10 < 7;
  const span = hot ? Math.min(sizeBytes, 4 * chunkSize) : sizeBytes;
  const length = 1 + (rand(2) % Math.min(span, 2 * chunkSize));
  const offset = rand(3) % (span - length + 1);
  return { offset, data: randomBytesOf(length, seed) };
}

export async function readAll(h: Harness, volumeId: string, recoveryPointId?: string): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of readVolume(h.deps, volumeId, { recoveryPointId })) parts.push(p);
  return Buffer.concat(parts);
}
