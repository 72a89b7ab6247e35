import { badInput, conflict, DomainError } from './errors';
import type { ChunkRef, Group, GroupStatus, Pair, RecoveryPoint, RecoveryPointRef, Role } from './model';

/**
 * The role state machine. A planned change goes optimal -> role-change-pending (the gateway
 * drains and releases, a final sync runs) -> role-change-in-progress (the flip) -> optimal.
 * A forced promotion enters role-change-in-progress directly. role-conflict is left only by
 * the operator's role request.
 */
export const ROLE_TRANSITIONS: Readonly<Record<string, readonly GroupStatus[]>> = {
  optimal: ['role-change-pending'],
  'role-change-pending': ['role-change-in-progress'],
  'role-change-in-progress': ['optimal', 'role-conflict'],
  'role-conflict': ['role-change-in-progress'],
};

export function canTransition(from: GroupStatus, to: GroupStatus): boolean {
  return ROLE_TRANSITIONS[from]?.includes(to) ?? false;
}

/** Statuses in which a role change is under way: no gateway may take the lease, no sync start. */
export const ROLE_CHANGE_STATUSES: readonly GroupStatus[] = [
  'role-change-pending',
  'role-change-in-progress',
  'role-conflict',
];

export const isRoleChange = (status: GroupStatus) => ROLE_CHANGE_STATUSES.includes(status);

export interface RoleRequest {
  site: string;
  role: Role;
  force: boolean;
}

/** Validates a role request body against the group's two sites. */
export function parseRoleRequest(
  input: Record<string, unknown>,
  group: Pick<Group, 'primarySite' | 'secondarySite'>,
): RoleRequest {
  const unknown = Object.keys(input).filter((k) => !['site', 'role', 'force'].includes(k));
  if (unknown.length) throw badInput(`unknown field ${unknown.join(', ')}; expected site, role, force`);
  const { site, role, force } = input;
  if (typeof site !== 'string' || ![group.primarySite, group.secondarySite].includes(site)) {
    throw badInput(
      `site must be one of the group's sites: ${group.primarySite}, ${group.secondarySite}`,
      'bad-site',
    );
  }
  if (role !== 'primary' && role !== 'secondary')
    throw badInput('role must be primary or secondary', 'bad-role');
  if (force !== undefined && typeof force !== 'boolean')
    throw badInput('force must be true or false', 'bad-force');
  return { site, role, force: force === true };
}

/** The site a request makes primary; refused when that site is primary already. */
export function requestedPrimary(
  group: Pick<Group, 'primarySite' | 'secondarySite'>,
  req: RoleRequest,
): string {
  const other = req.site === group.primarySite ? group.secondarySite : group.primarySite;
  const target = req.role === 'primary' ? req.site : other;
  if (target === group.primarySite) {
    throw conflict(`${target} is the primary site already`, 'role-unchanged');
  }
  return target;
}

/** A planned change needs both sites and a settled group: it starts from optimal only. */
export function plannedRefusal(status: GroupStatus): DomainError | undefined {
  if (canTransition(status, 'role-change-pending')) return undefined;
  const hint = status === 'paused' ? ' (the other site is unreachable: use force to promote it)' : '';
  return conflict(`a planned role change needs the group optimal, it is ${status}${hint}`, 'wrong-state');
}

/** What the forced-promotion rules look at. */
export interface ForcedPromotionFacts {
  status: GroupStatus;
  pairs: number;
  /** Pairs not held by any committed RP yet. */
  pairsWithoutRp: number;
  initialSyncRunning: boolean;
}

export type ForcedPromotionRule =
  | 'group-failed'
  | 'role-change-pending'
  | 'role-change-in-progress'
  | 'group-empty'
  | 'pair-without-recovery-point'
  | 'initial-sync-running';

const refuse = (rule: ForcedPromotionRule, why: string) =>
  new DomainError(422, 'forced-promotion-refused', `forced promotion refused (rule ${rule}): ${why}`);

/** The SANtricity rules: undefined when a forced promotion is allowed, else the 422 naming the rule. */
export function forcedPromotionRefusal(f: ForcedPromotionFacts): DomainError | undefined {
  if (f.status === 'failed') return refuse('group-failed', 'the group is failed');
  if (f.status === 'role-change-pending')
    return refuse('role-change-pending', 'a planned role change is pending');
  if (f.status === 'role-change-in-progress')
    return refuse('role-change-in-progress', 'a role change is in progress');
  if (f.pairs === 0) return refuse('group-empty', 'the group has no mirrored pairs');
  // Before the RP rule, which an initial sync always breaks too: the more specific reason.
  if (f.initialSyncRunning) return refuse('initial-sync-running', 'an initial sync is running');
  if (f.pairsWithoutRp > 0)
    return refuse(
      'pair-without-recovery-point',
      `${f.pairsWithoutRp} pair(s) have no committed recovery point at the secondary`,
    );
  return undefined;
}

/** Where a role change stands, read from the table; decides the next step. */
export interface RoleChangeFacts {
  status: GroupStatus;
  force: boolean;
  /** The group's role epoch now, and the one the change started under. */
  roleEpoch: number;
  fromRoleEpoch: number;
  /** A write lease that has not been released and cannot be taken over yet. */
  leaseHeld: boolean;
  activeSyncId?: string;
  finalSyncId?: string;
  /** The final sync's state: absent when none was started. */
  finalSync?: 'running' | 'committed' | 'failed';
  /** Pair items and volume roles already follow the flipped roles. */
  membersFlipped: boolean;
}

