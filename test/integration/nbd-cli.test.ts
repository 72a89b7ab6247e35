import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../local/emulator';
import type { LocalConfig } from '../../local/local-config';
import { alive, BIN, cli, cliEnv, cliJson } from '../support/cli';
import { waitFor } from '../support/harness';

const MiB = 1024 * 1024;
const TOOLS = ['nbdcopy', 'qemu-io'];
const exec = promisify(execFile);

interface Serving {
  exports: {
    name: string;
    volumeId: string;
    recoveryPointId?: string;
    sizeBytes: number;
    readOnly: boolean;
  }[];
  listen: string;
}

describe('volmirror nbd serve on the embedded stack', () => {
  const home = mkdtempSync(join(tmpdir(), 'volmirror-nbd-cli-'));
  let local: LocalConfig | undefined;
  let foreground: ChildProcess | undefined;

  beforeAll(async () => {
    for (const tool of TOOLS) {
      await exec('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is not installed: run scripts/setup-block-tools.sh (as root)`);
      });
    }
    await cliJson(home, ['up', '--detach', '--timeout', '90'], 100_000);
    local = JSON.parse(readFileSync(join(home, 'local.json'), 'utf8')) as LocalConfig;
  }, 120_000);

  afterAll(async () => {
    if (foreground?.pid && alive(foreground.pid)) foreground.kill('SIGKILL');
    await cli(home, ['nbd', 'stop'], 70_000);
    await cli(home, ['down'], 70_000);
    for (const pid of [local?.pid, ...(local?.emulatorPids ?? [])]) {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(home, { recursive: true, force: true });
  }, 150_000);

  it('serves a primary volume; writes through NBD reach the RP, which serves them back read-only', async () => {
    const data = await cliJson<{ id: string }>(home, [
      'volume',
      'create',
      'data',
      '--site',
      'east',
      '--size',
      '8MiB',
    ]);
    await cliJson(home, [
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
    const pair = await cliJson<{ secondaryVolumeId: string }>(home, ['pair', 'add', 'db', 'data']);

    const served = await cliJson<Serving>(
      home,
      ['nbd', 'serve', 'data', '--listen', '127.0.0.1:0', '--detach'],
      70_000,
    );
    expect(served.exports).toEqual([
      { name: 'data', volumeId: data.id, sizeBytes: 8 * MiB, readOnly: false },
    ]);
    expect(served.listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(existsSync(join(home, 'nbd.pid'))).toBe(true);
    const refused = await cli(home, ['nbd', 'serve', 'data', '--listen', '127.0.0.1:0', '--detach']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/already running/);
    // A second server of the same volume, in the foreground, cannot take the group's write lease.
    const second = await cli(home, ['nbd', 'serve', 'data', '--listen', '127.0.0.1:0'], 70_000);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/lease-held/);

    const image = randomBytes(8 * MiB);
    writeFileSync(join(home, 'in.img'), image);
    await exec('nbdcopy', [join(home, 'in.img'), `nbd://${served.listen}/data`], { timeout: 90_000 });
    await exec('qemu-io', ['-f', 'raw', '-c', 'write -P 0xab 1000 3000', `nbd://${served.listen}/data`], {
      timeout: 60_000,
    });
    image.fill(0xab, 1000, 4000);

    const sync = await cliJson<{ state: string; recoveryPointId: string }>(
      home,
      ['sync', 'db', '--wait', '--timeout', '90'],
      100_000,
    );
    expect(sync.state).toBe('committed');
    const stopped = await cliJson<{ stopped: boolean }>(home, ['nbd', 'stop'], 70_000);
    expect(stopped.stopped).toBe(true);
    expect(existsSync(join(home, 'nbd.pid'))).toBe(false);

    // The secondary at the RP, served in the foreground until SIGTERM, on a Unix socket whose
    // file a killed server left behind.
    const spec = `${pair.secondaryVolumeId}@${sync.recoveryPointId}`;
    const socket = join(home, 'rp.sock');
    await exec('python3', [
      '-c',
      'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])',
      socket,
    ]);
    expect(existsSync(socket)).toBe(true);
    const child = spawn(process.execPath, [BIN, 'nbd', 'serve', spec, '--socket', socket, '--json'], {
      cwd: ROOT,
      env: cliEnv(home),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    foreground = child;
    let out = '';
    let err = '';
    child.stdout?.on('data', (c) => {
      out += c;
    });
    child.stderr?.on('data', (c) => {
      err += c;
    });
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        exitCode = code;
        resolve(code);
      }),
    );
    const rp = await waitFor(
      `nbd serve ${spec} to print its address`,
      async () => {
        if (exitCode !== undefined) throw new Error(`nbd serve exited (${exitCode}): ${err}`);
        try {
          return JSON.parse(out) as Omit<Serving, 'listen'> & { socket: string };
        } catch {
          return undefined;
        }
      },
      60_000,
    );
    expect(rp.exports).toEqual([
      {
        name: spec,
        volumeId: pair.secondaryVolumeId,
        recoveryPointId: sync.recoveryPointId,
        sizeBytes: 8 * MiB,
        readOnly: true,
      },
    ]);
    expect(rp.socket).toBe(socket);
    const uri = `nbd+unix:///${spec}?socket=${socket}`;
    await exec('nbdcopy', [uri, join(home, 'out.img')], { timeout: 90_000 });
    expect(readFileSync(join(home, 'out.img')).equals(image)).toBe(true);
    const write = await exec('qemu-io', ['-f', 'raw', '-c', 'write 0 4096', uri]).then(
      () => undefined,
      (e: { stderr: string }) => e,
    );
    expect(write?.stderr).toMatch(/Permission denied|read-only/i);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(socket)).toBe(false);
  }, 400_000);
});
