import { INGEST_POLLERS, type IngestStopPoint, LocalRuntime } from '../../local/runtime';
import type { Topology } from '../../local/stack';
import { keys } from '../../shared/aws/keys';
import type { Queue } from '../../shared/aws/queues';
import type { Deps } from '../../shared/deps';
import type { Group } from '../../shared/domain/model';
import { Gateway } from '../../shared/gateway/gateway';
import { createGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { getSync } from '../../shared/usecases/sync/index';
import { createVolume } from '../../shared/usecases/volumes';
import { type Harness, startHarness } from '../support/harness';
import { readAll } from '../support/workload';
import { DeliveryFaults } from './delivery-faults';
import { FaultCounts, readLinks } from './fault-counts';
import { Oracle, type SyncRecord, type WriteRecord } from './oracle';

export const KiB = 1024;
export const CHUNK = 64 * KiB;
/** Small volumes of different sizes: whole images are read and compared at every RP. */
export const VOLUME_SIZES = [16 * CHUNK, 8 * CHUNK, 12 * CHUNK];
export const COPY_WORKERS = 3;

const CHUNK_KEY = /^volumes\/([^/]+)\/chunks\/(\d+)$/;

export const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> =>
  Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref())]);

/** A seeded xorshift generator: the runtime choices of a step (bytes, shuffles) follow its seed. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/**
 * One emulated stack for many runs (each run makes a fresh group), a local runtime whose
 * copy workers can be stopped, and a counter of chunk copies at the secondary site.
 */
export class SoakStack {
  runtime: LocalRuntime;
  killCopy = false;
  /** Where ingest workers stop, as killed, while set. */
  killIngest?: IngestStopPoint;
  /**
   * Kills armed by a step: the first worker to reach a chunk copy (or an ingest batch, at the
   * point) before `until` opens a kill window of `forMs`; at its end new workers start. Armed,
   * not timed, so the kill lands on work whenever there is some (a copy phase is short).
   */
  private copyKill?: { until: number; forMs: number };
  private ingestKill?: { point: IngestStopPoint; until: number; forMs: number };
  private readonly killTimers = new Set<NodeJS.Timeout>();
  current?: SoakRun;

  private constructor(readonly h: Harness) {
    // A killed driver keeps its driver lease until it expires: short, so syncs end soon after.
    h.deps.config.driverLeaseSeconds = 10;
    this.runtime = this.newRuntime();
    this.countCopies();
    this.routeCopyTasks();
  }

  /**
   * Copy tasks go through the current run's delivery faults, as its change messages do: SQS may
   * deliver a task twice (a second worker then copies it beside the first), late, or out of order.
   */
  private routeCopyTasks(): void {
    for (const [site, queue] of Object.entries(this.h.deps.copyQueues)) {
      const routed = Object.create(queue) as Queue;
      const via = () => this.current?.delivery.wrap(queue, 'copy-tasks') ?? queue;
      routed.send = (body: string) => via().send(body);
      routed.sendAll = (bodies: string[]) => via().sendAll(bodies);
      this.h.deps.copyQueues[site] = routed;
    }
  }

  /** `stepBudgetChunks`: the chunks a sync step may plan or commit (absent: the default). */
  static async start(topology: Topology, stepBudgetChunks?: number): Promise<SoakStack> {
    const h = await startHarness({ topology, leaseSeconds: 3, copyVisibilitySeconds: 2 });
    h.deps.config.stepBudgetChunks = stepBudgetChunks;
    return new SoakStack(h);
  }

  get stepBudget(): number | undefined {
    return this.h.deps.config.stepBudgetChunks;
  }

  /**
   * A runtime beside the stack's, as concurrent Lambda invocations of the scheduler and the
   * sync driver run beside each other; the caller stops it.
   */
  extraRuntime(): LocalRuntime {
    return new LocalRuntime(this.h.deps, {
      copyWorkers: 1,
      tickMs: 100,
      syncPollMs: 30,
      copyVisibilitySeconds: 2,
    }).start();
  }

