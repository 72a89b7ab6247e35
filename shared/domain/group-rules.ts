import { CHUNKS_PER_TASK, COPIES_IN_FLIGHT } from '../tuning';
import { badInput } from './errors';
import type {
  Group,
  GroupStatus,
  Pair,
  PairStatus,
  Priority,
  SyncMode,
  SyncSettings,
  Thresholds,
} from './model';

export const SYNC_MODES: SyncMode[] = ['manual', 'scheduled', 'continuous'];
export const PRIORITIES: Priority[] = ['lowest', 'low', 'medium', 'high', 'highest'];
export const DEFAULT_INTERVAL_SECONDS = 600;

/** Copy tasks a group may have in flight at once: sync priority weights copy concurrency. */
export function copyLanes(priority: Priority): number {
  return 2 * 2 ** PRIORITIES.indexOf(priority);
}

/**
 * Chunks per copy task for a delta of `deltaChunks` chunks (undefined: not known when planning
 * starts), with `lanes` tasks in flight. A small delta is cut into smaller tasks so that it fills
 * the lanes (a 256-chunk delta in 4 tasks kept half of a medium sync's copies idle); a task still
 * holds at least one worker's copies in flight.
 */
export function chunksPerTask(deltaChunks: number | undefined, lanes: number): number {
  if (deltaChunks === undefined) return CHUNKS_PER_TASK;
  return Math.min(CHUNKS_PER_TASK, Math.max(COPIES_IN_FLIGHT, Math.ceil(deltaChunks / lanes)));
}

export function checkSyncSettings(input: unknown, current?: SyncSettings): SyncSettings {
  if (input === undefined) return current ?? { mode: 'manual', intervalSeconds: DEFAULT_INTERVAL_SECONDS };
  if (typeof input !== 'object' || input === null) throw badInput('sync must be an object', 'bad-sync');
  const { mode, intervalSeconds } = input as { mode?: unknown; intervalSeconds?: unknown };
  const m = mode ?? current?.mode ?? 'manual';
  if (!SYNC_MODES.includes(m as SyncMode)) {
    throw badInput(`sync.mode must be one of ${SYNC_MODES.join(', ')}`, 'bad-sync');
  }
  const i = intervalSeconds ?? current?.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS;
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 1 || i > 86_400 * 7) {
    throw badInput('sync.intervalSeconds must be a whole number from 1 to 604800', 'bad-sync');
  }
  return { mode: m as SyncMode, intervalSeconds: i };
}

export function checkPriority(input: unknown, current: Priority = 'medium'): Priority {
  if (input === undefined) return current;
  if (!PRIORITIES.includes(input as Priority)) {
    throw badInput(`priority must be one of ${PRIORITIES.join(', ')}`, 'bad-priority');
  }
  return input as Priority;
}

export function checkResyncPolicy(input: unknown, current: Group['resyncPolicy'] = 'automatic') {
  if (input === undefined) return current;
  if (input !== 'automatic' && input !== 'manual') {
    throw badInput('resyncPolicy must be automatic or manual', 'bad-resync-policy');
  }
  return input;
}

export function checkThresholds(input: unknown, current: Thresholds = {}): Thresholds {
  if (input === undefined) return current;
  if (typeof input !== 'object' || input === null)
    throw badInput('thresholds must be an object', 'bad-thresholds');
  const out: Thresholds = { ...current };
  for (const [k, v] of Object.entries(input)) {
    if (!['syncIntervalWarningSeconds', 'recoveryPointAgeAlertSeconds', 'backlogWarningBytes'].includes(k)) {
      throw badInput(`unknown threshold ${k}`, 'bad-thresholds');
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw badInput(`thresholds.${k} must be a positive whole number`, 'bad-thresholds');
    }
    out[k as keyof Thresholds] = v;
  }
  return out;
}

/** The status a user sees: lasting states as stored, sync states while a sync runs. */
export function groupStatus(group: Group): GroupStatus {
  if (group.status !== 'optimal') return group.status;
  if (group.activeSync) return group.activeSync.initial ? 'synchronizing-initial' : 'synchronizing-interval';
  return 'optimal';
}

