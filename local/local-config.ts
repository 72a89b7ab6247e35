import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MirrorConfig } from '../shared/config';
import { ROOT } from './emulator';
import type { Topology } from './stack';

/**
 * What `volmirror up` leaves for the other commands: where the API is, its bearer token,
 * and the resource config the data-plane commands build their own clients from.
 */
export interface LocalConfig {
  apiUrl: string;
  token: string;
  config: MirrorConfig;
  /** The `up` process: `down` waits for it to exit. */
  pid: number;
  /** [primary site, secondary site] of the default layout. */
  sites: [string, string];
  /** Per site, the S3-compatible endpoint (the link proxy when emulators are embedded). */
  endpoints: Record<string, string>;
  /** Loopback admin server of `up`: link faults and shutdown. */
  adminUrl: string;
  /** Emulator processes, so that `down` can still clean up after an `up` that was killed. */
  emulatorPids: number[];
  topology: Topology | 'endpoint';
  startedAt: string;
}

/** $VOLMIRROR_HOME, or `.volmirror/` under the repository root (gitignored). */
export function localHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.VOLMIRROR_HOME || join(ROOT, '.volmirror');
}

export function localConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(localHome(env), 'local.json');
}

export function readLocalConfig(env: NodeJS.ProcessEnv = process.env): LocalConfig | undefined {
  let text: string;
  try {
    text = readFileSync(localConfigPath(env), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const parsed = JSON.parse(text) as Partial<LocalConfig>;
  if (!parsed.apiUrl || !parsed.token || !parsed.config || !parsed.adminUrl) {
    throw new Error(`${localConfigPath(env)} is incomplete; remove it and run \`volmirror up\` again`);
  }
  return parsed as LocalConfig;
}

/**
 * Written to a temporary file and renamed, so a reader (the `up --detach` parent, a CLI
 * command) never sees half a file; mode 0600 because it holds the API token.
 */
export function writeLocalConfig(config: LocalConfig, env: NodeJS.ProcessEnv = process.env): string {
  const home = localHome(env);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const path = localConfigPath(env);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // The mode option only applies when the file is created; make sure of it anyway.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

export function removeLocalConfig(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(localConfigPath(env), { force: true });
}

/** Whether a process exists (the `up` process named by the config, an emulator). */
export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
