import { z } from 'zod';
import { checkId, checkName, ID, NAME } from '../../domain/ids';
import { parseSize } from '../../domain/sizes';
import { coded, convert, rule } from './rules';

/** An id of the API (`vol-…`, `grp-…`, `sync-…`, `rp-…`): the domain's closed alphabet. */
export const id = (what: string) =>
  coded(
    'bad-id',
    z
      .string()
      .check(rule((v: string) => checkId(v, what)))
      .openapi({ pattern: ID.source }),
  );

/** A user-given name of a volume or group. */
export const name = (what: string) =>
  coded(
    'bad-name',
    z
      .string()
      .check(rule((v: string) => checkName(v, what)))
      .openapi({ pattern: NAME.source }),
  );

/** A site name; which sites exist is the deployment's, checked by the use case. */
export const site = (description: string) => coded('bad-site', z.string().describe(description));

/** A size in bytes, or a string with a unit (`256MiB`, `1GiB`); read into bytes. */
export const size = (what: string, description: string) =>
  coded(
    'bad-size',
    z
      .union([z.number().int().nonnegative(), z.string()])
      .describe(`${description}: bytes, or a string such as 256MiB or 1GiB`)
      .transform(convert((v: number | string) => parseSize(v, what))),
  );

export const count = (description: string) => z.number().int().nonnegative().describe(description);
export const timestamp = (description: string) => z.string().describe(`${description} (ISO 8601)`);

/** The contract's error answer, for every 4xx and 5xx. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('kebab-case error code, stable for scripts'),
      message: z.string().describe('human sentence; for bad input, "<field path>: <reason>"'),
    }),
  })
  .openapi('Error');
