import { parseSoakArgs } from './args';
import { FaultCounts } from './fault-counts';
import { faultsOf } from './role-commands';
import { formatResult, runSoak, type SoakResult } from './run';
import { SoakStack } from './system';

/**
 * `npm run soak -- --seed N --steps K [...]` (options: see parseSoakArgs and test/soak/README.md).
 * With `--json`, stdout holds one JSON object (the combined summary) and every other line goes
 * to stderr.
 */
async function main(): Promise<void> {
  const o = parseSoakArgs(process.argv.slice(2));
  const out = o.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  const seedsText = o.seeds.length === 1 ? `seed ${o.seeds[0]}` : `${o.seeds.length} seeds`;
  out(
    `soak: ${seedsText}, ${o.steps} steps, ${o.path ? `path ${o.path}` : `${o.runs} run(s) per seed`}, ${o.topology}, writes ${o.kinds.join(',')}, ${o.faults} faults${o.stepBudget ? `, step budget ${o.stepBudget} chunks` : ''}`,
  );
  const began = Date.now();
  const deadline = o.maxMinutes === undefined ? undefined : began + o.maxMinutes * 60_000;
  const stack = await SoakStack.start(o.topology, o.stepBudget);
  const results: SoakResult[] = [];
  const total = new FaultCounts();
  try {
    for (const seed of o.seeds) {
      if (deadline !== undefined && Date.now() > deadline) break;
      const result = await runSoak(stack, o.topology, {
        seed,
        steps: o.steps,
        runs: o.runs,
        path: o.path,
        kinds: o.kinds,
        faults: o.faults,
        extra: faultsOf(o.faults),
        shrinkBudgetMs: o.shrinkBudgetSeconds * 1000,
        maxShrinks: o.maxShrinks,
        retries: o.retries,
        deadline,
        log: o.quiet ? undefined : (line) => out(`[+${((Date.now() - began) / 1000).toFixed(1)}s] ${line}`),
      });
      results.push(result);
      total.merge(result.counts);
      out(formatResult(result));
    }
  } finally {
    await stack.stop();
  }
  const ok = results.every((r) => r.ok);
  const skipped = o.seeds.slice(results.length);
  const seconds = Math.round((Date.now() - began) / 1000);
  if (o.json) {
    console.log(
      JSON.stringify({
        ok,
        topology: o.topology,
        steps: o.steps,
        seconds,
        seeds: results.map((r) => ({
          seed: r.seed,
          ok: r.ok,
          interrupted: r.interrupted,
          summary: r.summary,
          violations: r.violations,
          minimal: r.minimal,
        })),
        skippedSeeds: skipped,
        counts: total.toJSON(stack.sites),
      }),
    );
  } else {
    const failed = results.filter((r) => !r.ok).map((r) => r.seed);
    out(
      `summary of ${results.length} seed(s) in ${seconds} s: ${failed.length === 0 ? 'all passed' : `FAILED: ${failed.join(', ')}`}${skipped.length > 0 ? `; ${skipped.length} seed(s) left out at the time limit` : ''}`,
    );
    out(total.table(stack.sites));
  }
  process.exitCode = ok ? 0 : 1;
  // A write the gateway never settled (a violation itself) must not keep the process alive.
  process.exit();
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exit(2);
});
