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
 * moto's server with DynamoDB requests handled one at a time. moto serves requests on threads
 * and evaluates a condition expression and applies the write in separate steps, so two
 * concurrent conditional writes could both pass (seen: 7 of 200 rounds of 4 racing
 * `attribute_not_exists` updates had two winners); DynamoDB applies each one atomically, and
 * every fencing rule here relies on that. S3 and SQS requests (SQS long polls) stay concurrent.
 * The `moto_server` argument keeps the process recognisable as an emulator (killLeftoverEmulators).
 */
const SERIALIZED_MOTO = `
import sys, threading
from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
lock = threading.Lock()
call = DomainDispatcherApplication.__call__
def serialized(self, environ, start_response):
    if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
        with lock:
            return call(self, environ, start_response)
    return call(self, environ, start_response)
DomainDispatcherApplication.__call__ = serialized
server.main(sys.argv[2:])
`;

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
    const proc = spawn(
      join(VENV, 'bin', 'python'),
      ['-c', SERIALIZED_MOTO, 'moto_server', '-H', '127.0.0.1', '-p', '0'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, MOTO_ALLOW_NONEXISTENT_REGION: 'true' },
      },
    );
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
