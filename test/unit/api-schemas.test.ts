import { describe, expect, it } from 'vitest';
import { route } from '../../shared/api/router';
import {
  AddPairBody,
  CreateGroupBody,
  CreateVolumeBody,
  GroupParams,
  PatchGroupBody,
  parseWith,
  RoleBody,
  SyncParams,
} from '../../shared/api/schemas/index';
import type { Deps } from '../../shared/deps';
import { DomainError } from '../../shared/domain/errors';

type Schema = Parameters<typeof parseWith>[0];

const refusal = (schema: Schema, value: unknown) => {
  try {
    parseWith(schema, value, 'body');
  } catch (e) {
    if (e instanceof DomainError) return { status: e.status, code: e.code, message: e.message };
    throw e;
  }
  return undefined;
};

describe('API schemas refuse bad input with the field path and the contract code', () => {
  const volume = { name: 'v', site: 'east', sizeBytes: '1MiB' };
  const group = { name: 'g', primarySite: 'east', secondarySite: 'west' };
  // schema, input, code, the message's field path
  const cases: [string, Schema, unknown, string, string][] = [
    ['volume: name not a string', CreateVolumeBody, { ...volume, name: {} }, 'bad-name', 'name'],
    ['volume: name with a slash', CreateVolumeBody, { ...volume, name: '../x' }, 'bad-name', 'name'],
    ['volume: name missing', CreateVolumeBody, { site: 'east', sizeBytes: 1 }, 'bad-name', 'name'],
    ['volume: site not a string', CreateVolumeBody, { ...volume, site: ['east'] }, 'bad-site', 'site'],
    ['volume: size an object', CreateVolumeBody, { ...volume, sizeBytes: { n: 1 } }, 'bad-size', 'sizeBytes'],
    ['volume: size negative', CreateVolumeBody, { ...volume, sizeBytes: -1 }, 'bad-size', 'sizeBytes'],
    ['volume: size fractional', CreateVolumeBody, { ...volume, sizeBytes: 1.5 }, 'bad-size', 'sizeBytes'],
    ['volume: size unreadable', CreateVolumeBody, { ...volume, sizeBytes: 'lots' }, 'bad-input', 'sizeBytes'],
    ['volume: size zero', CreateVolumeBody, { ...volume, sizeBytes: 0 }, 'bad-size', 'sizeBytes'],
    [
      'volume: size not a chunk multiple',
      CreateVolumeBody,
      { ...volume, sizeBytes: 65537, chunkSizeBytes: 65536 },
      'bad-size',
      'sizeBytes',
    ],
    [
      'volume: chunk not a power of two',
      CreateVolumeBody,
      { ...volume, chunkSizeBytes: 3000 },
      'bad-chunk-size',
      'chunkSizeBytes',
    ],
    ['volume: unknown field', CreateVolumeBody, { ...volume, colour: 'red' }, 'bad-input', 'body'],
    ['volume: not an object', CreateVolumeBody, 'v', 'bad-input', 'body'],
    ['group: sync null', CreateGroupBody, { ...group, sync: null }, 'bad-sync', 'sync'],
    [
      'group: sync mode unknown',
      CreateGroupBody,
      { ...group, sync: { mode: 'often' } },
      'bad-sync',
      'sync.mode',
    ],
    ['group: interval 0', CreateGroupBody, { ...group, sync: { intervalSeconds: 0 } }, 'bad-sync', 'sync'],
    [
      'group: interval over a week',
      CreateGroupBody,
      { ...group, sync: { mode: 'scheduled', intervalSeconds: 604801 } },
      'bad-sync',
      'sync',
    ],
    [
      'group: priority unknown',
      CreateGroupBody,
      { ...group, priority: 'urgent' },
      'bad-priority',
      'priority',
    ],
    [
      'group: resync policy unknown',
      CreateGroupBody,
      { ...group, resyncPolicy: 'never' },
      'bad-resync-policy',
      'resyncPolicy',
    ],
    [
      'group: threshold not positive',
      CreateGroupBody,
      { ...group, thresholds: { backlogWarningBytes: 0 } },
      'bad-thresholds',
      'thresholds.backlogWarningBytes',
    ],
    [
      'group: threshold unknown',
      CreateGroupBody,
      { ...group, thresholds: { rpoSeconds: 5 } },
      'bad-thresholds',
      'thresholds',
    ],
    ['group: site missing', CreateGroupBody, { name: 'g', primarySite: 'east' }, 'bad-site', 'secondarySite'],
    ['patch: unsettable field', PatchGroupBody, { roleEpoch: 9 }, 'bad-input', 'body'],
    ['patch: name empty', PatchGroupBody, { name: '' }, 'bad-name', 'name'],
    ['pair: id with a slash', AddPairBody, { primaryVolumeId: '../../x' }, 'bad-id', 'primaryVolumeId'],
    ['pair: primary missing', AddPairBody, {}, 'bad-id', 'primaryVolumeId'],
    [
      'pair: secondary a number',
      AddPairBody,
      { primaryVolumeId: 'vol-000000000000', secondaryVolumeId: 7 },
      'bad-id',
      'secondaryVolumeId',
    ],
    ['role: role unknown', RoleBody, { site: 'east', role: 'leader' }, 'bad-role', 'role'],
    ['role: force a string', RoleBody, { site: 'east', role: 'primary', force: 'yes' }, 'bad-input', 'force'],
    ['path: group id upper case', GroupParams, { groupId: 'GRP-1' }, 'bad-id', 'groupId'],
    [
      'path: sync id with a dot-dot',
      SyncParams,
      { groupId: 'grp-000000000000', syncId: '..' },
      'bad-id',
      'syncId',
    ],
  ];

  it.each(cases)('%s', (_, schema, input, code, path) => {
    const got = refusal(schema, input);
    expect(got).toMatchObject({ status: 400, code });
    expect(got?.message.startsWith(`${path}: `), got?.message).toBe(true);
    expect(got?.message.length).toBeGreaterThan(path.length + 10);
  });
});

