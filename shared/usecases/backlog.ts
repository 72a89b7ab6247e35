import { keys } from '../aws/keys';
import type { Deps } from '../deps';
import { backlogOverflow, storesChangeBatch } from '../domain/group-rules';
import type { ChangeBatch, Group } from '../domain/model';
import { recordEvent } from './events';
import { measureBacklog } from './groups';
import { scanResyncRequest } from './resync';

/** Ingest's question: is this batch still tracked, or does a pending resync by scan make it useless? */
export async function tracksChangeBatch(deps: Deps, batch: ChangeBatch): Promise<boolean> {
  const group = await deps.table.get<Group>(keys.group(batch.groupId));
  return storesChangeBatch(group, batch.epoch);
}

/**
 * Backlog overflow (DataKeeper's write-queue high water), checked by the tick: when the change
 * records not yet in an RP exceed the group's byte limit, or the oldest is older than its age
 * limit (SQS retention is the hard one), per-write tracking stops (ingest drops the group's
 * batches from now on) and the group is marked for a resync by scan, which the next sync
 * does: compare chunk versions with the last RP, copy only what differs. Only while no sync
 * runs (the conditional write checks it), so a running delta sync never loses the records it
 * counts on.
 */
export async function checkBacklogOverflow(deps: Deps, group: Group): Promise<boolean> {
  if (group.resyncByScan || group.activeSync) return false;
  const why = backlogOverflow(group, await measureBacklog(deps, group), deps.now());
  if (!why) return false;
  const marked = await deps.table.update(
    keys.group(group.id),
    { set: { resyncByScan: scanResyncRequest(group.rpCounter) } },
    {
      expr: 'attribute_not_exists(activeSync) AND attribute_not_exists(resyncByScan) AND rpCounter = :n',
      values: { ':n': group.rpCounter },
    },
  );
  if (!marked) return false;
  await recordEvent(
    deps,
    group.id,
    'backlog-overflow',
    'warning',
    `${why}: per-write tracking stopped; the next sync resyncs by scan (only chunks that differ from the last RP are copied)`,
  );
  return true;
}