  /** Starts a runtime and makes it the stack's: the one the steps drive, kill and stop. */
  newRuntime(): LocalRuntime {
    const runtime = new LocalRuntime(this.h.deps, {
      copyWorkers: COPY_WORKERS,
      tickMs: 100,
      syncPollMs: 30,
      copyVisibilitySeconds: 2,
      shouldStopCopy: () => {
        const armed = this.copyKill;
        if (armed && !this.killCopy && Date.now() < armed.until) {
          this.copyKill = undefined;
          this.killCopy = true;
          this.after(armed.forMs, () => {
            this.killCopy = false;
            this.respawnCopyWorkers();
          });
        }
        if (this.killCopy) this.current?.counts.add('copy-worker-kills');
        return this.killCopy;
      },
      shouldStopIngest: (point) => {
        const armed = this.ingestKill;
        if (armed?.point === point && this.killIngest === undefined && Date.now() < armed.until) {
          this.ingestKill = undefined;
          this.killIngest = point;
          this.after(armed.forMs, () => {
            this.killIngest = undefined;
            this.respawnIngestWorkers();
          });
        }
        const kill = this.killIngest === point;
        if (kill) this.current?.counts.add('ingest-kills');
        return kill;
      },
    }).start();
    this.h.runtime = runtime;
    this.runtime = runtime;
    return runtime;
  }

  armCopyKill(armedMs: number, forMs: number): void {
    this.copyKill = { until: Date.now() + armedMs, forMs };
  }

  armIngestKill(point: IngestStopPoint, armedMs: number, forMs: number): void {
    this.ingestKill = { point, until: Date.now() + armedMs, forMs };
  }

  /** No kill armed or under way, and every worker killed replaced: the end of a run. */
  endKills(): void {
    for (const t of this.killTimers) clearTimeout(t);
    this.killTimers.clear();
    this.copyKill = undefined;
    this.ingestKill = undefined;
    this.killCopy = false;
    this.killIngest = undefined;
    this.respawnCopyWorkers();
    this.respawnIngestWorkers();
  }

  private after(ms: number, f: () => void): void {
    const t = setTimeout(() => {
      this.killTimers.delete(t);
      f();
    }, ms);
    this.killTimers.add(t);
  }

  respawnCopyWorkers(): void {
    const missing = this.sites.length * COPY_WORKERS - this.runtime.copyWorkersAlive;
    if (missing > 0)
      for (const site of this.sites) this.runtime.startCopyWorkers(site, Math.ceil(missing / 2));
  }

  respawnIngestWorkers(): void {
    const missing = this.sites.length * INGEST_POLLERS - this.runtime.ingestWorkersAlive;
    if (missing > 0)
      for (const site of this.sites) this.runtime.startIngestWorkers(site, Math.ceil(missing / 2));
  }

  /**
   * Every chunk PUT or CopyObject that reached a secondary volume from elsewhere, credited to the running sync.
   * Both sites are watched: after a role flip the secondaries are at the first site.
   */
  private countCopies(): void {
    for (const { name } of this.h.deps.config.sites) this.countCopiesAt(name);
  }

  private countCopiesAt(site: string): void {
    const stack = this.h.clients.sites[site].s3.middlewareStack as unknown as {
      add(mw: unknown, opts: { step: string; name: string }): void;
    };
    stack.add(
      (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input?: { Key?: string; CopySource?: string } }) => {
          const out = await next(args);
          const cmd = context.commandName;
          const m = CHUNK_KEY.exec(args.input?.Key ?? '');
          // A copy of the key's own earlier version is a role change's revert, not a sync's copy.
          const revert = args.input?.CopySource?.split('?')[0].endsWith(`/${args.input.Key}`);
          if (m && revert) this.current?.revertedVolumes.add(m[1]);
          else if (m && (cmd === 'PutObjectCommand' || cmd === 'CopyObjectCommand'))
            this.current?.copied(m[1], m[2]);
          return out;
        },
      { step: 'initialize', name: 'soakCopyCounter' },
    );
  }

  get sites(): string[] {
    return this.h.deps.config.sites.map((s) => s.name);
  }

  async stop(): Promise<void> {
    this.h.stack.heal();
    await withTimeout(this.h.stop(), 60_000);
  }
}

export interface SoakVolume {
  /**
   * The volume's name in the model: its first primary's id. Writes and RP images are keyed by
   * it, so a role flip (which swaps which volume is written) leaves the model as it is.
   */
  key: string;
  /** The volume written now: while a member, the pair's volume at the group's primary site. */
  primaryId: string;
  secondaryId?: string;
  sizeBytes: number;
  member: boolean;
  /** Whether the pair, as it is now, is in the last committed RP (else its next sync is initial for it). */
  inLastRp: boolean;
  /** Its pair was removed during the run (what an RP of the removed pair named may stay). */
  pairRemoved?: boolean;
}