describe('API schemas take good input and read it', () => {
  const good: [string, Schema, unknown, unknown][] = [
    [
      'volume with units',
      CreateVolumeBody,
      { name: 'db.1', site: 'east', sizeBytes: '1GiB', chunkSizeBytes: '64KiB' },
      { name: 'db.1', site: 'east', sizeBytes: 1024 ** 3, chunkSizeBytes: 64 * 1024 },
    ],
    [
      'volume in bytes, default chunk',
      CreateVolumeBody,
      { name: 'v', site: 'west', sizeBytes: 2 * 1024 * 1024 },
      { name: 'v', site: 'west', sizeBytes: 2 * 1024 * 1024 },
    ],
    [
      'group with every setting',
      CreateGroupBody,
      {
        name: 'g',
        primarySite: 'east',
        secondarySite: 'west',
        sync: { mode: 'scheduled', intervalSeconds: 60 },
        priority: 'high',
        resyncPolicy: 'manual',
        thresholds: { recoveryPointAgeAlertSeconds: 120, backlogWarningBytes: 1 },
      },
      undefined,
    ],
    [
      'group with an interval only',
      CreateGroupBody,
      { name: 'g', primarySite: 'a', secondarySite: 'b', sync: { intervalSeconds: 5 } },
      undefined,
    ],
    ['patch of nothing', PatchGroupBody, {}, {}],
    ['patch of the mode', PatchGroupBody, { sync: { mode: 'continuous' } }, undefined],
    [
      'pair with a secondary',
      AddPairBody,
      { primaryVolumeId: 'vol-0123456789ab', secondaryVolumeId: 'vol-ba9876543210' },
      undefined,
    ],
    ['forced promotion', RoleBody, { site: 'west', role: 'primary', force: true }, undefined],
    ['path ids', SyncParams, { groupId: 'grp-0123456789ab', syncId: 'sync-0123456789ab' }, undefined],
  ];

  it.each(good)('%s', (_, schema, input, expected) => {
    expect(parseWith(schema, input, 'body')).toEqual(expected ?? input);
  });
});

describe('the router validates before any use case runs', () => {
  // No AWS behind it: a request that reached a use case would fail with a 500.
  const deps = {} as Deps;

  it.each([
    ['PATCH', '/groups/grp-0123456789ab', undefined],
    ['PATCH', '/groups/grp-0123456789ab', ''],
    ['POST', '/groups/grp-0123456789ab/pairs', undefined],
    ['POST', '/volumes', undefined],
  ])('%s %s without a body is 400', async (method, path, body) => {
    const res = await route(deps, { method, path, body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: expect.stringMatching(/^bad-/) } });
  });

  it.each([
    ['GET', '/volumes/vol-A', 'bad-id'],
    ['PATCH', '/groups/..', 'bad-id'],
  ])('%s %s with a bad path parameter is 400 %s', async (method, path, code) => {
    const res = await route(deps, { method, path, body: '{}' });
    expect({ status: res.status, body: res.body }).toMatchObject({ status: 400, body: { error: { code } } });
  });
});
