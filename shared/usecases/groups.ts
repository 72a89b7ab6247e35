import { changeRange, groupPartition, keys } from '../aws/keys';
import { type Deps, isoNow, siteNames } from '../deps';
import { badInput, conflict, notFound } from '../domain/errors';
import {
  type Alert,
  alertsOf,
  type BacklogMeasure,
  checkBacklogLimit,
  checkBacklogLimitSeconds,
  checkPriority,
  checkResyncPolicy,
  checkSyncSettings,
  checkThresholds,
  groupStatus,
  pairStatus,
} from '../domain/group-rules';
import { checkId, checkSiteName, newId } from '../domain/ids';
import type {
  Group,
  GroupStatus,
  Pair,
  PairStatus,
  Priority,
  Role,
  SyncSettings,
  Thresholds,
} from '../domain/model';
import { recordEvent } from './events';
import { deleteGroupAlarms, updateGroupAlarms } from './group-alarms';
import { syncProgressByVolume } from './sync-progress';

export interface PairView {
  primaryVolumeId: string;
  secondaryVolumeId: string;
  status: PairStatus;
  progress?: { chunksCopied: number; chunksTotal: number };
  /** Marked for a partial resync: the next sync compares chunk versions with the last RP. */
  resync?: 'partial';
}

export type { Alert };

export interface GroupView {
  id: string;
  name: string;
  status: GroupStatus;
  roles: Record<string, Role>;
  roleEpoch: number;
  primarySite: string;
  secondarySite: string;
  sync: Group['sync'];
  priority: Group['priority'];
  resyncPolicy: Group['resyncPolicy'];
  thresholds: Group['thresholds'];
  backlogLimitBytes?: number;
  /** Absent: the default, an hour below the change queue's retention. */
  backlogLimitSeconds?: number;
  lastRecoveryPoint?: { id: string; cutAt: string; committedAt: string };
  recoveryPointAgeSeconds?: number;
  backlogBytes: number;
  /** Age of the oldest change record not yet in an RP (absent: none, or none with a storing time). */
  backlogAgeSeconds?: number;
  activeSyncId?: string;
  pairs: PairView[];
  alerts: Alert[];
}

/** Group settings as the API's schema (shared/api/schemas) has checked them; missing ones default. */
export interface GroupSettingsInput {
  name?: string;
  sync?: Partial<SyncSettings>;
  priority?: Priority;
  resyncPolicy?: Group['resyncPolicy'];
  thresholds?: Thresholds;
  /** null removes the limit. */
  backlogLimitBytes?: number | null;
  /** null goes back to the default (an hour below the change queue's retention). */
  backlogLimitSeconds?: number | null;
}

export interface CreateGroupInput extends GroupSettingsInput {
  name: string;
  primarySite: string;
  secondarySite: string;
}

export async function createGroup(deps: Deps, input: CreateGroupInput): Promise<GroupView> {
  const sites = siteNames(deps);
  const { name } = input;
  const primarySite = checkSiteName(input.primarySite, sites, 'primarySite');
  const secondarySite = checkSiteName(input.secondarySite, sites, 'secondarySite');
  if (primarySite === secondarySite)
    throw badInput('secondarySite must differ from primarySite', 'same-site');
  const group: Group = {
    id: newId('grp'),
    name,
    status: 'optimal',
    primarySite,
    secondarySite,
    roleEpoch: 1,
    sync: checkSyncSettings(input.sync),
    priority: checkPriority(input.priority),
    resyncPolicy: checkResyncPolicy(input.resyncPolicy),
    thresholds: checkThresholds(input.thresholds),
    ...(input.backlogLimitBytes !== undefined && {
      backlogLimitBytes: checkBacklogLimit(input.backlogLimitBytes),
    }),
    ...(input.backlogLimitSeconds !== undefined &&
      input.backlogLimitSeconds !== null && {
        backlogLimitSeconds: checkBacklogLimitSeconds(input.backlogLimitSeconds),
      }),
    epoch: 1,
    rpCounter: 0,
    membersVersion: 0,
    createdAt: isoNow(deps),
  };
  await deps.table.put(keys.group(group.id), group, { expr: 'attribute_not_exists(pk)' });
  await updateGroupAlarms(deps, group);
  await recordEvent(
    deps,
    group.id,
    'group-created',
    'info',
    `group ${name} created, ${primarySite} -> ${secondarySite}`,
  );
  return groupView(deps, group);
}

export async function loadGroup(deps: Deps, id: unknown): Promise<Group> {
  const groupId = checkId(id, 'groupId');
  const group = await deps.table.get<Group>(keys.group(groupId));
  if (!group) throw notFound('group', groupId);
  return group;
}