/** The system under test for one run: a fresh group, its gateway and the faults applied to it. */
export class SoakRun {
  readonly oracle = new Oracle();
  readonly delivery: DeliveryFaults;
  readonly gatewayDeps: Deps;
  gateway?: Gateway;
  readonly notes: string[] = [];
  /** Volumes a role change reverted to an RP (by copying chunks onto themselves) during the run. */
  readonly revertedVolumes = new Set<string>();
  /** The faults this run injected and what came of it; complete once `countOutcomes` ran. */
  readonly counts = new FaultCounts();
  private readonly linksAtStart: ReturnType<typeof readLinks>;
  log: (line: string) => void = () => undefined;
  /**
   * A deliberately broken system double, set only by the soak's own test: it alters the
   * secondary image of an RP as read, so that test can plant a bug the soak must find.
   */
  readHook?: (sync: SyncRecord, primaryId: string, image: Uint8Array) => Uint8Array;
  private lastCommitted?: SyncRecord;
  /** The role epoch the soak last read; gateways opened since write under it. */
  roleEpoch = 0;
  /** A role change was left unfinished by a step: every step first looks whether it flipped since. */
  rolesUnsure = false;
  /** Where each gateway writes: the site and role epoch read when it was opened. */
  private readonly gatewayRoles = new WeakMap<Gateway, { site: string; roleEpoch: number }>();

  private constructor(
    readonly stack: SoakStack,
    readonly groupId: string,
    readonly volumes: SoakVolume[],
    readonly random: () => number,
    /** The sites as the soak last saw the group's roles: writes go to the primary's volumes. */
    public primarySite: string,
    public secondarySite: string,
  ) {
    this.delivery = new DeliveryFaults(random, this.counts);
    this.linksAtStart = readLinks(stack.h.stack.proxies);
    const deps = stack.h.deps;
    this.gatewayDeps = {
      ...deps,
      changeQueues: Object.fromEntries(
        Object.entries(deps.changeQueues).map(([site, q]) => [site, this.delivery.wrap(q)]),
      ),
    };
  }

  static async create(stack: SoakStack, seed: number): Promise<SoakRun> {
    const deps = stack.h.deps;
    const [primary, secondary] = deps.config.sites.map((s) => s.name);
    const group = await createGroup(deps, {
      name: `soak-${seed}`,
      primarySite: primary,
      secondarySite: secondary,
      sync: { mode: 'manual' },
    });
    const volumes: SoakVolume[] = [];
    for (const [i, sizeBytes] of VOLUME_SIZES.entries()) {
      const v = await createVolume(deps, {
        name: `soak-${seed}-${i}`,
        site: primary,
        sizeBytes,
        chunkSizeBytes: CHUNK,
      });
      const pair = await addPair(deps, group.id, { primaryVolumeId: v.id });
      volumes.push({
        key: v.id,
        primaryId: v.id,
        secondaryId: pair.secondaryVolumeId,
        sizeBytes,
        member: true,
        inLastRp: false,
      });
    }
    const run = new SoakRun(stack, group.id, volumes, prng(seed), primary, secondary);
    stack.current = run;
    run.roleEpoch = group.roleEpoch;
    run.gateway = run.opened(
      await Gateway.open(run.gatewayDeps, volumes[0].primaryId, { renewEveryMs: 100 }),
    );
    return run;
  }

  get deps(): Deps {
    return this.stack.h.deps;
  }

  private readonly settled = new Map<number, Promise<void>>();
  /** Writes acknowledged by a gateway, with when the oracle saw them, to judge a second writer. */
  private readonly ackedBy = new Map<Gateway, number[]>();
  private secondWriters: { since: number; first: Gateway }[] = [];

  /** Hands a write to the gateway (to the volume's current primary) and records its issue, acknowledgement or refusal. */
  issue(gw: Gateway, v: SoakVolume, offset: number, data: Uint8Array): void {
    const m = this.oracle;
    const w: WriteRecord = {
      id: m.writes.length,
      volumeId: v.key,
      offset,
      data,
      issuedAt: m.tick(),
      session: gw.session,
      step: m.step,
      ...this.gatewayRoles.get(gw),
    };
    m.writes.push(w);
    const acks = this.ackedBy.get(gw) ?? [];
    this.ackedBy.set(gw, acks);
    this.settled.set(
      w.id,
      gw.write(v.primaryId, offset, data).then(
        () => {
          w.ackedAt = m.tick();
          acks.push(w.issuedAt);
          this.checkSingleWriter(gw, w);
        },
        (e: Error) => {
          w.failedAt = m.tick();
          w.error = e.message;
        },
      ),
    );
  }

