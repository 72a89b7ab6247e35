/** The nouns of DESIGN.md, as stored in the control table and returned by the API. */

export type Role = 'primary' | 'secondary';

/** Every group status, as SANtricity names them (API values in kebab-case). */
export const GROUP_STATUSES = [
  'optimal',
  'synchronizing-initial',
  'synchronizing-interval',
  'system-suspended',
  'user-suspended',
  'paused',
  'orphan',
  'role-change-pending',
  'role-change-in-progress',
  'role-conflict',
  'failed',
] as const;
export type GroupStatus = (typeof GROUP_STATUSES)[number];

export const PAIR_STATUSES = [
  'synchronizing',
  'optimal',
  'incomplete',
  'failed',
  'orphan',
  'stopped',
] as const;
export type PairStatus = (typeof PAIR_STATUSES)[number];

export type SyncMode = 'manual' | 'scheduled' | 'continuous';
export type Priority = 'lowest' | 'low' | 'medium' | 'high' | 'highest';

export interface Lease {
  /** Gateway session (or sync) holding the write lease. */
  holder: string;
  /** Epoch-milliseconds; a lease past this is void. */
  expiresAt: number;
  /** First epoch the holder writes in: epochs from here on belong to a live writer. */
  startEpoch?: number;
}

export interface Volume {
  id: string;
  name: string;
  site: string;
  sizeBytes: number;
  chunkSizeBytes: number;
  groupId?: string;
  role?: Role;
  /** Write lease of a volume outside any group. */
  lease?: Lease;
  /** Set on an RP clone: where its chunks never written since the clone was made are read from. */
  base?: CloneBase;
  createdAt: string;
}

/** An RP's secondary manifest of one pair, the read-only base of a clone volume. */
export interface CloneBase {
  groupId: string;
  rpNumber: number;
  rpId: string;
  /** The secondary volume whose chunk versions the manifest names. */
  volumeId: string;
  manifestKey: string;
}

export interface SyncSettings {
  mode: SyncMode;
  intervalSeconds: number;
}

export interface Thresholds {
  syncIntervalWarningSeconds?: number;
  recoveryPointAgeAlertSeconds?: number;
  backlogWarningBytes?: number;
}

export interface RecoveryPointRef {
  id: string;
  number: number;
  epoch: number;
  cutAt: string;
  committedAt: string;
}

export interface Group {
  id: string;
  name: string;
  /** Stored status: the lasting ones (optimal, suspended, paused...); sync states are derived. */
  status: GroupStatus;
  primarySite: string;
  secondarySite: string;
  roleEpoch: number;
  sync: SyncSettings;
  priority: Priority;
  resyncPolicy: 'automatic' | 'manual';
  thresholds: Thresholds;
  /** Above this many bytes of change records not yet in an RP, per-write tracking stops (resync by scan). */
  backlogLimitBytes?: number;
  /** Above this age, in seconds, of the oldest change record not yet in an RP, the same. */
  backlogLimitSeconds?: number;
  /** The open epoch: writes issued now are numbered with it. */
  epoch: number;
  lease?: Lease;
  /** A sync asking the lease holder to close its epoch. */
  cutRequest?: string;
  /** The cut requested must be quiesced and scanned (change tracking was lost). */
  cutRequestScan?: boolean;
  /**
   * The answer to cutRequest. `scan`, for a quiesced cut: per primary volume, the key of a
   * manifest listing the latest version of every chunk at the cut (at the primary site).
   */
  cutDone?: { syncId: string; epoch: number; at: string; scan?: Record<string, string> };
  activeSync?: { id: string; initial: boolean };
  /** Bumped on every pair add and remove: a gateway renews only under the member list it knows. */
  membersVersion?: number;
  /** Held while pairs are added or removed, so that no sync plans over a changing member list. */
  memberLock?: Lease;
  lastRp?: RecoveryPointRef;
  /**
   * RP clones alive, clone volume id -> RP number: expiry keeps a pinned RP's object versions.
   * Changed only by conditional writes over the whole map, which expiry's unlisting checks too.
   */
  clones?: Record<string, number>;
  /**
   * When each pin was written (clone volume id -> ISO time), in the same write as the pin: a
   * pin whose clone volume is missing past a grace is a leak of a crashed create or delete.
   */
  clonesPinnedAt?: Record<string, string>;
  /** Highest RP number ever reserved or committed; RP numbers only grow. */
  rpCounter: number;
  /**
   * Numbers of the committed RPs still retained, oldest first. The commit's conditional write
   * appends here, so an RP item whose number is absent (a refused or unfinished commit, or an
   * RP being expired) is never listed or read.
   */
  recoveryPoints?: number[];
  /**
   * Syncs started and not yet finished (committed with their post-commit work done, or failed),
   * so the tick drives a committed sync's clean-up without holding the group with it.
   */
  openSyncs?: string[];
  lastSyncStartedAt?: string;
  pausedReason?: string;
  /** Why the system suspended the group (a member failed). */
  suspendedReason?: string;
  /** Ids of the pairs whose member failed while the group is system-suspended. */
  failedPairs?: string[];
  /**
   * Set when change tracking cannot be trusted (a member failed, the backlog overflowed): the
   * next sync finds its delta by a scan. The token lets the sync that consumed one request
   * clear that one only; `afterRp` is the RP counter when it was set (the consuming sync's RP
   * number is higher).
   */
  resyncByScan?: { token: string; afterRp: number };
  /** Kinds of the alerts raised (with an event) and not yet cleared, sorted; kept by the tick. */
  alertsRaised?: string[];
  /** The `automatic` resync policy's backoff: consecutive system suspensions and the next retry. */
  autoResume?: { retries: number; retryAt: number };
  /** The role change under way (status role-change-pending or role-change-in-progress). */
  roleChange?: RoleChange;
  /**
   * Set by a forced promotion: the old primary's site may hold writes no RP has. Until they are
   * kept as a preserved-writes item (once the site answers again), no sync starts, so nothing
   * overwrites them. `rpNumber` is the item's number once it is listed.
   */
  preserveWrites?: { site: string; changeId: string; rpNumber?: number };
  createdAt: string;
}

