import fc from 'fast-check';
import type { BlockExport } from '../../shared/nbd/block-export';
import { type OpenedExport, openExport } from '../../shared/nbd/open-export';
import { NbdServer } from '../../shared/nbd/server';
import { NbdClient } from '../support/nbd-client';
import { type SoakCommand, Step, shapeOf, startRecordedSync, type WriteKind } from './commands';
import type { Oracle, WriteRecord } from './oracle';
import { CHUNK, prng, type SoakRun, type SoakVolume, withTimeout } from './system';

/** How long one NBD request (or a FLUSH) may take before the step kills the export. */
const REQUEST_MS = 10_000;
const SHAPES: WriteKind[] = ['random', 'partial', 'hot', 'large'];

/**
 * One write or trim the step sent over NBD: one model write per chunk it touches, because the
 * buffer stores (and the gateway numbers) chunks one by one, so a write not yet durable at a
 * cut may be in its RP for some chunks only, as a disk may tear a write in flight.
 */
interface Sent {
  parts: WriteRecord[];
  settled: Promise<void>;
}

/**
 * The block export as a host uses it: the soak's gateway steps aside, one or two member volumes
 * are opened with `openExport` (one gateway for the group, a write-back buffer per volume, its
 * cut hook flushing them) and served by an NbdServer on loopback, and a client writes through
 * them with WRITE (some FUA), FLUSH and TRIM, pipelined. Each request is recorded in the model
 * as a gateway write is: issued when sent, acknowledged when its reply arrives, refused when it
 * fails. The export then closes cleanly (FLUSH, DISC, close: every acknowledged write stored)
 * or is killed (buffers dropped, lease kept): then only a write answered with FUA, or
 * acknowledged before a FLUSH that was answered, must survive; the other acknowledged ones
 * become "maybe" (docs/architecture.md, write-back buffer and the cut). A sync may start while
 * requests are in flight: every write acknowledged before it started must be in its RP, the
 * buffered ones included (the cut stores them first).
 */
