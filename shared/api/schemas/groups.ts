import { z } from 'zod';
import {
  checkBacklogLimit,
  checkBacklogLimitSeconds,
  checkSyncSettings,
  MAX_BACKLOG_LIMIT_SECONDS,
  PRIORITIES,
  SYNC_MODES,
} from '../../domain/group-rules';
import { GROUP_STATUSES, PAIR_STATUSES } from '../../domain/model';
import { count, id, name, site, timestamp } from './fields';
import { coded, rule } from './rules';

const ROLES = ['primary', 'secondary'] as const;

const seconds = (description: string) => z.number().int().positive().describe(`${description}, in seconds`);

const SyncSettings = coded(
  'bad-sync',
  z
    .strictObject({
      mode: z
        .enum(SYNC_MODES)
        .optional()
        .describe(
          'manual: on request; scheduled: every interval; continuous: back to back (default manual, or as it was)',
        ),
      intervalSeconds: z
        .number()
        .int()
        .optional()
        .describe('seconds between scheduled syncs, 1 to 604800 (default 600)'),
    })
    .check(rule((v: { mode?: string; intervalSeconds?: number }) => checkSyncSettings(v)))
    .describe('when syncs run'),
);

const Thresholds = coded(
  'bad-thresholds',
  z
    .strictObject({
      syncIntervalWarningSeconds: seconds('warn when a sync runs longer than this').optional(),
      recoveryPointAgeAlertSeconds: seconds('alert when the last RP is older than this').optional(),
      backlogWarningBytes: z
        .number()
        .int()
        .positive()
        .optional()
        .describe('warn above this backlog, in bytes'),
    })
    .describe('alert thresholds'),
);

const groupSettings = {
  priority: coded('bad-priority', z.enum(PRIORITIES).describe('sync priority: weights copy concurrency')),
  resyncPolicy: coded(
    'bad-resync-policy',
    z.enum(['automatic', 'manual']).describe('whether a resync after a suspension starts by itself'),
  ),
  thresholds: Thresholds,
  backlogLimitBytes: coded(
    'bad-backlog-limit',
    z
      .number()
      .check(rule((v: number) => checkBacklogLimit(v)))
      .describe(
        'above this change backlog, in bytes, the group stops per-write tracking and resyncs by scan',
      ),
  ),
  backlogLimitSeconds: coded(
    'bad-backlog-limit',
    z
      .number()
      .check(rule((v: number) => checkBacklogLimitSeconds(v)))
      .describe(
        `when the oldest change record not yet in an RP is older than this, in seconds, the group stops per-write tracking and resyncs by scan; 1 to ${MAX_BACKLOG_LIMIT_SECONDS}, an hour below the change queue's retention (default ${MAX_BACKLOG_LIMIT_SECONDS})`,
      ),
  ),
};

export const CreateGroupBody = z
  .strictObject({
    name: name('name').describe('name of the group'),
    primarySite: site('site of the primary volumes'),
    secondarySite: site('site of the secondary volumes, not the primary site'),
    sync: SyncSettings.optional(),
    priority: groupSettings.priority.optional(),
    resyncPolicy: groupSettings.resyncPolicy.optional(),
    thresholds: groupSettings.thresholds.optional(),
    backlogLimitBytes: groupSettings.backlogLimitBytes.optional(),
    backlogLimitSeconds: groupSettings.backlogLimitSeconds.optional(),
  })
  .openapi('CreateGroup', {
    description: 'A new mirror group between two sites',
    example: { name: 'g1', primarySite: 'east', secondarySite: 'west', sync: { mode: 'manual' } },
  });

export const PatchGroupBody = z
  .strictObject({
    name: name('name').optional(),
    sync: SyncSettings.optional(),
    priority: groupSettings.priority.optional(),
    resyncPolicy: groupSettings.resyncPolicy.optional(),
    thresholds: groupSettings.thresholds.optional(),
    backlogLimitBytes: groupSettings.backlogLimitBytes
      .nullable()
      .optional()
      .describe('null removes the limit'),
    backlogLimitSeconds: groupSettings.backlogLimitSeconds
      .nullable()
      .optional()
      .describe('null goes back to the default'),
  })
  .openapi('PatchGroup', {
    description: 'The settings to change; the others stay',
    example: { priority: 'high', sync: { mode: 'scheduled', intervalSeconds: 300 } },
  });

/** POST /groups/{groupId}/role (the handler lands with the role-change work). */
export const RoleBody = z
  .strictObject({
    site: site('the site whose role changes'),
    role: coded('bad-role', z.enum(ROLES).describe('the role the site takes')),
    force: z
      .boolean()
      .optional()
      .describe('promote without the other site (a forced promotion, allowed by the role rules only)'),
  })
  .openapi('RoleChange', { description: 'Asks a site to take a role' });

export const Pair = z
  .object({
    primaryVolumeId: z.string(),
    secondaryVolumeId: z.string(),
    status: z.enum(PAIR_STATUSES),
    progress: z
      .object({ chunksCopied: count('chunks copied'), chunksTotal: count('chunks to copy') })
      .optional()
      .describe('progress of the running sync for this pair'),
    resync: z
      .enum(['partial'])
      .optional()
      .describe('marked for a partial resync: the next sync compares chunk versions with the last RP'),
  })
  .openapi('Pair');

export const Group = z
  .object({
    id: z.string().describe('group id (grp-…)'),
    name: z.string(),
    status: z.enum(GROUP_STATUSES),
    roles: z.record(z.string(), z.enum(ROLES)).describe('the role of each site'),
    roleEpoch: count('bumped by every role change'),
    primarySite: z.string(),
    secondarySite: z.string(),
    sync: z.object({ mode: z.enum(SYNC_MODES), intervalSeconds: z.number().int() }),
    priority: z.enum(PRIORITIES),
    resyncPolicy: z.enum(['automatic', 'manual']),
    thresholds: z.object({
      syncIntervalWarningSeconds: z.number().int().optional(),
      recoveryPointAgeAlertSeconds: z.number().int().optional(),
      backlogWarningBytes: z.number().int().optional(),
    }),
    backlogLimitBytes: z.number().int().optional(),
    backlogLimitSeconds: z
      .number()
      .int()
      .optional()
      .describe(`the backlog age limit, in seconds; absent: the default, ${MAX_BACKLOG_LIMIT_SECONDS}`),
    lastRecoveryPoint: z
      .object({ id: z.string(), cutAt: timestamp('cut'), committedAt: timestamp('committed') })
      .optional(),
    recoveryPointAgeSeconds: z.number().int().optional().describe('age of the last RP'),
    backlogBytes: count('bytes written at the primary since the last RP'),
    backlogAgeSeconds: z
      .number()
      .int()
      .optional()
      .describe('age of the oldest change record not yet in an RP, in seconds (absent: none)'),
    activeSyncId: z.string().optional(),
    pairs: z.array(Pair),
    alerts: z.array(
      z.object({ kind: z.string(), severity: z.enum(['warning', 'error']), message: z.string() }),
    ),
  })
  .openapi('Group');

export const GroupList = z.array(Group).describe('every group');

export const GroupParams = z.object({ groupId: id('groupId') });

export type GroupView = z.infer<typeof Group>;
export type PairView = z.infer<typeof Pair>;
