import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../local/emulator';
import type { LocalConfig } from '../../local/local-config';
import { MAX_BACKLOG_LIMIT_SECONDS } from '../../shared/domain/group-rules';

const BIN = join(ROOT, 'bin', 'volmirror.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface GroupJson {
  id: string;
  name: string;
  backlogLimitBytes?: number;
  backlogLimitSeconds?: number;
}

/** The CLI as a user runs it, against the embedded emulators, with a bounded run time. */
function cli(home: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  const { AWS_ENDPOINT_URL: _ignored, ...env } = process.env;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, timeout: timeoutMs, env: { ...env, VOLMIRROR_HOME: home } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function json<T>(home: string, args: string[], timeoutMs?: number): Promise<T> {
  const r = await cli(home, [...args, '--json'], timeoutMs);
  if (r.code !== 0) throw new Error(`volmirror ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

function expectRefused(r: Run, text: string): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(text);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const SITES = ['--primary-site', 'east', '--secondary-site', 'west'];

describe('volmirror group --backlog-limit and --backlog-limit-age', () => {
  const home = mkdtempSync(join(tmpdir(), 'volmirror-backlog-'));
  let local: LocalConfig | undefined;

  beforeAll(async () => {
    await json(home, ['up', '--detach', '--timeout', '90'], 100_000);
    local = JSON.parse(readFileSync(join(home, 'local.json'), 'utf8')) as LocalConfig;
  }, 120_000);

  afterAll(async () => {
    await cli(home, ['down'], 70_000);
    // Last resort, should `down` itself have failed: nothing of ours may keep running.
    for (const pid of [local?.pid, ...(local?.emulatorPids ?? [])]) {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(home, { recursive: true, force: true });
  }, 90_000);

  it('creates a group with both limits, shows them, and changes them with group set', async () => {
    const g = await json<GroupJson>(home, [
      'group',
      'create',
      'limited',
      ...SITES,
      '--backlog-limit',
      '256MiB',
      '--backlog-limit-age',
      '12h',
    ]);
    expect(g.backlogLimitBytes).toBe(256 * 1024 * 1024);
    expect(g.backlogLimitSeconds).toBe(12 * 3600);
    const shown = await json<GroupJson>(home, ['group', 'show', 'limited']);
    expect(shown).toMatchObject({ backlogLimitBytes: 256 * 1024 * 1024, backlogLimitSeconds: 43_200 });
    const text = await cli(home, ['group', 'show', 'limited']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/backlog limit:\s+256(\.0)? MiB/);
    expect(text.stdout).toMatch(/backlog age limit:\s+43200s/);

    const set = await json<GroupJson>(home, ['group', 'set', 'limited', '--backlog-limit-age', '900']);
    expect(set.backlogLimitSeconds).toBe(900);
    expect(set.backlogLimitBytes).toBe(256 * 1024 * 1024);
    // The highest age limit is accepted as a number of seconds.
    const max = await json<GroupJson>(home, [
      'group',
      'set',
      'limited',
      '--backlog-limit-age',
      String(MAX_BACKLOG_LIMIT_SECONDS),
    ]);
    expect(max.backlogLimitSeconds).toBe(MAX_BACKLOG_LIMIT_SECONDS);
  });

  it('refuses bad limits with one clear line and creates nothing', async () => {
    const before = await json<GroupJson[]>(home, ['group', 'list']);
    const cases: [string[], string][] = [
      [['--backlog-limit', 'lots'], '--backlog-limit'],
      [['--backlog-limit', '0'], 'backlog'],
      [['--backlog-limit-age', '0'], '--backlog-limit-age'],
      [['--backlog-limit-age', '2w'], '--backlog-limit-age'],
      [['--backlog-limit-age', '-5'], '--backlog-limit-age'],
      // Past the change queue's retention less an hour: refused by the API with the bound.
      [['--backlog-limit-age', '14d'], String(MAX_BACKLOG_LIMIT_SECONDS)],
    ];
    for (const [flags, text] of cases) {
      expectRefused(await cli(home, ['group', 'create', 'bad', ...SITES, ...flags]), text);
    }
    const after = await json<GroupJson[]>(home, ['group', 'list']);
    expect(after.map((g) => g.id)).toEqual(before.map((g) => g.id));
    expect(after.some((g) => g.name === 'bad')).toBe(false);
    // A refused change leaves the group as it was.
    await json(home, ['group', 'create', 'kept', ...SITES, '--backlog-limit-age', '1h']);
    expectRefused(
      await cli(home, ['group', 'set', 'kept', '--backlog-limit-age', '15d']),
      String(MAX_BACKLOG_LIMIT_SECONDS),
    );
    expect((await json<GroupJson>(home, ['group', 'show', 'kept'])).backlogLimitSeconds).toBe(3600);
  });
});
