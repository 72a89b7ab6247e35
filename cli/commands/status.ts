import type { Command } from 'commander';
import { ApiClient, type EventView, type GroupView, seg, type VolumeView } from '../api-client';
import { countArg, leaf, onInterrupt } from '../command';
import { emit, formatAge, formatBytes, type JsonFlag, run, table } from '../output';

const WATCH_MS = 2000;
/** --watch stops by itself after this many refreshes (an hour at 2 s) unless --count says otherwise. */
const DEFAULT_WATCH_COUNT = 1800;

const percent = (copied: number, total: number) =>
  total > 0 ? `${Math.floor((copied / total) * 100)}% (${copied}/${total} chunks)` : '-';

/** One row per group, one indented row per pair, then the alert messages in full. */
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
  return alerts.length ? `${out}\n\n${alerts.join('\n')}` : out;
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
