import fc from 'fast-check';
import { keys } from '../../shared/aws/keys';
import { DomainError } from '../../shared/domain/errors';
import type { Group } from '../../shared/domain/model';
import { requestRoleChange } from '../../shared/usecases/roles';
import type { FaultSet } from './args';
import { laterFaults, type SoakCommand, Step } from './commands';
import type { Oracle } from './oracle';
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
    const group = await this.group(r);
    const [home, away] = [group.primarySite, group.secondarySite];
    const gw = r.gateway;
    r.gateway = undefined;
    await withTimeout(gw?.close().catch(() => undefined) ?? Promise.resolve(), 10_000);
    try {
      if (await this.flip(m, r, away)) await this.flip(m, r, home);
    } finally {
      await r.reopenGateway(m);
    }
  }

  /** One planned change to `site`; false when it was refused or did not end. */
  private async flip(m: Oracle, r: SoakRun, site: string): Promise<boolean> {
    const before = await this.group(r);
    const asked = await withTimeout(
      requestRoleChange(r.deps, r.groupId, { site, role: 'primary' }).then(
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
    for (let g = await this.group(r); Date.now() < deadline; g = await this.group(r)) {
      if (g.primarySite === site && g.status === 'optimal' && !g.roleChange) {
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

  private async group(r: SoakRun): Promise<Group> {
    const g = await r.deps.table.get<Group>(keys.group(r.groupId));
    if (!g) throw new Error(`group ${r.groupId} is gone`);
    return g;
  }

  toString(): string {
    return 'roleRoundTrip';
  }
}

/**
 * The faults drawn beside the original steps for a fault set. Each set appends to the one
 * before it, so a seed recorded with an earlier set replays with that set's name.
 */
export function faultsOf(set: FaultSet): fc.Arbitrary<SoakCommand>[] {
  if (set === 'original') return [];
  if (set === 'later') return laterFaults();
  return [...laterFaults(), fc.constant(new RoleRoundTripStep())];
}