/** A role change in flight: every step of it is driven by the tick and safe to repeat. */
export interface RoleChange {
  id: string;
  /** The site that becomes primary. */
  toPrimary: string;
  /** Forced promotion: no final sync, the promoted site reverts to its last RP. */
  force: boolean;
  /** The role epoch the change started under; the flip makes it fromRoleEpoch + 1. */
  fromRoleEpoch: number;
  /** The planned change's final sync, once started. */
  finalSyncId?: string;
  requestedAt: string;
}

export interface Pair {
  /** Identity of this pairing: a volume removed and added again is a new pair with a new initial sync. */
  id: string;
  groupId: string;
  primaryVolumeId: string;
  secondaryVolumeId: string;
  /** First epoch whose change records belong to this pair. */
  startEpoch: number;
  /** Primary manifest listed when the pair was added (the initial-sync base). */
  baseManifestKey: string;
  /** Chunks in that manifest (absent on pairs added before it was counted). */
  baseChunks?: number;
  /** Number of the first RP that holds this pair; absent while the initial sync runs. */
  firstRp?: number;
  addedAt: string;
}

/** One chunk write, as published by the gateway after its PUT succeeded. */
export interface ChangeRecord {
  /** The pairing the write was made under: records of an earlier pairing of the volume are ignored. */
  pairId: string;
  volumeId: string;
  chunk: number;
  versionId: string;
  sha256: string;
  bytes: number;
  /** Per-volume, per-session sequence number: orders writes to the same chunk. */
  seq: number;
}

/** The unit published to SQS: many records of one epoch from one gateway session. */
export interface ChangeBatch {
  groupId: string;
  session: string;
  epoch: number;
  batch: number;
  records: ChangeRecord[];
}

export interface Barrier {
  epoch: number;
  session: string;
  /** How many ChangeBatch messages epoch `epoch` has: completeness is checkable. */
  batches: number;
  /** Batch numbers whose send failed: their writes were never acknowledged. */
  missing: number[];
  sealedAt: string;
}

export type SyncState = 'cutting' | 'collecting' | 'copying' | 'committing' | 'committed' | 'failed';

/** A sync waiting for an unreachable site: the phase stays in SyncJob.state and re-runs on resume. */
export interface SyncPause {
  reason: string;
  /** Consecutive failed attempts to reach the sites. */
  retries: number;
  /** Epoch-milliseconds of the next attempt. */
  retryAt: number;
  /**
   * The user resumed the group during this pause: the resync policy `manual` no longer holds
   * the sync, which goes on as soon as the sites answer. Cleared with the pause.
   */
  userResumed?: boolean;
}

