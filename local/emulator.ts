import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const VENV = process.env.VOLMIRROR_EMULATOR_VENV ?? join(ROOT, '.emulator-venv');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** One moto server process on a loopback port. */
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
    const port = await freePort();
    const proc = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const emu = new Emulator(name, port, proc);
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 600 && Date.now() < deadline; i++) {
      if (proc.exitCode !== null) throw new Error(`emulator ${name} exited: ${stderr}`);
      try {
        const res = await fetch(`${emu.url}/moto-api/`);
        if (res.ok) return emu;
      } catch {
        // not listening yet
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
