import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StartSyncStep, type WriteKind, WriteStep } from './commands';
import { formatResult, runSoak } from './run';
import { BacklogOverflowStep, MemberFailureStep } from './status-commands';
import { SoakStack, VOLUME_SIZES } from './system';

let stack: SoakStack;

beforeAll(async () => {
  stack = await SoakStack.start('per-site');
}, 90_000);

afterAll(async () => {
  await stack?.stop();
}, 90_000);

it('backlog overflow and member failure among writes and syncs: RPs equal the model, no acked write missing, scans copy only changed chunks', async () => {
  const volume = fc.integer({ min: 0, max: VOLUME_SIZES.length - 1 });
  const seed = fc.integer({ min: 1, max: 2 ** 31 - 1 });
  const result = await runSoak(stack, 'per-site', {
    seed: 3,
    steps: 8,
    commands: [
      fc
        .tuple(
          volume,
          fc.constantFrom<WriteKind>('random', 'partial', 'large'),
          fc.integer({ min: 1, max: 3 }),
          seed,
        )
        .map(([v, k, n, s]) => new WriteStep(v, k, n, s)),
      fc.constant(new StartSyncStep()),
      fc.tuple(volume, seed).map(([v, s]) => new BacklogOverflowStep(v, s)),
      fc.tuple(volume, seed).map(([v, s]) => new MemberFailureStep(v, s)),
    ],
    endBoundMs: 60_000,
    retries: 1,
    maxShrinks: 0,
  });
  expect(result.violations, formatResult(result)).toEqual([]);
  expect(result.ok, formatResult(result)).toBe(true);
  // The steps did what they are for, not only ran.
  for (const k of ['backlog-overflows', 'member-failures', 'scan-resyncs'])
    expect(result.counts.get(k), `${k}\n${formatResult(result)}`).toBeGreaterThan(0);
}, 400_000);
