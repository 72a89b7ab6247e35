import fc from 'fast-check';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import { listEvents } from '../../shared/usecases/events';
import { patchGroup, resumeGroup } from '../../shared/usecases/groups';
import { startSync } from '../../shared/usecases/sync/index';
import { type SoakCommand, Step } from './commands';
import type { Oracle, SyncRecord } from './oracle';
import {
  CHUNK,
  prng,
  type SoakRun,
  type SoakStack,
  type SoakVolume,
  VOLUME_SIZES,
  withTimeout,
} from './system';

/** How long a sync of these steps may take: the soak's volumes are small. */
const SYNC_BOUND_MS = 60_000;
/** The byte limit of the overflow step: two chunks, so its four chunk writes pass it. */
const SMALL_LIMIT = 2 * CHUNK;

/**
 * The group's byte limit is set small, whole-chunk writes pass it, and the tick must mark the
 * group for a resync by scan (per-write tracking stops); the limit is then removed and a sync
 * the oracle records runs: its RP must hold every acknowledged write although ingest dropped
 * their records, and it may copy only chunks written since the last RP (the oracle's copy check:
 * a scan copies what differs, never the whole volume).
 */
export class BacklogOverflowStep extends Step {
  constructor(
    readonly volume: number,
    readonly seed: number,
  ) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    const v = memberOf(r, this.volume);
    if (!v || !r.gateway) return;
    if (!(await quiet(r))) {
      r.notes.push(`step ${m.step}: a sync still ran after ${SYNC_BOUND_MS} ms; no backlog overflow`);
      return;
    }
    r.counts.add('backlog-overflow-steps');
    const limited = await withTimeout(
      patchGroup(r.deps, r.groupId, { backlogLimitBytes: SMALL_LIMIT }).catch(() => undefined),
      15_000,
    );
    if (!limited || limited === 'timeout') return;
    try {
      if (!(await writeChunks(m, r, v, 4, this.seed))) return;
      if (await until(async () => (await groupOf(r)).resyncByScan !== undefined, 15_000))
        r.counts.add('backlog-overflows');
      else r.notes.push(`step ${m.step}: the backlog did not overflow (records held or not yet stored)`);
    } finally {
      await withTimeout(
        patchGroup(r.deps, r.groupId, { backlogLimitBytes: null }).catch(() => undefined),
        15_000,
      );
    }
    const sync = await syncUp(m, r);
    if (sync?.committedAt !== undefined && (await scanned(r, sync))) r.counts.add('scan-resyncs');
  }

  toString(): string {
    return `backlogOverflow(v${this.volume}, seed ${this.seed})`;
  }
}

/**
 * A secondary member becomes unusable: every chunk write to its volume at the secondary is
 * refused with 403 AccessDenied (as a bucket policy denying s3:PutObject on its prefix would),
 * a sync that must copy to it fails, and the group is suspended with the pair failed. Access
 * is then restored and the group resumed: the next sync (a resync by scan) must give an RP
 * equal to the model, copying only chunks written since the last RP.
 */
export class MemberFailureStep extends Step {
  constructor(
    readonly volume: number,
    readonly seed: number,
  ) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    const v = memberOf(r, this.volume);
    if (!v?.secondaryId || !r.gateway) return;
    if (!(await quiet(r))) {
      r.notes.push(`step ${m.step}: a sync still ran after ${SYNC_BOUND_MS} ms; no member failure`);
      return;
    }
    r.counts.add('member-failure-steps');
    if (!(await writeChunks(m, r, v, 2, this.seed))) return;
    const denied = denials(r.stack);
    denied.add(v.secondaryId);
    try {
      const failing = await syncUp(m, r);
      const events = await withTimeout(
        listEvents(r.deps, r.groupId).catch(() => []),
        15_000,
      );
      const failedMember =
        events !== 'timeout' &&
        events.some((e) => e.kind === 'member-failed' && e.message.includes(v.primaryId));
      if (failing?.failedAt !== undefined && failedMember) r.counts.add('member-failures');
      else
        r.notes.push(
          `step ${m.step}: the sync with ${v.secondaryId} denied ${failing?.committedAt !== undefined ? 'committed' : 'did not fail'} as a member failure`,
        );
    } finally {
      denied.delete(v.secondaryId);
    }
    const resumed = await withTimeout(
      resumeGroup(r.deps, r.groupId).then(
        () => true,
        () => false,
      ),
      15_000,
    );
    if (resumed === true) r.counts.add('resumes');
    const sync = await syncUp(m, r);
    if (sync?.committedAt !== undefined && (await scanned(r, sync))) r.counts.add('scan-resyncs');
  }

  toString(): string {
    return `memberFailure(v${this.volume}, seed ${this.seed})`;
  }
}

