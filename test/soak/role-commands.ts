import fc from 'fast-check';
import { keys } from '../../shared/aws/keys';
import { DomainError } from '../../shared/domain/errors';
import { PRIORITIES } from '../../shared/domain/group-rules';
import type { Group } from '../../shared/domain/model';
import { resumeGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { requestRoleChange } from '../../shared/usecases/roles';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import { readAll } from '../support/workload';
import type { FaultSet } from './args';
import { laterFaults, memberChange, PriorityStep, type SoakCommand, Step, shapeOf } from './commands';
import { exportSteps } from './export-commands';
import type { Oracle, SyncRecord } from './oracle';
import { statusFaults } from './status-commands';
import { type SoakRun, withTimeout } from './system';

/** How long one flip may take: drain, final sync and flip run on the runtime's tick. */
const FLIP_BOUND_MS = 60_000;
/** Group reads while a change runs: often enough to see each final sync before it ends. */
const POLL_MS = 50;

/**
 * A planned role change to the secondary site, writes drained and the gateway closed first.
 * The soak then follows the new direction: writes, syncs, pair changes and kills go to the
 * new primary's volumes. The change's final sync is recorded by the oracle like its own: its
 * RP must hold every write acknowledged before its commit was seen (the gateway drained
 * before it started). The flip must raise the role epoch by exactly one (invariant 4: a role
 * epoch is never reused, so two writers never share one). A refusal (422 by the rules, 409 in
 * the wrong state) is counted and ends the step.
 */
export class RoleChangeStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('role-changes');
    if (!(await prepare(m, r))) return;
    await r.closeGateway();
    try {
      await planned(m, r, r.secondarySite);
    } finally {
      await r.reopenGateway(m);
      m.checkWriters();
    }
  }

  toString(): string {
    return 'roleChange';
  }
}

/**
 * A planned role change during which a site's link is cut at a moment drawn by the step
 * (`afterMs` into the change, or as soon as it is seen `in-progress`: the flip itself), then
 * healed. The gateway is left
 * open, so the change itself must drain it (or wait its lease out when its site is cut). The
 * change must end, the group `optimal` in the new direction, within the bound once the link is
 * back (else `role-stuck`), and its final sync's RP must hold every acknowledged write.
 */
export class RoleChangeCutStep extends Step {
  constructor(
    readonly cut: 'primary' | 'secondary',
    readonly afterMs: number | 'in-progress',
    readonly forMs: number,
  ) {
    super();
  }

  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('role-change-cuts');
    if (!(await prepare(m, r))) return;
    const gw = r.gateway;
    r.gateway = undefined;
    const [home, away] = [r.primarySite, r.secondarySite];
    const site = this.cut === 'primary' ? home : away;
    const links = r.stack.h.stack;
    let cutAt: number | undefined;
    let healed = false;
    try {
      const before = await groupOf(r);
      const startedAt = m.tick();
      if (!(await ask(m, r, away, false))) return;
      const at = this.afterMs === 'in-progress' ? undefined : Date.now() + this.afterMs;
      const flipped = await awaitFlip(m, r, away, before.roleEpoch, false, startedAt, async (g) => {
        const now =
          at === undefined ? g.status === 'role-change-in-progress' || !g.roleChange : Date.now() >= at;
        if (cutAt === undefined && now) {
          links.cut(site);
          cutAt = Date.now();
          const phase = g.roleChange ? g.status : 'done';
          r.counts.add(`role-change-cut-while-${phase}`);
          r.log(`  cut ${site} while the role change is ${phase}`);
        } else if (cutAt !== undefined && !healed && Date.now() >= cutAt + this.forMs) {
          links.heal(site);
          healed = true;
        }
        return healed;
      });
      links.heal(site);
      if (!flipped && (await stillChanging(r))) {
        // Whatever else was cut, degraded or held (earlier steps) is healed: now the change must end.
        await healFaults(r);
        if (await awaitFlip(m, r, away, before.roleEpoch, false, startedAt)) return;
        m.violation(
          'role-stuck',
          `the role change to ${away} did not end within ${FLIP_BOUND_MS} ms after every link was healed`,
        );
      }
    } finally {
      links.heal(site);
      if (
        gw &&
        (await withTimeout(
          gw.close().catch(() => undefined),
          10_000,
        )) === 'timeout'
      )
        gw.abandon();
      await r.reopenGateway(m);
      m.checkWriters();
    }
  }

  toString(): string {
    const at = this.afterMs === 'in-progress' ? 'in progress' : `after ${this.afterMs}ms`;
    return `roleChangeCut(${this.cut}, ${at}, for ${this.forMs}ms)`;
  }
}

