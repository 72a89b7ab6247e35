import { randomBytes } from 'node:crypto';
import { badInput } from './errors';

// IDs become S3 key segments and DynamoDB key parts: a closed alphabet keeps `/`, `..`,
// `#` and control characters out of both.
export const ID = /^[a-z][a-z0-9-]{2,62}$/;
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export type IdKind = 'vol' | 'grp' | 'sync' | 'rp' | 'gw' | 'pair' | 'role';

export function newId(kind: IdKind): string {
  return `${kind}-${randomBytes(6).toString('hex')}`;
}

export function checkId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw badInput(`${what} must match ${ID.source}, got ${JSON.stringify(value)}`, 'bad-id');
  }
  return value;
}

export function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw badInput(`${what} must be 1-63 characters of letters, digits, '.', '_' or '-'`, 'bad-name');
  }
  return value;
}

export function checkSiteName(value: unknown, sites: string[], what: string): string {
  if (typeof value !== 'string' || !sites.includes(value)) {
    throw badInput(`${what} must be one of ${sites.join(', ')}, got ${JSON.stringify(value)}`, 'bad-site');
  }
  return value;
}
