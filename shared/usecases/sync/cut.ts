import { keys } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import { leaseIsLive } from '../../domain/group-rules';
import type { Barrier, Group, SyncJob } from '../../domain/model';
import { type StepResult, setJob } from './job';

export async function cut(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (group.cutDone?.syncId === job.id) {
    await setJob(deps, job, { state: 'collecting', cutEpoch: group.cutDone.epoch, cutAt: group.cutDone.at });
    return 'progress';
  }
  const now = deps.now();
  if (leaseIsLive(group.lease, now)) {
    // The gateway sees the request on its next lease renewal and closes its epoch.
    if (group.cutRequest !== job.id) {
      await deps.table.update(
        keys.group(group.id),
        { set: { cutRequest: job.id } },
        {
          expr: 'activeSync.id = :s',
          values: { ':s': job.id },
        },
      );
    }
    return 'waiting';
  }
  // No live writer: the sync closes the epoch itself, conditional on nobody taking the lease.
  const e = group.epoch;
  const at = isoNow(deps);
  const clean = group.lease === undefined;
  const updated = await deps.table.update<Group>(
    keys.group(group.id),
    { set: { epoch: e + 1, cutDone: { syncId: job.id, epoch: e, at } }, remove: ['lease', 'cutRequest'] },
    {
      expr: `#e = :e AND ${clean ? 'attribute_not_exists(lease)' : 'lease.expiresAt < :now'}`,
      names: { '#e': 'epoch' },
      values: { ':e': e, ':now': now },
    },
  );
  if (!updated) return 'waiting';
  if (clean) {
    // Released cleanly: nobody wrote in epoch e, so its barrier is empty.
    const barrier: Barrier = { epoch: e, session: job.id, batches: 0, missing: [], sealedAt: at };
    await deps.table.put(keys.barrier(group.id, e), barrier);
  }
  await setJob(deps, job, { state: 'collecting', cutEpoch: e, cutAt: at });
  return 'progress';
}
