import type { Deps } from '../deps';
import { DomainError } from '../domain/errors';
import { syncDue } from '../domain/group-rules';
import type { Group } from '../domain/model';
import { raiseAndClearAlerts } from './alerts';
import { checkBacklogOverflow } from './backlog';
import { dropLeakedPins } from './clones';
import { backlogBytes, loadPairs } from './groups';
import { settleMemberChange } from './pairs';
import { autoResume, needsScanResync } from './resync';
import { driveRoleChange, preserveOldPrimaryWrites } from './roles';
import { inRecoveryPoint, lastRecoveryPoint, startSync } from './sync/index';

export interface TickResult {
  started: string[];
  /** Syncs to drive: just started, left running by an earlier process, or committed with clean-up pending. */
  active: { groupId: string; syncId: string }[];
  /** Groups whose tick failed, with the error; the other groups were still served. */
  errors: { groupId: string; error: string }[];
}

/** The periodic tick: starts due scheduled and continuous syncs and lists the ones to drive. */
export async function tick(deps: Deps): Promise<TickResult> {
  const groups = await deps.table.queryPrefix<Group>('GROUPS', '');
  const result: TickResult = { started: [], active: [], errors: [] };
  const now = deps.now();
  for (const group of groups) {
    try {
      await tickGroup(deps, group, now, result);
    } catch (e) {
      result.errors.push({ groupId: group.id, error: (e as Error).message ?? String(e) });
    }
  }
  return result;
}

/**
 * Whether every pair is in the last RP: decided by the RP itself, which the commit point makes
 * visible, not by the pairs' firstRp, which is set just after it (a tick between the two
 * would start a sync with nothing to do, and refuse pair changes meanwhile).
 */
async function allPairsReplicated(deps: Deps, group: Group): Promise<boolean> {
  const last = await lastRecoveryPoint(deps, group);
  return (await loadPairs(deps, group.id)).every((p) => inRecoveryPoint(last, p));
}

async function tickGroup(deps: Deps, group: Group, now: number, result: TickResult): Promise<void> {
  for (const syncId of group.openSyncs ?? []) {
    if (syncId !== group.activeSync?.id) result.active.push({ groupId: group.id, syncId });
  }
  // An alert pass that fails is reported; the group's syncs go on.
  await raiseAndClearAlerts(deps, group).catch((e: Error) => {
    result.errors.push({ groupId: group.id, error: `alerts: ${e.message ?? String(e)}` });
  });
  await checkBacklogOverflow(deps, group);
  // A crashed clone create or delete leaves a pin that would keep its RP forever.
  if (group.clones) await dropLeakedPins(deps, group);
  if (group.activeSync) result.active.push({ groupId: group.id, syncId: group.activeSync.id });
  if (group.preserveWrites && !group.roleChange) {
    // Until the old primary's site answers, this throws and the next tick tries again.
    await preserveOldPrimaryWrites(deps, group.id);
    return;
  }
  if (group.roleChange) {
    for (const syncId of await driveRoleChange(deps, group.id))
      result.active.push({ groupId: group.id, syncId });
    return;
  }
  if (group.activeSync) return;
  if (await autoResume(deps, group, now)) group.status = 'optimal';
  // A pair add or removal whose process died leaves its volumes claimed until this settles it.
  await settleMemberChange(deps, group);
  if (!syncDue(group, now)) return;
  // Continuous mode syncs again as soon as the last RP committed, but only when there is
  // something new: a write, or a pair still waiting for its initial sync.
  if (
    group.sync.mode === 'continuous' &&
    group.lastRp &&
    !needsScanResync(group) &&
    (await backlogBytes(deps, group)) === 0 &&
    (await allPairsReplicated(deps, group))
  )
    return;
  try {
    const { syncId } = await startSync(deps, group.id);
    result.started.push(group.id);
    result.active.push({ groupId: group.id, syncId });
  } catch (e) {
    // A group with no pairs yet, or one that changed meanwhile, waits for the next tick.
    if (!(e instanceof DomainError)) throw e;
  }
}
