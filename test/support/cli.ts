import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../local/emulator';

/** The built CLI, run as a user runs it: `node bin/volmirror.mjs`. */
export const BIN = join(ROOT, 'bin', 'volmirror.mjs');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end with a bounded run time; a non-zero exit is a result, not a throw. */
export function run(
  file: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The embedded stack of `home`, whatever the developer's shell points the CLI at. */
export function cliEnv(home: string): NodeJS.ProcessEnv {
  const { AWS_ENDPOINT_URL: _endpoint, VOLMIRROR_API_URL: _api, ...env } = process.env;
  return { ...env, VOLMIRROR_HOME: home };
}

/** `volmirror ARGS` in its own process, with its own home. */
export function cli(home: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return run(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(home), timeoutMs });
}

/** `volmirror ARGS --json`, parsed; a failed command throws with its stderr. */
export async function cliJson<T>(home: string, args: string[], timeoutMs?: number): Promise<T> {
  const r = await cli(home, [...args, '--json'], timeoutMs);
  if (r.code !== 0) throw new Error(`volmirror ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether every process in `pids` has exited within `timeoutMs`. */
export async function gone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every((p) => !alive(p))) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids.every((p) => !alive(p));
}
