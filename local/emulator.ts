import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const VENV = process.env.VOLMIRROR_EMULATOR_VENV ?? join(ROOT, '.emulator-venv');

/**
 * Werkzeug's startup line, which names the port the server bound (the real one when asked for
 * 0); up to the line end, so a line split across two reads is never taken for a shorter port.
 */
const LISTENING = /Running on http:\/\/127\.0\.0\.1:(\d+)\r?\n/;

/**
 * One moto server process on a loopback port. moto binds port 0 itself and reports the port
 * it got, so parallel test files never race for a port picked, closed and handed over.
 */
export class Emulator {
  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly proc: ChildProcess,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(name: string, timeoutMs = 30_000): Promise<Emulator> {
    const bin = join(VENV, 'bin', 'moto_server');
    if (!existsSync(bin)) {
      throw new Error(`AWS emulator not installed at ${VENV}; run: npm run emulator:setup`);
    }
    const proc = spawn(bin, ['-H', '127.0.0.1', '-p', '0'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
    });
    let stderr = '';
    let port: number | undefined;
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
      port ??= Number(LISTENING.exec(stderr)?.[1]) || undefined;
    });
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 600 && Date.now() < deadline; i++) {
      if (proc.exitCode !== null) throw new Error(`emulator ${name} exited: ${stderr}`);
      if (port !== undefined) {
        const emu = new Emulator(name, port, proc);
        try {
          const res = await fetch(`${emu.url}/moto-api/`);
          if (res.ok) return emu;
        } catch {
          // bound but not answering yet
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    proc.kill('SIGKILL');
    throw new Error(`emulator ${name} did not become healthy in ${timeoutMs} ms: ${stderr}`);
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
