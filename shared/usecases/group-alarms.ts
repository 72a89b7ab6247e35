import { alarmNames, syncGroupAlarms } from '../aws/alarms';
import type { Deps } from '../deps';
import type { Group } from '../domain/model';
import { recordEvent } from './events';

/**
 * Brings the group's alarms in line with its thresholds (group created or changed). The group
 * change stands if CloudWatch refuses: a warning event says so, and the next change retries.
 */
export async function updateGroupAlarms(deps: Deps, group: Group): Promise<void> {
  const a = deps.alarms;
  if (!a) return;
  try {
    await syncGroupAlarms(a.store, a.deployment, group, a.topicArn);
  } catch (e) {
    await recordEvent(
      deps,
      group.id,
      'alarms-not-updated',
      'warning',
      `CloudWatch alarms not updated: ${(e as Error).message}`,
    );
  }
}

export async function deleteGroupAlarms(deps: Deps, groupId: string): Promise<void> {
  const a = deps.alarms;
  if (a) await a.store.delete(alarmNames(a.deployment, groupId));
}