export class ExportStep extends Step {
  constructor(
    readonly volume: number,
    readonly requests: number,
    readonly seed: number,
    readonly end: 'close' | 'kill',
    readonly syncMidway: boolean,
    readonly trim: boolean,
    readonly flushDelayMs: number,
  ) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('export-sessions');
    if (!(await r.settleWrites(15_000))) {
      r.notes.push(`step ${m.step}: gateway writes still in flight after 15 s; no export`);
      return;
    }
    const members = r.volumes.filter((v) => v.member);
    const first = r.volumes[this.volume].member ? r.volumes[this.volume] : members[0];
    if (!first) return;
    const served = [first, ...members.filter((v) => v !== first).slice(0, 1)];
    const gw = r.gateway;
    r.gateway = undefined;
    if (
      gw &&
      (await withTimeout(
        gw.close().catch(() => undefined),
        10_000,
      )) === 'timeout'
    )
      gw.abandon();
    try {
      await this.session(m, r, served);
    } finally {
      await r.reopenGateway(m);
    }
  }

  private async session(m: Oracle, r: SoakRun, served: SoakVolume[]): Promise<void> {
    const exports = await openAll(r, served, this.flushDelayMs);
    if (!exports) {
      r.notes.push(`step ${m.step}: the export could not be opened within 4 leases`);
      return;
    }
    const server = new NbdServer(this.expose(exports), {
      log: () => r.counts.add('export-failures-logged'),
    });
    const sent: Sent[] = [];
    let clients: NbdClient[] = [];
    let clean = false;
    try {
      const address = await server.listen({ host: '127.0.0.1', port: 0 });
      const port = 'port' in address ? address.port : 0;
      clients = await Promise.all(exports.map((e) => NbdClient.connect('127.0.0.1', port, e.name)));
      const rand = prng(this.seed);
      const pick = () => Math.floor(rand() * served.length);
      const send = (k: number, offset: number, data: Uint8Array, fua: boolean, trim: boolean) => {
        const volumeId = served[k].key;
        const issuedAt = m.tick();
        const parts: WriteRecord[] = [];
        for (let at = offset; at < offset + data.length; at = (Math.floor(at / CHUNK) + 1) * CHUNK) {
          const end = Math.min(offset + data.length, (Math.floor(at / CHUNK) + 1) * CHUNK);
          const w: WriteRecord = {
            id: m.writes.length,
            volumeId,
            offset: at,
            data: trim ? new Uint8Array(end - at) : data.slice(at - offset, end - offset),
            issuedAt,
            session: `nbd export of step ${m.step}`,
            step: m.step,
            buffered: true,
          };
          m.writes.push(w);
          parts.push(w);
        }
        const reply = trim ? clients[k].trim(offset, data.length, fua) : clients[k].write(offset, data, fua);
        const s: Sent = {
          parts,
          settled: reply.then(
            () => {
              const at = m.tick();
              for (const w of parts) {
                w.ackedAt = at;
                if (fua) w.durableAt = at;
              }
            },
            (e: Error) => {
              const at = m.tick();
              for (const w of parts) {
                w.failedAt = at;
                w.error = `nbd: ${e.message}`;
              }
            },
          ),
        };
        sent.push(s);
        return s;
      };
      const flush = async (k: number) => {
        const issuedAt = m.tick();
        r.counts.add('export-flushes');
        const done = await withTimeout(
          clients[k].flush().then(
            () => true,
            () => false,
          ),
          REQUEST_MS,
        );
        if (done !== true) return false;
        // Stored and published: every write of this export acknowledged before the FLUSH was sent.
        const answeredAt = m.tick();
        for (const w of sent.flatMap((x) => x.parts))
          if (w.volumeId === served[k].key && w.ackedAt !== undefined && w.ackedAt < issuedAt)
            w.durableAt ??= answeredAt;
        return true;
      };
      const settle = async (batch: Sent[]) =>
        (await withTimeout(Promise.all(batch.map((s) => s.settled)), REQUEST_MS)) !== 'timeout';

      if (this.trim && !(await this.trimmed(m, r, served, pick(), send, settle))) return;
      for (let i = 0; i < this.requests; i++) {
        const batch: Sent[] = [];
        for (let j = 0, n = 1 + Math.floor(rand() * 3); j < n; j++) {
          const k = pick();
          const kind = SHAPES[Math.floor(rand() * SHAPES.length)];
          const { offset, length } = shapeOf(kind, served[k].sizeBytes, rand);
          const span = { volumeId: served[k].key, offset, length };
          // Requests in flight together never overlap: the oracle reads inclusion from the bytes.
          if (length === 0 || m.inflightOverlapping(span).length > 0) continue;
          const fill = new Uint8Array(length);
          for (let b = 0; b < length; b++) fill[b] = Math.floor(rand() * 256);
          batch.push(send(k, offset, m.distinctData(span.volumeId, offset, fill), rand() < 0.2, false));
        }
        if (this.syncMidway && i === Math.floor(this.requests / 2)) await startRecordedSync(m, r);
        if (this.end === 'kill' && i === this.requests - 1) break;
        if (!(await settle(batch))) return;
        if (rand() < 0.4 && !(await flush(pick()))) return;
      }
      if (this.end === 'kill') return;
      for (let k = 0; k < served.length; k++) if (!(await flush(k))) return;
      await Promise.all(clients.map((c) => withTimeout(c.disconnect(), REQUEST_MS)));
      await withTimeout(server.close(), REQUEST_MS);
      clean = (await withTimeout(Promise.all(exports.map((e) => e.close())), REQUEST_MS)) !== 'timeout';
      if (!clean) r.notes.push(`step ${m.step}: the export did not close within ${REQUEST_MS} ms`);
    } catch (e) {
      r.notes.push(`step ${m.step}: export session: ${(e as Error).message}`);
    } finally {
      if (!clean) await this.kill(m, r, exports, server, clients, sent);
    }
  }

  /** What the server serves: the exports themselves (a planted bug's test wraps them). */
  protected expose(exports: OpenedExport[]): BlockExport[] {
    return exports;
  }

  /**
   * Writes a range, then trims it once that write is answered. TRIM writes zeros, which a
   * never-written byte holds too; the write before it makes the trim readable from the bytes,
   * and no sync may be running, so every RP judged on the trim holds that write.
   */
  private async trimmed(
    m: Oracle,
    r: SoakRun,
    served: SoakVolume[],
    k: number,
    send: (k: number, offset: number, data: Uint8Array, fua: boolean, trim: boolean) => Sent,
    settle: (batch: Sent[]) => Promise<boolean>,
  ): Promise<boolean> {
    await r.observeSyncs();
    if (m.syncs.some((s) => s.committedAt === undefined && s.failedAt === undefined)) {
      r.counts.add('export-trims-skipped');
      return true;
    }
    const rand = prng(this.seed ^ 0x5bd1e995);
    const { offset, length } = shapeOf('random', served[k].sizeBytes, rand);
    const fill = new Uint8Array(length);
    for (let b = 0; b < length; b++) fill[b] = Math.floor(rand() * 256);
    const before = send(k, offset, m.distinctData(served[k].key, offset, fill), false, false);
    if (!(await settle([before]))) return false;
    if (before.parts.some((w) => w.ackedAt === undefined)) return true;
    r.counts.add('export-trims');
    return settle([send(k, offset, new Uint8Array(length), rand() < 0.3, true)]);
  }

  /**
   * What a killed server leaves: buffers dropped, the lease held until it expires, the
   * connections gone. Acknowledged writes neither answered with FUA nor covered by an answered
   * FLUSH may be lost: the model keeps them as "maybe", as it does refused writes.
   */
  private async kill(
    m: Oracle,
    r: SoakRun,
    exports: OpenedExport[],
    server: NbdServer,
    clients: NbdClient[],
    sent: Sent[],
  ): Promise<void> {
    r.counts.add('export-kills');
    for (const e of exports) e.abandon();
    for (const c of clients) c.destroy();
    await withTimeout(server.close(), REQUEST_MS);
    await withTimeout(Promise.all(sent.map((s) => s.settled)), REQUEST_MS);
    const at = m.tick();
    for (const w of sent.flatMap((s) => s.parts)) {
      if (w.durableAt !== undefined || w.failedAt !== undefined) continue;
      if (w.ackedAt !== undefined) r.counts.add('export-writes-unflushed-at-kill');
      w.error =
        w.ackedAt === undefined
          ? 'no reply from the killed export'
          : 'acknowledged from the buffer of an export killed before a FLUSH';
      w.ackedAt = undefined;
      w.failedAt = at;
    }
  }

  toString(): string {
    return `export(v${this.volume}, x${this.requests}, seed ${this.seed}, ${this.end}${this.syncMidway ? ', sync midway' : ''}${this.trim ? ', trim' : ''}, flush delay ${this.flushDelayMs}ms)`;
  }
}

