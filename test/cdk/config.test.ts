import { describe, expect, it } from 'vitest';
import { configProblems, type DeploymentConfig } from '../../cdk/config';
import singleRegion from '../../cdk/config/single-region';
import twoRegion from '../../cdk/config/two-region';

const withChanges = (c: DeploymentConfig, change: Partial<DeploymentConfig>): DeploymentConfig => ({
  ...c,
  ...change,
});

describe('deployment config', () => {
  it('accepts both shipped configs', () => {
    expect(configProblems(twoRegion)).toEqual([]);
    expect(configProblems(singleRegion)).toEqual([]);
  });

  it('needs two sites in two regions with names usable in resource names', () => {
    const problems = configProblems(
      withChanges(twoRegion, {
        sites: [
          { name: 'East', region: 'us-east-1' },
          { name: 'west', region: 'us-east-1' },
        ],
      }),
    );
    expect(problems).toContain('the two sites need different regions');
    expect(problems.some((p) => p.startsWith('site name "East"'))).toBe(true);
  });

  it('needs an MRSC witness outside both site regions', () => {
    const problems = configProblems(
      withChanges(twoRegion, { control: { mode: 'mrsc', witnessRegion: 'us-west-2' } }),
    );
    expect(problems).toEqual(['control.witnessRegion must differ from both site regions']);
  });

  it('refuses a noncurrent-version expiry that could take versions a retained RP references', () => {
    // 8 RPs at an RPO of 5 days take 40 days to turn over: a 30-day expiry is too short.
    const problems = configProblems(
      withChanges(twoRegion, {
        noncurrentVersionExpirationDays: 30,
        alerts: { emails: [], recoveryPointAgeSeconds: 5 * 86_400 },
      }),
    );
    expect(problems).toEqual([
      'noncurrentVersionExpirationDays must exceed retention x alerts.recoveryPointAgeSeconds',
    ]);
    expect(configProblems(withChanges(twoRegion, { noncurrentVersionExpirationDays: null }))).toEqual([]);
  });

  it('keeps SQS event-source concurrency at its minimum of 2 or more', () => {
    const problems = configProblems(
      withChanges(twoRegion, { concurrency: { ...twoRegion.concurrency, copy: 1 } }),
    );
    expect(problems).toEqual(['concurrency.ingest and .copy must be >= 2 (the SQS event source minimum)']);
  });
});
