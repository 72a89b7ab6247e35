import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalConfig } from '../../local/local-config';
import { alive, cli, cliJson, gone, type Run } from '../support/cli';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A refused command: non-zero exit, exactly one line on stderr, nothing on stdout. */
function expectRefused(r: Run, code?: string): void {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  if (code) expect(lines[0]).toContain(code);
}

interface Volume {
  id: string;
  name: string;
  sizeBytes: number;
}

describe('volmirror CLI against `volmirror up --detach`', () => {
  const home = mkdtempSync(join(tmpdir(), 'volmirror-cli-'));
  const configPath = join(home, 'local.json');
  let local: LocalConfig | undefined;

  beforeAll(async () => {
    const up = await cliJson<{ apiUrl: string; sites: string[]; endpoints: Record<string, string> }>(
      home,
      ['up', '--detach', '--timeout', '90'],
      100_000,
    );
    expect(up.sites).toEqual(['east', 'west']);
    expect(up.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const url of Object.values(up.endpoints)) expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    local = JSON.parse(readFileSync(configPath, 'utf8')) as LocalConfig;
  }, 120_000);

  afterAll(async () => {
    await cli(home, ['down'], 70_000);
    // Last resort, should `down` itself have failed: nothing of ours may keep running.
    for (const pid of [local?.pid, ...(local?.emulatorPids ?? [])]) {
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(home, { recursive: true, force: true });
  }, 90_000);

  it('writes the local config with mode 0600 and refuses a second `up`', async () => {
    expect(statSync(configPath).mode & 0o777).toBe(0o600);
    expect(local?.emulatorPids).toHaveLength(3);
    expectRefused(await cli(home, ['up', '--detach']), 'already running');
  });

  it('mirrors a group: write, sync --wait, equal checksums at the RP, status', async () => {
    const data = await cliJson<Volume>(home, [
      'volume',
      'create',
      'data',
      '--site',
      'east',
      '--size',
      '4MiB',
      '--chunk-size',
      '64KiB',
    ]);
    const logs = await cliJson<Volume>(home, [
      'volume',
      'create',
      'logs',
      '--site',
      'east',
      '--size',
      '1048576',
    ]);
    expect(data.sizeBytes).toBe(4 * MiB);
    expect(logs.sizeBytes).toBe(MiB);
    const group = await cliJson<{ id: string }>(home, [
      'group',
      'create',
      'db',
      '--primary-site',
      'east',
      '--secondary-site',
      'west',
      '--sync',
      'manual',
    ]);
    // By name and by id: both resolve.
    const p1 = await cliJson<{ secondaryVolumeId: string }>(home, ['pair', 'add', 'db', 'data']);
    const p2 = await cliJson<{ secondaryVolumeId: string }>(home, ['pair', 'add', group.id, logs.id]);

    // An unaligned write spanning several chunks (partial first and last chunk).
    const file = join(home, 'payload.bin');
    const payload = randomBytes(300 * KiB + 123);
    writeFileSync(file, payload);
    const offset = 100_000;
    const written = await cliJson<{ bytes: number }>(home, [
      'volume',
      'write',
      'data',
      '--file',
      file,
      '--offset',
      String(offset),
    ]);
    expect(written.bytes).toBe(payload.length);
    await cliJson(home, ['volume', 'write', 'logs', '--file', file]);

    const sync = await cliJson<{ state: string; recoveryPointId: string }>(
      home,
      ['sync', 'db', '--wait', '--timeout', '60'],
      70_000,
    );
    expect(sync.state).toBe('committed');
    const rp = sync.recoveryPointId;
    expect(rp).toMatch(/^rp-\d+$/);

    // The expected image of `data`: zeros with the payload at the offset.
    const image = Buffer.alloc(4 * MiB);
    payload.copy(image, offset);
    const expected = createHash('sha256').update(image).digest('hex');
    for (const [primary, secondary] of [
      [data.id, p1.secondaryVolumeId],
      [logs.id, p2.secondaryVolumeId],
    ]) {
      const a = await cliJson<{ sha256: string; recoveryPointId: string }>(home, [
        'volume',
        'checksum',
        primary,
        '--recovery-point',
        rp,
      ]);
      const b = await cliJson<{ sha256: string }>(home, [
        'volume',
        'checksum',
        secondary,
        '--recovery-point',
        rp,
      ]);
      expect(a.recoveryPointId).toBe(rp);
      expect(b.sha256).toBe(a.sha256);
      if (primary === data.id) expect(a.sha256).toBe(expected);
    }

    // A range read of the secondary at the RP gives back the payload, byte for byte.
    const out = join(home, 'out.bin');
    await cliJson(home, [
      'volume',
      'read',
      p1.secondaryVolumeId,
      '--out',
      out,
      '--recovery-point',
      rp,
      '--offset',
      String(offset),
      '--length',
      String(payload.length),
    ]);
    expect(readFileSync(out).equals(payload)).toBe(true);

    const status = await cliJson<
      { name: string; status: string; lastRecoveryPoint?: { id: string }; pairs: { status: string }[] }[]
    >(home, ['status']);
    const db = status.find((g) => g.name === 'db');
    expect(db?.status).toBe('optimal');
    expect(db?.lastRecoveryPoint?.id).toBe(rp);
    expect(db?.pairs.map((p) => p.status)).toEqual(['optimal', 'optimal']);

    const human = await cli(home, ['status', 'db']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('db');
    expect(human.stdout).toContain(rp);

    const rps = await cliJson<{ id: string }[]>(home, ['rp', 'list', 'db']);
    expect(rps[0].id).toBe(rp);
    const events = await cliJson<{ kind: string }[]>(home, ['events', 'db']);
    expect(events.some((e) => e.kind === 'rp-committed')).toBe(true);

    // The secondary takes no writes from a gateway.
    expectRefused(
      await cli(home, ['volume', 'write', p1.secondaryVolumeId, '--file', file]),
      'secondary-volume',
    );
  });

  it('refuses bad input with one stderr line and creates nothing', async () => {
    const volumesBefore = await cliJson<Volume[]>(home, ['volume', 'list']);
    const groupsBefore = await cliJson<unknown[]>(home, ['group', 'list']);
    expectRefused(
      await cli(home, ['volume', 'create', 'bad/name', '--site', 'east', '--size', '1MiB', '--json']),
      'bad-name',
    );
    expectRefused(
      await cli(home, ['volume', 'create', 'x', '--site', 'east', '--size', '12parsecs']),
      '--size',
    );
    expectRefused(await cli(home, ['volume', 'create', 'x', '--site', 'mars', '--size', '1MiB']), 'bad-site');
    expectRefused(await cli(home, ['group', 'show', 'grp-000000000000', '--json']), 'group-not-found');
    expectRefused(await cli(home, ['sync', 'no-such-group', '--wait']), 'group-not-found');
    expectRefused(await cli(home, ['pair', 'add', 'no-such-group', 'data']), 'group-not-found');
    expectRefused(
      await cli(home, ['group', 'create', 'g2', '--primary-site', 'east', '--secondary-site', 'east']),
      'same-site',
    );
    expectRefused(await cli(home, ['volume', 'show', '../etc']), 'bad-id');
    expect(await cliJson<Volume[]>(home, ['volume', 'list'])).toEqual(volumesBefore);
    expect(await cliJson<unknown[]>(home, ['group', 'list'])).toHaveLength(groupsBefore.length);
  });

  it('cuts and heals the link to a site', async () => {
    const volumes = await cliJson<Volume[]>(home, ['volume', 'list']);
    const mirror = volumes.find((v) => v.name === 'data-mirror');
    expect(mirror).toBeDefined();
    const cut = await cliJson<{ links: Record<string, string> }>(home, [
      'local',
      'link',
      'cut',
      '--site',
      'west',
    ]);
    expect(cut.links).toEqual({ east: 'up', west: 'cut' });
    try {
      // The CLI's own path to the west site goes through the cut link.
      expectRefused(await cli(home, ['volume', 'checksum', mirror?.id ?? '']), 'site-unreachable');
    } finally {
      const healed = await cliJson<{ links: Record<string, string> }>(home, [
        'local',
        'link',
        'heal',
        '--site',
        'west',
      ]);
      expect(healed.links).toEqual({ east: 'up', west: 'up' });
    }
    const after = await cli(home, ['volume', 'checksum', mirror?.id ?? '', '--json']);
    expect(after.code).toBe(0);
    expectRefused(await cli(home, ['local', 'link', 'cut', '--site', 'mars']), 'unknown site');
  });

  it('`down` stops every process and removes the config', async () => {
    const pids = [local?.pid ?? 0, ...(local?.emulatorPids ?? [])];
    expect(pids.every(alive)).toBe(true);
    const down = await cliJson<{ stopped: boolean }>(home, ['down'], 70_000);
    expect(down.stopped).toBe(true);
    expect(existsSync(configPath)).toBe(false);
    expect(await gone(pids, 10_000)).toBe(true);
    // Without a stack, commands say so.
    expectRefused(await cli(home, ['volume', 'list']), 'no local stack: run `volmirror up`');
  }, 90_000);
});
