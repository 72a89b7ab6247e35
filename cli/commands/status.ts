import type { Command } from 'commander';
import type { GroupStatus, PairStatus } from '../../shared/domain/model';
import { ApiClient, type EventView, type GroupView, seg, type VolumeView } from '../api-client';
import { countArg, leaf, onInterrupt } from '../command';
import { emit, formatAge, formatBytes, type JsonFlag, run, table } from '../output';

const WATCH_MS = 2000;
/** --watch stops by itself after this many refreshes (an hour at 2 s) unless --count says otherwise. */
const DEFAULT_WATCH_COUNT = 1800;

const percent = (copied: number, total: number) =>
  total > 0 ? `${Math.floor((copied / total) * 100)}% (${copied}/${total} chunks)` : '-';

/** What the operator should do, per group status: one line each, shown under the table. */
export const GROUP_STATUS_HELP: Record<GroupStatus, string> = {
  optimal: 'nothing to do: the secondary holds a recent recovery point',
  'synchronizing-initial':
    'initial copy running: wait for the first recovery point before relying on the secondary',
  'synchronizing-interval': 'delta sync running: nothing to do, the last recovery point stays served',
  'system-suspended':
    'a member failed (see the failed pair and the events): fix its volume or bucket, then `volmirror resume` (automatic policy retries by itself)',
  'user-suspended': 'suspended by a user, changes are tracked: `volmirror resume` to sync again',
  paused:
    'the other site is unreachable; writes go on and are tracked: restore the link, the sync resumes (manual policy: `volmirror resume`)',
  orphan: 'the group exists at one site only: remove it or re-create its counterpart',
  'role-change-pending': 'a role change waits for the final sync: keep writes low, nothing else to do',
  'role-change-in-progress': 'roles are switching: wait until the group is optimal again',
  'role-conflict':
    'both sites claim the same role: choose the primary with `volmirror role` (--force if needed)',
  failed: 'the group cannot mirror: check the events, then remove and re-add its pairs',
};

/** What the operator should do, per pair status. */
export const PAIR_STATUS_HELP: Record<PairStatus, string> = {
  synchronizing: 'initial copy of this pair running: wait',
  optimal: 'nothing to do',
  incomplete: 'the sync of this pair is interrupted (link down): it continues when the link returns',
  failed: 'this member failed (access denied, version missing, volume gone): fix it, then resume the group',
  orphan: 'this pair exists at one site only: remove it',
  stopped: 'mirroring stopped with the group (suspended): resume the group',
};

/** One line per group that is not optimal, and per pair that needs attention. */
export function statusAdvice(groups: GroupView[]): string[] {
  const lines: string[] = [];
  for (const g of groups) {
    if (g.status !== 'optimal') lines.push(`${g.name}: ${g.status}: ${GROUP_STATUS_HELP[g.status]}`);
    for (const p of g.pairs) {
      if (p.status === 'failed' || p.status === 'orphan' || p.status === 'incomplete') {
        lines.push(`${g.name}: pair ${p.primaryVolumeId} ${p.status}: ${PAIR_STATUS_HELP[p.status]}`);
      }
    }
  }
  return lines;
}

