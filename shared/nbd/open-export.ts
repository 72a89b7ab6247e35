import type { Deps } from '../deps';
import { conflict, notFound } from '../domain/errors';
import type { Volume } from '../domain/model';
import { Gateway } from '../gateway/gateway';
import { listVolumes, loadVolume } from '../usecases/volumes';
import type { BlockExport } from './block-export';
import { GatewayExport } from './gateway-export';
import { RecoveryPointExport, recoveryPointOf } from './rp-export';
import type { WriteBackOptions } from './write-back-buffer';

export type OpenedExport = BlockExport & {
  volumeId: string;
  recoveryPointId?: string;
  /** Stops without flushing or releasing the lease: what a killed server leaves behind. */
  abandon(): void;
};

export interface ExportOptions {
  readOnly: boolean;
  /** The write-back buffer of a writable export (bufferBytes, flusher concurrency and delay). */
  writeBack?: Partial<WriteBackOptions>;
  /** How often the gateway renews its lease (and sees a cut request). */
  renewEveryMs?: number;
}

/**
 * The writers of one process (one Deps): a gateway per group holds the group's write lease
 * once, however many of its volumes are served, and one export per volume is shared by every
 * connection to it, so they see each other's buffered writes.
 */
interface Writer {
  gateway: Promise<Gateway>;
  exports: Map<string, { exp: Promise<GatewayExport>; refs: number }>;
}
const writers = new WeakMap<Deps, Map<string, Writer>>();

/** `vol-...`, a volume name, either followed by `@rp-...`. */
export function parseExportSpec(spec: string): { volume: string; recoveryPointId?: string } {
  const at = spec.lastIndexOf('@');
  if (at > 0 && spec.slice(at + 1).startsWith('rp-')) {
    return { volume: spec.slice(0, at), recoveryPointId: spec.slice(at + 1) };
  }
  return { volume: spec };
}

async function resolveVolume(deps: Deps, ref: string): Promise<Volume> {
  if (/^vol-[0-9a-f]{12}$/.test(ref)) return loadVolume(deps, ref);
  const named = (await listVolumes(deps)).filter((v) => v.name === ref);
  if (named.length > 1) {
    throw conflict(
      `${named.length} volumes are named ${ref} (${named.map((v) => v.id).join(', ')}); use the id`,
    );
  }
  if (named.length === 0) throw notFound('volume', ref);
  return loadVolume(deps, named[0].id);
}

/**
 * Opens the export a client asks for by name: a primary volume writable through the gateway
 * (`lease-held` when another writer holds its group's lease); a secondary volume, or any
 * volume with `readOnly`, read-only at its latest committed RP; `volume@rp-...` read-only at
 * that RP. A read-only export keeps its RP for its lifetime.
 */
export async function openExport(deps: Deps, spec: string, options: ExportOptions): Promise<OpenedExport> {
  const parsed = parseExportSpec(spec);
  const volume = await resolveVolume(deps, parsed.volume);
  if (parsed.recoveryPointId || options.readOnly || volume.role === 'secondary') {
    const rp = await recoveryPointOf(deps, volume, parsed.recoveryPointId);
    const exp = await RecoveryPointExport.open(deps, spec, volume, rp);
    return Object.assign(exp, { volumeId: volume.id, abandon: () => undefined });
  }
  return openWritable(deps, spec, volume, options);
}

async function openWritable(
  deps: Deps,
  spec: string,
  volume: Volume,
  options: ExportOptions,
): Promise<OpenedExport> {
  let perDeps = writers.get(deps);
  if (!perDeps) {
    perDeps = new Map();
    writers.set(deps, perDeps);
  }
  const scope = volume.groupId ?? volume.id;
  let writer = perDeps.get(scope);
  if (!writer) {
    const exports: Writer['exports'] = new Map();
    const gateway = Gateway.open(deps, volume.id, {
      ...(options.renewEveryMs && { renewEveryMs: options.renewEveryMs }),
      // The cut includes every write the buffers acknowledged: they are stored first.
      beforeCut: async () => {
        await Promise.all([...exports.values()].map(async (e) => (await e.exp).flush()));
      },
    });
    writer = { gateway, exports };
    perDeps.set(scope, writer);
    gateway.catch(() => {
      if (perDeps?.get(scope) === writer) perDeps.delete(scope);
    });
  }
  const w = writer;
  let shared = w.exports.get(volume.id);
  if (!shared) {
    const exp = w.gateway.then((gw) => new GatewayExport(deps, spec, volume, gw, options.writeBack));
    shared = { exp, refs: 0 };
    w.exports.set(volume.id, shared);
    exp.catch(() => w.exports.delete(volume.id));
  }
  shared.refs++;
  const exp = await shared.exp;
  const entry = shared;
  let closed = false;
  const release = async (abandon: boolean) => {
    if (closed) return;
    closed = true;
    entry.refs--;
    if (entry.refs > 0 && !abandon) return;
    if (abandon) exp.abandon();
    else await exp.close();
    w.exports.delete(volume.id);
    if (w.exports.size > 0 && !abandon) return;
    perDeps?.delete(scope);
    const gateway = await w.gateway;
    if (abandon) gateway.abandon();
    else await gateway.close();
  };
  return {
    name: spec,
    sizeBytes: exp.sizeBytes,
    readOnly: false,
    blockSize: exp.blockSize,
    volumeId: volume.id,
    read: (o, l) => exp.read(o, l),
    write: (o, d, opt) => exp.write(o, d, opt),
    flush: () => exp.flush(),
    trim: (o, l, opt) => exp.trim(o, l, opt),
    writeZeroes: (o, l, opt) => exp.writeZeroes(o, l, opt),
    close: () => release(false),
    abandon: () => void release(true),
  };
}
