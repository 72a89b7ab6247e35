import fc from 'fast-check';
import type { IngestStopPoint } from '../../local/runtime';
import { DomainError } from '../../shared/domain/errors';
import type { Priority } from '../../shared/domain/model';
import { Gateway } from '../../shared/gateway/gateway';
import { patchGroup, resumeGroup, suspendGroup } from '../../shared/usecases/groups';
import { addPair, removePair } from '../../shared/usecases/pairs';
import { abortSync, startSync } from '../../shared/usecases/sync/index';
import type { Oracle } from './oracle';
import { CHUNK, prng, type SoakRun, VOLUME_SIZES, withTimeout } from './system';

/** How long a kill stays armed, waiting for a worker with work in hand. */
const KILL_ARMED_MS = 20_000;

/** One step of a soak run. `run` must return in bounded time whatever the faults. */
export type SoakCommand = fc.AsyncCommand<Oracle, SoakRun>;

const SITES = ['east', 'west'] as const;

/**
 * A step: its action, then the checks every step is followed by. Other helpers' faults (sync
 * abort, PUTs stalled past the lease) extend this class and are passed to soakCommands.
 */
export abstract class Step implements SoakCommand {
  check(): boolean {
    return true;
  }

  async run(m: Oracle, r: SoakRun): Promise<void> {
    m.step += 1;
    r.log(`step ${m.step}: ${this.toString()}`);
    if (r.rolesUnsure) await r.refollow(m);
    await this.act(m, r);
    await r.observeSyncs();
    if (m.violations.length > 0) throw new Error(`invariant violated at step ${m.step} (${this.toString()})`);
  }

  protected abstract act(m: Oracle, r: SoakRun): Promise<void>;
  abstract toString(): string;
}

export type WriteKind = 'random' | 'hot' | 'partial' | 'zero' | 'large';

/** The offset and length of a write of a kind, drawn from `rand`. */
export function shapeOf(
  kind: WriteKind,
  size: number,
  rand: () => number,
): { offset: number; length: number } {
  const int = (n: number) => Math.floor(rand() * n);
  switch (kind) {
    case 'zero':
      return { offset: int(size), length: 0 };
    case 'hot': {
      const length = 1 + int(4096);
      return { offset: int(2 * CHUNK - length), length };
    }
    case 'partial': {
      const chunk = int(size / CHUNK);
      const length = 1 + int(CHUNK - 1);
      return { offset: chunk * CHUNK + int(CHUNK - length), length };
    }
    case 'large': {
      const length = Math.min(size, (2 + int(4)) * CHUNK + int(CHUNK));
      return { offset: int(size - length + 1), length };
    }
    default: {
      const length = 1 + int(2 * CHUNK);
      return { offset: int(size - length + 1), length };
    }
  }
}

/**
 * Issues `count` writes without waiting for them. A write that shares bytes with one still in
 * flight waits for it first, so writes in flight together never overlap and the oracle can
 * read from the bytes whether each is in an image.
 */
export class WriteStep extends Step {
  constructor(
    readonly volume: number,
    readonly kind: WriteKind,
    readonly count: number,
    readonly seed: number,
  ) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    const v = r.volumes[this.volume];
    const rand = prng(this.seed);
    for (let i = 0; i < this.count; i++) {
      const gw = r.gateway;
      if (!gw) return;
      const { offset, length } = shapeOf(this.kind, v.sizeBytes, rand);
      const span = { volumeId: v.key, offset, length };
      const before = m.inflightOverlapping(span);
      if (before.length > 0) {
        const settled = await withTimeout(Promise.all(before.map((w) => r.settledOf(w.id))), 10_000);
        if (settled === 'timeout') {
          r.notes.push(`step ${m.step}: a write stayed in flight over 10 s; overlapping write skipped`);
          continue;
        }
      }
      const fill = new Uint8Array(length);
      for (let j = 0; j < length; j++) fill[j] = Math.floor(rand() * 256);
      r.issue(gw, v, offset, m.distinctData(v.key, offset, fill));
    }
  }

  toString(): string {
    return `write(v${this.volume}, ${this.kind}, x${this.count}, seed ${this.seed})`;
  }
}

/** A second gateway for a member volume while one holds the lease: it must be refused. */
export class SecondGatewayStep extends Step {
  constructor(readonly volume: number) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    // A volume out of the group is written under a lease of its own: a second gateway for it
    // is right to open. The step asks for a member (the drawn volume, else the first one).
    const v = r.volumes[this.volume].member ? r.volumes[this.volume] : r.volumes.find((x) => x.member);
    if (!v) return;
    r.counts.add('second-gateway-attempts');
    const openedAt = m.tick();
    const second = await withTimeout(
      Gateway.open(r.gatewayDeps, v.primaryId, { renewEveryMs: 100 }).catch(() => undefined),
      15_000,
    );
    if (!second || second === 'timeout') return;
    // Accepted: only right when the first gateway can no longer be acknowledging writes.
    r.secondWriterSince(openedAt, second);
  }

  toString(): string {
    return `secondGateway(v${this.volume})`;
  }
}

