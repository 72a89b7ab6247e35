import { barrierRange, changeRange, groupPartition } from '../../aws/keys';
import type { Deps } from '../../deps';
import type { RecoveryPoint, SyncJob } from '../../domain/model';
import { recordEvent } from '../events';
import { expireRecoveryPoints } from '../recovery-points';
import { taskPartition } from '../sync-progress';

/** What follows a commit: the event, removal of what the RP consumed, expiry of old RPs. */
export async function finishCommit(
  deps: Deps,
  groupId: string,
  job: SyncJob,
  rp: RecoveryPoint,
  bytes: number,
): Promise<void> {
  await recordEvent(
    deps,
    groupId,
    'rp-committed',
    'info',
    `${rp.id} committed at epoch ${rp.epoch}: ${bytes} bytes copied`,
  );
  await cleanUp(deps, groupId, job);
  await expireRecoveryPoints(deps, groupId);
}

/** Removes what the committed RP consumed: change batches, barriers, copy tasks. */
async function cleanUp(deps: Deps, groupId: string, job: SyncJob): Promise<void> {
  const cutEpoch = job.cutEpoch ?? 0;
  const pk = groupPartition(groupId);
  const [cFrom, cTo] = changeRange(1, cutEpoch);
  const [bFrom, bTo] = barrierRange(1, cutEpoch);
  const doomed = [
    ...(await deps.table.queryKeys(pk, cFrom, cTo)),
    ...(await deps.table.queryKeys(pk, bFrom, bTo)),
    ...(await deps.table.queryKeys(taskPartition(job.id), 'TASK#', 'TASK#\uffff')),
  ];
  await deps.table.deleteMany(doomed);
}
