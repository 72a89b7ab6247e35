import fc from 'fast-check';
import { keys } from '../../shared/aws/keys';
import { DomainError } from '../../shared/domain/errors';
import type { Group } from '../../shared/domain/model';
import { requestRoleChange } from '../../shared/usecases/roles';
import { startSync } from '../../shared/usecases/sync/index';
import type { FaultSet } from './args';
import { laterFaults, type SoakCommand, Step } from './commands';
import { exportSteps } from './export-commands';
import type { Oracle } from './oracle';
import { statusFaults } from './status-commands';
import { type SoakRun, withTimeout } from './system';

/** How long one flip may take: drain, final sync and flip run on the runtime's tick. */
const FLIP_BOUND_MS = 60_000;

/**
 * A planned role change over to the secondary site and back, writes drained first. The model
 * keeps one direction between steps, so the step ends where it began: the original primary
 * writes again through a new gateway. Each flip must raise the role epoch by exactly one
 * (invariant 4: a role epoch is never reused, so two writers never share one). A refusal
 * (422 by the rules, 409 in the wrong state) is counted and ends the step; a flip that does
 * not end within its bound is a violation (the tick must drive a change to its end once asked).
 */
export class RoleRoundTripStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('role-round-trips');
    if (!(await r.settleWrites(15_000))) {
      r.notes.push(`step ${m.step}: writes still in flight after 15 s; no role change`);
      return;
    }
    const group = await groupOf(r);
    const [home, away] = [group.primarySite, group.secondarySite];
    const gw = r.gateway;
    r.gateway = undefined;
    await withTimeout(gw?.close().catch(() => undefined) ?? Promise.resolve(), 10_000);
    try {
      if (await flip(m, r, away)) await flip(m, r, home);
    } finally {
      await r.reopenGateway(m);
    }
  }

  toString(): string {
    return 'roleRoundTrip';
  }
}

/**
 * The primary site is lost: the group is first brought to an RP that holds every acknowledged
 * write (writes drained, a sync the oracle records, committed), so the forced promotion loses
 * nothing the model keeps; then the primary's link is cut, the secondary is promoted by force,
 * the old primary's link comes back (its return: writes preserved, resync), and a planned
 * change takes the group home again. Every flip raises the role epoch by one.
 */
export class SiteLossStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.counts.add('site-losses');
    if (!(await r.settleWrites(15_000))) {
      r.notes.push(`step ${m.step}: writes still in flight after 15 s; no site loss`);
      return;
    }
    const gw = r.gateway;
    r.gateway = undefined;
    await withTimeout(gw?.close().catch(() => undefined) ?? Promise.resolve(), 10_000);
    try {
      if (!(await syncedUp(m, r))) {
        r.counts.add('site-losses-skipped');
        return;
      }
      const group = await groupOf(r);
      const [home, away] = [group.primarySite, group.secondarySite];
      r.stack.h.stack.cut(home);
      const promoted = await flip(m, r, away, true);
      r.stack.h.stack.heal(home);
      if (!promoted) return;
      r.counts.add('forced-promotions');
      if (!(await returned(r))) {
        r.notes.push(`step ${m.step}: ${home} did not return to optimal within ${FLIP_BOUND_MS} ms`);
        return;
      }
      await flip(m, r, home);
    } finally {
      await r.reopenGateway(m);
    }
  }

  toString(): string {
    return 'siteLoss';
  }
}

/** Starts a sync the oracle records and waits for its commit (false if it fails or runs long). */
async function syncedUp(m: Oracle, r: SoakRun): Promise<boolean> {
  const startedAt = m.tick();
  const started = await withTimeout(
    startSync(r.deps, r.groupId).catch(() => undefined),
    15_000,
  );
  if (!started || started === 'timeout') return false;
  const sync = r.recordSync(started.syncId, started.recoveryPointId, startedAt);
  r.stack.runtime.drive(r.groupId, started.syncId);
  const deadline = Date.now() + FLIP_BOUND_MS;
  while (Date.now() < deadline && sync.committedAt === undefined && sync.failedAt === undefined) {
    await new Promise((res) => setTimeout(res, 200));
    await r.observeSyncs();
  }
  return sync.committedAt !== undefined;
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

/**
 * One role change to `site` (planned, or forced), waited for until the new primary serves;
 * false when it was refused or did not end in time.
 */
async function flip(m: Oracle, r: SoakRun, site: string, force = false): Promise<boolean> {
  const before = await groupOf(r);
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
  if (asked === 'refused' || asked === 'timeout' || asked instanceof Error) {
    r.counts.add('role-changes-refused');
    if (asked instanceof Error) r.notes.push(`step ${m.step}: role request to ${site}: ${asked.message}`);
    return false;
  }
  const deadline = Date.now() + FLIP_BOUND_MS;
  for (let g = await groupOf(r); Date.now() < deadline; g = await groupOf(r)) {
    if (g.primarySite === site && !g.roleChange && (force || g.status === 'optimal')) {
      r.counts.add('role-flips');
      if (g.roleEpoch !== before.roleEpoch + 1)
        m.violation(
          'role-epoch',
          `the flip to ${site} took the role epoch from ${before.roleEpoch} to ${g.roleEpoch}, not up by one`,
        );
      return true;
    }
    await new Promise((res) => setTimeout(res, 200));
  }
  // Stuck: when the links are cut the tick cannot finish; the run's end heals and drives it on.
  r.notes.push(`step ${m.step}: the role change to ${site} did not end within ${FLIP_BOUND_MS} ms`);
  return false;
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
  const roles = [...laterFaults(), fc.constant(new RoleRoundTripStep()), fc.constant(new SiteLossStep())];
  if (set === 'roles') return roles;
  const status = [...roles, ...statusFaults()];
  return set === 'status' ? status : [...status, ...exportSteps()];
}