/**
 * The primary site is lost. The group is first brought to an RP S that holds every
 * acknowledged write (writes drained, a sync the oracle records, committed); then the old
 * primary writes on (one write per member), so it holds writes no RP has; its link is cut,
 * the secondary promoted by force, and the link healed. The model: the new primary's volumes
 * are S (the writes after S are out of every later image), and once the old primary returned
 * (group optimal again), its preserved-writes item must read exactly S plus those writes. The
 * flip must raise the role epoch by one; the soak goes on in the new direction.
 */
export class SiteLossStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('site-losses');
    if (!(await prepare(m, r))) return;
    const last = await syncedUp(m, r);
    if (!last?.committedAt) {
      r.counts.add('site-losses-skipped');
      return;
    }
    if (!r.gateway) await r.reopenGateway(m);
    const gw = r.gateway;
    const members = r.volumes.filter((v) => v.member && v.secondaryId);
    if (gw)
      for (const v of members) {
        const { offset, length } = shapeOf('partial', v.sizeBytes, r.random);
        const fill = Uint8Array.from({ length }, () => Math.floor(r.random() * 256));
        r.issue(gw, v, offset, m.distinctData(v.key, offset, fill));
      }
    await r.settleWrites(15_000);
    await r.closeGateway();
    const oldPrimaries = new Map(members.map((v) => [v.key, v.primaryId]));
    const home = r.primarySite;
    const away = r.secondarySite;
    try {
      const before = await groupOf(r);
      const preservedBefore = new Set((await preservedItems(r)).map((p) => p.id));
      r.stack.h.stack.cut(home);
      const promoted = (await ask(m, r, away, true)) && (await awaitFlip(m, r, away, before.roleEpoch, true));
      r.stack.h.stack.heal(home);
      if (!promoted) return;
      r.counts.add('forced-promotions');
      try {
        if (!(await returned(r))) {
          r.notes.push(`step ${m.step}: ${home} did not return to optimal within ${FLIP_BOUND_MS} ms`);
          return;
        }
        await checkPreserved(m, r, oldPrimaries, preservedBefore);
      } finally {
        // The new primary was reverted to S: the old primary's later writes are in no later image.
        m.discardIssuedAfter(last.committedAt);
      }
    } finally {
      await r.reopenGateway(m);
      m.checkWriters();
    }
  }

  toString(): string {
    return 'siteLoss';
  }
}

/**
 * Brings the group to a state a role change may start from: links healed, writes drained, the group
 * resumed, every removed pair added back (pairs do not change during a role change, and a
 * volume left out would stay behind at the demoted site). False when that could not be done.
 */
async function prepare(m: Oracle, r: SoakRun): Promise<boolean> {
  // A change cannot end while a link is cut or a sync waits for held change messages, and it
  // blocks every writer until it ends: those faults of earlier steps end here (roleChangeCut
  // cuts a link during the change).
  await healFaults(r);
  if (!(await r.settleWrites(15_000))) {
    r.notes.push(`step ${m.step}: writes still in flight after 15 s; no role change`);
    return false;
  }
  const g = await groupOf(r);
  if (g.status === 'user-suspended' || g.status === 'system-suspended') {
    const resumed = await withTimeout(
      resumeGroup(r.deps, r.groupId).then(
        () => true,
        () => false,
      ),
      15_000,
    );
    if (resumed === true) r.counts.add('resumes');
  }
  for (const v of r.volumes.filter((x) => !x.member)) {
    const added = await memberChange(r, 'pair-adds', () =>
      addPair(r.deps, r.groupId, { primaryVolumeId: v.primaryId }),
    );
    if (!added) {
      r.notes.push(`step ${m.step}: v${r.volumes.indexOf(v)} could not rejoin before the role change`);
      return false;
    }
    r.membershipChanged(v);
    v.secondaryId = added.secondaryVolumeId;
    v.member = true;
  }
  await r.observeSyncs();
  return true;
}