  /** Whether a sync the oracle recorded has not been seen to end yet. */
  syncRunning(): boolean {
    return this.oracle.syncs.some((s) => s.committedAt === undefined && s.failedAt === undefined);
  }

  /** Whether a write handed to a gateway is neither acknowledged nor refused yet. */
  writesInFlight(): boolean {
    return this.oracle.writes.some((w) => w.ackedAt === undefined && w.failedAt === undefined);
  }

  settledOf(id: number): Promise<void> {
    return this.settled.get(id) ?? Promise.resolve();
  }

  async settleWrites(ms: number): Promise<boolean> {
    return (await withTimeout(Promise.all(this.settled.values()), ms)) !== 'timeout';
  }

  /**
   * A second gateway was let in for the group: from then on the first one must not
   * acknowledge a write it was handed after that moment. The second becomes the writer.
   */
  secondWriterSince(since: number, second: Gateway): void {
    const first = this.gateway;
    this.counts.add('second-gateways-accepted');
    if (first) {
      this.secondWriters.push({ since, first });
      first.abandon();
    }
    this.notes.push(`step ${this.oracle.step}: a second gateway was accepted while the first was alive`);
    this.gateway = this.opened(second);
  }

  private checkSingleWriter(gw: Gateway, w: WriteRecord): void {
    for (const s of this.secondWriters) {
      if (s.first === gw && w.issuedAt > s.since)
        this.oracle.violation(
          'two-writers',
          `write #${w.id} was acknowledged by the first gateway after a second one was opened for the group`,
        );
    }
  }

  /** A gateway opened now writes at the primary site the soak follows, under the role epoch it read. */
  opened(gw: Gateway): Gateway {
    this.gatewayRoles.set(gw, { site: this.primarySite, roleEpoch: this.roleEpoch });
    return gw;
  }

  /**
   * Follows the group's roles: after a flip, each member's volume at the new primary site is
   * the one written and the other one the secondary read at later RPs. Pairs do not change
   * during a role change, so the members now are those of the flip. True when it flipped.
   */
  async followRoles(): Promise<boolean> {
    const g = await this.deps.table.get<Group>(keys.group(this.groupId));
    if (!g) return false;
    this.roleEpoch = g.roleEpoch;
    if (!g.roleChange) this.rolesUnsure = false;
    if (g.primarySite === this.primarySite) return false;
    this.primarySite = g.primarySite;
    this.secondarySite = g.secondarySite;
    for (const v of this.volumes)
      if (v.member && v.secondaryId) [v.primaryId, v.secondaryId] = [v.secondaryId, v.primaryId];
    return true;
  }

  /** After a flip the soak did not see end: writes go to the new primary through a new gateway. */
  async refollow(m: Oracle): Promise<void> {
    if (!(await this.followRoles())) return;
    await this.closeGateway();
    await this.reopenGateway(m);
  }

  /** Closes the gateway (sealing its epoch), or abandons it when the close does not end. */
  async closeGateway(): Promise<void> {
    const gw = this.gateway;
    this.gateway = undefined;
    if (
      gw &&
      (await withTimeout(
        gw.close().catch(() => undefined),
        10_000,
      )) === 'timeout'
    )
      gw.abandon();
  }