export type RoleStep =
  | 'wait-for-gateway'
  | 'wait-for-sync'
  | 'start-final-sync'
  | 'begin-flip'
  | 'abort-sync'
  | 'flip'
  | 'flip-members'
  | 'finish';

/** The next step of a role change: each is safe to repeat, so a killed change resumes. */
export function nextRoleStep(f: RoleChangeFacts): RoleStep {
  if (f.roleEpoch > f.fromRoleEpoch) return f.membersFlipped ? 'finish' : 'flip-members';
  if (f.status === 'role-change-pending') {
    if (f.leaseHeld) return 'wait-for-gateway';
    if (f.activeSyncId) return 'wait-for-sync';
    if (f.finalSync === 'committed') return 'begin-flip';
    return 'start-final-sync';
  }
  if (f.force && f.activeSyncId) return 'abort-sync';
  if (f.activeSyncId) return 'wait-for-sync';
  if (f.leaseHeld) return 'wait-for-gateway';
  return 'flip';
}

/**
 * The primary site under an earlier role epoch (a sync's, say): a flip is the only change of
 * either, and it swaps the sites and adds one to the epoch.
 */
export function primarySiteAt(
  group: Pick<Group, 'primarySite' | 'secondarySite' | 'roleEpoch'>,
  roleEpoch: number,
): string {
  return (group.roleEpoch - roleEpoch) % 2 === 0 ? group.primarySite : group.secondarySite;
}

/** The group fields a flip changes: the sites swap and the role epoch moves on. */
/**
 * Where an RP's primary manifests are: the group's site other than the RP's own (the roles may
 * have flipped since it was made); a preserved-writes item keeps its one manifest at its site.
 */
export function primaryManifestSite(
  group: Pick<Group, 'primarySite' | 'secondarySite'>,
  rp: Pick<RecoveryPoint, 'kind' | 'site'>,
): string {
  if (rp.kind === 'preserved-writes') return rp.site;
  return rp.site === group.primarySite ? group.secondarySite : group.primarySite;
}

export function flippedRoles(group: Pick<Group, 'primarySite' | 'secondarySite' | 'roleEpoch'>) {
  return {
    primarySite: group.secondarySite,
    secondarySite: group.primarySite,
    roleEpoch: group.roleEpoch + 1,
  };
}

/**
 * The RP the new direction starts from: the last committed RP with its sides swapped, so the
 * promoted site's manifests are the primary ones and the next sync copies only what changes
 * after the flip. Its epoch is the flip's own cut: epochs up to it belong to the old primary.
 */
export function flipRecoveryPoint(
  last: RecoveryPoint,
  at: {
    id: string;
    number: number;
    roleEpoch: number;
    epoch: number;
    newSecondarySite: string;
    committedAt: string;
  },
): RecoveryPoint {
  return {
    ...last,
    id: at.id,
    number: at.number,
    kind: 'recovery-point',
    site: at.newSecondarySite,
    epoch: at.epoch,
    roleEpoch: at.roleEpoch,
    committedAt: at.committedAt,
    bytes: 0,
    volumes: last.volumes.map((v) => ({
      ...v,
      primaryVolumeId: v.secondaryVolumeId,
      secondaryVolumeId: v.primaryVolumeId,
      primaryManifestKey: v.secondaryManifestKey,
      secondaryManifestKey: v.primaryManifestKey,
    })),
  };
}

export const refOf = (rp: RecoveryPoint): RecoveryPointRef => ({
  id: rp.id,
  number: rp.number,
  epoch: rp.epoch,
  cutAt: rp.cutAt,
  committedAt: rp.committedAt,
});

/** A pair after the flip: same identity (its change records and RPs), volumes swapped. */
export function flippedPair(pair: Pair): Pair {
  return { ...pair, primaryVolumeId: pair.secondaryVolumeId, secondaryVolumeId: pair.primaryVolumeId };
}

/** A chunk whose live version is not the RP's: `rp` absent means the chunk is not in the RP. */
export interface Divergence {
  index: number;
  live?: string;
  rp?: string;
}

/**
 * Merges a volume's live listing with an RP manifest (both sorted by chunk index) and yields
 * the chunks where they differ: what reverting the volume to the RP must restore or hide.
 */
export async function* divergentChunks(
  live: AsyncIterable<ChunkRef>,
  rp: AsyncIterable<ChunkRef>,
): AsyncGenerator<Divergence> {
  const a = live[Symbol.asyncIterator]();
  const b = rp[Symbol.asyncIterator]();
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value[0] < y.value[0])) {
      yield { index: x.value[0], live: x.value[1] };
      x = await a.next();
    } else if (x.done || y.value[0] < x.value[0]) {
      yield { index: y.value[0], rp: y.value[1] };
      y = await b.next();
    } else {
      if (x.value[1] !== y.value[1]) yield { index: x.value[0], live: x.value[1], rp: y.value[1] };
      x = await a.next();
      y = await b.next();
    }
  }
}
