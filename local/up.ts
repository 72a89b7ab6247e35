import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { interactiveLogger } from '../lambdas/observability';
import { buildClients, type Clients } from '../shared/aws/clients';
import { buildDeps } from '../shared/deps';
import { LocalApiServer } from './http-server';
import type { Degradation } from './link-proxy';
import {
  isAlive,
  type LocalConfig,
  readLocalConfig,
  removeLocalConfig,
  writeLocalConfig,
} from './local-config';
import { LocalRuntime } from './runtime';
import { LocalStack, type Topology } from './stack';

export interface UpOptions {
  /** An AWS-compatible endpoint (e.g. LocalStack) instead of the embedded emulators. */
  endpoint?: string;
  topology?: Topology;
  env?: NodeJS.ProcessEnv;
  /** Where the stack's own log lines go (stderr by default; the log file when detached). */
  log?: (line: string) => void;
  /** Install SIGINT/SIGTERM/SIGHUP handlers that stop the stack (the CLI does; tests may not). */
  handleSignals?: boolean;
}

export interface UpInfo {
  apiUrl: string;
  sites: [string, string];
  endpoints: Record<string, string>;
  adminUrl: string;
  pid: number;
  topology: LocalConfig['topology'];
  configPath: string;
}

export interface RunningStack {
  info: UpInfo;
  /** Resolves once everything is stopped and the local config is removed. */
  readonly stopped: Promise<void>;
  stop(reason: string): Promise<void>;
}

const RUNTIME_STOP_MS = 20_000;
const SHUTDOWN_MS = 40_000;

/**
 * Kills emulator processes left by an `up` that died without cleaning up. The command line
 * is checked first, so a recycled pid of an unrelated process is never signalled.
 */
