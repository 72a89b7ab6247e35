import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GROUP_STATUSES, type GroupStatus, type Pair, type RecoveryPoint } from '../../shared/domain/model';
import {
  canTransition,
  divergentChunks,
  type ForcedPromotionFacts,
  flippedPair,
  flippedRoles,
  flipRecoveryPoint,
  forcedPromotionRefusal,
  nextRoleStep,
  parseRoleRequest,
  plannedRefusal,
  primaryManifestSite,
  primarySiteAt,
  type RoleChangeFacts,
  requestedPrimary,
} from '../../shared/domain/roles';

const sites = { primarySite: 'east', secondarySite: 'west' };

describe('role state machine', () => {
  it.each([
    ['optimal', 'role-change-pending', true],
    ['role-change-pending', 'role-change-in-progress', true],
    ['role-change-in-progress', 'optimal', true],
    ['role-change-in-progress', 'role-conflict', true],
    ['role-conflict', 'role-change-in-progress', true],
    ['optimal', 'role-change-in-progress', false],
    ['role-change-pending', 'optimal', false],
    ['paused', 'role-change-pending', false],
    ['failed', 'role-change-pending', false],
  ] as const)('%s -> %s allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });

  it('a planned change starts from optimal only; paused points at force', () => {
    for (const s of GROUP_STATUSES) expect(plannedRefusal(s) === undefined).toBe(s === 'optimal');
    expect(plannedRefusal('paused')?.message).toMatch(/force/);
    expect(plannedRefusal('paused')?.status).toBe(409);
  });
});

describe('role requests', () => {
  it.each([
    [{ site: 'west', role: 'primary' }, 'west'],
    [{ site: 'east', role: 'secondary' }, 'west'],
    [{ site: 'west', role: 'primary', force: true }, 'west'],
  ])('%j makes %s primary', (body, target) => {
    expect(requestedPrimary(sites, parseRoleRequest(body, sites))).toBe(target);
  });

  it.each([
    [{ site: 'east', role: 'primary' }, 409, 'role-unchanged'],
    [{ site: 'west', role: 'secondary' }, 409, 'role-unchanged'],
    [{ site: 'north', role: 'primary' }, 400, 'bad-site'],
    [{ site: 'west', role: 'boss' }, 400, 'bad-role'],
    [{ site: 'west', role: 'primary', force: 'yes' }, 400, 'bad-force'],
    [{ site: 'west', role: 'primary', extra: 1 }, 400, 'bad-input'],
  ])('%j is refused with %d %s', (body, status, code) => {
    expect(() => requestedPrimary(sites, parseRoleRequest(body, sites))).toThrow(
      expect.objectContaining({ status, code }),
    );
  });
});

describe('forced promotion rules', () => {
  const allowed: ForcedPromotionFacts = {
    status: 'optimal',
    pairs: 2,
    pairsWithoutRp: 0,
    initialSyncRunning: false,
  };
  it.each([
    [{ status: 'failed' }, 'group-failed'],
    [{ status: 'role-change-pending' }, 'role-change-pending'],
    [{ status: 'role-change-in-progress' }, 'role-change-in-progress'],
    [{ pairs: 0, pairsWithoutRp: 0 }, 'group-empty'],
    [{ pairsWithoutRp: 1 }, 'pair-without-recovery-point'],
    [{ initialSyncRunning: true }, 'initial-sync-running'],
  ] as const)('%j is refused by rule %s with 422', (change, rule) => {
    const refusal = forcedPromotionRefusal({ ...allowed, ...change });
    expect(refusal?.status).toBe(422);
    expect(refusal?.message).toContain(`rule ${rule}`);
  });

  it.each(['optimal', 'paused', 'user-suspended', 'role-conflict'] as const)('allowed from %s', (status) => {
    expect(forcedPromotionRefusal({ ...allowed, status })).toBeUndefined();
  });

  it('property: allowed exactly when every rule holds', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...GROUP_STATUSES),
        fc.nat(4),
        fc.nat(4),
        fc.boolean(),
        (status, pairs, without, initial) => {
          const pairsWithoutRp = Math.min(without, pairs);
          const refusal = forcedPromotionRefusal({
            status,
            pairs,
            pairsWithoutRp,
            initialSyncRunning: initial,
          });
          const ok =
            !['failed', 'role-change-pending', 'role-change-in-progress'].includes(status) &&
            pairs > 0 &&
            pairsWithoutRp === 0 &&
            !initial;
          expect(refusal === undefined).toBe(ok);
          if (refusal) expect(refusal.status).toBe(422);
        },
      ),
    );
  });
});