/** Starts a sync the oracle records and hands it to the runtime; refused when one runs. */
export async function startRecordedSync(m: Oracle, r: SoakRun): Promise<void> {
  const startedAt = m.tick();
  const started = await withTimeout(
    startSync(r.deps, r.groupId).catch(() => undefined),
    15_000,
  );
  if (!started || started === 'timeout') return;
  r.recordSync(started.syncId, started.recoveryPointId, startedAt);
  r.stack.runtime.drive(r.groupId, started.syncId);
}

export class StartSyncStep extends Step {
  protected act(m: Oracle, r: SoakRun): Promise<void> {
    return startRecordedSync(m, r);
  }

  toString(): string {
    return 'startSync';
  }
}

/**
 * A sync starts and, after a while, the group's priority changes: the lanes the copy step keeps
 * offered change under a sync that is planning or copying, and a planning step re-run after the
 * change must cut exactly the tasks it cut before (their size is fixed on its checkpoint).
 */
export class PriorityStep extends Step {
  constructor(
    readonly priority: Priority,
    readonly afterMs: number,
  ) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    await startRecordedSync(m, r);
    await new Promise((res) => setTimeout(res, this.afterMs));
    const running = r.oracle.syncs.some((s) => s.committedAt === undefined && s.failedAt === undefined);
    const patched = await withTimeout(
      patchGroup(r.deps, r.groupId, { priority: this.priority }).then(
        () => true,
        () => false,
      ),
      15_000,
    );
    if (patched !== true) return;
    r.counts.add('priority-changes');
    if (running) r.counts.add('priority-changes-mid-sync');
  }

  toString(): string {
    return `priority(${this.priority}, after ${this.afterMs}ms)`;
  }
}

export class LinkStep extends Step {
  constructor(
    readonly action: 'cut' | 'heal',
    readonly site: (typeof SITES)[number],
  ) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    if (this.action === 'cut') r.stack.h.stack.cut(this.site);
    else r.stack.h.stack.heal(this.site);
  }

  toString(): string {
    return `link(${this.action}, ${this.site})`;
  }
}

export class DegradeStep extends Step {
  constructor(
    readonly site: (typeof SITES)[number],
    readonly errorRate: number,
    readonly status: 503 | 500,
    readonly delayMs: number,
  ) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    r.stack.h.stack.degrade(
      { errorRate: this.errorRate, status: this.status, delayMs: this.delayMs },
      this.site,
    );
  }

  toString(): string {
    return `degrade(${this.site}, ${this.errorRate}, ${this.status}, ${this.delayMs}ms)`;
  }
}

/**
 * Copy workers die between two chunk copies, as killed Lambdas: the kill is armed for up to
 * KILL_ARMED_MS and lands on the first worker that reaches a copy; for `forMs` from then every
 * worker that does dies, then new ones start.
 */
export class KillCopyWorkersStep extends Step {
  constructor(readonly forMs: number) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    r.stack.armCopyKill(KILL_ARMED_MS, this.forMs);
  }

  toString(): string {
    return `killCopyWorkers(${this.forMs}ms)`;
  }
}

/** Stops the whole runtime (pollers, copy workers, sync drivers) and starts a new one. */
export class RestartRuntimeStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    const s = r.stack;
    if ((await withTimeout(s.runtime.stop(), 30_000)) === 'timeout')
      r.notes.push(`step ${m.step}: the runtime took over 30 s to stop`);
    s.newRuntime();
    r.counts.add('runtime-restarts');
  }

  toString(): string {
    return 'restartRuntime';
  }
}

/** The gateway dies without sealing its epoch; a new one takes over once the lease allows. */
export class CrashGatewayStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    if (r.gateway) r.counts.add('gateway-crashes');
    r.gateway?.abandon();
    r.gateway = undefined;
    await r.reopenGateway(m);
  }

  toString(): string {
    return 'crashGateway';
  }
}

