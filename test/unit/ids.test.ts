import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkId, checkName, checkSiteName, type IdKind, newId } from '../../shared/domain/ids';
import { expectBadInput } from './domain-error';

const KINDS: IdKind[] = ['vol', 'grp', 'sync', 'rp', 'gw'];

describe('checkId', () => {
  it.each(KINDS)('accepts newId(%s) output', (kind) => {
    for (let i = 0; i < 200; i++) {
      const id = newId(kind);
      expect(id.startsWith(`${kind}-`)).toBe(true);
      expect(checkId(id, 'id')).toBe(id);
    }
  });

  it('newId does not repeat itself', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newId('vol')));
    expect(ids.size).toBe(1000);
  });

  it.each(['abc', 'vol-0', 'a--', 'a'.repeat(63), 'x9-y8-z7'])('accepts %j', (id) => {
    expect(checkId(id, 'id')).toBe(id);
  });

  it.each<unknown>([
    '',
    'a/b',
    '..',
    '../x',
    'vol-../x',
    'x#y',
    'vol#1',
    'Vol-abc',
    'vol-ABC',
    'VOL',
    'a'.repeat(64),
    'ab',
    '1abc',
    '-abc',
    'vol_abc',
    'vol.abc',
    'vol abc',
    'vol-abc\n',
    '\nvol-abc',
    'vol\u0000abc',
    'vol-é',
    undefined,
    null,
    123,
    true,
    {},
    ['vol-abc'],
    { toString: () => 'vol-abc' },
  ])('rejects %j with 400 bad-id', (value) => {
    expectBadInput(() => checkId(value, 'volumeId'), 'bad-id');
  });

  it('names the field in its message', () => {
    expect(expectBadInput(() => checkId('a/b', 'groupId'), 'bad-id').message).toContain('groupId');
  });

  it('never lets a key-unsafe string through (property)', () => {
    const unit = fc.constantFrom('a', 'z', 'q', '0', '9', '-', '/', '.', '#', 'A', ' ', '\n', '_', '\u0000');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 70 }), (s) => {
        let accepted = true;
        try {
          checkId(s, 'id');
        } catch (e) {
          accepted = false;
          expectBadInput(() => {
            throw e;
          }, 'bad-id');
        }
        const safe = /^[a-z][a-z0-9-]*$/.test(s) && s.length >= 3 && s.length <= 63;
        expect(accepted).toBe(safe);
      }),
    );
  });
});

describe('checkName', () => {
  it.each(['A', 'db-data_01.vol', 'x'.repeat(63), 'Prod.DB', '0start'])('accepts %j', (name) => {
    expect(checkName(name, 'name')).toBe(name);
  });

  it.each<unknown>([
    '',
    '.hidden',
    '-x',
    '_x',
    'a b',
    'a/b',
    'a#b',
    'x'.repeat(64),
    'é',
    'tab\there',
    'line\n',
    undefined,
    null,
    7,
    {},
  ])('rejects %j with 400 bad-name', (value) => {
    expectBadInput(() => checkName(value, 'name'), 'bad-name');
  });
});

describe('checkSiteName', () => {
  const sites = ['us-east-1', 'eu-west-1'];

  it.each(sites)('accepts the known site %s', (site) => {
    expect(checkSiteName(site, sites, 'site')).toBe(site);
  });

  it.each<unknown>(['us-west-2', '', 'US-EAST-1', 'us-east-1 ', 5, undefined, null, ['us-east-1']])(
    'rejects %j with 400 bad-site',
    (value) => {
      expectBadInput(() => checkSiteName(value, sites, 'site'), 'bad-site');
    },
  );

  it('rejects everything when no site is configured', () => {
    expectBadInput(() => checkSiteName('us-east-1', [], 'site'), 'bad-site');
  });
});