export function killLeftoverEmulators(pids: number[]): number[] {
  const killed: number[] = [];
  for (const pid of pids) {
    if (!isAlive(pid)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmdline.includes('moto_server')) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  return killed;
}

/**
 * Starts the embedded local stack: emulators (or the given endpoint), the local runtime
 * (pollers, scheduler, workers), the REST API with a fresh bearer token, and a loopback
 * admin server for `volmirror local link` and `volmirror down`. Writes the local config
 * last, so its presence means "ready".
 */
export async function runUp(opts: UpOptions = {}): Promise<RunningStack> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const existing = readLocalConfig(env);
  if (existing && isAlive(existing.pid)) {
    throw new Error(
      `a local stack is already running (pid ${existing.pid}, API ${existing.apiUrl}); stop it with \`volmirror down\``,
    );
  }
  if (existing) {
    // The previous `up` died without cleaning up: reap its emulators before starting anew.
    const killed = killLeftoverEmulators(existing.emulatorPids ?? []);
    log(
      `volmirror: replacing the config of a stopped stack (pid ${existing.pid}); killed ${killed.length} leftover emulator(s)`,
    );
    removeLocalConfig(env);
  }
  const endpoint = opts.endpoint ?? (env.AWS_ENDPOINT_URL || undefined);
  if (endpoint) checkEndpoint(endpoint);
  const topology = opts.topology ?? 'per-site';

  // Everything started so far, stopped in reverse order if a later step fails.
  let stack: LocalStack | undefined;
  let clients: Clients | undefined;
  let runtime: LocalRuntime | undefined;
  let api: LocalApiServer | undefined;
  let admin: Server | undefined;
  let errorTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });

  const teardown = async (): Promise<void> => {
    if (errorTimer) clearInterval(errorTimer);
    // Healed first so that pollers blocked on a cut link return promptly.
    if (stack && Object.keys(stack.proxies).length > 0) stack.heal();
    if (runtime) {
      const r = runtime;
      await withTimeout(r.stop(), RUNTIME_STOP_MS, () => log('volmirror: runtime did not stop in time'));
    }
    await api?.stop();
    clients?.destroy();
    await stack?.stop();
    if (admin) {
      const a = admin;
      a.closeAllConnections();
      await new Promise<void>((r) => a.close(() => r()));
    }
  };

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      log(`volmirror: stopping (${reason})`);
      // A hard bound: whatever hangs, the emulators die and the process can exit.
      const guard = setTimeout(() => {
        log('volmirror: shutdown took too long; killing the emulators');
        if (stack) killLeftoverEmulators(stack.pids);
      }, SHUTDOWN_MS);
      guard.unref();
      try {
        await teardown();
      } catch (e) {
        log(`volmirror: error while stopping: ${(e as Error).message}`);
        if (stack) killLeftoverEmulators(stack.pids);
      } finally {
        clearTimeout(guard);
        // Only our own file: a config naming another pid belongs to another `up`.
        if (readLocalConfigSafe(env)?.pid === process.pid) removeLocalConfig(env);
        removeSignalHandlers();
        log('volmirror: stopped');
        resolveStopped();
      }
    })();
    return stopping;
  };

  const signalHandlers: [NodeJS.Signals, () => void][] = [];
  const removeSignalHandlers = () => {
    for (const [sig, h] of signalHandlers) process.off(sig, h);
  };
  if (opts.handleSignals !== false) {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
      const h = () => {
        if (stopping) {
          // A second Ctrl-C: do not wait any longer.
          if (stack) killLeftoverEmulators(stack.pids);
          process.exit(130);
        }
        void stop(sig);
      };
      signalHandlers.push([sig, h]);
      process.on(sig, h);
    }
  }

  try {
    // Alerts on, so that events also go to SNS and groups get their alarms, as deployed.
    stack = await LocalStack.start({ topology, endpoint, alerts: true });
    clients = buildClients(stack.config);
    const deps = buildDeps(stack.config, clients);
    runtime = new LocalRuntime(deps, { logger: interactiveLogger() }).start();
    const rt = runtime;
    // The runtime keeps its errors in memory; surface them in the log as they come.
    errorTimer = setInterval(() => {
      for (const e of rt.errors.splice(0)) log(`volmirror runtime: ${e}`);
    }, 2000);
    errorTimer.unref();
    const token = randomBytes(24).toString('hex');
    api = await LocalApiServer.start(deps, token);
    const s = stack;
    admin = await startAdmin(token, {
      link: (action, site, degradation) => {
        if (action === 'cut') s.cut(site);
        else if (action === 'degrade' && degradation) s.degrade(degradation, site);
        else s.heal(site);
        return Object.fromEntries(
          Object.entries(s.proxies).map(([n, p]) => [n, p.isCut ? 'cut' : p.degraded ? 'degraded' : 'up']),
        );
      },
      shutdown: () => void stop('shutdown requested'),
    });
    const addr = admin.address();
    const adminUrl = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : '';
    const sites = stack.config.sites.map((x) => x.name) as [string, string];
    const endpoints = Object.fromEntries(stack.config.sites.map((x) => [x.name, x.endpoint ?? '']));
    const local: LocalConfig = {
      apiUrl: api.url,
      token,
      config: stack.config,
      pid: process.pid,
      sites,
      endpoints,
      adminUrl,
      emulatorPids: stack.pids,
      topology: endpoint ? 'endpoint' : topology,
      startedAt: new Date().toISOString(),
    };
    const configPath = writeLocalConfig(local, env);
    return {
      info: {
        apiUrl: local.apiUrl,
        sites,
        endpoints,
        adminUrl,
        pid: process.pid,
        topology: local.topology,
        configPath,
      },
      stopped,
      stop,
    };
  } catch (e) {
    await stop(`startup failed: ${(e as Error).message}`);
    throw e;
  }
}

function checkEndpoint(endpoint: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new Error(`--endpoint: ${JSON.stringify(endpoint)} is not a URL (e.g. http://127.0.0.1:4566)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`--endpoint: ${endpoint} must be an http:// or https:// URL`);
  }
}

