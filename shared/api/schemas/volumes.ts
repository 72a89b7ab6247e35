import { z } from 'zod';
import { checkChunkSize, checkVolumeSize, DEFAULT_CHUNK } from '../../domain/sizes';
import { count, id, name, site, size, timestamp } from './fields';
import { domainIssue } from './rules';

export const CreateVolumeBody = z
  .strictObject({
    name: name('name').describe('name of the volume, unique by convention only'),
    site: site("site the volume lives at (one of the deployment's sites)"),
    sizeBytes: size('sizeBytes', 'volume size, a multiple of the chunk size, at most 64TiB'),
    chunkSizeBytes: size(
      'chunkSizeBytes',
      'chunk size, a power of two from 64KiB to 64MiB (default 1MiB)',
    ).optional(),
  })
  .check((payload) => {
    const v = payload.value;
    if (payload.issues.length > 0) return;
    const chunk = v.chunkSizeBytes ?? DEFAULT_CHUNK;
    const issue =
      domainIssue(() => checkChunkSize(chunk), ['chunkSizeBytes']) ??
      domainIssue(() => checkVolumeSize(v.sizeBytes, chunk), ['sizeBytes']);
    if (issue) payload.issues.push({ ...issue, input: v });
  })
  .openapi('CreateVolume', {
    description: 'A new volume at one site',
    example: { name: 'db', site: 'east', sizeBytes: '64MiB', chunkSizeBytes: '1MiB' },
  });

export const Volume = z
  .object({
    id: z.string().describe('volume id (vol-…)'),
    name: z.string(),
    site: z.string(),
    sizeBytes: count('size in bytes'),
    chunkSizeBytes: count('chunk size in bytes'),
    groupId: z.string().optional().describe('the group of the pair the volume is in'),
    role: z.enum(['primary', 'secondary']).optional().describe('its role in that pair'),
    base: z
      .object({
        groupId: z.string(),
        rpNumber: z.number().int(),
        rpId: z.string(),
        volumeId: z.string(),
        manifestKey: z.string(),
      })
      .optional()
      .describe('for a clone: the recovery point it was made from, which it reads where it has not written'),
    createdAt: timestamp('when it was created'),
    location: z
      .object({ region: z.string(), bucket: z.string(), prefix: z.string() })
      .describe('where its chunk objects live'),
  })
  .openapi('Volume');

export const VolumeList = z.array(Volume).describe('every volume, at every site');

export const VolumeParams = z.object({ volumeId: id('volumeId') });

export type CreateVolumeInput = z.output<typeof CreateVolumeBody>;
export type VolumeView = z.infer<typeof Volume>;
