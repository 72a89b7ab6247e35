import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDbRouter } from './dynamodb-router';
import { ROOT } from './emulator';

const VENV = process.env.VOLMIRROR_LOCALSTACK_VENV ?? join(ROOT, '.localstack-venv');
const DYNAMODB_LOCAL = process.env.VOLMIRROR_DYNAMODB_LOCAL ?? join(ROOT, '.dynamodb-local');
const PORT_TRIES = 3;

/** A server process in its own process group, so that stopping it also stops what it spawned. */
class ServerProcess {
  private output = '';
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((r) => proc.once('exit', () => r()));
    const keep = (d: Buffer) => {
      this.output = (this.output + d.toString()).slice(-8000);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
  }

  static spawn(name: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }) {
    return new ServerProcess(
      name,
      spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true }),
    );
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get log(): string {
    return this.output;
  }

  /** Polls until `ready` says so; fails when the process exits first or the time is up. */
  async waitReady(ready: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`${this.name} exited before it was ready:\n${this.output}`);
      }
      if (await ready()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${this.name} was not ready in ${timeoutMs} ms:\n${this.output}`);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null || !this.proc.pid) return;
    this.signal('SIGTERM');
    const killed = setTimeout(() => this.signal('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killed);
  }

  private signal(sig: NodeJS.Signals): void {
    try {
      if (this.proc.pid) process.kill(-this.proc.pid, sig);
    } catch {
      // already gone
    }
  }
}

async function answersHttp(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * A port is picked by binding 0 and the server then binds it itself; another process can take
 * the port in between, so a start that fails on a taken port is tried again on a new one.
 */
async function onFreePort(name: string, start: (port: number) => Promise<ServerProcess>) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, server: await start(port) };
    } catch (e) {
      const taken = /address already in use|BindException|Errno 98/i.test((e as Error).message);
      if (!taken || attempt >= PORT_TRIES) throw e;
      console.error(`${name}: port ${port} was taken, trying another`);
    }
  }
}

/** A port the kernel had free a moment ago (for servers that cannot bind 0 and report it). */
function freePort(): Promise<number> {
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

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await run();
  return { value, ms: Date.now() - t0 };
}

/** Like Promise.all, but settles every promise first, so nothing is still starting when it throws. */
async function settledAll<T extends unknown[]>(ps: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}

export interface HostLocalStackTimings {
  /** From spawning LocalStack to its "Ready." line (both servers start at the same time). */
  localstackMs: number;
  dynamodbMs: number;
}

/**
 * LocalStack's open-source core (S3, SQS) and DynamoDB Local running on the host, without
 * Docker, behind one loopback endpoint. Installed by scripts/setup-localstack.sh.
 */
export class HostLocalStack {
  private constructor(
    private readonly servers: ServerProcess[],
    private readonly router: DynamoDbRouter,
    private readonly volumeDir: string,
    readonly timings: HostLocalStackTimings,
  ) {}

  /** The one AWS endpoint (S3, SQS, DynamoDB) to give to `LocalStack.start({ endpoint })`. */
  get endpoint(): string {
    return this.router.url;
  }

  get pids(): number[] {
    return this.servers.flatMap((s) => (s.pid ? [s.pid] : []));
  }

  static async start(opts: { timeoutMs?: number } = {}): Promise<HostLocalStack> {
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const python = join(VENV, 'bin', 'python');
    if (!existsSync(python) || !existsSync(join(DYNAMODB_LOCAL, 'lib'))) {
      throw new Error('LocalStack host stack not installed; run: bash scripts/setup-localstack.sh');
    }
    const volumeDir = mkdtempSync(join(tmpdir(), 'volmirror-localstack-'));
    const servers: ServerProcess[] = [];
    try {
      // Both start at once: DynamoDB Local's JVM and LocalStack's Python take about as long.
      const [dynamodb, localstack] = await settledAll([
        timed(() =>
          onFreePort('DynamoDB Local', async (port) => {
            const s = ServerProcess.spawn(
              'DynamoDB Local',
              'java',
              [
                '-Djava.library.path=lib',
                '-cp',
                'lib/*',
                'com.amazonaws.services.dynamodbv2.local.main.ServerRunner',
                '-inMemory',
                '-port',
                String(port),
              ],
              { cwd: DYNAMODB_LOCAL },
            );
            servers.push(s);
            await s.waitReady(() => answersHttp(port), timeoutMs);
            return s;
          }),
        ),
        timed(() =>
          onFreePort('LocalStack', async (port) => {
            const s = ServerProcess.spawn('LocalStack', python, ['-m', 'localstack.runtime.main'], {
              env: {
                ...process.env,
                GATEWAY_LISTEN: `127.0.0.1:${port}`,
                SERVICES: 's3,sqs',
                LOCALSTACK_VOLUME_DIR: volumeDir,
                // Loopback only and nothing fetched: no DNS server on :53, no analytics, no certificate download.
                DNS_ADDRESS: '0',
                DISABLE_EVENTS: '1',
                SKIP_SSL_CERT_DOWNLOAD: '1',
              },
            });
            servers.push(s);
            await s.waitReady(() => /^Ready\.$/m.test(s.log), timeoutMs);
            return s;
          }),
        ),
      ]);
      const router = await DynamoDbRouter.start({
        dynamodbPort: dynamodb.value.port,
        otherPort: localstack.value.port,
      });
      return new HostLocalStack(servers, router, volumeDir, {
        localstackMs: localstack.ms,
        dynamodbMs: dynamodb.ms,
      });
    } catch (e) {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(volumeDir, { recursive: true, force: true });
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.router.stop();
    await Promise.all(this.servers.map((s) => s.stop()));
    rmSync(this.volumeDir, { recursive: true, force: true });
  }
}
