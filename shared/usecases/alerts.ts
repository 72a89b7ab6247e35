import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { alertChanges, alertsOf } from '../domain/group-rules';
import type { Group } from '../domain/model';
import { recordEvent } from './events';
import { backlogBytes } from './groups';

/**
 * The tick's alert pass for one group: each alert is raised once, with a needs-attention
 * event, when its condition starts, and cleared once, with an event, when it ends. The raised
 * set lives on the group item and changes by a write conditional on the set read, so of
 * concurrent ticks one records the events and the others find the set changed and do nothing.
 */
export async function raiseAndClearAlerts(
  deps: Deps,
  group: Group,
): Promise<{ raised: string[]; cleared: string[] }> {
  const now = deps.now();
  const rpAgeSeconds = group.lastRp ? Math.floor((now - Date.parse(group.lastRp.cutAt)) / 1000) : undefined;
  const current = alertsOf(group, { rpAgeSeconds, backlogBytes: await backlogBytes(deps, group), now });
  const before = group.alertsRaised ?? [];
  const { raise, clear, next } = alertChanges(before, current);
  if (raise.length === 0 && clear.length === 0) return { raised: [], cleared: [] };
  const written = await deps.table.update(
    keys.group(group.id),
    { set: { alertsRaised: next } },
    before.length === 0
      ? {
          expr: 'attribute_exists(pk) AND (attribute_not_exists(alertsRaised) OR size(alertsRaised) = :z)',
          values: { ':z': 0 },
        }
      : { expr: 'alertsRaised = :r', values: { ':r': before } },
  );
  if (!written) return { raised: [], cleared: [] };
  for (const a of raise) {
    await recordEvent(deps, group.id, 'alert-raised', a.severity, `needs attention: ${a.kind}: ${a.message}`);
  }
  for (const kind of clear) {
    await recordEvent(deps, group.id, 'alert-cleared', 'info', `${kind} alert cleared`);
  }
  return { raised: raise.map((a) => a.kind), cleared: clear };
}
