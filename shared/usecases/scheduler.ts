import type { Deps } from '../deps';
import { DomainError } from '../domain/errors';
import { syncDue } from '../domain/group-rules';
import type { Group } from '../domain/model';
import { backlogBytes } from './groups';
import { startSync } from './sync/index';

export interface TickResult {
  started: string[];
  /** Groups with a sync to drive (just started or left running by an earlier process). */
  active: { groupId: string; syncId: string }[];
}

/** The periodic tick: starts due scheduled and continuous syncs and lists the running ones. */
export async function tick(deps: Deps): Promise<TickResult> {
  const groups = await deps.table.queryPrefix<Group>('GROUPS', '');
  const result: TickResult = { started: [], active: [] };
  const now = deps.now();
  for (const group of groups) {
    if (group.activeSync) {
      result.active.push({ groupId: group.id, syncId: group.activeSync.id });
      continue;
    }
    if (!syncDue(group, now)) continue;
    // Continuous mode syncs again as soon as the last RP committed, but only when there is something new.
    if (group.sync.mode === 'continuous' && group.lastRp && (await backlogBytes(deps, group)) === 0) continue;
    try {
      const { syncId } = await startSync(deps, group.id);
      result.started.push(group.id);
      result.active.push({ groupId: group.id, syncId });
    } catch (e) {
      // A group with no pairs yet, or one that changed meanwhile, waits for the next tick.
      if (!(e instanceof DomainError)) throw e;
    }
  }
  return result;
}
