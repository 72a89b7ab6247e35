import { type Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient, type GroupView, seg } from '../api-client';
import { leaf, secondsArg, sizeArg } from '../command';
import { CliError } from '../errors';
import { emit, fields, formatAge, formatBytes, type JsonFlag, run, table } from '../output';

interface SettingsFlags {
  name?: string;
  sync?: string;
  interval?: number;
  priority?: string;
  resyncPolicy?: string;
  syncIntervalWarning?: number;
  recoveryPointAgeAlert?: number;
  backlogWarning?: number;
  backlogLimit?: number;
  backlogLimitAge?: number;
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400 };

/** A duration as seconds or with a unit: 900, 15m, 12h, 7d. */
function durationArg(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  const n = m ? Number(m[1]) * DURATION_UNITS[m[2] || 's'] : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(
      'expected a duration greater than 0: seconds, or a number with s, m, h or d',
    );
  }
  return n;
}

/** The settings options shared by `group create` and `group set`. */
function withSettings(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--sync <mode>', 'when syncs run: on request, every interval, or back to back').choices([
        'manual',
        'scheduled',
        'continuous',
      ]),
    )
    .option('--interval <seconds>', 'sync interval for --sync scheduled', secondsArg)
    .addOption(
      new Option('--priority <priority>', 'weights copy concurrency between groups').choices([
        'lowest',
        'low',
        'medium',
        'high',
        'highest',
      ]),
    )
    .addOption(
      new Option('--resync-policy <policy>', 'resynchronise automatically after a link returns').choices([
        'automatic',
        'manual',
      ]),
    )
    .option('--sync-interval-warning <seconds>', 'alert when a sync runs longer than this', secondsArg)
    .option('--recovery-point-age-alert <seconds>', 'alert when the last RP is older (RPO)', secondsArg)
    .option('--backlog-warning <size>', 'alert when unreplicated writes exceed this (e.g. 1GiB)', sizeArg)
    .option(
      '--backlog-limit <size>',
      'above this backlog, stop per-write tracking and resync by scan (e.g. 4GiB)',
      sizeArg,
    )
    .option(
      '--backlog-limit-age <duration>',
      "when the oldest unreplicated write is older, the same (e.g. 12h; default and most: the change queue's retention less 1h)",
      durationArg,
    );
}

/** The API body for the settings given on the command line, and only those. */
function settingsBody(o: SettingsFlags): Record<string, unknown> {
  const thresholds = {
    ...(o.syncIntervalWarning !== undefined && { syncIntervalWarningSeconds: o.syncIntervalWarning }),
    ...(o.recoveryPointAgeAlert !== undefined && { recoveryPointAgeAlertSeconds: o.recoveryPointAgeAlert }),
    ...(o.backlogWarning !== undefined && { backlogWarningBytes: o.backlogWarning }),
  };
  const sync = {
    ...(o.sync !== undefined && { mode: o.sync }),
    ...(o.interval !== undefined && { intervalSeconds: o.interval }),
  };
  return {
    ...(Object.keys(sync).length > 0 && { sync }),
    ...(o.priority !== undefined && { priority: o.priority }),
    ...(o.resyncPolicy !== undefined && { resyncPolicy: o.resyncPolicy }),
    ...(Object.keys(thresholds).length > 0 && { thresholds }),
    ...(o.backlogLimit !== undefined && { backlogLimitBytes: o.backlogLimit }),
    ...(o.backlogLimitAge !== undefined && { backlogLimitSeconds: o.backlogLimitAge }),
  };
}

export const rolesText = (g: GroupView) => `${g.primarySite} -> ${g.secondarySite}`;

