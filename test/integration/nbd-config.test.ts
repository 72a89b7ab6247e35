import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../local/emulator';
import type { ChangeBatch } from '../../shared/domain/model';
import { readVolume } from '../../shared/usecases/reads';
import {
  type Harness,
  type MirroredGroup,
  mirroredGroup,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
  waitFor,
} from '../support/harness';

const BIN = join(ROOT, 'bin', 'volmirror.mjs');
const MiB = 1024 * 1024;
const SIZE = 4 * MiB;
const CHUNK = 1 * MiB;
const TOOLS = ['nbdinfo', 'nbdcopy', 'qemu-io'];
const exec = promisify(execFile);

/**
 * The CLI as on a host with no local stack: its own VOLMIRROR_HOME (empty), no endpoint from
 * the shell, credentials from the environment (the default chain's first source).
 */
function hostEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { AWS_ENDPOINT_URL: _e, VOLMIRROR_CONFIG_FILE: _f, ...env } = process.env;
  return {
    ...env,
    VOLMIRROR_HOME: home,
    AWS_ACCESS_KEY_ID: 'volmirrorhost',
    AWS_SECRET_ACCESS_KEY: 'volmirrorhost',
    ...extra,
  };
}

async function image(h: Harness, volumeId: string, recoveryPointId?: string): Promise<Buffer> {
  const pieces: Uint8Array[] = [];
  for await (const piece of readVolume(h.deps, volumeId, { recoveryPointId })) pieces.push(piece);
  return Buffer.concat(pieces);
}

