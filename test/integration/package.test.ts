import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../local/emulator';
import type { LocalConfig } from '../../local/local-config';
import { alive, gone, run } from '../support/cli';

const MiB = 1024 * 1024;

interface PackResult {
  filename: string;
  files: { path: string }[];
}

/**
 * The package as a user gets it: `npm pack` of this checkout (which builds the CLI), then
 * `npm install -g` of the tarball into an empty prefix, offline: the tarball must carry all
 * it runs. Commands run from a directory outside the checkout, through the installed bin.
 */
describe('the packed package, installed globally on a clean prefix', () => {
  const work = mkdtempSync(join(tmpdir(), 'volmirror-pkg-'));
  const prefix = join(work, 'prefix');
  const cwd = join(work, 'cwd');
  const pkgRoot = join(prefix, 'lib', 'node_modules', 'volmirror');
  const { AWS_ENDPOINT_URL: _e, VOLMIRROR_HOME: _h, VOLMIRROR_EMULATOR_VENV: _v, ...base } = process.env;
  // The installed bin first on PATH; nothing points the package at the checkout.
  const env: NodeJS.ProcessEnv = { ...base, PATH: `${join(prefix, 'bin')}${delimiter}${base.PATH ?? ''}` };
  let packed: PackResult;
  let local: LocalConfig | undefined;

  const npm = (args: string[], at: string, timeoutMs = 150_000) =>
    run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: at, env, timeoutMs });
  const volmirror = (args: string[], timeoutMs = 60_000) =>
    run(join(prefix, 'bin', 'volmirror'), args, { cwd, env, timeoutMs });
  async function cliJson<T>(args: string[], timeoutMs?: number): Promise<T> {
    const r = await volmirror([...args, '--json'], timeoutMs);
    if (r.code !== 0) throw new Error(`volmirror ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  beforeAll(async () => {
    mkdirSync(cwd);
    const pack = await npm(['pack', '--json', '--pack-destination', work], ROOT);
    expect(pack.code, pack.stderr).toBe(0);
    // The prepare script's output, if any, comes before the JSON.
    packed = (JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[/m))) as PackResult[])[0];
    const install = await npm(
      ['install', '-g', '--offline', '--prefix', prefix, join(work, packed.filename)],
      cwd,
    );
    expect(install.code, install.stderr).toBe(0);
  }, 240_000);

  afterAll(async () => {
    if (local) {
      await volmirror(['down'], 70_000);
      // Last resort, should `down` itself have failed: nothing of ours may keep running.
      for (const pid of [local.pid, ...(local.emulatorPids ?? [])]) {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    rmSync(work, { recursive: true, force: true });
  }, 90_000);

  it('holds the built CLI and the emulator setup, no TypeScript and no dependencies to fetch', () => {
    const paths = packed.files.map((f) => f.path).sort();
    expect(paths).toEqual(
      expect.arrayContaining([
        'bin/volmirror.mjs',
        'dist/volmirror.mjs',
        'package.json',
        'scripts/emulator-requirements.txt',
        'scripts/setup-emulator.sh',
      ]),
    );
    expect(paths.filter((p) => p.endsWith('.ts'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(pkgRoot, 'package.json'), 'utf8'));
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(existsSync(join(pkgRoot, 'node_modules'))).toBe(false);
  });

  it('answers --version and --help', async () => {
    const version = await volmirror(['--version']);
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    const help = await volmirror(['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    for (const command of ['up', 'down', 'volume', 'group', 'pair', 'sync', 'status']) {
      expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    }
  });

  it('runs `up` on the embedded emulators, mirrors a volume, and `down` stops everything', async () => {
    // How a global install gets its emulator: the packaged setup script fills
    // <package root>/.emulator-venv. Here that directory is the checkout's virtualenv, which
    // the script leaves alone when its pinned requirements match the packaged ones.
    const venv = join(pkgRoot, '.emulator-venv');
    symlinkSync(join(ROOT, '.emulator-venv'), venv);
    const setup = await run('bash', [join(pkgRoot, 'scripts', 'setup-emulator.sh')], {
      cwd,
      env,
      timeoutMs: 30_000,
    });
    expect(setup, setup.stderr).toMatchObject({ code: 0, stderr: '' });

    const up = await cliJson<{ apiUrl: string; configPath: string; sites: string[] }>(
      ['up', '--detach', '--timeout', '90'],
      100_000,
    );
    // Its state lives under the installed package, not in the checkout.
    expect(up.configPath).toBe(join(pkgRoot, '.volmirror', 'local.json'));
    local = JSON.parse(readFileSync(up.configPath, 'utf8')) as LocalConfig;
    expect(up.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(up.sites).toEqual(['east', 'west']);

    const vol = await cliJson<{ id: string }>([
      'volume',
      'create',
      'data',
      '--site',
      'east',
      '--size',
      '1MiB',
    ]);
    await cliJson([
      'group',
      'create',
      'db',
      '--primary-site',
      'east',
      '--secondary-site',
      'west',
      '--sync',
      'manual',
    ]);
    const pair = await cliJson<{ secondaryVolumeId: string }>(['pair', 'add', 'db', 'data']);
    const payload = randomBytes(200_000);
    const file = join(work, 'payload.bin');
    writeFileSync(file, payload);
    await cliJson(['volume', 'write', vol.id, '--file', file]);
    const sync = await cliJson<{ state: string; recoveryPointId: string }>(
      ['sync', 'db', '--wait', '--timeout', '60'],
      70_000,
    );
    expect(sync.state).toBe('committed');
    const image = Buffer.alloc(MiB);
    payload.copy(image);
    const mirrored = await cliJson<{ sha256: string }>([
      'volume',
      'checksum',
      pair.secondaryVolumeId,
      '--recovery-point',
      sync.recoveryPointId,
    ]);
    expect(mirrored.sha256).toBe(createHash('sha256').update(image).digest('hex'));

    const down = await cliJson<{ stopped: boolean }>(['down'], 70_000);
    expect(down.stopped).toBe(true);
    expect(await gone([local.pid, ...local.emulatorPids], 10_000)).toBe(true);
    expect(existsSync(up.configPath)).toBe(false);
    local = undefined;
  }, 240_000);
});
