import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalConfig } from '../../local/local-config';
import { alive, cli, cliJson } from '../support/cli';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('volmirror rp clone', () => {
  const home = mkdtempSync(join(tmpdir(), 'volmirror-clones-'));
  let local: LocalConfig | undefined;

  beforeAll(async () => {
    await cliJson(home, ['up', '--detach', '--timeout', '90'], 100_000);
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

  it('clones an RP into writable volumes at the secondary site that read the RP image', async () => {
    await cliJson(home, [
      'volume',
      'create',
      'data',
      '--site',
      'east',
      '--size',
      '1MiB',
      '--chunk-size',
      '64KiB',
    ]);
    await cliJson(home, ['group', 'create', 'db', '--primary-site', 'east', '--secondary-site', 'west']);
    await cliJson(home, ['pair', 'add', 'db', 'data']);
    const file = join(home, 'payload.bin');
    const payload = randomBytes(200 * KiB + 7);
    writeFileSync(file, payload);
    await cliJson(home, ['volume', 'write', 'data', '--file', file, '--offset', '1000']);
    const sync = await cliJson<{ recoveryPointId: string }>(
      home,
      ['sync', 'db', '--wait', '--timeout', '60'],
      70_000,
    );
    const rp = sync.recoveryPointId;
    const atRp = await cliJson<{ sha256: string }>(home, [
      'volume',
      'checksum',
      'data',
      '--recovery-point',
      rp,
    ]);

    const { volumes } = await cliJson<{ volumes: { id: string; site: string }[] }>(home, [
      'rp',
      'clone',
      'db',
      rp,
    ]);
    expect(volumes).toHaveLength(1);
    const clone = volumes[0];
    expect(clone.site).toBe('west');
    expect((await cliJson<{ sha256: string }>(home, ['volume', 'checksum', clone.id])).sha256).toBe(
      atRp.sha256,
    );
    const human = await cli(home, ['rp', 'clone', 'db', rp]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('west');

    // A partial write to the clone merges with the RP's bytes around it.
    const patch = randomBytes(300);
    writeFileSync(file, patch);
    await cliJson(home, ['volume', 'write', clone.id, '--file', file, '--offset', '1500']);
    const image = Buffer.alloc(MiB);
    payload.copy(image, 1000);
    patch.copy(image, 1500);
    const out = join(home, 'out.bin');
    await cliJson(home, ['volume', 'read', clone.id, '--out', out]);
    expect(createHash('sha256').update(readFileSync(out)).digest('hex')).toBe(
      createHash('sha256').update(image).digest('hex'),
    );
    // The RP is untouched.
    expect(
      (await cliJson<{ sha256: string }>(home, ['volume', 'checksum', 'data', '--recovery-point', rp]))
        .sha256,
    ).toBe(atRp.sha256);
    await cliJson(home, ['volume', 'delete', clone.id]);

    const bad = await cli(home, ['rp', 'clone', 'db', 'rp-999999']);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^error: /);
  }, 240_000);
});
