import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Deps } from '../shared/deps';
import { Gateway } from '../shared/gateway/gateway';
import { WRITE_INFLIGHT_BYTES, WRITE_PIECE_BYTES } from '../shared/tuning';
import { readVolume } from '../shared/usecases/reads';
import { loadVolume } from '../shared/usecases/volumes';
import { onInterrupt } from './command';
import { CliError } from './errors';
import { type JsonFlag, Progress } from './output';

const MiB = 1024 * 1024;

export interface WriteResult {
  volumeId: string;
  offset: number;
  bytes: number;
  chunkWrites: number;
  groupId?: string;
}

/**
 * Cuts a byte stream into pieces whose boundaries fall on `pieceLen` multiples of the volume
 * (the first piece is shorter when the offset is not aligned), so that no two pieces share
 * a chunk and no chunk is merged twice.
 */
async function* pieces(source: AsyncIterable<Buffer>, firstLen: number, pieceLen: number) {
  let want = firstLen;
  let buf = Buffer.allocUnsafe(want);
  let filled = 0;
  for await (const data of source) {
    let pos = 0;
    while (pos < data.length) {
      const n = Math.min(want - filled, data.length - pos);
      data.copy(buf, filled, pos, pos + n);
      filled += n;
      pos += n;
      if (filled === want) {
        yield buf;
        want = pieceLen;
        buf = Buffer.allocUnsafe(want);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buf.subarray(0, filled);
}

/**
 * Streams a file (or stdin for `-`) into a volume through a gateway, a few pieces in
 * flight. The gateway is closed at the end whatever happened: that seals the open epoch
 * and releases the group's write lease, so the next sync and the next writer need not wait
 * for the lease to expire.
 */
export async function writeFileToVolume(
  deps: Deps,
  volumeId: string,
  file: string,
  offset: number,
  opts: JsonFlag,
): Promise<WriteResult> {
  const volume = await loadVolume(deps, volumeId);
  let size: number | undefined;
  if (file !== '-') {
    const st = await stat(file).catch(() => undefined);
    if (!st?.isFile()) throw new CliError(`--file ${file}: not a readable file`);
    size = st.size;
  }
  if (offset > volume.sizeBytes || (size !== undefined && offset + size > volume.sizeBytes)) {
    throw new CliError(
      `${size ?? 0} bytes at offset ${offset} run past the end of volume ${volume.id} (${volume.sizeBytes} bytes)`,
    );
  }
  const chunk = volume.chunkSizeBytes;
  const pieceLen = Math.max(1, Math.floor(WRITE_PIECE_BYTES / chunk)) * chunk;
  const maxInflight = Math.max(1, Math.floor(WRITE_INFLIGHT_BYTES / pieceLen));
  const source = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: MiB });

  const gw = await Gateway.open(deps, volume.id);
  const bar = Progress.start(opts, size ?? 0, 'bytes', 'write');
  let interrupted = false;
  const release = onInterrupt(() => {
    interrupted = true;
  });
  let failure: unknown;
  let written = 0;
  try {
    const inflight = new Set<Promise<void>>();
    let pos = offset;
    for await (const piece of pieces(source, pieceLen - (offset % pieceLen), pieceLen)) {
      if (failure !== undefined || interrupted) break;
      const at = pos;
      pos += piece.length;
      // write() throws synchronously on a bad range: the async wrapper turns it into a rejection.
      const tracked: Promise<void> = (async () => gw.write(volume.id, at, piece))()
        .then(
          () => {
            written += piece.length;
            bar.update(written);
          },
          (e) => {
            failure ??= e;
          },
        )
        .finally(() => inflight.delete(tracked));
      inflight.add(tracked);
      if (inflight.size >= maxInflight) await Promise.race(inflight);
    }
    await Promise.all(inflight);
  } catch (e) {
    failure ??= e;
  } finally {
    bar.stop();
    release();
    try {
      await gw.close();
    } catch (e) {
      failure ??= e;
    }
  }
  if (failure !== undefined) throw failure;
  if (interrupted) {
    throw new CliError(`interrupted after ${written} bytes (those are written and acknowledged)`, 130);
  }
  return {
    volumeId: volume.id,
    offset,
    bytes: written,
    chunkWrites: gw.chunkWrites,
    ...(gw.groupId && { groupId: gw.groupId }),
  };
}

export interface ReadResult {
  volumeId: string;
  recoveryPointId?: string;
  offset: number;
  bytes: number;
  out: string;
  sha256: string;
}

/** The bytes of a volume (live, or at a committed RP) into a file or stdout, hashed on the way. */
export async function readVolumeToFile(
  deps: Deps,
  volumeId: string,
  out: string,
  range: { recoveryPointId?: string; offset?: number; length?: number },
  opts: JsonFlag,
): Promise<ReadResult> {
  const volume = await loadVolume(deps, volumeId);
  const offset = range.offset ?? 0;
  const length = range.length ?? Math.max(0, volume.sizeBytes - offset);
  // Checked before the output file is opened (and truncated).
  if (offset + length > volume.sizeBytes) {
    throw new CliError(
      `range ${offset}+${length} runs past the end of volume ${volume.id} (${volume.sizeBytes} bytes)`,
    );
  }
  const hash = createHash('sha256');
  const bar = Progress.start(opts, length, 'bytes', 'read');
  let bytes = 0;
  const abort = new AbortController();
  const release = onInterrupt(() => abort.abort(new CliError('interrupted', 130)));
  async function* counted() {
    for await (const piece of readVolume(deps, volume.id, { ...range, offset, length })) {
      hash.update(piece);
      bytes += piece.length;
      bar.update(bytes);
      yield piece;
    }
  }
  try {
    if (out === '-') {
      await pipeline(counted(), process.stdout, { end: false, signal: abort.signal });
    } else {
      await pipeline(counted(), createWriteStream(out), { signal: abort.signal });
    }
  } catch (e) {
    // A partial file must not pass for a full image.
    if (out !== '-') await rm(out, { force: true });
    throw abort.signal.aborted ? abort.signal.reason : e;
  } finally {
    bar.stop();
    release();
  }
  return {
    volumeId: volume.id,
    ...(range.recoveryPointId && { recoveryPointId: range.recoveryPointId }),
    offset,
    bytes,
    out,
    sha256: hash.digest('hex'),
  };
}

/**
 * SHA-256 of the whole volume content, zeros where sparse: the same digest as
 * shared/usecases/reads `checksumVolume`, computed here from `readVolume` so that a
 * progress bar can follow it.
 */
export async function hashVolume(
  deps: Deps,
  volumeId: string,
  recoveryPointId: string | undefined,
  opts: JsonFlag,
): Promise<{ volumeId: string; recoveryPointId?: string; sha256: string; sizeBytes: number }> {
  const volume = await loadVolume(deps, volumeId);
  const hash = createHash('sha256');
  const bar = Progress.start(opts, volume.sizeBytes, 'bytes', 'checksum');
  let interrupted = false;
  const release = onInterrupt(() => {
    interrupted = true;
  });
  let bytes = 0;
  try {
    for await (const piece of readVolume(deps, volume.id, { recoveryPointId })) {
      if (interrupted) throw new CliError('interrupted', 130);
      hash.update(piece);
      bytes += piece.length;
      bar.update(bytes);
    }
  } finally {
    bar.stop();
    release();
  }
  return {
    volumeId: volume.id,
    ...(recoveryPointId && { recoveryPointId }),
    sha256: hash.digest('hex'),
    sizeBytes: volume.sizeBytes,
  };
}
