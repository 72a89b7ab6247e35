import { describe, expect, it } from 'vitest';
import type { SyncJob } from '../../shared/domain/model';
import { maySpill } from '../../shared/usecases/sync/job';

const job = (marks: Partial<SyncJob>) => marks as SyncJob;

/** Which prefixes the clean-up lists: a prefix it skips must never hold an object of the sync. */
describe('maySpill', () => {
  it.each([
    ['unmarked: its delta stayed on the job', {}, false, false],
    ['runs only', { spilled: true, spilledRuns: true }, true, false],
    ['superseded lists only', { spilled: true, spilledSuperseded: true }, false, true],
    ['both', { spilled: true, spilledRuns: true, spilledSuperseded: true }, true, true],
    ['marked by a version before the kinds: may hold both', { spilled: true }, true, true],
  ])('%s', (_, marks, runs, superseded) => {
    expect(maySpill(job(marks), 'runs')).toBe(runs);
    expect(maySpill(job(marks), 'superseded')).toBe(superseded);
  });
});
