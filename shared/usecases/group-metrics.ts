import type { Deps } from '../deps';
import type { Group } from '../domain/model';
import { backlogBytes } from './groups';

export interface GroupMetrics {
  groupId: string;
  recoveryPointAgeSeconds?: number;
  backlogBytes: number;
  paused: boolean;
}

/** What the alarms watch, per group: RP age, backlog (reserved capacity), paused. */
export async function groupMetrics(deps: Deps): Promise<GroupMetrics[]> {
  const groups = await deps.table.queryPrefix<Group>('GROUPS', '');
  const now = deps.now();
  return Promise.all(
    groups.map(async (g) => ({
      groupId: g.id,
      ...(g.lastRp && { recoveryPointAgeSeconds: Math.floor((now - Date.parse(g.lastRp.cutAt)) / 1000) }),
      backlogBytes: await backlogBytes(deps, g),
      paused: g.status === 'paused',
    })),
  );
}
