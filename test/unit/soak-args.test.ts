import { describe, expect, it } from 'vitest';
import { parseSoakArgs, replayCommand } from '../soak/args';

describe('soak arguments', () => {
  it('--step-budget sets the chunks per sync step and is kept in the replay command', () => {
    const args = parseSoakArgs(['--seed', '5', '--step-budget', '3']);
    expect(args.stepBudget).toBe(3);
    const command = replayCommand({
      seed: 5,
      path: '0:1',
      steps: 40,
      topology: 'per-site',
      retries: 3,
      stepBudget: 3,
    });
    expect(command).toContain('--step-budget 3');
    const replayed = parseSoakArgs(command.replace('npm run soak -- ', '').split(' '));
    expect(replayed).toMatchObject({ seeds: [5], path: '0:1', steps: 40, stepBudget: 3 });
  });

  it('without --step-budget the default budget is used and the replay command names none', () => {
    expect(parseSoakArgs(['--seed', '5']).stepBudget).toBeUndefined();
    expect(replayCommand({ seed: 5, path: '0', steps: 40, topology: 'per-site', retries: 3 })).not.toContain(
      'step-budget',
    );
  });

  it.each([['0'], ['-2'], ['x']])('refuses --step-budget %s', (value) => {
    expect(() => parseSoakArgs(['--seed', '5', '--step-budget', value])).toThrow(/--step-budget/);
  });
});