function readLocalConfigSafe(env: NodeJS.ProcessEnv): LocalConfig | undefined {
  try {
    return readLocalConfig(env);
  } catch {
    return undefined;
  }
}

async function withTimeout(work: Promise<unknown>, ms: number, onTimeout: () => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((r) => {
    timer = setTimeout(() => {
      onTimeout();
      r();
    }, ms);
  });
  await Promise.race([work.then(() => undefined), timeout]);
  clearTimeout(timer);
}

interface AdminActions {
  link(
    action: 'cut' | 'heal' | 'degrade',
    site: string | undefined,
    degradation?: Degradation,
  ): Record<string, 'cut' | 'degraded' | 'up'>;
  shutdown(): void;
}

/**
 * Loopback-only control of the `up` process itself. It takes the API's bearer token too:
 * the config file holding it is readable by its owner only.
 */
function startAdmin(token: string, actions: AdminActions): Promise<Server> {
  const server = createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const error = (status: number, code: string, message: string) =>
      send(status, { error: { code, message } });
    try {
      if (req.headers.authorization !== `Bearer ${token}`) {
        return error(401, 'unauthorized', 'missing or wrong bearer token');
      }
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (req.method === 'GET' && path === '/health') return send(200, { status: 'ok', pid: process.pid });
      if (req.method !== 'POST') return error(400, 'method-not-allowed', `${req.method} is not supported`);
      if (path === '/shutdown') {
        send(202, { stopping: true, pid: process.pid });
        // After the answer is out: the server closes as part of the shutdown.
        res.on('finish', () => actions.shutdown());
        return;
      }
      if (path === '/link') {
        const body = await readJson(req, res);
        if (!body) return;
        const { action, site } = body as { action?: unknown; site?: unknown };
        if (action !== 'cut' && action !== 'heal' && action !== 'degrade') {
          return error(400, 'bad-action', 'action must be "cut", "heal" or "degrade"');
        }
        if (site !== undefined && typeof site !== 'string') {
          return error(400, 'bad-site', 'site must be a site name');
        }
        let degradation: Degradation | undefined;
        if (action === 'degrade') {
          const parsed = parseDegradation(body as Record<string, unknown>);
          if (typeof parsed === 'string') return error(400, 'bad-degradation', parsed);
          degradation = parsed;
        }
        try {
          const links = actions.link(action, site, degradation);
          return send(200, {
            action,
            sites: site ? [site] : Object.keys(links),
            links,
            ...(degradation && { degradation }),
          });
        } catch (e) {
          const message = (e as Error).message;
          return error(message.startsWith('unknown site') ? 400 : 409, 'link-fault-refused', message);
        }
      }
      return error(404, 'route-not-found', `route ${path} does not exist`);
    } catch (e) {
      return error(500, 'internal', String(e));
    }
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** The degrade request's fields, defaulted, or why they are refused. */
function parseDegradation(body: Record<string, unknown>): Degradation | string {
  const { errorRate, status = 503, delayMs = 0 } = body;
  if (typeof errorRate !== 'number' || !(errorRate >= 0 && errorRate <= 1)) {
    return 'errorRate must be a number from 0 to 1';
  }
  if (status !== 503 && status !== 500) return 'status must be 503 or 500';
  if (typeof delayMs !== 'number' || !Number.isInteger(delayMs) || delayMs < 0 || delayMs > 60_000) {
    return 'delayMs must be an integer from 0 to 60000';
  }
  return { errorRate, status, delayMs };
}

async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of req) {
    size += (part as Buffer).length;
    if (size > 64 * 1024) break;
    parts.push(part as Buffer);
  }
  try {
    const text = Buffer.concat(parts).toString('utf8');
    const parsed: unknown = text ? JSON.parse(text) : {};
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed;
  } catch {
    // answered below
  }
  res.writeHead(400, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: 'bad-json', message: 'body must be a JSON object' } }));
  return undefined;
}