/** A planned change to `site`, asked and waited for; its final syncs are recorded by the oracle. */
async function planned(m: Oracle, r: SoakRun, site: string): Promise<boolean> {
  const before = await groupOf(r);
  const startedAt = m.tick();
  if (!(await ask(m, r, site, false))) return false;
  return awaitFlip(m, r, site, before.roleEpoch, false, startedAt);
}

/** Asks for a role change; false (counted) when refused or when the request did not answer. */
async function ask(m: Oracle, r: SoakRun, site: string, force: boolean): Promise<boolean> {
  const asked = await withTimeout(
    requestRoleChange(r.deps, r.groupId, { site, role: 'primary', force }).then(
      () => 'asked' as const,
      (e: unknown) => {
        if (e instanceof DomainError && (e.status === 409 || e.status === 422)) return 'refused' as const;
        return e instanceof Error ? e : new Error(String(e));
      },
    ),
    15_000,
  );
  if (asked === 'asked') return true;
  r.counts.add('role-changes-refused');
  if (asked instanceof Error) r.notes.push(`step ${m.step}: role request to ${site}: ${asked.message}`);
  return false;
}

/**
 * Waits until `site` is primary and the change is done (optimal, for a planned one), and
 * `during` (called at every poll) is done too. Records each final sync the change starts.
 * Then the soak follows the new roles. False, with a note, when it did not end in time.
 */
