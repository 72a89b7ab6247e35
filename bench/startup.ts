/**
 * Startup of `volmirror --help`: the built CLI (what `bin` runs: an entry that loads each
 * command's implementation on demand) against the same sources built into one bundle (the
 * build before code splitting, which parsed the AWS SDK and the local stack at every start)
 * and against the CLI loaded from TypeScript through tsx, side by side, runs interleaved so
 * that machine load hits all alike. Bare `node -e 0` is the floor.
 *   npm run bench -- --only startup
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { ROOT } from '../local/emulator';

const RUNS = 11;

interface Entry {
  name: string;
  args: string[];
}

/**
 * The CLI as one bundle in a scratch package (package.json beside dist/, where the CLI reads
 * its version): esbuild without splitting inlines every dynamic import.
 */
function buildSingleBundle(): string {
  const pkg = mkdtempSync(join(tmpdir(), 'volmirror-bundle-'));
  copyFileSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  mkdirSync(join(pkg, 'dist'));
  const outfile = join(pkg, 'dist', 'volmirror.mjs');
  buildSync({
    absWorkingDir: ROOT,
    entryPoints: ['cli/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  return outfile;
}

const entries = (bundle: string): Entry[] => [
  { name: 'node -e 0 (floor)', args: ['-e', '0'] },
  { name: 'built: bin/volmirror.mjs --help', args: [join(ROOT, 'bin', 'volmirror.mjs'), '--help'] },
  { name: 'single bundle (before splitting) --help', args: [bundle, '--help'] },
  {
    name: 'tsx: --import tsx cli/main.ts --help',
    args: ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), '--help'],
  },
];

/**
 * CPU seconds used by this process's waited-for children (Linux /proc, in clock ticks of
 * 1/100 s): unlike wall time, it does not grow when other work shares the cores.
 */
function childCpuMs(): number | undefined {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    // After "pid (comm) ", cutime and cstime are fields 14 and 15 (1-based from state).
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return undefined;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function once(entry: Entry): { wallMs: number; cpuMs?: number } {
  const cpu0 = childCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, entry.args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  const wallMs = performance.now() - t0;
  const cpu1 = childCpuMs();
  if (r.status !== 0) throw new Error(`${entry.name} exited ${r.status}: ${r.stderr.toString()}`);
  return { wallMs, cpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0 };
}

export function cliStartup(runs = RUNS): Record<string, string | number>[] {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-cli.mjs')], { stdio: 'inherit' });
  const bundle = buildSingleBundle();
  try {
    return measure(entries(bundle), runs);
  } finally {
    rmSync(join(bundle, '..', '..'), { recursive: true, force: true });
  }
}

function measure(list: Entry[], runs: number): Record<string, string | number>[] {
  const samples = new Map(list.map((e) => [e.name, { wall: [] as number[], cpu: [] as number[] }]));
  // One warm-up each (disk cache), then interleaved runs.
  for (const e of list) once(e);
  for (let i = 0; i < runs; i++) {
    for (const e of list) {
      const { wallMs, cpuMs } = once(e);
      const s = samples.get(e.name);
      s?.wall.push(wallMs);
      if (cpuMs !== undefined) s?.cpu.push(cpuMs);
    }
  }
  return list.map((e) => {
    const s = samples.get(e.name) ?? { wall: [], cpu: [] };
    return {
      entry: e.name,
      runs,
      'median wall ms': Math.round(median(s.wall)),
      'min wall ms': Math.round(Math.min(...s.wall)),
      'median CPU ms': s.cpu.length ? median(s.cpu) : 'n/a',
    };
  });
}