describe('role change steps', () => {
  const planned: RoleChangeFacts = {
    status: 'role-change-pending',
    force: false,
    roleEpoch: 4,
    fromRoleEpoch: 4,
    leaseHeld: false,
    membersFlipped: false,
  };
  it.each([
    [{ leaseHeld: true }, 'wait-for-gateway'],
    [{ activeSyncId: 's1' }, 'wait-for-sync'],
    [{}, 'start-final-sync'],
    [{ finalSyncId: 's2', finalSync: 'failed' }, 'start-final-sync'],
    [{ finalSyncId: 's2', activeSyncId: 's2', finalSync: 'running' }, 'wait-for-sync'],
    [{ finalSyncId: 's2', finalSync: 'committed' }, 'begin-flip'],
    [{ status: 'role-change-in-progress' }, 'flip'],
    [{ status: 'role-change-in-progress', force: true, activeSyncId: 's1' }, 'abort-sync'],
    [{ status: 'role-change-in-progress', force: true, leaseHeld: true }, 'wait-for-gateway'],
    [{ status: 'role-change-in-progress', roleEpoch: 5 }, 'flip-members'],
    [{ status: 'role-change-in-progress', roleEpoch: 5, membersFlipped: true }, 'finish'],
  ] as const)('%j -> %s', (change, step) => {
    expect(nextRoleStep({ ...planned, ...change })).toBe(step);
  });

  it('property: never flips while a lease is held or a sync runs', () => {
    fc.assert(
      fc.property(
        fc.record({
          status: fc.constantFrom<GroupStatus>('role-change-pending', 'role-change-in-progress'),
          force: fc.boolean(),
          leaseHeld: fc.boolean(),
          activeSyncId: fc.option(fc.constant('s1'), { nil: undefined }),
          finalSync: fc.option(fc.constantFrom('running', 'committed', 'failed') as fc.Arbitrary<'running'>, {
            nil: undefined,
          }),
          membersFlipped: fc.boolean(),
        }),
        (f) => {
          const step = nextRoleStep({ ...f, roleEpoch: 2, fromRoleEpoch: 2 });
          if (step === 'flip' || step === 'begin-flip' || step === 'start-final-sync') {
            expect(f.leaseHeld).toBe(false);
            expect(f.activeSyncId).toBeUndefined();
          }
          // A planned change flips only after its final sync committed.
          if (step === 'begin-flip') expect(f.finalSync).toBe('committed');
        },
      ),
    );
  });
});

