import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { ROOT } from '../../local/emulator';
import {
  isAlive,
  type LocalConfig,
  localConfigPath,
  localHome,
  readLocalConfig,
  removeLocalConfig,
} from '../../local/local-config';
import type { UpInfo } from '../../local/up';
import { leaf, secondsArg } from '../command';
import { CliError } from '../errors';
import { emit, type JsonFlag, run } from '../output';

const BIN = join(ROOT, 'bin', 'volmirror.mjs');
const DETACH_TIMEOUT_S = 120;
const DOWN_TIMEOUT_S = 60;

interface UpFlags extends JsonFlag {
  endpoint?: string;
  detach?: boolean;
  topology: 'per-site' | 'shared';
  timeout?: number;
}

function readyText(info: UpInfo, extra: string[] = []): string[] {
  return [
    `volmirror: local stack ready (pid ${info.pid}, ${info.topology === 'endpoint' ? 'external endpoint' : `${info.topology} emulators`})`,
    `  API       ${info.apiUrl}`,
    ...info.sites.map(
      (s, i) => `  ${`${s} (${i === 0 ? 'primary' : 'secondary'})`.padEnd(20)}${info.endpoints[s]}`,
    ),
    `  config    ${info.configPath}`,
    ...extra,
  ];
}

const infoOf = (c: LocalConfig): UpInfo => ({
  apiUrl: c.apiUrl,
  sites: c.sites,
  endpoints: c.endpoints,
  adminUrl: c.adminUrl,
  pid: c.pid,
  topology: c.topology,
  configPath: localConfigPath(),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

function refuseIfRunning(): void {
  const existing = readLocalConfig();
  if (existing && isAlive(existing.pid)) {
    throw new CliError(
      `a local stack is already running (pid ${existing.pid}, API ${existing.apiUrl}); stop it with \`volmirror down\``,
    );
  }
}

/** Runs in this process until Ctrl-C (or `volmirror down`). */
async function upForeground(o: UpFlags): Promise<void> {
  // The local stack (AWS SDK, API server, runtime) loads only when `up` runs, not for --help.
  const { runUp } = await import('../../local/up');
  const running = await runUp({ endpoint: o.endpoint, topology: o.topology });
  // An unexpected crash must not leave emulators behind.
  const crash = (e: unknown) => {
    process.stderr.write(`volmirror: crashed: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exitCode = 1;
    void running.stop('crash');
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  const { adminUrl: _admin, ...shown } = running.info;
  emit(o, shown, () => readyText(running.info, ['  stop with Ctrl-C or `volmirror down`']));
  await running.stopped;
}

/**
 * Starts `volmirror up` as a detached child logging to up.log, and returns once its config
 * is written and its API answers. A child that dies early is reported with its last log line.
 */
async function upDetached(o: UpFlags): Promise<void> {
  refuseIfRunning();
  const home = localHome();
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const logPath = join(home, 'up.log');
  const log = openSync(logPath, 'w', 0o600);
  const args = [BIN, 'up', '--topology', o.topology, ...(o.endpoint ? ['--endpoint', o.endpoint] : [])];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  closeSync(log);
  let exited: number | null | undefined;
  child.on('exit', (code, signal) => {
    exited = code ?? (signal ? 128 : 1);
  });
  child.unref();
  const deadline = Date.now() + (o.timeout ?? DETACH_TIMEOUT_S) * 1000;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      const last = lastLine(logPath);
      throw new CliError(`volmirror up exited (code ${exited})${last ? `: ${last}` : ''}; log: ${logPath}`);
    }
    const cfg = readLocalConfig();
    if (cfg && cfg.pid === child.pid && (await healthy(cfg.apiUrl))) {
      const info = infoOf(cfg);
      const { adminUrl: _admin, ...shown } = info;
      emit(o, { ...shown, logFile: logPath }, () =>
        readyText(info, [`  log       ${logPath}`, '  stop with `volmirror down`']),
      );
      return;
    }
    await sleep(200);
  }
  // It did not get ready in time: stop it, so nothing is left running.
  if (child.pid) process.kill(child.pid, 'SIGTERM');
  throw new CliError(
    `the local stack did not become ready within ${o.timeout ?? DETACH_TIMEOUT_S}s; stopped it; log: ${logPath}`,
  );
}

function lastLine(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    return lines.at(-1) ?? '';
  } catch {
    return '';
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

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

async function down(o: JsonFlag & { timeout?: number }): Promise<void> {
  let local: LocalConfig | undefined;
  try {
    local = readLocalConfig();
  } catch (e) {
    // An unreadable file cannot name anything to stop: clear it so `up` can start again.
    removeLocalConfig();
    throw new CliError(`removed an unreadable local config: ${(e as Error).message}`);
  }
  if (!local) {
    emit(o, { stopped: false, reason: 'no local stack' }, () => 'no local stack is running');
    return;
  }
  const { pid } = local;
  const timeoutMs = (o.timeout ?? DOWN_TIMEOUT_S) * 1000;
  let how = 'not running (stale config cleaned up)';
  if (isAlive(pid)) {
    how = 'stopped';
    try {
      const res = await fetch(`${local.adminUrl}/shutdown`, {
        method: 'POST',
        headers: { authorization: `Bearer ${local.token}` },
        signal: AbortSignal.timeout(5000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch {
      // The admin server is gone or stuck: a signal runs the same shutdown.
      if (isVolmirror(pid)) process.kill(pid, 'SIGTERM');
    }
    if (!(await waitGone(pid, timeoutMs))) {
      if (isVolmirror(pid)) process.kill(pid, 'SIGKILL');
      how = 'killed (it did not stop in time)';
      await waitGone(pid, 5000);
    }
  }
  const { killLeftoverEmulators } = await import('../../local/up');
  const killed = killLeftoverEmulators(local.emulatorPids ?? []);
  if (readLocalConfig()?.pid === pid) removeLocalConfig();
  emit(
    o,
    { stopped: true, pid, result: how, killedEmulators: killed },
    () =>
      `volmirror: local stack (pid ${pid}) ${how}${killed.length ? `; killed ${killed.length} leftover emulator(s)` : ''}`,
  );
}

export function registerUp(program: Command): void {
  leaf(program, 'up', 'start the embedded local stack (emulators, runtime, API); runs until Ctrl-C')
    .option(
      '--endpoint <url>',
      'use this AWS-compatible endpoint (e.g. LocalStack) instead of emulators; default $AWS_ENDPOINT_URL',
    )
    .option('--detach', 'run in the background (log: .volmirror/up.log) and return once ready')
    .addOption(
      new Option('--topology <topology>', 'one emulator per site (+ control), or one shared emulator')
        .choices(['per-site', 'shared'])
        .default('per-site'),
    )
    .option(
      '--timeout <seconds>',
      `with --detach, how long to wait for readiness (default ${DETACH_TIMEOUT_S})`,
      secondsArg,
    )
    .action(run(async (o: UpFlags) => (o.detach ? upDetached(o) : upForeground(o))));

  leaf(program, 'down', 'stop what `volmirror up` started')
    .option(
      '--timeout <seconds>',
      `how long to wait for a clean stop before killing (default ${DOWN_TIMEOUT_S})`,
      secondsArg,
    )
    .action(run(down));
}