export function pairStatus(group: Group, pair: Pair): PairStatus {
  if (group.status === 'failed' || group.failedPairs?.includes(pair.id)) return 'failed';
  if (group.status === 'user-suspended' || group.status === 'system-suspended') return 'stopped';
  if (pair.firstRp === undefined) return group.status === 'paused' ? 'incomplete' : 'synchronizing';
  if (group.status === 'paused') return 'incomplete';
  return 'optimal';
}

export function leaseIsLive(lease: { expiresAt: number } | undefined, now: number): boolean {
  return lease !== undefined && lease.expiresAt > now;
}

/**
 * Whether a scheduled or continuous group is due for its next sync. A scheduled group counts
 * its interval from the later of the last start and the last RP's cut: a cut comes some time
 * after its sync starts, so counting from the start alone would put RPs closer than the interval.
 */
export function syncDue(group: Group, now: number): boolean {
  if (group.status !== 'optimal' || group.activeSync) return false;
  if (group.sync.mode === 'manual') return false;
  if (group.sync.mode === 'continuous') return true;
  const started = group.lastSyncStartedAt ? Date.parse(group.lastSyncStartedAt) : 0;
  const cut = group.lastRp ? Date.parse(group.lastRp.cutAt) : 0;
  return now - Math.max(started, cut) >= group.sync.intervalSeconds * 1000;
}

export function checkBacklogLimit(input: unknown, current?: number): number | undefined {
  if (input === undefined) return current;
  if (input === null) return undefined;
  // Safe integers only: a larger number cannot be stored exactly (schemathesis sent 2.3e157).
  if (typeof input !== 'number' || !Number.isSafeInteger(input) || input < 1) {
    throw badInput('backlogLimitBytes must be a positive whole number of bytes', 'bad-backlog-limit');
  }
  return input;
}

/**
 * How long SQS keeps a change-record message: the stack's change queue retention (SQS's
 * maximum). A record older than this can be gone before ingest stores it, so it is the hard
 * limit of a backlog's age.
 */
export const CHANGE_QUEUE_RETENTION_SECONDS = 14 * 86_400;

/**
 * The highest age limit, and the default: an hour below the retention leaves the tick (every
 * minute) and the resync by scan it asks for time to act before any record could age out.
 */
export const MAX_BACKLOG_LIMIT_SECONDS = CHANGE_QUEUE_RETENTION_SECONDS - 3_600;

export function checkBacklogLimitSeconds(input: unknown, current?: number): number | undefined {
  if (input === undefined) return current;
  if (input === null) return undefined;
  if (
    typeof input !== 'number' ||
    !Number.isSafeInteger(input) ||
    input < 1 ||
    input > MAX_BACKLOG_LIMIT_SECONDS
  ) {
    throw badInput(
      `backlogLimitSeconds must be a whole number of seconds from 1 to ${MAX_BACKLOG_LIMIT_SECONDS} (an hour below the change queue's retention of ${CHANGE_QUEUE_RETENTION_SECONDS}s)`,
      'bad-backlog-limit',
    );
  }
  return input;
}

/** The change backlog as measured: bytes not yet in an RP and when the oldest of them was stored. */
export interface BacklogMeasure {
  bytes: number;
  oldestAt?: number;
}

/**
 * Why the backlog overflowed, or undefined while within its limits: bytes above the group's
 * byte limit (if any), or the oldest record older than its age limit (by default an hour below
 * the change queue's retention, so an unset limit still keeps records from aging out).
 */
export function backlogOverflow(group: Group, backlog: BacklogMeasure, now: number): string | undefined {
  const limit = group.backlogLimitBytes;
  if (limit && backlog.bytes > limit) {
    return `change backlog ${backlog.bytes} bytes is above the limit of ${limit}`;
  }
  const maxAge = group.backlogLimitSeconds ?? MAX_BACKLOG_LIMIT_SECONDS;
  if (backlog.oldestAt !== undefined) {
    const age = Math.floor((now - backlog.oldestAt) / 1000);
    if (age > maxAge) return `oldest change record is ${age}s old, above the limit of ${maxAge}s`;
  }
  return undefined;
}