/** Aborts the running sync: the last RP stays served, and the next sync copies its changes. */
export class AbortSyncStep extends Step {
  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    const running = r.oracle.syncs.find((s) => s.committedAt === undefined && s.failedAt === undefined);
    if (!running) return;
    r.counts.add('abort-requests');
    // Refused when the sync ended meanwhile: then there is nothing to abort.
    const aborted = await withTimeout(
      abortSync(r.deps, r.groupId, running.syncId).then(
        () => true,
        () => false,
      ),
      15_000,
    );
    if (aborted === true) r.counts.add('aborts-accepted');
  }

  toString(): string {
    return 'abortSync';
  }
}

/** Every sync driver dies mid-step and keeps its driver lease until it expires (a crashed Lambda). */
export class KillDriversStep extends Step {
  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('driver-kills', await r.stack.runtime.killDrivers());
  }

  toString(): string {
    return 'killDrivers';
  }
}

/**
 * Ingest workers die at a point of their work (before handling a batch, or before its delete):
 * armed as `killCopyWorkers`, the kill lands on the next batch and lasts `forMs`, then new
 * workers start.
 */
export class KillIngestStep extends Step {
  constructor(
    readonly point: IngestStopPoint,
    readonly forMs: number,
  ) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    r.stack.armIngestKill(this.point, KILL_ARMED_MS, this.forMs);
  }

  toString(): string {
    return `killIngest(${this.point}, ${this.forMs}ms)`;
  }
}

/**
 * The primary site's link holds every request for a while: a stall past the lease fences the
 * gateway with PUTs still in flight, which must never land after a newer gateway's writes. Then
 * the link is released and, when the lease may have lapsed, a new gateway takes over.
 */
export class StallStep extends Step {
  constructor(readonly forMs: number) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    const site = r.primarySite;
    r.stack.h.stack.stall(site);
    await new Promise((res) => setTimeout(res, this.forMs));
    r.stack.h.stack.release(site);
    if (this.forMs < r.deps.config.leaseSeconds * 1000 * 0.8) return;
    if (r.gateway) r.counts.add('gateways-fenced-by-stall');
    r.gateway?.abandon();
    r.gateway = undefined;
    await r.reopenGateway(m);
  }

  toString(): string {
    return `stall(${this.forMs}ms)`;
  }
}

/** A second runtime (scheduler, sync drivers, workers) runs beside the first for a while. */
export class ExtraRuntimeStep extends Step {
  constructor(readonly forMs: number) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    const extra = r.stack.extraRuntime();
    r.counts.add('extra-runtimes');
    await new Promise((res) => setTimeout(res, this.forMs));
    if ((await withTimeout(extra.stop(), 30_000)) === 'timeout')
      r.notes.push(`step ${m.step}: the extra runtime took over 30 s to stop`);
  }

  toString(): string {
    return `extraRuntime(${this.forMs}ms)`;
  }
}

export class DeliveryStep extends Step {
  constructor(readonly mode: 'normal' | 'duplicate' | 'hold' | 'release') {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    if (this.mode === 'release') await withTimeout(r.delivery.release(), 15_000);
    else r.delivery.mode = this.mode;
  }

  toString(): string {
    return `delivery(${this.mode})`;
  }
}

/** Removes the pair of a volume, or adds it back (a new secondary, synced whole). */
export class PairStep extends Step {
  constructor(readonly volume: number) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    const v = r.volumes[this.volume];
    if (v.member) {
      r.membershipChanged(v);
      v.member = false;
      const removed = await memberChange(r, 'pair-removes', () =>
        removePair(r.deps, r.groupId, v.primaryId).then(() => true),
      );
      v.member = removed !== true;
      if (removed === true) v.pairRemoved = true;
      return;
    }
    const added = await memberChange(r, 'pair-adds', () =>
      addPair(r.deps, r.groupId, { primaryVolumeId: v.primaryId }),
    );
    if (added) {
      r.membershipChanged(v);
      v.secondaryId = added.secondaryVolumeId;
      v.member = true;
    }
  }

  toString(): string {
    return `togglePair(v${this.volume})`;
  }
}

/**
 * A pair change, counted under `what` when it succeeds and under `what-refused:<code>`
 * otherwise. Members do not change while a sync runs: refused for that, it is tried once more
 * when the sync has ended (waiting up to 5 s), so pairs do change in a run full of syncs.
 */
export async function memberChange<T>(
  r: SoakRun,
  what: string,
  change: () => Promise<T>,
): Promise<T | undefined> {
  let code = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    const out = await withTimeout(
      change().catch((e: Error) => {
        code = e instanceof DomainError ? e.code : e.name;
        return undefined;
      }),
      15_000,
    );
    if (out === 'timeout') code = 'timeout';
    else if (out !== undefined) {
      r.counts.add(what);
      return out;
    }
    if (code !== 'sync-running') break;
    const until = Date.now() + 5_000;
    while (r.syncRunning() && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 200));
      await r.observeSyncs();
    }
  }
  r.counts.add(`${what}-refused:${code}`);
  return undefined;
}

