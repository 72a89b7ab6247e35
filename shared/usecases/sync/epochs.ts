import { barrierRange, changeRange, groupPartition } from '../../aws/keys';
import type { Deps } from '../../deps';
import { trackingTimeoutMs } from '../../domain/fencing';
import { leaseIsLive } from '../../domain/group-rules';
import type { Barrier, Group } from '../../domain/model';
import { recordEvent } from '../events';
import type { StoredChangeBatch } from './job';

/**
 * 'complete': every epoch in [from, to] has its barrier and every batch the barrier names
 * is stored. 'waiting': a live gateway has yet to write a barrier, or a named batch is still
 * on its way. 'lost': the change records of some epoch can no longer be known (its gateway
 * stopped without a barrier, or a named batch stayed unstored for the tracking timeout,
 * i.e. went to the dead-letter queue): the sync must find the delta by a scan.
 */
export type EpochStatus = 'complete' | 'waiting' | 'lost';

export async function epochsComplete(
  deps: Deps,
  group: Group,
  from: number,
  to: number,
): Promise<EpochStatus> {
  if (to < from) return 'complete';
  const [bFrom, bTo] = barrierRange(from, to);
  const barriers = new Map<number, Barrier>();
  for await (const b of deps.table.query<Barrier>(groupPartition(group.id), bFrom, bTo))
    barriers.set(b.epoch, b);
  const [cFrom, cTo] = changeRange(from, to);
  const stored = new Map<number, Set<string>>();
  for await (const item of deps.table.query<StoredChangeBatch>(groupPartition(group.id), cFrom, cTo, [
    'epoch',
    'session',
    'batch',
  ])) {
    const set = stored.get(item.epoch) ?? new Set();
    set.add(`${item.session}#${item.batch}`);
    stored.set(item.epoch, set);
  }
  const now = deps.now();
  const liveFrom = leaseIsLive(group.lease, now) ? (group.lease?.startEpoch ?? 0) : Number.MAX_SAFE_INTEGER;
  const timeout = trackingTimeoutMs(deps.config);
  let waiting = false;
  const lost = async (why: string): Promise<EpochStatus> => {
    await recordEvent(deps, group.id, 'epoch-recovered', 'warning', `${why}: the sync scans the volumes`);
    return 'lost';
  };
  for (let e = from; e <= to; e++) {
    const b = barriers.get(e);
    if (!b) {
      // A live gateway writes its barrier right after answering the cut: wait for it.
      if (e >= liveFrom) {
        waiting = true;
        continue;
      }
      return lost(`epoch ${e} has no barrier: its gateway stopped without closing it`);
    }
    const have = stored.get(e) ?? new Set();
    for (let n = 0; n < b.batches; n++) {
      if (b.missing.includes(n) || have.has(`${b.session}#${n}`)) continue;
      if (now - Date.parse(b.sealedAt) >= timeout)
        return lost(`change batch ${n} of epoch ${e} was never stored`);
      waiting = true;
    }
  }
  return waiting ? 'waiting' : 'complete';
}