/** Starts `nbd serve --json` in the foreground and returns once it printed what it serves. */
async function serve(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; listen: string; stderr: () => string }> {
  const child = spawn(process.execPath, [BIN, 'nbd', 'serve', ...args, '--json'], { cwd: ROOT, env });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c) => {
    out += c;
  });
  child.stderr?.on('data', (c) => {
    err += c;
  });
  const served = await waitFor(
    'nbd serve to print its exports',
    async () => {
      if (child.exitCode !== null) throw new Error(`nbd serve exited (${child.exitCode}): ${err}`);
      try {
        return JSON.parse(out) as { listen: string };
      } catch {
        return undefined;
      }
    },
    60_000,
  );
  return { child, listen: served.listen, stderr: () => err };
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('nbd serve from a deployment config (moto standing in for AWS), no local stack', () => {
  let h: Harness;
  let g: MirroredGroup;
  const home = mkdtempSync(join(tmpdir(), 'volmirror-nbd-config-'));
  const configPath = join(home, 'deployment.json');
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    for (const tool of TOOLS) {
      await exec('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is not installed: run scripts/setup-block-tools.sh (as root)`);
      });
    }
    h = await startHarness();
    g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: CHUNK }]);
    // The deployment's resources, as its functions' VOLMIRROR_CONFIG names them (plus endpoints).
    const { sites, control, leaseSeconds, retention } = h.stack.config;
    writeFileSync(configPath, JSON.stringify({ sites, control, leaseSeconds, retention }));
  }, 120_000);

  afterAll(async () => {
    if (server?.exitCode === null) server.kill('SIGKILL');
    await h?.stop();
    rmSync(home, { recursive: true, force: true });
  }, 120_000);

  it('serves a primary: NBD writes land in S3, their change records are published, the next RP holds them', async () => {
    const volumeId = g.primaries[0];
    const initial = randomBytesOf(SIZE, 9);
    writeFileSync(join(home, 'initial.img'), initial);
    const runtime = startRuntime(h);
    await syncAndWait(h, g.groupId);
    // No runtime while the host writes: the change records it publishes stay on the queue to be read here.
    await runtime.stop();
    h.runtime = undefined;

    const s = await serve(['v0', '--config', configPath, '--listen', '127.0.0.1:0'], hostEnv(home));
    server = s.child;
    const uri = `nbd://${s.listen}/v0`;
    const info = JSON.parse((await exec('nbdinfo', ['--json', uri], { timeout: 60_000 })).stdout) as {
      exports: { 'export-size': number; is_read_only: boolean }[];
    };
    expect(info.exports[0]['export-size']).toBe(SIZE);
    expect(info.exports[0].is_read_only).toBe(false);

    await exec('nbdcopy', [join(home, 'initial.img'), uri], { timeout: 90_000 });
    // A write across the chunk 1 / chunk 2 boundary, flushed by qemu-io's close.
    await exec('qemu-io', ['-f', 'raw', '-c', `write -P 0xcd ${2 * CHUNK - 1000} 3000`, uri], {
      timeout: 60_000,
    });
    const expected = Buffer.from(initial);
    expected.fill(0xcd, 2 * CHUNK - 1000, 2 * CHUNK + 2000);
    await exec('nbdcopy', [uri, join(home, 'back.img')], { timeout: 90_000 });
    expect(readFileSync(join(home, 'back.img')).equals(expected)).toBe(true);

    server.kill('SIGTERM');
    expect(await exited(server), s.stderr()).toBe(0);

    // In S3 at the primary site, as the embedded stack's own clients read it.
    expect((await image(h, volumeId)).equals(expected)).toBe(true);

    // Published: the change records of this volume name every chunk the host wrote.
    const primarySite = h.deps.config.sites[0].name;
    const queue = h.deps.changeQueues[primarySite];
    const chunks = new Set<number>();
    const received: string[] = [];
    await waitFor(
      'the change records of the NBD writes',
      async () => {
        for (const m of await queue.receive(10, 1)) {
          received.push(m.receiptHandle);
          const batch = JSON.parse(m.body) as Partial<ChangeBatch>;
          for (const r of batch.records ?? []) if (r.volumeId === volumeId) chunks.add(r.chunk);
        }
        return chunks.size === SIZE / CHUNK;
      },
      30_000,
    );
    expect([...chunks].sort()).toEqual([0, 1, 2, 3]);
    for (const handle of received) await queue.release(handle, 0);

    startRuntime(h);
    const rp = await syncAndWait(h, g.groupId);
    expect((await image(h, g.secondaries[0], rp)).equals(expected)).toBe(true);
  }, 300_000);

  it('--detach hands the config file to the background server; nbd stop stops it', async () => {
    const run = (args: string[]) =>
      exec(process.execPath, [BIN, 'nbd', ...args, '--json'], {
        cwd: ROOT,
        env: hostEnv(home),
        timeout: 90_000,
      });
    const relative = join('.', 'deployment.json');
    const started = await exec(
      process.execPath,
      [BIN, 'nbd', 'serve', 'v0', '--config', relative, '--listen', '127.0.0.1:0', '--detach', '--json'],
      // A path relative to where the command runs, as a user types it.
      { cwd: home, env: hostEnv(home), timeout: 90_000 },
    );
    const served = JSON.parse(started.stdout) as { listen: string; exports: { sizeBytes: number }[] };
    expect(served.exports[0].sizeBytes).toBe(SIZE);
    const info = await exec('nbdinfo', ['--size', `nbd://${served.listen}/v0`], { timeout: 60_000 });
    expect(Number(info.stdout.trim())).toBe(SIZE);
    const stopped = JSON.parse((await run(['stop'])).stdout) as { stopped: boolean; result: string };
    expect(stopped).toMatchObject({ stopped: true, result: 'stopped' });
  }, 120_000);

  it('without a deployment config or a local stack, fails naming both', async () => {
    const r = await exec(process.execPath, [BIN, 'nbd', 'serve', 'v0', '--listen', '127.0.0.1:0'], {
      cwd: ROOT,
      env: hostEnv(home),
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: no storage to serve from: no local stack is running .*--config FILE or VOLMIRROR_CONFIG_FILE=FILE/,
    );
    const detached = await exec(process.execPath, [BIN, 'nbd', 'serve', 'v0', '--detach'], {
      cwd: ROOT,
      env: hostEnv(home, { VOLMIRROR_CONFIG_FILE: join(home, 'absent.json') }),
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(detached.code).toBe(1);
    expect(detached.stderr).toMatch(/cannot read the deployment config .*absent\.json/);
  }, 60_000);
});