async function awaitFlip(
  m: Oracle,
  r: SoakRun,
  site: string,
  fromRoleEpoch: number,
  force: boolean,
  startedAt = 0,
  during?: (g: Group) => Promise<boolean>,
): Promise<boolean> {
  const recorded = new Set(m.syncs.map((s) => s.syncId));
  const deadline = Date.now() + FLIP_BOUND_MS;
  for (let g = await groupOf(r); Date.now() < deadline; g = await groupOf(r)) {
    const finalId = g.roleChange?.finalSyncId;
    if (finalId && !recorded.has(finalId)) {
      recorded.add(finalId);
      await recordFinalSync(r, finalId, startedAt);
    }
    const doneDuring = during ? await during(g) : true;
    if (g.primarySite === site && !g.roleChange && (force || g.status === 'optimal') && doneDuring) {
      r.counts.add('role-flips');
      if (g.roleEpoch !== fromRoleEpoch + 1)
        m.violation(
          'role-epoch',
          `the flip to ${site} took the role epoch from ${fromRoleEpoch} to ${g.roleEpoch}, not up by one`,
        );
      await r.followRoles();
      await r.observeSyncs();
      return true;
    }
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  r.rolesUnsure = true;
  const g = await groupOf(r);
  r.notes.push(
    `step ${m.step}: the role change to ${site} did not end within ${FLIP_BOUND_MS} ms (status ${g.status}, primary ${g.primarySite}, change ${g.roleChange ? JSON.stringify(g.roleChange) : 'none'}, sync ${g.activeSync?.id ?? 'none'}, lease ${g.lease ? 'held' : 'none'})`,
  );
  return false;
}

/** A planned change's final sync, judged by the oracle as its own syncs (and more strictly). */
async function recordFinalSync(r: SoakRun, syncId: string, startedAt: number): Promise<void> {
  // The final sync starts once every earlier sync ended: copies from now on are its own.
  await r.observeSyncs();
  const view = await getSync(r.deps, r.groupId, syncId).catch(() => undefined);
  if (!view) {
    r.notes.push(`step ${r.oracle.step}: the final sync ${syncId} could not be read`);
    return;
  }
  const sync = r.recordSync(syncId, view.recoveryPointId, startedAt);
  sync.drained = true;
  r.counts.add('final-syncs-checked');
}

/** Starts a sync the oracle records and waits for its commit (undefined if it fails or runs long). */
async function syncedUp(m: Oracle, r: SoakRun): Promise<SyncRecord | undefined> {
  const startedAt = m.tick();
  const started = await withTimeout(
    startSync(r.deps, r.groupId).catch(() => undefined),
    15_000,
  );
  if (!started || started === 'timeout') return undefined;
  const sync = r.recordSync(started.syncId, started.recoveryPointId, startedAt);
  r.stack.runtime.drive(r.groupId, started.syncId);
  const deadline = Date.now() + FLIP_BOUND_MS;
  while (Date.now() < deadline && sync.committedAt === undefined && sync.failedAt === undefined) {
    await new Promise((res) => setTimeout(res, 200));
    await r.observeSyncs();
  }
  return sync.committedAt !== undefined ? sync : undefined;
}

/** The old primary is back: its writes kept, the group optimal in the new direction. */
async function returned(r: SoakRun): Promise<boolean> {
  const deadline = Date.now() + FLIP_BOUND_MS;
  while (Date.now() < deadline) {
    const g = await groupOf(r);
    if (!g.preserveWrites && !g.roleChange && g.status === 'optimal') return true;
    await new Promise((res) => setTimeout(res, 200));
  }
  return false;
}

/** Links healed, held change messages delivered, deliveries normal again. */
async function healFaults(r: SoakRun): Promise<void> {
  r.stack.h.stack.heal();
  r.delivery.mode = 'normal';
  for (let i = 0; i < 3 && r.delivery.heldCount > 0; i++) await withTimeout(r.delivery.release(), 15_000);
}

async function stillChanging(r: SoakRun): Promise<boolean> {
  return (await groupOf(r)).roleChange !== undefined;
}

async function preservedItems(r: SoakRun) {
  return (await listRecoveryPoints(r.deps, r.groupId)).filter((p) => p.kind === 'preserved-writes');
}

/**
 * The preserved-writes item the return made must read, for every member, the old primary's
 * volume as it was: S and every write acknowledged after it (refused ones may be in part).
 */
async function checkPreserved(
  m: Oracle,
  r: SoakRun,
  oldPrimaries: Map<string, string>,
  before: Set<string>,
): Promise<void> {
  const items = (await preservedItems(r)).filter((p) => !before.has(p.id));
  const images = new Map<string, Uint8Array>();
  const ids = new Set<string>();
  for (const [key, volumeId] of oldPrimaries) {
    const item = items.find((p) => p.volumes.some((v) => v.primaryVolumeId === volumeId));
    if (!item) {
      m.violation(
        'preserved-writes',
        `the old primary returned but no preserved-writes item names ${volumeId}`,
      );
      return;
    }
    ids.add(item.id);
    const read = await withTimeout(readAll(r.stack.h, volumeId, item.id), 20_000).catch((e: Error) => e);
    if (read instanceof Error || read === 'timeout') {
      m.violation(
        'preserved-writes',
        `${item.id}: ${volumeId}: ${read instanceof Error ? read.message : 'read timed out'}`,
      );
      return;
    }
    images.set(key, read);
  }
  const at = m.tick();
  m.checkRecoveryPoint(
    {
      syncId: 'preserved-writes',
      recoveryPointId: [...ids].join(','),
      startedAt: at,
      committedAt: at,
      pairs: new Map(oldPrimaries),
      initialFor: new Set(),
      checked: true,
      copied: new Map(),
    },
    images,
  );
  r.counts.add('preserved-items-checked');
}

async function groupOf(r: SoakRun): Promise<Group> {
  const g = await r.deps.table.get<Group>(keys.group(r.groupId));
  if (!g) throw new Error(`group ${r.groupId} is gone`);
  return g;
}

/**
 * The faults drawn beside the original steps for a fault set. Each set appends to the one
 * before it, so a seed recorded with an earlier set replays with that set's name.
 */
export function faultsOf(set: FaultSet): fc.Arbitrary<SoakCommand>[] {
  if (set === 'original') return [];
  if (set === 'later') return laterFaults();
  const roles = [
    ...laterFaults(),
    fc.constant(new RoleChangeStep()),
    fc.constant(new SiteLossStep()),
    fc
      .tuple(
        fc.constantFrom<'primary' | 'secondary'>('primary', 'secondary'),
        fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant<'in-progress'>('in-progress')),
        fc.integer({ min: 200, max: 5000 }),
      )
      .map(([site, after, ms]) => new RoleChangeCutStep(site, after, ms)),
  ];
  if (set === 'roles') return roles;
  const status = [...roles, ...statusFaults()];
  if (set === 'status') return status;
  const priority = fc
    .tuple(fc.constantFrom(...PRIORITIES), fc.integer({ min: 0, max: 1500 }))
    .map(([p, ms]) => new PriorityStep(p, ms));
  return [...status, ...exportSteps(), priority];
}
