import type { Topology } from '../../local/stack';
import { WRITE_KINDS, type WriteKind } from './commands';

/** The options of `npm run soak` (see test/soak/README.md). */
export interface SoakArgs {
  seeds: number[];
  steps: number;
  runs: number;
  /** fast-check's path of one case of the seed: replays that case alone, no exploration, no shrinking. */
  path?: string;
  topology: Topology;
  kinds: WriteKind[];
  faults: FaultSet;
  shrinkBudgetSeconds: number;
  maxShrinks: number;
  retries: number;
  maxMinutes?: number;
  /** Chunks a sync step may plan or commit (the config's stepBudgetChunks); absent: the default. */
  stepBudget?: number;
  json: boolean;
  quiet: boolean;
}

/** `original`: the first seeds' steps; `later`: those and the faults added next; `roles`: those and the role steps; `status`: those and the backlog-overflow and member-failure steps; `all`: those, the block-export steps and priority changes. */
export const FAULT_SETS = ['all', 'original', 'later', 'roles', 'status'] as const;
export type FaultSet = (typeof FAULT_SETS)[number];

const SEED_RANGE = /^(\d+)\.\.(\d+)$/;
const MAX_SEEDS = 10_000;

/**
 * `--seed N` or `--seeds A..B` / `--seeds A,B,C`; `--steps K`; `--runs R` (runs per seed);
 * `--path P`; `--topology per-site|shared`; `--kinds a,b`; `--faults all|original|later|roles|status`
 * (`original` replays seeds recorded before the later faults were added, `later` those recorded
 * before the role steps); `--shrink-budget-seconds S`,
 * `--max-shrinks N`, `--retries R` (bounds of the shrinking); `--max-minutes M`; `--step-budget C`
 * (a few chunks cut a sync into many collect and commit steps and many small copy tasks per
 * pair); `--json`; `--quiet`.
 */
export function parseSoakArgs(argv: string[]): SoakArgs {
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
  const faults = (get('faults') ?? 'all') as FaultSet;
  if (!FAULT_SETS.includes(faults)) throw new Error(`--faults is one of ${FAULT_SETS.join(', ')}`);
  const path = get('path');
  if (path !== undefined && !/^\d+(:\d+)*$/.test(path)) throw new Error(`--path is like 0:3:1, got ${path}`);
  const seeds = parseSeeds(get('seeds'), int('seed', Date.now() % 2 ** 31));
  if (path !== undefined && seeds.length > 1) throw new Error('--path replays a case of one seed');
  const stepBudget = get('step-budget') === undefined ? undefined : int('step-budget', 0);
  if (stepBudget === 0) throw new Error('--step-budget needs at least 1 chunk');
  const maxMinutes = get('max-minutes');
  if (maxMinutes !== undefined && !(Number(maxMinutes) > 0))
    throw new Error('--max-minutes needs a positive number');
  return {
    seeds,
    steps: int('steps', 40),
    runs: int('runs', 1),
    path,
    topology,
    kinds,
    faults,
    shrinkBudgetSeconds: int('shrink-budget-seconds', 600),
    maxShrinks: int('max-shrinks', 200),
    retries: Math.max(1, int('retries', 3)),
    maxMinutes: maxMinutes === undefined ? undefined : Number(maxMinutes),
    stepBudget,
    json: argv.includes('--json'),
    quiet: argv.includes('--quiet'),
  };
}

function parseSeeds(spec: string | undefined, seed: number): number[] {
  if (spec === undefined) return [seed];
  const range = SEED_RANGE.exec(spec);
  const seeds = range
    ? Array.from(
        { length: Math.max(0, Number(range[2]) - Number(range[1]) + 1) },
        (_, i) => Number(range[1]) + i,
      )
    : spec.split(',').map((s) => {
        if (!/^\d+$/.test(s)) throw new Error(`--seeds is A..B or A,B,C, got ${spec}`);
        return Number(s);
      });
  if (seeds.length === 0 || seeds.length > MAX_SEEDS)
    throw new Error(`--seeds names 1 to ${MAX_SEEDS} seeds`);
  return seeds;
}

/** The one command line that replays a case: what draws the steps, what runs them, and the path. */
export function replayCommand(a: {
  seed: number;
  path: string;
  steps: number;
  topology: Topology;
  kinds?: WriteKind[];
  faults?: FaultSet;
  retries: number;
  stepBudget?: number;
}): string {
  const parts = ['npm run soak --', `--seed ${a.seed}`, `--path ${a.path}`, `--steps ${a.steps}`];
  if (a.topology !== 'per-site') parts.push(`--topology ${a.topology}`);
  if (a.kinds && a.kinds.join(',') !== WRITE_KINDS.join(',')) parts.push(`--kinds ${a.kinds.join(',')}`);
  if (a.faults && a.faults !== 'all') parts.push(`--faults ${a.faults}`);
  if (a.stepBudget !== undefined) parts.push(`--step-budget ${a.stepBudget}`);
  parts.push(`--retries ${a.retries}`);
  return parts.join(' ');
}
