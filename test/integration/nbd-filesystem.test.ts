import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenedExport, openExport } from '../../shared/nbd/open-export';
import { NbdServer } from '../../shared/nbd/server';
import { readVolume } from '../../shared/usecases/reads';
import { listRecoveryPoints } from '../../shared/usecases/recovery-points';
import { type Harness, mirroredGroup, startHarness, startRuntime, waitFor } from '../support/harness';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
const SIZE = 64 * MiB;
const TOOLS = ['nbdfuse', 'mkfs.ext4', 'fuse2fs', 'e2fsck', 'sqlite3', 'umount'];
/** Transactions at most, and how long the workload may run: it stops earlier once enough RPs are cut. */
const MAX_TRANSACTIONS = 400;
const WORKLOAD_MS = 60_000;
const RPS_CHECKED = 3;

const tool = (cmd: string, args: string[]) => exec(cmd, args, { timeout: 60_000, maxBuffer: 16 * MiB });

async function requireTools(): Promise<void> {
  for (const t of TOOLS) {
    await exec('sh', ['-c', `command -v ${t}`]).catch(() => {
      throw new Error(`${t} is not installed: run scripts/setup-block-tools.sh (as root)`);
    });
  }
}

const mounted = (dir: string) =>
  exec('sh', ['-c', `grep -q " ${dir} " /proc/mounts`]).then(
    () => true,
    () => false,
  );

/** Unmounts if mounted; a mount left behind would outlive the test. */
async function unmount(dir: string): Promise<void> {
  if (await mounted(dir)) await tool('umount', [dir]);
}

/** A FUSE daemon in the foreground: unmounting is done once it has exited (and closed its files). */
async function fuseMount(cmd: string, args: string[], dir: string): Promise<{ unmount(): Promise<void> }> {
  const child = spawn(cmd, args, { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(`${cmd} to mount ${dir}`, () => mounted(dir));
  return {
    async unmount() {
      await unmount(dir);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        throw new Error(`${cmd} did not exit after ${dir} was unmounted`);
      }
    },
  };
}

describe('a filesystem and a database on an exported mirrored volume', () => {
  const dir = mkdtempSync(join(tmpdir(), 'volmirror-nbdfs-'));
  const fuseDir = join(dir, 'nbd');
  const mnt = join(dir, 'mnt');
  const disk = join(fuseDir, 'disk');
  let h: Harness;
  let exp: OpenedExport | undefined;
  let server: NbdServer | undefined;
  let nbdfuse: ChildProcess | undefined;

  beforeAll(async () => {
    await requireTools();
    mkdirSync(fuseDir);
    mkdirSync(mnt);
    h = await startHarness();
    startRuntime(h);
  });

  afterAll(async () => {
    await unmount(mnt).catch(() => undefined);
    await unmount(fuseDir).catch(() => undefined);
    nbdfuse?.kill();
    await server?.close();
    await exp?.close().catch(() => undefined);
    await h?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ext4 and SQLite under scheduled syncs: every RP checks clean and holds every transaction committed before its cut', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: SIZE, chunkSizeBytes: MiB }], {
      mode: 'scheduled',
      intervalSeconds: 2,
    });
    exp = await openExport(h.deps, g.primaries[0], { readOnly: false, renewEveryMs: 200 });
    server = new NbdServer([exp]);
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    const port = 'port' in address ? address.port : 0;
    nbdfuse = spawn('nbdfuse', [disk, `nbd://127.0.0.1:${port}/${exp.name}`], { stdio: 'ignore' });
    await waitFor(
      'nbdfuse to expose the export',
      async () => existsSync(disk) && statSync(disk).size === SIZE,
    );

    await tool('mkfs.ext4', ['-q', '-F', disk]);
    const fs = await fuseMount('fuse2fs', ['-f', '-o', 'fakeroot', disk, mnt], mnt);
    const db = join(mnt, 'db');
    await tool('sqlite3', [db, 'CREATE TABLE t (n INTEGER PRIMARY KEY, pad TEXT)']);

    const committedAt = new Map<number, number>();
    const started = Date.now();
    const cutSince = async () =>
      (await listRecoveryPoints(h.deps, g.groupId)).filter((rp) => Date.parse(rp.cutAt) > started).length;
    for (let n = 1; n <= MAX_TRANSACTIONS && Date.now() - started < WORKLOAD_MS; n++) {
      await tool('sqlite3', [db, `BEGIN; INSERT INTO t VALUES (${n}, hex(randomblob(600))); COMMIT;`]);
      committedAt.set(n, Date.now());
      if (n % 10 === 0 && (await cutSince()) >= RPS_CHECKED + 2) break;
    }
    await fs.unmount();
    await unmount(fuseDir);
    await server.close();
    await exp.close();
    exp = undefined;

    // RPs cut once the workload had committed: each must hold at least one transaction.
    const firstCommit = committedAt.get(1) ?? started;
    const rps = (await listRecoveryPoints(h.deps, g.groupId))
      .filter((rp) => Date.parse(rp.cutAt) > firstCommit)
      .slice(0, RPS_CHECKED);
    expect(rps.length, `RPs cut during ${committedAt.size} transactions`).toBe(RPS_CHECKED);
    for (const rp of rps) {
      const image = join(dir, `${rp.id}.img`);
      writeFileSync(image, '');
      const chunks: Uint8Array[] = [];
      for await (const piece of readVolume(h.deps, g.secondaries[0], { recoveryPointId: rp.id }))
        chunks.push(piece);
      writeFileSync(image, Buffer.concat(chunks));
      await tool('e2fsck', ['-fn', image]);

      const ro = join(dir, `${rp.id}.mnt`);
      const scratch = join(dir, `${rp.id}.db`);
      mkdirSync(ro);
      mkdirSync(scratch);
      const roFs = await fuseMount('fuse2fs', ['-f', '-o', 'ro,fakeroot', image, ro], ro);
      try {
        // SQLite rolls back a hot journal on open, which needs a writable copy.
        for (const name of ['db', 'db-journal']) {
          if (existsSync(join(ro, name))) copyFileSync(join(ro, name), join(scratch, name));
        }
      } finally {
        await roFs.unmount();
      }
      const copy = join(scratch, 'db');
      expect((await tool('sqlite3', [copy, 'PRAGMA integrity_check'])).stdout.trim()).toBe('ok');
      const rows = (await tool('sqlite3', [copy, 'SELECT n FROM t ORDER BY n'])).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number);
      const cutAt = Date.parse(rp.cutAt);
      const before = [...committedAt].filter(([, at]) => at < cutAt).map(([n]) => n);
      expect(before.length).toBeGreaterThan(0);
      // Every transaction committed before the cut, and no gap: a prefix of the transactions.
      expect(rows.slice(0, before.length), `${rp.id} cut at ${rp.cutAt}`).toEqual(before);
      expect(rows).toEqual(rows.map((_, i) => i + 1));
    }
  }, 300_000);
});