export async function loadPairs(deps: Deps, groupId: string): Promise<Pair[]> {
  return deps.table.queryPrefix<Pair>(groupPartition(groupId), 'PAIR#');
}

export async function getGroup(deps: Deps, id: unknown): Promise<GroupView> {
  return groupView(deps, await loadGroup(deps, id));
}

export async function listGroups(deps: Deps): Promise<GroupView[]> {
  const groups = await deps.table.queryPrefix<Group>('GROUPS', '');
  return Promise.all(groups.map((g) => groupView(deps, g)));
}

export async function patchGroup(deps: Deps, id: unknown, input: GroupSettingsInput): Promise<GroupView> {
  const group = await loadGroup(deps, id);
  const set = {
    name: input.name ?? group.name,
    sync: checkSyncSettings(input.sync, group.sync),
    priority: checkPriority(input.priority, group.priority),
    resyncPolicy: checkResyncPolicy(input.resyncPolicy, group.resyncPolicy),
    thresholds: checkThresholds(input.thresholds, group.thresholds),
  };
  const bytes = checkBacklogLimit(input.backlogLimitBytes, group.backlogLimitBytes);
  const seconds = checkBacklogLimitSeconds(input.backlogLimitSeconds, group.backlogLimitSeconds);
  const updated = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: {
        ...set,
        ...(bytes !== undefined && { backlogLimitBytes: bytes }),
        ...(seconds !== undefined && { backlogLimitSeconds: seconds }),
      },
      remove: [
        ...(bytes === undefined ? ['backlogLimitBytes'] : []),
        ...(seconds === undefined ? ['backlogLimitSeconds'] : []),
      ],
    },
    { expr: 'attribute_exists(pk)' },
  );
  if (!updated) throw notFound('group', group.id);
  await updateGroupAlarms(deps, updated);
  return groupView(deps, updated);
}

export async function deleteGroup(deps: Deps, id: unknown): Promise<void> {
  const group = await loadGroup(deps, id);
  if ((await loadPairs(deps, group.id)).length > 0) {
    throw conflict(`group ${group.id} still has mirrored pairs; remove them first`, 'group-not-empty');
  }
  // Not under a member change either: a removal deletes the pair item before its last writes to
  // the group, and a dead add or removal (its lock expired, its note left) still holds claims on
  // volumes that the tick settles first.
  const deleted = await deps.table.delete(keys.group(group.id), {
    expr: 'attribute_not_exists(activeSync) AND attribute_not_exists(roleChange) AND (attribute_not_exists(memberLock) OR (memberLock.expiresAt < :now AND attribute_not_exists(memberLock.adding) AND attribute_not_exists(memberLock.removing)))',
    values: { ':now': deps.now() },
  });
  if (!deleted) {
    throw conflict(
      `group ${group.id} is syncing, changing members or changing roles; try again when that is done`,
      'sync-running',
    );
  }
  await deps.table.deleteMany(await deps.table.queryKeys(groupPartition(group.id)));
  await deleteGroupAlarms(deps, group.id);
}

export function suspendGroup(deps: Deps, id: unknown): Promise<GroupView> {
  return setUserStatus(deps, id, 'user-suspended', 'suspended', 'mirroring suspended by the user');
}

/**
 * A paused group (its sync cannot reach a site) stays `paused` on resume, which only lets its
 * sync retry now and go on by itself once the sites answer (the sync's resume sets the group
 * optimal): with the link still down the group never shows healthy. Other states go optimal.
 */
export async function resumeGroup(deps: Deps, id: unknown): Promise<GroupView> {
  const group = await loadGroup(deps, id);
  if (
    group.status === 'paused' &&
    group.activeSync &&
    (await releasePausedSync(deps, group, group.activeSync.id))
  ) {
    await recordEvent(
      deps,
      group.id,
      'resumed',
      'info',
      `resume requested: sync ${group.activeSync.id} goes on as soon as the other site answers`,
    );
    return groupView(deps, await loadGroup(deps, group.id));
  }
  return setUserStatus(deps, group.id, 'optimal', 'resumed', 'mirroring resumed');
}

/**
 * Suspend and resume: allowed from optimal, paused or user-suspended; resume also from
 * system-suspended (the user says the failed member is usable again: the resync by scan the
 * suspension asked for follows with the next sync).
 */
