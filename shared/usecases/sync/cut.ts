import { keys } from '../../aws/keys';
import { type Deps, isoNow } from '../../deps';
import { canTakeOver, fencing, scanManifestKey } from '../../domain/fencing';
import { leaseIsLive } from '../../domain/group-rules';
import type { Barrier, Group, SyncJob } from '../../domain/model';
import { loadPairs } from '../groups';
import { type StepResult, setJob } from './job';

/** The answer to this job's cut, when it is there (a scan job needs a scanned answer). */
function answered(group: Group, job: SyncJob): boolean {
  return group.cutDone?.syncId === job.id && (!job.scan || group.cutDone.scan !== undefined);
}

export async function cut(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  if (answered(group, job) && group.cutDone) {
    const done = group.cutDone;
    await setJob(deps, job, {
      state: 'collecting',
      cutEpoch: done.epoch,
      cutAt: done.at,
      ...(done.scan && { scanManifests: done.scan }),
    });
    return 'progress';
  }
  const now = deps.now();
  const f = fencing(deps.config.leaseSeconds);
  if (group.lease?.holder === job.id) return scanUnderOwnLease(deps, group, job);
  if (leaseIsLive(group.lease, now)) {
    // The gateway sees the request on its next lease renewal and closes its epoch.
    const scan = job.scan === true;
    if (group.cutRequest !== job.id || (group.cutRequestScan === true) !== scan) {
      await deps.table.update(
        keys.group(group.id),
        { set: { cutRequest: job.id, cutRequestScan: scan } },
        {
          expr: 'activeSync.id = :s',
          values: { ':s': job.id },
        },
      );
    }
    return 'waiting';
  }
  // A lease that ran out without release: its writer's aborted requests may still be settling.
  if (!canTakeOver(group.lease, now, f)) return 'waiting';
  const e = group.epoch;
  const stale = now - f.takeoverDelayMs;
  const takeover = `#e = :e AND (attribute_not_exists(lease) OR lease.expiresAt < :stale)`;
  if (job.scan) {
    // Quiesced without a gateway: the sync holds the lease itself while it lists the volumes,
    // and reserves e + 1 so that e is the cut.
    const held = await deps.table.update<Group>(
      keys.group(group.id),
      {
        set: {
          lease: { holder: job.id, expiresAt: now + f.leaseMs, startEpoch: e + 1 },
          epoch: e + 1,
        },
      },
      { expr: takeover, names: { '#e': 'epoch' }, values: { ':e': e, ':stale': stale } },
    );
    if (!held) return 'waiting';
    return scanUnderOwnLease(deps, held, job);
  }
  // No live writer: the sync closes the epoch itself, conditional on nobody taking the lease.
  const at = isoNow(deps);
  const clean = group.lease === undefined;
  const updated = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: { epoch: e + 1, cutDone: { syncId: job.id, epoch: e, at } },
      remove: ['lease', 'cutRequest', 'cutRequestScan'],
    },
    { expr: takeover, names: { '#e': 'epoch' }, values: { ':e': e, ':stale': stale } },
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

/**
 * Under the sync's own lease (epoch startEpoch - 1 is the cut): lists a scan manifest per
 * primary volume, then answers the cut and gives the lease back in one conditional write,
 * which fails if a gateway took the lease meanwhile (the listing may then miss its writes).
 */
async function scanUnderOwnLease(deps: Deps, group: Group, job: SyncJob): Promise<StepResult> {
  const e = (group.lease?.startEpoch ?? group.epoch) - 1;
  const store = deps.stores[group.primarySite];
  const scan: Record<string, string> = {};
  for (const pair of await loadPairs(deps, group.id)) {
    const key = scanManifestKey(group.id, job.id, pair.primaryVolumeId);
    await store.writeManifest(key, store.listChunks(pair.primaryVolumeId));
    scan[pair.primaryVolumeId] = key;
  }
  const at = isoNow(deps);
  const done = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: { cutDone: { syncId: job.id, epoch: e, at, scan } },
      remove: ['lease', 'cutRequest', 'cutRequestScan'],
    },
    { expr: 'lease.holder = :s', values: { ':s': job.id } },
  );
  if (!done) return 'waiting';
  await setJob(deps, job, { state: 'collecting', cutEpoch: e, cutAt: at, scanManifests: scan });
  return 'progress';
}
