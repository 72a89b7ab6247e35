import { z } from 'zod';
import { id } from './fields';

export const AddPairBody = z
  .strictObject({
    primaryVolumeId: id('primaryVolumeId').describe("a volume at the group's primary site, not in a pair"),
    secondaryVolumeId: id('secondaryVolumeId')
      .optional()
      .describe('a volume at the secondary site, at least as large; missing: one is created'),
  })
  .openapi('AddPair', { description: 'Mirrors a primary volume into the group' });