export class SuspendStep extends Step {
  constructor(readonly suspend: boolean) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    const change = this.suspend ? suspendGroup : resumeGroup;
    const changed = await withTimeout(
      change(r.deps, r.groupId).then(
        () => true,
        () => false,
      ),
      15_000,
    );
    if (changed === true) r.counts.add(this.suspend ? 'suspends' : 'resumes');
  }

  toString(): string {
    return this.suspend ? 'suspend' : 'resume';
  }
}

/** Lets time pass: until the running sync ends, or `ms`. */
export class SettleStep extends Step {
  constructor(readonly ms: number) {
    super();
  }

  protected async act(_m: Oracle, r: SoakRun): Promise<void> {
    const deadline = Date.now() + this.ms;
    while (
      Date.now() < deadline &&
      r.oracle.syncs.some((s) => s.committedAt === undefined && s.failedAt === undefined)
    ) {
      await new Promise((res) => setTimeout(res, 100));
      await r.observeSyncs();
    }
  }

  toString(): string {
    return `settle(${this.ms}ms)`;
  }
}

/** The steps of a soak run and how often each is drawn; `extra` adds more faults. */
export const WRITE_KINDS: WriteKind[] = ['random', 'hot', 'partial', 'zero', 'large'];

export function soakCommands(
  extra: fc.Arbitrary<SoakCommand>[] = [],
  kinds: WriteKind[] = WRITE_KINDS,
): fc.Arbitrary<SoakCommand>[] {
  const volume = fc.integer({ min: 0, max: VOLUME_SIZES.length - 1 });
  const site = fc.constantFrom(...SITES);
  const weighted = (arbitrary: fc.Arbitrary<SoakCommand>, weight: number) => ({ arbitrary, weight });
  return [
    fc.oneof(
      weighted(
        fc
          .tuple(
            volume,
            fc.constantFrom<WriteKind>(...kinds),
            fc.integer({ min: 1, max: 4 }),
            fc.integer({ min: 1, max: 2 ** 31 - 1 }),
          )
          .map(([v, k, n, s]) => new WriteStep(v, k, n, s)),
        12,
      ),
      weighted(fc.constant(new StartSyncStep()), 5),
      weighted(
        fc.integer({ min: 200, max: 3000 }).map((ms) => new SettleStep(ms)),
        4,
      ),
      weighted(
        volume.map((v) => new SecondGatewayStep(v)),
        1,
      ),
      weighted(
        site.map((s) => new LinkStep('cut', s)),
        2,
      ),
      weighted(
        site.map((s) => new LinkStep('heal', s)),
        2,
      ),
      weighted(
        fc
          .tuple(
            site,
            fc.constantFrom(0, 0.1, 0.3),
            fc.constantFrom<503 | 500>(503, 500),
            fc.constantFrom(0, 20, 100),
          )
          .map(([s, rate, status, delay]) => new DegradeStep(s, rate, status, delay)),
        1,
      ),
      weighted(
        fc.integer({ min: 50, max: 500 }).map((ms) => new KillCopyWorkersStep(ms)),
        1,
      ),
      weighted(fc.constant(new RestartRuntimeStep()), 1),
      weighted(fc.constant(new CrashGatewayStep()), 2),
      weighted(
        fc.constantFrom('normal', 'duplicate', 'hold', 'release').map((mode) => new DeliveryStep(mode)),
        2,
      ),
      weighted(
        volume.map((v) => new PairStep(v)),
        2,
      ),
      weighted(
        fc.boolean().map((s) => new SuspendStep(s)),
        1,
      ),
      ...extra.map((a) => weighted(a, 1)),
    ),
  ];
}

/**
 * Faults added after the first seeds were recorded: drawn through `extra`, so that the steps the
 * original set draws for a seed (the regression seeds of the short soak) stay the same.
 */
export function laterFaults(): fc.Arbitrary<SoakCommand>[] {
  return [
    fc.constant(new AbortSyncStep()),
    fc.constant(new KillDriversStep()),
    fc
      .tuple(
        fc.constantFrom<IngestStopPoint>('before-handle', 'before-delete'),
        fc.integer({ min: 50, max: 800 }),
      )
      .map(([point, ms]) => new KillIngestStep(point, ms)),
    fc.integer({ min: 500, max: 4500 }).map((ms) => new StallStep(ms)),
    fc.integer({ min: 1000, max: 8000 }).map((ms) => new ExtraRuntimeStep(ms)),
  ];
}