/**
 * Whether ingest stores a change batch of this epoch. While a resync by scan is pending the
 * records before its scan cut are useless (the scan finds the delta), so they are dropped:
 * that bounds the backlog of an overflowed group. Records after the scan cut are always kept,
 * since the next delta sync needs them: the cut of the running resync sync, or, once it
 * committed and before the request is cleared, the last RP's epoch. Keeping is always safe;
 * only dropping needs these conditions.
 */
export function storesChangeBatch(group: Group | undefined, epoch: number): boolean {
  const resync = group?.resyncByScan;
  if (!group || !resync) return true;
  const cut = group.cutDone;
  if (cut?.scan && cut.syncId === group.activeSync?.id && epoch > cut.epoch) return true;
  if (group.lastRp && group.lastRp.number > resync.afterRp && epoch > group.lastRp.epoch) return true;
  return false;
}

export interface Alert {
  kind: AlertKind;
  severity: 'warning' | 'error';
  message: string;
}

export type AlertKind =
  | 'link-down'
  | 'member-failed'
  | 'recovery-point-age'
  | 'backlog'
  | 'sync-interval'
  | 'role-conflict'
  | 'orphan';

/** The alerts a group has now, from its item and two measured values (per-group thresholds). */
export function alertsOf(
  group: Group,
  measured: { rpAgeSeconds?: number; backlogBytes: number; now: number },
): Alert[] {
  const alerts: Alert[] = [];
  const t = group.thresholds;
  const { rpAgeSeconds, backlogBytes, now } = measured;
  if (group.status === 'paused') {
    alerts.push({
      kind: 'link-down',
      severity: 'error',
      message: group.pausedReason ?? 'the other site is unreachable',
    });
  }
  if (group.status === 'system-suspended') {
    alerts.push({
      kind: 'member-failed',
      severity: 'error',
      message: group.suspendedReason ?? 'a member of the group failed',
    });
  }
  if (group.status === 'role-conflict' || group.status === 'orphan') {
    alerts.push({
      kind: group.status,
      severity: 'error',
      message:
        group.status === 'role-conflict'
          ? 'both sites claim the same role for this group'
          : 'the group exists at one site only',
    });
  }
  if (
    t.recoveryPointAgeAlertSeconds &&
    rpAgeSeconds !== undefined &&
    rpAgeSeconds > t.recoveryPointAgeAlertSeconds
  ) {
    alerts.push({
      kind: 'recovery-point-age',
      severity: 'error',
      message: `last recovery point is ${rpAgeSeconds}s old (threshold ${t.recoveryPointAgeAlertSeconds}s)`,
    });
  }
  if (t.backlogWarningBytes && backlogBytes > t.backlogWarningBytes) {
    alerts.push({
      kind: 'backlog',
      severity: 'warning',
      message: `${backlogBytes} bytes not yet replicated (threshold ${t.backlogWarningBytes})`,
    });
  }
  if (t.syncIntervalWarningSeconds && group.activeSync && group.lastSyncStartedAt) {
    const running = Math.floor((now - Date.parse(group.lastSyncStartedAt)) / 1000);
    if (running > t.syncIntervalWarningSeconds) {
      alerts.push({
        kind: 'sync-interval',
        severity: 'warning',
        message: `sync running for ${running}s (threshold ${t.syncIntervalWarningSeconds}s)`,
      });
    }
  }
  return alerts;
}

/**
 * What the tick writes to the group's alertsRaised and which events it records: an alert is
 * raised once when it starts and cleared once when it ends.
 */
export function alertChanges(
  raised: readonly string[],
  now: readonly Alert[],
): { raise: Alert[]; clear: string[]; next: string[] } {
  const kinds = now.map((a) => a.kind as string);
  return {
    raise: now.filter((a) => !raised.includes(a.kind)),
    clear: raised.filter((k) => !kinds.includes(k)),
    next: [...kinds].sort(),
  };
}
