import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../local/emulator';

interface Metafile {
  outputs: Record<
    string,
    { imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown> }
  >;
}

const ENTRY = 'dist/volmirror.mjs';

/** The source files a start of the built CLI parses before any command's action runs. */
function loadedAtStartup(meta: Metafile): string[] {
  const seen = new Set<string>();
  const todo = [ENTRY];
  for (let next = todo.pop(); next !== undefined; next = todo.pop()) {
    if (seen.has(next)) continue;
    seen.add(next);
    for (const i of meta.outputs[next]?.imports ?? []) {
      // Only static imports run at load; dynamic ones wait for an action to call them.
      if (i.kind === 'import-statement' && !i.external) todo.push(i.path);
    }
  }
  return [...seen].flatMap((out) => Object.keys(meta.outputs[out].inputs));
}

/**
 * `volmirror --help` (and `volmirror <cmd> --help`) must stay fast: the entry chunk and what
 * it imports statically hold commander and the command definitions, never the AWS SDK, the
 * schemas or the local stack, which the actions load on demand.
 */
describe('the built CLI at startup', () => {
  let inputs: string[];

  beforeAll(() => {
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-cli.mjs')], { cwd: ROOT, stdio: 'pipe' });
    inputs = loadedAtStartup(JSON.parse(readFileSync(join(ROOT, 'dist', 'meta.json'), 'utf8')) as Metafile);
  }, 120_000);

  it('loads the command definitions', () => {
    expect(inputs).toEqual(
      expect.arrayContaining(['cli/main.ts', 'cli/commands/volume.ts', 'cli/commands/up.ts']),
    );
  });

  it('loads neither the AWS SDK nor zod', () => {
    const heavy = inputs.filter((p) => /node_modules\/(@aws-sdk|@smithy|zod|@asteasolutions)\//.test(p));
    expect(heavy).toEqual([]);
  });

  it('loads neither the local stack, the NBD server nor the data plane', () => {
    const heavy = inputs.filter((p) =>
      /^(local\/(up|stack|runtime|http-server)\.ts|shared\/(nbd|aws|gateway|usecases)\/|cli\/(data-plane|transfer|sigv4)\.ts)/.test(
        p,
      ),
    );
    expect(heavy).toEqual([]);
  });

  it('answers --help and a command --help', () => {
    const bin = join(ROOT, 'bin', 'volmirror.mjs');
    expect(execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })).toContain('volume');
    expect(
      execFileSync(process.execPath, [bin, 'volume', 'write', '--help'], { encoding: 'utf8' }),
    ).toContain('--file');
  });
});