export interface SyncJob {
  id: string;
  groupId: string;
  rpNumber: number;
  rpId: string;
  state: SyncState;
  /** True while any pair of the group takes its initial sync in this job. */
  initial: boolean;
  roleEpoch: number;
  fromEpoch: number;
  /** Change tracking for (fromEpoch, cut] was lost: the cut is quiesced and the delta found by a scan. */
  scan?: boolean;
  /** The group's resyncByScan token this sync consumes (cleared when it commits). */
  resyncToken?: string;
  /** Per primary volume, the scan manifest of a quiesced cut (from Group.cutDone.scan). */
  scanManifests?: Record<string, string>;
  /**
   * Set before the sync writes its first run or superseded list to S3. A sync without it wrote
   * none (its delta was kept on the job), so its clean-up lists neither prefix.
   */
  spilled?: boolean;
  /**
   * Which of the two it wrote, each set with `spilled` before the first object of its kind, so
   * the clean-up lists only that prefix. A job marked `spilled` with neither (by a version
   * before these) may hold both.
   */
  spilledRuns?: boolean;
  spilledSuperseded?: boolean;
  cutEpoch?: number;
  cutAt?: string;
  /** The pairs this sync covers, fixed when collect starts, in primary volume id order. */
  pairIds?: string[];
  /** Checkpoint of the collect phase, which works a bounded amount per step. */
  collect?: CollectProgress;
  /** Checkpoint of the commit phase, which writes manifests a bounded amount per step. */
  commit?: CommitProgress;
  /**
   * Commit calls started, each counted before it writes an object. Equal to `commit.calls`
   * once committed, every call ran to its end and wrote each object under its attempt once, so
   * the clean-up has nothing there to list.
   */
  commitCalls?: number;
  tasksTotal?: number;
  /** Copy tasks offered to the workers so far, in task order. */
  tasksEnqueued?: number;
  /** Every copy task numbered below it is finished (the copy step reads from here on). */
  tasksLow?: number;
  /** Set while a site is unreachable; any phase can pause. */
  pause?: SyncPause;
  /** Consecutive steps that threw an error other than an unreachable site. */
  failures?: number;
  /** Consecutive steps that failed with throttling, a server error or a timeout. */
  transientFailures?: number;
  chunksTotal?: number;
  bytesTotal?: number;
  startedAt: string;
  committedAt?: string;
  /** Set once the post-commit work (event, clean-up, expiry) is done. */
  finishedAt?: string;
  error?: string;
}

/** A resumable read position in a stored manifest (see shared/domain/manifest.ts). */
export interface ManifestPosition {
  part: number;
  offset: number;
}

export interface CollectProgress {
  /** Sort key of the last change batch folded into a run. */
  lastBatch?: string;
  /** Runs stored so far (at the primary site). */
  runs: number;
  /** The only run, when it is small: kept here instead of in S3. */
  inlineRun?: string;
  /** With inlineRun: the versions its fold superseded, as run lines (see DeltaBuilder.superseded). */
  inlineSuperseded?: string;
  /** Present once every change batch is in a run: copy tasks are being planned. */
  planning?: PlanProgress;
}

export interface PlanProgress {
  /** Index into SyncJob.pairIds of the pair being planned. */
  pair: number;
  /** Per run, the byte offset of its first entry not yet planned. */
  runs: number[];
  /** The pair's base manifest (initial sync) or scan manifest. */
  source: ManifestPosition;
  /** The last RP's primary manifest of the pair, diffed against a scan manifest. */
  previous: ManifestPosition;
  taskNo: number;
  chunksTotal: number;
  bytesTotal: number;
  /** Most chunks per task, fixed when planning starts (absent: CHUNKS_PER_TASK). */
  perTask?: number;
}

export interface CommitProgress {
  /**
   * This commit attempt's id, part of its manifest keys: an attempt that overlaps another (a
   * driver whose lease ran out mid-step) writes beside it, never over a committed RP's manifests.
   */
  attempt: string;
  /** Index into SyncJob.pairIds of the pair whose manifests are being written. */
  pair: number;
  /** Which manifest of the pair: the primary site's, then the secondary site's. */
  site: 'primary' | 'secondary';
  /** First copy task that may belong to the pair (tasks are planned in pair order). */
  pairTask: number;
  /** Next copied chunk to merge: task number and entry within the task. */
  task: { taskNo: number; entry: number };
  /** Next entry of the previous RP's manifest to merge. */
  previous: ManifestPosition;
  /** Parts of the new manifest written so far. */
  parts: number;
  /** Entries of the new manifest written so far. */
  chunks: number;
  /** Copied chunks merged so far into the new manifest. */
  copied: number;
  /** The finished pairs of the RP. */
  volumes: RecoveryPointVolume[];
  bytes: number;
  /** Commit calls that ran to their end (saved this checkpoint or committed); see SyncJob.commitCalls. */
  calls?: number;
}

/** A chunk to copy: [chunk index, source versionId]. */
export type ChunkRef = [number, string];

export interface CopyTask {
  syncId: string;
  groupId: string;
  taskNo: number;
  sourceSite: string;
  targetSite: string;
  sourceVolumeId: string;
  targetVolumeId: string;
  chunkSizeBytes: number;
  /** The chunks to copy, in index order, as `encodeChunkRefs` stores them (a list in older tasks). */
  chunks: string | ChunkRef[];
}

export interface RecoveryPointVolume {
  pairId: string;
  primaryVolumeId: string;
  secondaryVolumeId: string;
  primaryManifestKey: string;
  secondaryManifestKey: string;
  chunks: number;
  bytes: number;
}

export interface RecoveryPoint {
  id: string;
  number: number;
  groupId: string;
  kind: 'recovery-point' | 'preserved-writes';
  /** The site of the secondary manifests (the primary manifests are at the group's other site). */
  site: string;
  epoch: number;
  roleEpoch: number;
  cutAt: string;
  committedAt: string;
  /** Bytes copied to the secondary by the sync that made this RP. */
  bytes: number;
  volumes: RecoveryPointVolume[];
}

export interface GroupEvent {
  at: string;
  kind: string;
  severity: 'info' | 'warning' | 'error';
  message: string;
}
