import { z } from 'zod';
import { count, id, timestamp } from './fields';
import { Volume } from './volumes';

export const SyncStarted = z
  .object({
    syncId: z.string().describe('the sync started (sync-…)'),
    recoveryPointId: z.string().describe('the RP it commits (rp-…)'),
  })
  .openapi('SyncStarted');

export const Sync = z
  .object({
    syncId: z.string(),
    groupId: z.string(),
    state: z.enum(['running', 'paused', 'committed', 'failed']),
    phase: z.enum(['cutting', 'collecting', 'copying', 'committing', 'committed', 'failed']),
    initial: z.boolean().describe('true while any pair takes its initial sync'),
    chunksTotal: count('chunks to copy'),
    chunksCopied: count('chunks copied'),
    bytesCopied: count('bytes copied'),
    recoveryPointId: z.string(),
    cutEpoch: z.number().int().optional(),
    error: z.string().optional().describe('why the sync failed'),
    pausedReason: z.string().optional().describe('why a paused sync waits (the site it cannot reach)'),
  })
  .openapi('Sync');

export const RecoveryPoint = z
  .object({
    id: z.string().describe('recovery point id (rp-…)'),
    kind: z
      .enum(['recovery-point', 'preserved-writes'])
      .describe(
        'preserved-writes: what an old primary wrote after its last RP, kept after a forced promotion',
      ),
    site: z.string(),
    cutAt: timestamp('the cut'),
    committedAt: timestamp('the commit'),
    bytes: count('bytes the sync copied'),
    epoch: count('the cut epoch'),
    volumes: z.array(
      z.object({ primaryVolumeId: z.string(), secondaryVolumeId: z.string(), chunks: count('chunks held') }),
    ),
  })
  .openapi('RecoveryPoint');

export const RecoveryPointList = z.array(RecoveryPoint).describe('committed recovery points, newest first');

/** POST /groups/{groupId}/recovery-points/{rpId}/clones. */
export const Clones = z
  .object({ volumes: z.array(Volume).describe('writable point-in-time copies at the secondary site') })
  .openapi('Clones');

export const Event = z
  .object({
    at: timestamp('when'),
    kind: z.string(),
    severity: z.enum(['info', 'warning', 'error']),
    message: z.string(),
  })
  .openapi('Event');

export const EventList = z.array(Event).describe("the group's events, newest first");

export const SyncParams = z.object({ groupId: id('groupId'), syncId: id('syncId') });
export const PairParams = z.object({ groupId: id('groupId'), primaryVolumeId: id('primaryVolumeId') });
export const RecoveryPointParams = z.object({ groupId: id('groupId'), rpId: id('recoveryPointId') });

export type SyncView = z.infer<typeof Sync>;
export type SyncStartedView = z.infer<typeof SyncStarted>;
export type RecoveryPointView = z.infer<typeof RecoveryPoint>;
export type EventView = z.infer<typeof Event>;
export type ClonesView = z.infer<typeof Clones>;