export function describeGroup(g: GroupView): string {
  const t = g.thresholds;
  const lines = [
    fields([
      ['id', g.id],
      ['name', g.name],
      ['status', g.status],
      [
        'roles',
        Object.entries(g.roles)
          .map(([site, role]) => `${site}=${role}`)
          .join(' '),
      ],
      ['role epoch', g.roleEpoch],
      ['sync', g.sync.mode === 'scheduled' ? `scheduled every ${g.sync.intervalSeconds}s` : g.sync.mode],
      ['priority', g.priority],
      ['resync policy', g.resyncPolicy],
      ['last RP', g.lastRecoveryPoint ? `${g.lastRecoveryPoint.id} (cut ${g.lastRecoveryPoint.cutAt})` : '-'],
      ['RP age', formatAge(g.recoveryPointAgeSeconds)],
      ['backlog', formatBytes(g.backlogBytes)],
      ['backlog age', formatAge(g.backlogAgeSeconds)],
      ['active sync', g.activeSyncId],
      ['sync warning', t.syncIntervalWarningSeconds && `${t.syncIntervalWarningSeconds}s`],
      ['RPO alert', t.recoveryPointAgeAlertSeconds && `${t.recoveryPointAgeAlertSeconds}s`],
      ['backlog warning', t.backlogWarningBytes && formatBytes(t.backlogWarningBytes)],
      ['backlog limit', g.backlogLimitBytes && formatBytes(g.backlogLimitBytes)],
      ['backlog age limit', g.backlogLimitSeconds && `${g.backlogLimitSeconds}s`],
    ]),
  ];
  if (g.pairs.length > 0) {
    lines.push(
      '',
      table(
        ['PRIMARY', 'SECONDARY', 'STATUS', 'PROGRESS'],
        g.pairs.map((p) => [
          p.primaryVolumeId,
          p.secondaryVolumeId,
          p.status,
          p.progress
            ? `${p.progress.chunksCopied}/${p.progress.chunksTotal} chunks`
            : p.resync
              ? 'partial resync pending'
              : '-',
        ]),
      ),
    );
  }
  for (const a of g.alerts) lines.push(`alert (${a.severity}) ${a.kind}: ${a.message}`);
  return lines.join('\n');
}

export function registerGroup(program: Command): void {
  const group = program.command('group').description('mirror consistency groups');

  withSettings(
    leaf(group, 'create <name>', 'create a mirror consistency group')
      .requiredOption('--primary-site <site>', 'site whose volumes take the writes')
      .requiredOption('--secondary-site <site>', 'site that receives the recovery points'),
  ).action(
    run(
      async (name: string, o: JsonFlag & SettingsFlags & { primarySite: string; secondarySite: string }) => {
        const g = await ApiClient.fromLocal().post<GroupView>('/groups', {
          name,
          primarySite: o.primarySite,
          secondarySite: o.secondarySite,
          ...settingsBody(o),
        });
        emit(o, g, () => `created group ${g.id} (${g.name}, ${rolesText(g)}, sync ${g.sync.mode})`);
      },
    ),
  );

  leaf(group, 'list', 'list groups').action(
    run(async (o: JsonFlag) => {
      const groups = await ApiClient.fromLocal().get<GroupView[]>('/groups');
      emit(o, groups, () =>
        groups.length === 0
          ? 'no groups (create one with `volmirror group create`)'
          : table(
              ['ID', 'NAME', 'STATUS', 'DIRECTION', 'SYNC', 'PAIRS', 'LAST RP'],
              groups.map((g) => [
                g.id,
                g.name,
                g.status,
                rolesText(g),
                g.sync.mode,
                String(g.pairs.length),
                g.lastRecoveryPoint?.id ?? '-',
              ]),
            ),
      );
    }),
  );

  leaf(group, 'show <group>', 'show a group (id or name), its pairs and alerts').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const g = await api.get<GroupView>(`/groups/${seg(await api.groupId(ref))}`);
      emit(o, g, () => describeGroup(g));
    }),
  );

  withSettings(
    leaf(group, 'set <group>', 'change group settings (only the options given)').option(
      '--name <name>',
      'new name',
    ),
  ).action(
    run(async (ref: string, o: JsonFlag & SettingsFlags) => {
      const body = { ...(o.name !== undefined && { name: o.name }), ...settingsBody(o) };
      if (Object.keys(body).length === 0) {
        throw new CliError('nothing to change: give at least one setting (see `volmirror group set --help`)');
      }
      const api = ApiClient.fromLocal();
      const g = await api.patch<GroupView>(`/groups/${seg(await api.groupId(ref))}`, body);
      emit(o, g, () => describeGroup(g));
    }),
  );

  leaf(group, 'delete <group>', 'delete an empty group').action(
    run(async (ref: string, o: JsonFlag) => {
      const api = ApiClient.fromLocal();
      const id = await api.groupId(ref);
      await api.delete(`/groups/${seg(id)}`);
      emit(o, { id, deleted: true }, () => `deleted group ${id}`);
    }),
  );
}