  /** Opens a gateway again, retrying while the dead one's lease has not expired yet. */
  async reopenGateway(m: Oracle): Promise<void> {
    const deadline = Date.now() + 4 * this.deps.config.leaseSeconds * 1000;
    const primary = this.volumes.find((v) => v.member) ?? this.volumes[0];
    while (Date.now() < deadline) {
      const gw = await withTimeout(
        Gateway.open(this.gatewayDeps, primary.primaryId, { renewEveryMs: 100 }).catch(() => undefined),
        10_000,
      );
      if (gw && gw !== 'timeout') {
        this.gateway = this.opened(gw);
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.notes.push(`step ${m.step}: no gateway could be opened again within 4 leases`);
  }

  /** Adds what the proxies answered during the run and the outcomes the oracle recorded. */
  countOutcomes(): void {
    const c = this.counts;
    const m = this.oracle;
    c.addLinks(this.linksAtStart, readLinks(this.stack.h.stack.proxies));
    c.add('runs');
    c.add('steps', m.step);
    c.add('writes-issued', m.writes.length);
    c.add('writes-acknowledged', m.writes.filter((w) => w.ackedAt !== undefined).length);
    c.add('writes-refused', m.writes.filter((w) => w.failedAt !== undefined).length);
    c.add('syncs-started', m.syncs.length);
    c.add('syncs-committed', m.syncs.filter((s) => s.committedAt !== undefined).length);
    c.add('syncs-failed', m.syncs.filter((s) => s.failedAt !== undefined).length);
    c.add('syncs-aborted', m.syncs.filter((s) => s.error === 'aborted by the user').length);
    c.add('rps-checked', m.syncs.filter((s) => s.checked).length);
    c.add('violations', m.violations.length);
  }

  /** A chunk landed at the secondary: credit it to the sync that is running. */
  copied(secondaryId: string, index: string): void {
    const v = this.volumes.find((x) => x.secondaryId === secondaryId);
    if (!v) return;
    const sync = this.oracle.syncs.find((s) => s.committedAt === undefined && s.failedAt === undefined);
    const key = `${v.key}/${Number(index)}`;
    if (!sync) {
      this.notes.push(`step ${this.oracle.step}: chunk ${key} copied while no sync ran`);
      return;
    }
    sync.copied.set(key, (sync.copied.get(key) ?? 0) + 1);
  }

  /** Records a started sync, with the pairs it must hold and which of them start whole. */
  recordSync(syncId: string, recoveryPointId: string, startedAt: number): SyncRecord {
    const members = this.volumes.filter((v) => v.member && v.secondaryId);
    const sync: SyncRecord = {
      syncId,
      recoveryPointId,
      startedAt,
      pairs: new Map(members.map((v) => [v.key, v.secondaryId ?? ''])),
      initialFor: new Set(members.filter((v) => !v.inLastRp).map((v) => v.key)),
      previousStart: this.lastCommitted?.startedAt,
      checked: false,
      copied: new Map(),
    };
    this.oracle.syncs.push(sync);
    return sync;
  }

  /** A pair changed: no running sync is judged on it, and its next sync copies it whole. */
  membershipChanged(v: SoakVolume): void {
    v.inLastRp = false;
    for (const s of this.oracle.syncs) if (s.committedAt === undefined) s.pairs.delete(v.key);
  }

  /** Looks at every unfinished sync; checks the RPs of those that committed (when readable). */
  async observeSyncs(): Promise<void> {
    for (const s of this.oracle.syncs) {
      if (s.committedAt === undefined && s.failedAt === undefined) {
        const view = await getSync(this.deps, this.groupId, s.syncId).catch(() => undefined);
        if (view?.state === 'committed') {
          s.committedAt = this.oracle.tick();
          for (const v of this.volumes) if (s.pairs.has(v.key)) v.inLastRp = true;
          this.lastCommitted = s;
        } else if (view?.state === 'failed') {
          s.failedAt = this.oracle.tick();
          s.error = view.error;
          if (!view.error)
            this.oracle.violation('sync-failed-without-reason', `sync ${s.syncId} failed with no reason`);
        }
      }
      if (s.committedAt !== undefined && !s.checked) await this.checkRecoveryPoint(s, false);
    }
  }

  /** Reads every pair's secondary at the RP; a read that fails is retried later, unless `final`. */
  async checkRecoveryPoint(s: SyncRecord, final: boolean): Promise<void> {
    const images = new Map<string, Uint8Array>();
    for (const [primaryId, secondaryId] of s.pairs) {
      const read = await withTimeout(readAll(this.stack.h, secondaryId, s.recoveryPointId), 20_000).catch(
        (e: Error) => e,
      );
      if (read instanceof Error || read === 'timeout') {
        if (final)
          this.oracle.violation(
            'rp-unreadable',
            `sync ${s.syncId}: secondary ${secondaryId} of ${primaryId} at ${s.recoveryPointId}: ${read instanceof Error ? read.message : read}`,
          );
        else return;
        continue;
      }
      images.set(primaryId, this.readHook ? this.readHook(s, primaryId, read) : read);
    }
    s.checked = true;
    this.oracle.checkRecoveryPoint(s, images);
    this.oracle.checkCopies(s, () => CHUNK);
  }
}
