import { barrierRange, changeRange, groupPartition, keys } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import { leaseIsLive } from '../../domain/group-rules';
import type { Barrier, Group } from '../../domain/model';
import { recordEvent } from '../events';
import type { StoredChangeBatch } from './job';

/**
 * True when every epoch in [from, to] has its barrier and every batch the barrier names is
 * stored. An epoch without a barrier belonged to a gateway that crashed: it is sealed with
 * what was ingested once the change queue has drained.
 */
export async function epochsComplete(deps: Deps, group: Group, from: number, to: number): Promise<boolean> {
  if (to < from) return true;
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
  let drained: boolean | undefined;
  const liveFrom = leaseIsLive(group.lease, deps.now())
    ? (group.lease?.startEpoch ?? 0)
    : Number.MAX_SAFE_INTEGER;
  for (let e = from; e <= to; e++) {
    const b = barriers.get(e);
    if (!b) {
      // A live gateway writes its barrier right after answering the cut: wait for it.
      if (e >= liveFrom) return false;
      drained ??= (await deps.changeQueues[group.primarySite].depth()) === 0;
      if (!drained) return false;
      const sealed: Barrier = {
        epoch: e,
        session: 'recovered',
        batches: 0,
        missing: [],
        recovered: true,
        sealedAt: isoNow(deps),
      };
      await deps.table.put(keys.barrier(group.id, e), sealed, { expr: 'attribute_not_exists(pk)' });
      await recordEvent(
        deps,
        group.id,
        'epoch-recovered',
        'warning',
        `epoch ${e} sealed after its gateway stopped without closing it`,
      );
      continue;
    }
    if (b.recovered) continue;
    const have = stored.get(e) ?? new Set();
    for (let n = 0; n < b.batches; n++) {
      if (!b.missing.includes(n) && !have.has(`${b.session}#${n}`)) return false;
    }
  }
  return true;
}
