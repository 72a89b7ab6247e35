import type { Topology } from '../../local/stack';
import { laterFaults, WRITE_KINDS, type WriteKind } from './commands';
import { formatResult, runSoak } from './run';
import { SoakStack } from './system';

/**
 * `npm run soak -- --seed N --steps K [--runs R] [--topology per-site|shared] [--kinds a,b]
 * [--faults all|original] [--quiet]`; `--faults original` replays seeds recorded before the
 * later faults (abort, killed drivers and ingest workers, stalls) were added.
 */
function parse(argv: string[]): {
  seed: number;
  steps: number;
  runs: number;
  topology: Topology;
  kinds: WriteKind[];
  faults: 'all' | 'original';
  quiet: boolean;
} {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, fallback: number) => {
    const v = get(name);
    if (v === undefined) return fallback;
    if (!/^\d+$/.test(v)) throw new Error(`--${name} needs a whole number, got ${v}`);
    return Number(v);
  };
  const topology = get('topology') ?? 'per-site';
  if (topology !== 'per-site' && topology !== 'shared') throw new Error('--topology is per-site or shared');
  const kinds = (get('kinds') ?? WRITE_KINDS.join(',')).split(',') as WriteKind[];
  const unknown = kinds.find((k) => !WRITE_KINDS.includes(k));
  if (unknown || kinds.length === 0) throw new Error(`--kinds takes some of ${WRITE_KINDS.join(',')}`);
  const faults = get('faults') ?? 'all';
  if (faults !== 'all' && faults !== 'original') throw new Error('--faults is all or original');
  return {
    kinds,
    faults,
    seed: int('seed', Date.now() % 2 ** 31),
    steps: int('steps', 40),
    runs: int('runs', 1),
    topology,
    quiet: argv.includes('--quiet'),
  };
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  console.log(
    `soak: seed ${o.seed}, ${o.steps} steps, ${o.runs} run(s), ${o.topology}, writes ${o.kinds.join(',')}, ${o.faults} faults`,
  );
  const began = Date.now();
  const stack = await SoakStack.start(o.topology);
  try {
    const result = await runSoak(stack, o.topology, {
      seed: o.seed,
      steps: o.steps,
      runs: o.runs,
      kinds: o.kinds,
      extra: o.faults === 'all' ? laterFaults() : [],
      log: o.quiet
        ? undefined
        : (line) => console.log(`[+${((Date.now() - began) / 1000).toFixed(1)}s] ${line}`),
    });
    console.log(formatResult(result));
    process.exitCode = result.ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
  // A write the gateway never settled (a violation itself) must not keep the process alive.
  process.exit();
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).message}`);
  process.exit(2);
});
