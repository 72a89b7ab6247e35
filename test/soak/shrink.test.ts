import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSoakArgs } from './args';
import { PLANTED_BUG, plantedCommands } from './planted-bug';
import { formatResult, runSoak } from './run';
import { removals } from './step-list';
import { SoakStack } from './system';

/**
 * Seed 16 draws plantedBug then five writes; the shrinking's first attempt (the last three
 * steps removed) still fails. The bounds keep the test under a minute on a loaded machine
 * (a run takes up to 10 s there): 1 run, at most 2 shrink runs, 1 replay.
 */
const SEED = 16;
const STEPS = 6;

describe('soak shrinking', () => {
  let stack: SoakStack;

  beforeAll(async () => {
    stack = await SoakStack.start('shared');
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 90_000);

  it('finds a planted lost write, shrinks it to at most 3 steps, and its printed command replays it', async () => {
    const commands = plantedCommands();
    const found = await runSoak(stack, 'shared', {
      seed: SEED,
      steps: STEPS,
      commands,
      retries: 1,
      shrinkBudgetMs: 30_000,
      maxShrinks: 2,
      endBoundMs: 20_000,
    });
    const printed = formatResult(found);
    expect(found.ok, printed).toBe(false);
    const minimal = found.minimal;
    expect(minimal?.kind, printed).toBe('acked-missing');
    expect(minimal?.steps.length, printed).toBeLessThanOrEqual(3);
    expect(minimal?.steps, printed).toContain(PLANTED_BUG);
    expect(found.counts.get('shrink-runs'), printed).toBeGreaterThan(0);

    // The replay takes its case from the printed line alone (the step set is the test's own).
    const line = printed.split('\n').find((l) => l.startsWith('replay: npm run soak -- '));
    expect(line, printed).toBeDefined();
    const args = parseSoakArgs((line ?? '').replace('replay: npm run soak -- ', '').split(' '));
    expect(args.path, printed).toBe(minimal?.path);
    const replay = await runSoak(stack, args.topology, {
      seed: args.seeds[0],
      steps: args.steps,
      path: args.path,
      retries: args.retries,
      commands,
      endBoundMs: 20_000,
    });
    expect(replay.ok, formatResult(replay)).toBe(false);
    expect(replay.violations.map((v) => v.kind)).toContain('acked-missing');
    expect(replay.minimal?.steps).toEqual(minimal?.steps);
    expect(replay.counts.get('shrink-runs')).toBe(0);
  }, 120_000);
});

describe('shrink candidates of a list of steps', () => {
  it('remove halves, then quarters, down to single steps, the last steps first, each list once', () => {
    const lists = [...removals([1, 2, 3, 4, 5, 6])].map((l) => l.join(''));
    expect(lists.slice(0, 2)).toEqual(['123', '456']);
    expect(lists).toContain('12346');
    expect(lists).toContain('23456');
    expect(new Set(lists).size).toBe(lists.length);
    expect([...removals([1])].map((l) => l.length)).toEqual([0]);
  });
});
