import { randomBytes } from 'node:crypto';
import { groupPartition, keys } from '../aws/keys';
import { type Deps, isoNow } from '../deps';
import type { GroupEvent } from '../domain/model';

export async function recordEvent(
  deps: Deps,
  groupId: string,
  kind: string,
  severity: GroupEvent['severity'],
  message: string,
  /** For an event a retried step may record again: the same time and id give the same item. */
  once?: { at: string; id: string },
): Promise<void> {
  const at = once?.at ?? isoNow(deps);
  await deps.table.put(keys.event(groupId, at, once?.id ?? randomBytes(3).toString('hex')), {
    at,
    kind,
    severity,
    message,
  });
  // The event item is the record; a notification that cannot be sent must not undo the step.
  if (severity !== 'info' && deps.notifier) {
    await deps.notifier.publish({ groupId, kind, severity, message, at }).catch(() => undefined);
  }
}

export async function listEvents(deps: Deps, groupId: string, limit = 100): Promise<GroupEvent[]> {
  const events = await deps.table.queryPrefix<GroupEvent>(groupPartition(groupId), 'EVENT#');
  return events.reverse().slice(0, limit);
}
