import { keys, syncObjects } from '../../shared/aws/keys';
import type { SyncJob } from '../../shared/domain/model';
import { loadPairs } from '../../shared/usecases/groups';
import { taskPartition } from '../../shared/usecases/sync-progress';
import { versionsAt } from '../support/versions';
import type { SoakRun } from './system';

/**
 * What the control table and the buckets hold once every fault is healed and the run's syncs have ended:
 * every pair item is a whole pair (a late UpdateItem on a deleted pair brings back an item with
 * only what it sets), and every ended sync's copy tasks and its collect lists (runs and
 * superseded lists, at either site: the primary may have moved since) are gone once its
 * clean-up has run (the tick retries a clean-up that was cut short). Waits up to `boundMs` for the clean-ups.
 */
export async function checkBookkeeping(run: SoakRun, boundMs: number): Promise<void> {
  const m = run.oracle;
  for (const p of await loadPairs(run.deps, run.groupId)) {
    if (!p.id || !p.primaryVolumeId || !p.secondaryVolumeId)
      m.violation('phantom-item', `a pair item of group ${run.groupId} is not a pair: ${JSON.stringify(p)}`);
  }
  const ended = m.syncs.filter((s) => s.committedAt !== undefined || s.failedAt !== undefined);
  const endBy = Date.now() + boundMs;
  let left: string[] = [];
  for (let i = 0; i < 1_000; i++) {
    left = [];
    for (const s of ended) {
      const job = await run.deps.table.get<SyncJob>(keys.sync(run.groupId, s.syncId));
      const cleaned = job?.state === 'failed' || job?.finishedAt !== undefined;
      const tasks = await run.deps.table.queryKeys(taskPartition(s.syncId), 'TASK#', 'TASK#\uffff');
      const lists = await listsOf(run, s.syncId);
      if (!cleaned || tasks.length > 0 || lists.length > 0)
        left.push(
          `${s.syncId} (${job?.state ?? 'no job'}, ${cleaned ? 'cleaned up' : 'clean-up not done'}, ${tasks.length} task items, objects: ${lists.join(', ') || 'none'})`,
        );
    }
    if (left.length === 0 || Date.now() > endBy) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (left.length > 0)
    m.violation(
      'sync-leftovers',
      `${boundMs} ms after every fault was healed, ended syncs still hold: ${left.join('; ')}`,
    );
}

/** Object versions under the sync's run and superseded-list prefixes, at both sites. */
async function listsOf(run: SoakRun, syncId: string): Promise<string[]> {
  const prefixes = [syncObjects.runs(run.groupId, syncId), syncObjects.superseded(run.groupId, syncId)];
  const found = await Promise.all(
    Object.keys(run.deps.stores).flatMap((site) =>
      prefixes.map(async (p) => (await versionsAt(run.stack.h, site, p)).map((v) => `${site}:${v}`)),
    ),
  );
  return found.flat();
}
