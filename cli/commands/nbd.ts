import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { ROOT } from '../../local/emulator';
import { isAlive, localHome, readLocalConfig } from '../../local/local-config';
import type { OpenedExport } from '../../shared/nbd/open-export';
import type { ListenAddress, NbdServer } from '../../shared/nbd/server';
import { leaf, onInterrupt, secondsArg } from '../command';
import { CliError } from '../errors';
import { emit, formatBytes, type JsonFlag, run } from '../output';

const BIN = join(ROOT, 'bin', 'volmirror.mjs');
const DEFAULT_LISTEN = '127.0.0.1:10809';
const DETACH_TIMEOUT_S = 60;
const STOP_TIMEOUT_S = 60;

interface ServeFlags extends JsonFlag {
  listen?: { host: string; port: number };
  socket?: string;
  readOnly?: boolean;
  detach?: boolean;
  timeout?: number;
  pidFile?: string;
  config?: string;
}

/** What `--json` prints once the server accepts connections; the pid file holds it too. */
interface Serving {
  exports: {
    name: string;
    volumeId: string;
    recoveryPointId?: string;
    sizeBytes: number;
    readOnly: boolean;
  }[];
  listen?: string;
  socket?: string;
}

/** The detached server's pid file, next to the local config. */
const pidFilePath = () => join(localHome(), 'nbd.pid');
const logPath = () => join(localHome(), 'nbd.log');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hostPort(value: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(value.trim());
  const port = Number(m?.[2]);
  if (!m || !Number.isInteger(port) || port > 65_535) throw new InvalidArgumentError('expected HOST:PORT');
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function servingText(s: Serving): string[] {
  return [
    `volmirror: serving NBD on ${s.listen ? `nbd://${s.listen}` : `nbd+unix:///?socket=${s.socket}`}`,
    ...s.exports.map(
      (e) =>
        `  ${e.name.padEnd(24)} ${formatBytes(e.sizeBytes).padStart(10)}  ${e.readOnly ? 'read-only' : 'read-write'}`,
    ),
  ];
}

interface PidFile extends Serving {
  pid: number;
}

function readPidFile(): PidFile | undefined {
  try {
    return JSON.parse(readFileSync(pidFilePath(), 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
}

/** Whether a pid still runs volmirror: never signal a recycled pid. */
function isVolmirror(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('volmirror');
  } catch {
    return false;
  }
}

/**
 * Opens every export, serves them until SIGINT/SIGTERM, then stops accepting, answers the
 * requests in flight and closes the exports (their final flush, the lease release).
 */
async function serveForeground(specs: string[], o: ServeFlags): Promise<void> {
  const { config } = await dataPlaneConfig(o);
  // Loaded here, not at the top: `volmirror --help` must not parse the AWS SDK.
  const [{ buildClients }, { buildDeps }, { openExport }, { NbdServer }] = await Promise.all([
    import('../../shared/aws/clients'),
    import('../../shared/deps'),
    import('../../shared/nbd/open-export'),
    import('../../shared/nbd/server'),
  ]);
  const clients = buildClients(config);
  const deps = buildDeps(config, clients);
  const opened: OpenedExport[] = [];
  let server: NbdServer | undefined;
  const shutdown = async () => {
    await server?.close();
    // Every export flushes what it acknowledged before its close releases the lease.
    const closed = await Promise.allSettled(opened.map((e) => e.close()));
    clients.destroy();
    if (o.pidFile && readPidFile()?.pid === process.pid) rmSync(o.pidFile, { force: true });
    const failed = closed.find((c) => c.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  };
  try {
    for (const spec of specs) opened.push(await openExport(deps, spec, { readOnly: o.readOnly ?? false }));
    server = new NbdServer(opened);
    if (o.socket) await clearStaleSocket(o.socket);
    const address: ListenAddress = o.socket ? { socket: o.socket } : (o.listen ?? hostPort(DEFAULT_LISTEN));
    const bound = await server.listen(address);
    const serving: Serving = {
      exports: opened.map((e) => ({
        name: e.name,
        volumeId: e.volumeId,
        ...(e.recoveryPointId && { recoveryPointId: e.recoveryPointId }),
        sizeBytes: e.sizeBytes,
        readOnly: e.readOnly,
      })),
      ...('socket' in bound
        ? { socket: bound.socket }
        : { listen: `${bound.host.includes(':') ? `[${bound.host}]` : bound.host}:${bound.port}` }),
    };
    const stopped = new Promise<void>((resolve) => {
      onInterrupt(resolve);
    });
    if (o.pidFile)
      writeFileSync(o.pidFile, JSON.stringify({ pid: process.pid, ...serving }), { mode: 0o600 });
    emit(o, serving, () => [...servingText(serving), '  stop with Ctrl-C']);
    await stopped;
  } catch (e) {
    // The first failure is the one to report (a held lease, an unknown volume).
    await shutdown().catch(() => undefined);
    throw e;
  }
  await shutdown();
}

/** The running local stack's resources, or a deployment config file (see deployment-config.ts). */
async function dataPlaneConfig(o: ServeFlags) {
  const { resolveDataPlaneConfig } = await import('../deployment-config');
  return resolveDataPlaneConfig(o.config, process.env, () => readLocalConfig());
}

/**
 * A socket file left by a server that was killed refuses the bind; one nobody answers on is
 * removed, one that answers belongs to a live server and is not touched.
 */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const answered = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (answered) throw new CliError(`${path} is in use by a running server`);
  rmSync(path, { force: true });
}

/** Starts the server as a background process and returns once it accepts connections. */
async function serveDetached(specs: string[], o: ServeFlags): Promise<void> {
  const existing = readPidFile();
  if (existing && isAlive(existing.pid) && isVolmirror(existing.pid)) {
    throw new CliError(
      `an NBD server is already running (pid ${existing.pid}); stop it with \`volmirror nbd stop\``,
    );
  }
  // Refused here, with the reason, rather than in the child's log.
  await dataPlaneConfig(o);
  mkdirSync(localHome(), { recursive: true, mode: 0o700 });
  rmSync(pidFilePath(), { force: true });
  const log = openSync(logPath(), 'w', 0o600);
  const args = [
    BIN,
    'nbd',
    'serve',
    ...specs,
    ...(o.socket ? ['--socket', o.socket] : []),
    ...(o.listen ? ['--listen', `${o.listen.host}:${o.listen.port}`] : []),
    ...(o.readOnly ? ['--read-only'] : []),
    ...(o.config ? ['--config', resolve(o.config)] : []),
    '--pid-file',
    pidFilePath(),
  ];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  closeSync(log);
  let exited: number | undefined;
  child.on('exit', (code, signal) => {
    exited = code ?? (signal ? 128 : 1);
  });
  child.unref();
  const deadline = Date.now() + (o.timeout ?? DETACH_TIMEOUT_S) * 1000;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const last = readFileSync(logPath(), 'utf8').trim().split('\n').at(-1);
      throw new CliError(
        `volmirror nbd serve exited (code ${exited})${last ? `: ${last}` : ''}; log: ${logPath()}`,
      );
    }
    const ready = readPidFile();
    if (ready && ready.pid === child.pid) {
      const { pid: _pid, ...serving } = ready;
      emit(o, serving, () => [
        ...servingText(serving),
        `  pid ${child.pid}, log ${logPath()}`,
        '  stop with `volmirror nbd stop`',
      ]);
      return;
    }
    await sleep(100);
  }
  if (child.pid) process.kill(child.pid, 'SIGTERM');
  throw new CliError(
    `the NBD server did not start within ${o.timeout ?? DETACH_TIMEOUT_S}s; stopped it; log: ${logPath()}`,
  );
}

async function stop(o: JsonFlag & { timeout?: number }): Promise<void> {
  const served = readPidFile();
  if (!served || !isAlive(served.pid) || !isVolmirror(served.pid)) {
    rmSync(pidFilePath(), { force: true });
    emit(o, { stopped: false, reason: 'no detached NBD server' }, () => 'no detached NBD server is running');
    return;
  }
  process.kill(served.pid, 'SIGTERM');
  const deadline = Date.now() + (o.timeout ?? STOP_TIMEOUT_S) * 1000;
  while (isAlive(served.pid) && Date.now() < deadline) await sleep(100);
  let result = 'stopped';
  if (isAlive(served.pid)) {
    // It could not flush in time: what it acknowledged without a FLUSH may be lost, as on a crash.
    if (isVolmirror(served.pid)) process.kill(served.pid, 'SIGKILL');
    result = 'killed (it did not stop in time)';
  }
  rmSync(pidFilePath(), { force: true });
  emit(
    o,
    { stopped: true, pid: served.pid, result },
    () => `volmirror: NBD server (pid ${served.pid}) ${result}`,
  );
}

export function registerNbd(program: Command): void {
  const nbd = program.command('nbd').description('block access: serve volumes and recovery points over NBD');

  leaf(nbd, 'serve', 'serve volumes (VOLUME, or VOLUME@rp-... read-only) as NBD exports named as given')
    .argument('<volumes...>', 'volume names or ids, each optionally @rp-NNNNNN')
    .option('--listen <host:port>', `TCP address to listen on (default ${DEFAULT_LISTEN})`, hostPort)
    .option('--socket <path>', 'listen on this Unix socket instead of TCP')
    .option('--read-only', 'serve every export read-only (a primary at its latest committed RP)')
    .option(
      '--config <file>',
      'deployment config (its VOLMIRROR_CONFIG JSON) to serve from instead of the local stack; default $VOLMIRROR_CONFIG_FILE',
    )
    .option('--detach', 'run in the background (log: .volmirror/nbd.log) and return once accepting')
    .option(
      '--timeout <seconds>',
      `with --detach, how long to wait for it to accept (default ${DETACH_TIMEOUT_S})`,
      secondsArg,
    )
    .addOption(new Option('--pid-file <path>').hideHelp())
    .action(
      run(async (specs: string[], o: ServeFlags) => {
        if (o.listen && o.socket) throw new CliError('--listen and --socket are exclusive');
        if (o.detach) await serveDetached(specs, o);
        else await serveForeground(specs, o);
      }),
    );

  leaf(nbd, 'stop', 'stop the server `nbd serve --detach` started (it flushes first)')
    .option(
      '--timeout <seconds>',
      `how long to wait for a clean stop before killing (default ${STOP_TIMEOUT_S})`,
      secondsArg,
    )
    .action(run(stop));
}