/** One row per group, one indented row per pair, then what to do and the alert messages in full. */
export function renderStatus(groups: GroupView[], volumes: VolumeView[]): string {
  if (groups.length === 0) return 'no groups (create one with `volmirror group create`)';
  const nameOf = new Map(volumes.map((v) => [v.id, v.name]));
  const vol = (id: string) => nameOf.get(id) ?? id;
  const rows: string[][] = [];
  const alerts: string[] = [];
  for (const g of groups) {
    const copied = g.pairs.reduce((n, p) => n + (p.progress?.chunksCopied ?? 0), 0);
    const total = g.pairs.reduce((n, p) => n + (p.progress?.chunksTotal ?? 0), 0);
    rows.push([
      g.name,
      g.status,
      Object.entries(g.roles)
        .map(([site, role]) => `${site}=${role}`)
        .join(' '),
      g.lastRecoveryPoint?.id ?? '-',
      formatAge(g.recoveryPointAgeSeconds),
      formatBytes(g.backlogBytes),
      percent(copied, total),
      g.alerts.length ? g.alerts.map((a) => a.kind).join(',') : '-',
    ]);
    for (const p of g.pairs) {
      rows.push([
        `  ${vol(p.primaryVolumeId)} -> ${vol(p.secondaryVolumeId)}`,
        p.status,
        '',
        '',
        '',
        '',
        p.progress ? percent(p.progress.chunksCopied, p.progress.chunksTotal) : '-',
        '',
      ]);
    }
    for (const a of g.alerts) alerts.push(`${g.name}: ${a.kind} (${a.severity}): ${a.message}`);
  }
  const out = table(
    ['GROUP / PAIR', 'STATUS', 'ROLES', 'LAST RP', 'RP AGE', 'BACKLOG', 'PROGRESS', 'ALERTS'],
    rows,
  );
  const notes = [...statusAdvice(groups), ...alerts];
  return notes.length ? `${out}\n\n${notes.join('\n')}` : out;
}

async function snapshot(api: ApiClient, groupId: string | undefined) {
  const [groups, volumes] = await Promise.all([
    groupId
      ? api.get<GroupView>(`/groups/${seg(groupId)}`).then((g) => [g])
      : api.get<GroupView[]>('/groups'),
    api.get<VolumeView[]>('/volumes'),
  ]);
  return { groups, volumes };
}

export function registerStatus(program: Command): void {
  leaf(
    program,
    'status [group]',
    'groups and pairs: status, roles, last RP, RP age, backlog, progress, alerts',
  )
    .option(
      '--watch',
      `refresh every ${WATCH_MS / 1000} s until Ctrl-C (with --json: one JSON line per refresh)`,
    )
    .option('--count <n>', `with --watch, stop after n refreshes (default ${DEFAULT_WATCH_COUNT})`, countArg)
    .action(
      run(async (ref: string | undefined, o: JsonFlag & { watch?: boolean; count?: number }) => {
        const api = ApiClient.fromLocal();
        const groupId = ref === undefined ? undefined : await api.groupId(ref);
        if (!o.watch) {
          const { groups, volumes } = await snapshot(api, groupId);
          emit(o, groups, () => renderStatus(groups, volumes));
          return;
        }
        let stop = false;
        let wake: (() => void) | undefined;
        const release = onInterrupt(() => {
          stop = true;
          wake?.();
        });
        // Clearing the screen only makes sense on a terminal; piped output gets one table per refresh.
        const clear = !o.json && process.stdout.isTTY;
        try {
          const count = o.count ?? DEFAULT_WATCH_COUNT;
          for (let i = 0; i < count && !stop; i++) {
            const { groups, volumes } = await snapshot(api, groupId);
            if (o.json) {
              process.stdout.write(`${JSON.stringify(groups)}\n`);
            } else {
              const head = `volmirror status  ${new Date().toLocaleTimeString()}  (every ${WATCH_MS / 1000} s, Ctrl-C to stop)`;
              process.stdout.write(
                `${clear ? '\x1b[2J\x1b[H' : i > 0 ? '\n' : ''}${head}\n\n${renderStatus(groups, volumes)}\n`,
              );
            }
            if (i + 1 < count && !stop) {
              await new Promise<void>((r) => {
                wake = r;
                setTimeout(r, WATCH_MS);
              });
            }
          }
        } finally {
          release();
        }
      }),
    );

  leaf(program, 'events <group>', 'events of a group (sync, pairs, alerts), newest first').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const events = await api.get<EventView[]>(`/groups/${seg(await api.groupId(ref))}/events`);
      emit(o, events, () =>
        events.length === 0
          ? 'no events'
          : table(
              ['AT', 'SEVERITY', 'KIND', 'MESSAGE'],
              events.map((e) => [e.at, e.severity, e.kind, e.message]),
            ),
      );
    }),
  );
}
