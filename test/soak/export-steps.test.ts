import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlockExport } from '../../shared/nbd/block-export';
import type { OpenedExport } from '../../shared/nbd/open-export';
import { CrashGatewayStep, SettleStep, StartSyncStep, type WriteKind, WriteStep } from './commands';
import { ExportStep, exportSteps } from './export-commands';
import { formatResult, runSoak } from './run';
import { SoakStack } from './system';

/**
 * A soak of mostly export sessions (clean and killed, syncs started with NBD requests in
 * flight, trims), gateway writes and syncs between them: the RPs are checked by the same
 * oracle as gateway writes, with the durability contract of the write-back buffer.
 */
function exportHeavy(): fc.Arbitrary<
  ExportStep | WriteStep | StartSyncStep | SettleStep | CrashGatewayStep
>[] {
  const write = fc
    .tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.constantFrom<WriteKind>('random', 'partial', 'large'),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    )
    .map(([v, kind, n, seed]) => new WriteStep(v, kind, n, seed));
  return [
    fc.oneof(
      { arbitrary: exportSteps()[0] as fc.Arbitrary<ExportStep>, weight: 4 },
      { arbitrary: write, weight: 2 },
      { arbitrary: fc.constant(new StartSyncStep()), weight: 2 },
      { arbitrary: fc.integer({ min: 200, max: 1500 }).map((ms) => new SettleStep(ms)), weight: 1 },
      { arbitrary: fc.constant(new CrashGatewayStep()), weight: 1 },
    ),
  ];
}

describe('soak export steps', () => {
  let stack: SoakStack;

  beforeAll(async () => {
    stack = await SoakStack.start('per-site');
  }, 90_000);

  afterAll(async () => {
    await stack?.stop();
  }, 90_000);

  it.each([5, 8])(
    'seed %i: RPs hold every write answered before their sync started or covered by an answered FLUSH, trims included',
    async (seed) => {
      const result = await runSoak(stack, 'per-site', {
        seed,
        steps: 10,
        commands: exportHeavy(),
        retries: 1,
        maxShrinks: 0,
        endBoundMs: 60_000,
      });
      const printed = formatResult(result);
      expect(result.violations, printed).toEqual([]);
      expect(result.ok, printed).toBe(true);
      expect(result.counts.get('export-sessions'), printed).toBeGreaterThan(0);
      expect(result.counts.get('export-kills'), printed).toBeGreaterThan(0);
      // A trim waits for no sync to be running: under load it may be skipped, but it was drawn.
      const trims = result.counts.get('export-trims') + result.counts.get('export-trims-skipped');
      expect(trims, printed).toBeGreaterThan(0);
      expect(result.counts.get('rps-checked'), printed).toBeGreaterThan(0);
    },
    300_000,
  );

  it('finds a planted FLUSH that answers before storing: a killed export loses what it covered', async () => {
    const lying = new LyingFlushExportStep(0, 5, 888018104, 'kill', false, false, 2000);
    const result = await runSoak(stack, 'per-site', {
      seed: 1,
      steps: 1,
      commands: [fc.constant(lying)],
      retries: 1,
      maxShrinks: 0,
      endBoundMs: 60_000,
    });
    const printed = formatResult(result);
    expect(result.ok, printed).toBe(false);
    expect(result.counts.get('export-flushes'), printed).toBeGreaterThan(0);
    expect(
      result.violations
        .map((v) => v.kind)
        .filter((k) => k !== 'rp-image' && k !== 'acked-missing' && k !== 'not-causal'),
      printed,
    ).toEqual([]);
  }, 300_000);
});

/** The planted bug: the server's FLUSH answers at once, storing nothing. */
class LyingFlushExportStep extends ExportStep {
  protected override expose(exports: OpenedExport[]): BlockExport[] {
    return exports.map((e) => ({
      name: e.name,
      sizeBytes: e.sizeBytes,
      readOnly: e.readOnly,
      blockSize: e.blockSize,
      read: (o, l) => e.read(o, l),
      write: (o, d, opt) => e.write(o, d, opt),
      flush: async () => undefined,
      trim: (o, l, opt) => e.trim(o, l, opt),
      writeZeroes: (o, l, opt) => e.writeZeroes(o, l, opt),
      close: () => e.close(),
    }));
  }

  override toString(): string {
    return `plantedBug(lying flush) ${super.toString()}`;
  }
}