describe('what a flip changes', () => {
  it('property: the sites swap, the role epoch grows by one, and flipping twice restores the sites', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (roleEpoch) => {
        const once = flippedRoles({ ...sites, roleEpoch });
        expect(once).toEqual({ primarySite: 'west', secondarySite: 'east', roleEpoch: roleEpoch + 1 });
        const twice = flippedRoles(once);
        expect(twice).toEqual({ ...sites, roleEpoch: roleEpoch + 2 });
      }),
    );
  });

  it('property: the primary of an earlier role epoch is the site that was primary before that many flips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.nat(6), (startEpoch, flips) => {
        let group = { ...sites, roleEpoch: startEpoch };
        for (let i = 0; i < flips; i++) group = flippedRoles(group);
        expect(primarySiteAt(group, startEpoch)).toBe('east');
        expect(primarySiteAt(group, group.roleEpoch)).toBe(group.primarySite);
      }),
    );
  });

  it('property: pairs and RP sides swap and keep their identity', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uuid(), fc.uuid(), fc.nat(1000)), { minLength: 1, maxLength: 5 }),
        (vols) => {
          const last: RecoveryPoint = {
            id: 'rp-000003',
            number: 3,
            groupId: 'grp-1',
            kind: 'recovery-point',
            site: 'west',
            epoch: 7,
            roleEpoch: 1,
            cutAt: '2026-01-01T00:00:00.000Z',
            committedAt: '2026-01-01T00:00:01.000Z',
            bytes: 1234,
            volumes: vols.map(([a, b, chunks], i) => ({
              pairId: `pair-${i}`,
              primaryVolumeId: a,
              secondaryVolumeId: b,
              primaryManifestKey: `m/${a}`,
              secondaryManifestKey: `m/${b}`,
              chunks,
              bytes: chunks * 65536,
            })),
          };
          const flip = flipRecoveryPoint(last, {
            id: 'rp-000004',
            number: 4,
            roleEpoch: 2,
            epoch: 9,
            newSecondarySite: 'east',
            committedAt: '2026-01-01T00:00:02.000Z',
          });
          expect(flip).toMatchObject({ id: 'rp-000004', number: 4, site: 'east', epoch: 9, bytes: 0 });
          expect(flip.cutAt).toBe(last.cutAt);
          for (const [i, v] of flip.volumes.entries()) {
            const was = last.volumes[i];
            expect(v.pairId).toBe(was.pairId);
            expect([v.primaryVolumeId, v.primaryManifestKey]).toEqual([
              was.secondaryVolumeId,
              was.secondaryManifestKey,
            ]);
            expect([v.secondaryVolumeId, v.secondaryManifestKey]).toEqual([
              was.primaryVolumeId,
              was.primaryManifestKey,
            ]);
          }
          const pair: Pair = {
            id: 'pair-0',
            groupId: 'grp-1',
            primaryVolumeId: vols[0][0],
            secondaryVolumeId: vols[0][1],
            startEpoch: 1,
            baseManifestKey: 'b',
            firstRp: 1,
            addedAt: 'now',
          };
          expect(flippedPair(flippedPair(pair))).toEqual(pair);
          expect(flippedPair(pair).primaryVolumeId).toBe(pair.secondaryVolumeId);
        },
      ),
    );
  });
});

describe('divergent chunks', () => {
  async function* from(refs: [number, string][]) {
    yield* refs;
  }
  it('property: the differences are exactly the chunks whose live version is not the RP version', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.nat(50).map(String), fc.constantFrom('a', 'b', 'c')),
        fc.dictionary(fc.nat(50).map(String), fc.constantFrom('a', 'b', 'c')),
        async (liveMap, rpMap) => {
          const sorted = (m: Record<string, string>) =>
            Object.entries(m)
              .map(([k, v]) => [Number(k), v] as [number, string])
              .sort((p, q) => p[0] - q[0]);
          const got = [];
          for await (const d of divergentChunks(from(sorted(liveMap)), from(sorted(rpMap)))) got.push(d);
          const indices = new Set([...Object.keys(liveMap), ...Object.keys(rpMap)].map(Number));
          const want = [...indices]
            .sort((p, q) => p - q)
            .filter((i) => liveMap[i] !== rpMap[i])
            .map((i) => ({
              index: i,
              ...(liveMap[i] !== undefined && { live: liveMap[i] }),
              ...(rpMap[i] !== undefined && { rp: rpMap[i] }),
            }));
          expect(got).toEqual(want);
        },
      ),
    );
  });
});

describe('primaryManifestSite', () => {
  it.each([
    ['recovery-point', 'west', 'east'],
    ['recovery-point', 'east', 'west'],
    ['preserved-writes', 'east', 'east'],
  ] as const)('%s made with its secondary at %s: primary manifests at %s', (kind, site, expected) => {
    expect(primaryManifestSite(sites, { kind, site })).toBe(expected);
  });
});