/** The member volume of that index, or the first member when it is not one. */
function memberOf(r: SoakRun, volume: number): SoakVolume | undefined {
  const v = r.volumes[volume];
  return v.member ? v : r.volumes.find((x) => x.member);
}

/** Whole-chunk writes to `count` distinct chunks of `v`, acknowledged (or refused) before it returns. */
async function writeChunks(
  m: Oracle,
  r: SoakRun,
  v: SoakVolume,
  count: number,
  seed: number,
): Promise<boolean> {
  const gw = r.gateway;
  if (!gw || !(await r.settleWrites(15_000))) {
    r.notes.push(`step ${m.step}: writes still in flight after 15 s; step skipped`);
    return false;
  }
  const rand = prng(seed);
  const chunks = v.sizeBytes / CHUNK;
  const first = Math.floor(rand() * chunks);
  for (let i = 0; i < Math.min(count, chunks); i++) {
    const offset = ((first + i) % chunks) * CHUNK;
    const fill = new Uint8Array(CHUNK);
    for (let j = 0; j < CHUNK; j++) fill[j] = Math.floor(rand() * 256);
    r.issue(gw, v, offset, m.distinctData(v.key, offset, fill));
  }
  return r.settleWrites(15_000);
}

/** Waits (bounded) until no sync the oracle recorded runs. */
async function quiet(r: SoakRun): Promise<boolean> {
  return until(async () => {
    await r.observeSyncs();
    return !r.oracle.syncs.some((s) => s.committedAt === undefined && s.failedAt === undefined);
  }, SYNC_BOUND_MS);
}

/** A sync the oracle records, waited for until it ends (or its bound passes). */
async function syncUp(m: Oracle, r: SoakRun): Promise<SyncRecord | undefined> {
  const startedAt = m.tick();
  const started = await withTimeout(
    startSync(r.deps, r.groupId).catch(() => undefined),
    15_000,
  );
  if (!started || started === 'timeout') return undefined;
  const sync = r.recordSync(started.syncId, started.recoveryPointId, startedAt);
  r.stack.runtime.drive(r.groupId, started.syncId);
  await until(async () => {
    await r.observeSyncs();
    return sync.committedAt !== undefined || sync.failedAt !== undefined;
  }, SYNC_BOUND_MS);
  return sync;
}

async function scanned(r: SoakRun, sync: SyncRecord): Promise<boolean> {
  const job = await r.deps.table.get<{ scan?: boolean }>(keys.sync(r.groupId, sync.syncId));
  return job?.scan === true;
}

async function until(done: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done().catch(() => false)) return true;
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

async function groupOf(r: SoakRun): Promise<Group> {
  const g = await r.deps.table.get<Group>(keys.group(r.groupId));
  if (!g) throw new Error(`group ${r.groupId} is gone`);
  return g;
}

const CHUNK_WRITES = new Set([
  'PutObjectCommand',
  'CopyObjectCommand',
  'CreateMultipartUploadCommand',
  'UploadPartCopyCommand',
]);
const denialsByStack = new WeakMap<SoakStack, Set<string>>();

/**
 * The secondary volumes whose chunk writes every site refuses with 403 AccessDenied: a client
 * middleware, as the emulator enforces no bucket policy. Installed once per stack.
 */
function denials(stack: SoakStack): Set<string> {
  const known = denialsByStack.get(stack);
  if (known) return known;
  const volumes = new Set<string>();
  denialsByStack.set(stack, volumes);
  for (const site of stack.sites) {
    const s3 = stack.h.clients.sites[site].s3.middlewareStack as unknown as {
      add(mw: unknown, opts: { step: string; name: string }): void;
    };
    s3.add(
      (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input?: { Key?: string } }) => {
          const volume = /^volumes\/([^/]+)\/chunks\//.exec(args.input?.Key ?? '')?.[1];
          if (volume && volumes.has(volume) && CHUNK_WRITES.has(context.commandName ?? '')) {
            throw Object.assign(new Error('Access Denied (the bucket policy denies s3:PutObject)'), {
              name: 'AccessDenied',
              $fault: 'client',
              $metadata: { httpStatusCode: 403 },
            });
          }
          return next(args);
        },
      { step: 'initialize', name: 'soakMemberDenial' },
    );
  }
  return volumes;
}

/** The status steps, drawn beside the other faults (see faultsOf). */
export function statusFaults(): fc.Arbitrary<SoakCommand>[] {
  const volume = fc.integer({ min: 0, max: VOLUME_SIZES.length - 1 });
  const seed = fc.integer({ min: 1, max: 2 ** 31 - 1 });
  return [
    fc.tuple(volume, seed).map(([v, s]) => new BacklogOverflowStep(v, s)),
    fc.tuple(volume, seed).map(([v, s]) => new MemberFailureStep(v, s)),
  ];
}