/**
 * Opens an export per volume (they share the group's gateway), retrying while an abandoned
 * gateway's lease has not expired. An open that outlives its wait is closed when it ends, so
 * no gateway keeps the lease behind the step's back.
 */
async function openAll(
  r: SoakRun,
  served: SoakVolume[],
  flushDelayMs: number,
): Promise<OpenedExport[] | undefined> {
  const deadline = Date.now() + 4 * r.deps.config.leaseSeconds * 1000;
  while (Date.now() < deadline) {
    const opened: OpenedExport[] = [];
    let failed = false;
    for (const v of served) {
      const opening = openExport(r.gatewayDeps, v.primaryId, {
        readOnly: false,
        renewEveryMs: 100,
        writeBack: { flushDelayMs },
      });
      const e = await withTimeout(
        opening.catch(() => undefined),
        10_000,
      );
      if (e === 'timeout') void opening.then((late) => late.close()).catch(() => undefined);
      if (!e || e === 'timeout') {
        failed = true;
        break;
      }
      opened.push(e);
    }
    if (!failed) return opened;
    await withTimeout(Promise.all(opened.map((e) => e.close().catch(() => e.abandon()))), 10_000);
    await new Promise((res) => setTimeout(res, 250));
  }
  return undefined;
}

/** The export steps, drawn beside the others in the `all` fault set. */
export function exportSteps(): fc.Arbitrary<SoakCommand>[] {
  return [
    fc
      .tuple(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.constantFrom<'close' | 'kill'>('close', 'kill'),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom(0, 100, 2000),
      )
      .map(([v, n, seed, end, sync, trim, delay]) => new ExportStep(v, n, seed, end, sync, trim, delay)),
  ];
}