async function setUserStatus(
  deps: Deps,
  id: unknown,
  status: 'optimal' | 'user-suspended',
  verb: 'suspended' | 'resumed',
  message: string,
): Promise<GroupView> {
  const group = await loadGroup(deps, id);
  const from =
    status === 'optimal'
      ? ['optimal', 'paused', 'user-suspended', 'system-suspended']
      : ['optimal', 'paused', 'user-suspended'];
  const updated = await deps.table.update<Group>(
    keys.group(group.id),
    {
      set: { status },
      ...(status === 'optimal' && { remove: ['pausedReason', 'suspendedReason', 'failedPairs'] }),
    },
    {
      expr: `#s IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
      names: { '#s': 'status' },
      values: Object.fromEntries(from.map((s, i) => [`:from${i}`, s])),
    },
  );
  if (!updated) throw conflict(`group ${group.id} is ${group.status} and cannot be ${verb}`, 'wrong-state');
  if (status === 'optimal' && updated.activeSync)
    await releasePausedSync(deps, updated, updated.activeSync.id);
  await recordEvent(deps, group.id, verb, 'info', message);
  return groupView(deps, updated);
}

/**
 * The user's resume of a group whose sync is paused: the sync retries now rather than at the
 * end of its backoff, and the `manual` resync policy no longer holds it. False when the sync
 * is not paused (any more).
 */
async function releasePausedSync(deps: Deps, group: Group, syncId: string): Promise<boolean> {
  const released = await deps.table.update(
    keys.sync(group.id, syncId),
    { set: { 'pause.retryAt': 0, 'pause.userResumed': true } },
    { expr: 'attribute_exists(pause)' },
  );
  return released !== null;
}

/**
 * The change batches not yet in an RP: the bytes written on the primary since the last RP (the
 * reserved capacity), counted per batch, and when ingest stored the oldest of them.
 */
export async function measureBacklog(deps: Deps, group: Group): Promise<BacklogMeasure> {
  const [from, to] = changeRange((group.lastRp?.epoch ?? 0) + 1, Number.MAX_SAFE_INTEGER);
  const measure: BacklogMeasure = { bytes: 0 };
  for await (const item of deps.table.query<{ bytes?: number; storedAt?: number }>(
    groupPartition(group.id),
    from,
    to,
    ['bytes', 'storedAt'],
  )) {
    measure.bytes += item.bytes ?? 0;
    if (item.storedAt !== undefined && item.storedAt < (measure.oldestAt ?? Number.POSITIVE_INFINITY)) {
      measure.oldestAt = item.storedAt;
    }
  }
  return measure;
}

export async function backlogBytes(deps: Deps, group: Group): Promise<number> {
  return (await measureBacklog(deps, group)).bytes;
}

export async function groupView(deps: Deps, group: Group): Promise<GroupView> {
  const [pairs, backlog, progress] = await Promise.all([
    loadPairs(deps, group.id),
    measureBacklog(deps, group),
    group.activeSync ? syncProgressByVolume(deps, group.activeSync.id) : Promise.resolve(new Map()),
  ]);
  const now = deps.now();
  const rpAge = group.lastRp ? Math.floor((now - Date.parse(group.lastRp.cutAt)) / 1000) : undefined;
  return {
    id: group.id,
    name: group.name,
    status: groupStatus(group),
    roles: { [group.primarySite]: 'primary', [group.secondarySite]: 'secondary' },
    roleEpoch: group.roleEpoch,
    primarySite: group.primarySite,
    secondarySite: group.secondarySite,
    sync: group.sync,
    priority: group.priority,
    resyncPolicy: group.resyncPolicy,
    thresholds: group.thresholds,
    ...(group.backlogLimitBytes !== undefined && { backlogLimitBytes: group.backlogLimitBytes }),
    ...(group.backlogLimitSeconds !== undefined && { backlogLimitSeconds: group.backlogLimitSeconds }),
    ...(group.lastRp && {
      lastRecoveryPoint: {
        id: group.lastRp.id,
        cutAt: group.lastRp.cutAt,
        committedAt: group.lastRp.committedAt,
      },
    }),
    ...(rpAge !== undefined && { recoveryPointAgeSeconds: rpAge }),
    backlogBytes: backlog.bytes,
    ...(backlog.oldestAt !== undefined && {
      backlogAgeSeconds: Math.max(0, Math.floor((now - backlog.oldestAt) / 1000)),
    }),
    ...(group.activeSync && { activeSyncId: group.activeSync.id }),
    pairs: pairs.map((p) => ({
      primaryVolumeId: p.primaryVolumeId,
      secondaryVolumeId: p.secondaryVolumeId,
      status: pairStatus(group, p),
      ...(progress.has(p.primaryVolumeId) && { progress: progress.get(p.primaryVolumeId) }),
      ...(group.resyncByScan && { resync: 'partial' as const }),
    })),
    alerts: alertsOf(group, { rpAgeSeconds: rpAge, backlogBytes: backlog.bytes, now }),
  };
}
