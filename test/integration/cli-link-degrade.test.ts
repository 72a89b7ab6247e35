import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalConfig } from '../../local/local-config';
import { cli, cliJson, type Run } from '../support/cli';

function expectRefused(r: Run, text: string): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toContain(text);
}

interface LinkAnswer {
  links: Record<string, string>;
  degradation?: { errorRate: number; status: number; delayMs: number };
}

describe('volmirror local link degrade', () => {
  const home = mkdtempSync(join(tmpdir(), 'volmirror-degrade-'));
  let local: LocalConfig | undefined;

  beforeAll(async () => {
    await cliJson(home, ['up', '--detach', '--timeout', '90'], 100_000);
    local = JSON.parse(readFileSync(join(home, 'local.json'), 'utf8')) as LocalConfig;
  }, 120_000);

  afterAll(async () => {
    await cli(home, ['down'], 70_000);
    for (const pid of [local?.pid, ...(local?.emulatorPids ?? [])]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(home, { recursive: true, force: true });
  }, 90_000);

  it('fails every request to a site at rate 1, and heal restores it', async () => {
    const volume = await cliJson<{ id: string }>(home, [
      'volume',
      'create',
      'd',
      '--site',
      'west',
      '--size',
      '1MiB',
    ]);
    const degraded = await cliJson<LinkAnswer>(home, [
      'local',
      'link',
      'degrade',
      '--site',
      'west',
      '--error-rate',
      '1',
      '--status',
      '500',
      '--delay-ms',
      '10',
    ]);
    expect(degraded.links).toEqual({ east: 'up', west: 'degraded' });
    expect(degraded.degradation).toEqual({ errorRate: 1, status: 500, delayMs: 10 });
    try {
      // Every S3 request to west fails (after the SDK's retries), so the checksum cannot be read.
      const r = await cli(home, ['volume', 'checksum', volume.id]);
      expect(r.code).not.toBe(0);
    } finally {
      const healed = await cliJson<LinkAnswer>(home, ['local', 'link', 'heal', '--site', 'west']);
      expect(healed.links).toEqual({ east: 'up', west: 'up' });
    }
    expect((await cli(home, ['volume', 'checksum', volume.id, '--json'])).code).toBe(0);
  });

  it('prints the degradation in text and refuses bad arguments', async () => {
    const text = await cli(home, ['local', 'link', 'degrade', '--error-rate', '0.25']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('link to east: degraded (25% answered 503, 0 ms delay)');
    await cliJson(home, ['local', 'link', 'heal']);
    expectRefused(await cli(home, ['local', 'link', 'degrade']), 'error-rate');
    expectRefused(await cli(home, ['local', 'link', 'degrade', '--error-rate', '1.5']), 'error-rate');
    expectRefused(
      await cli(home, ['local', 'link', 'degrade', '--error-rate', '1', '--status', '404']),
      '503 or 500',
    );
    expectRefused(await cli(home, ['local', 'link', 'cut', '--error-rate', '1']), 'degrade only');
    expectRefused(
      await cli(home, ['local', 'link', 'degrade', '--error-rate', '1', '--site', 'mars']),
      'unknown site',
    );
  });
});
