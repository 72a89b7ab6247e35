/**
 * fio through the NBD export (writable through the gateway, change records published, scheduled
 * syncs running) against fio through s3backer (a FUSE block device on S3), both on the same
 * S3 emulator endpoint, the same block size, the same cache size, the same number of concurrent
 * stores and the same fio jobs (one job, iodepth 1), one after the other.
 *
 * Both sides are measured the same way: each job starts on a fresh mount (a new `nbd serve`
 * process, a new s3backer process: cold caches), and its time runs from starting fio until
 * every byte it wrote is stored and the process has exited (the export flushes and releases
 * its lease on SIGTERM; s3backer writes its dirty blocks on unmount). s3backer 1.5.4 answers
 * fsync without writing its cache, so the NBD side alone waits for storage at each fsync.
 *   npx tsx bench/nbd.ts [--quick]   (also `npm run bench -- --only nbd`)
 * Writes bench/results/nbd-<time>.json.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalRuntime } from '../local/runtime';
import { LocalStack } from '../local/stack';
import { buildClients } from '../shared/aws/clients';
import type { MirrorConfig } from '../shared/config';
import { buildDeps } from '../shared/deps';
import { DEFAULT_STORE_CONCURRENCY } from '../shared/nbd/gateway-export';
import { DEFAULT_BUFFER_BYTES } from '../shared/nbd/write-back-buffer';
import { createGroup } from '../shared/usecases/groups';
import { addPair } from '../shared/usecases/pairs';
import { createVolume } from '../shared/usecases/volumes';

const exec = promisify(execFile);
const MiB = 1024 * 1024;
/** The chunk size of the volume and the block size of s3backer: the unit both store in S3. */
const BLOCK = 64 * 1024;
const CREDENTIALS = { accessKeyId: 'volmirrorlocal', secretAccessKey: 'volmirrorlocal' };

interface Job {
  name: string;
  args: string[];
  kind: 'read' | 'write';
  blockBytes: number;
}

const jobs = (quick: boolean): Job[] => {
  const size = quick ? '16M' : '64M';
  const runtime = quick ? '3' : '15';
  return [
    {
      name: 'sequential 1 MiB writes, end fsync',
      kind: 'write',
      blockBytes: MiB,
      args: ['--rw=write', '--bs=1M', `--size=${size}`, '--end_fsync=1'],
    },
    {
      name: '4 KiB random writes, fsync every 32',
      kind: 'write',
      blockBytes: 4096,
      args: [
        '--rw=randwrite',
        '--bs=4k',
        `--size=${size}`,
        '--fsync=32',
        '--end_fsync=1',
        '--time_based',
        `--runtime=${runtime}`,
      ],
    },
    {
      name: '4 KiB random reads',
      kind: 'read',
      blockBytes: 4096,
      args: ['--rw=randread', '--bs=4k', `--size=${size}`, '--time_based', `--runtime=${runtime}`],
    },
  ];
};

/** The export's defaults, which s3backer is given too: its buffer in chunks, its concurrent stores. */
const CACHE_BLOCKS = DEFAULT_BUFFER_BYTES / BLOCK;
const STORE_THREADS = DEFAULT_STORE_CONCURRENCY;

interface Row {
  MiBps: number;
  iops: number;
  seconds: number;
  /** What the mount reported about its own requests, when it does (s3backer's stats file). */
  stats?: Record<string, number>;
}

/** One side of the comparison: a fresh mount per job, stopped once everything is stored. */
interface Mount {
  /** The fio arguments that reach the device. */
  start(): Promise<string[]>;
  /** Resolves once the process has stored what it holds and exited. */
  stop(): Promise<void>;
  stats?(): Record<string, number>;
}

async function timed(job: Job, mount: Mount): Promise<Row> {
  const target = await mount.start();
  const started = performance.now();
  const { stdout } = await exec(
    'fio',
    ['--name=bench', '--output-format=json', '--numjobs=1', '--iodepth=1', ...target, ...job.args],
    { timeout: 300_000, maxBuffer: 64 * MiB },
  );
  const stats = mount.stats?.();
  await mount.stop();
  const seconds = (performance.now() - started) / 1000;
  const bytes = JSON.parse(stdout.slice(stdout.indexOf('{'))).jobs[0][job.kind].io_bytes as number;
  return {
    MiBps: Math.round((bytes / MiB / seconds) * 100) / 100,
    iops: Math.round(bytes / job.blockBytes / seconds),
    seconds: Math.round(seconds * 10) / 10,
    ...(stats && { stats }),
  };
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `bench/nbd-serve.ts` in its own process, one per job. */
function nbdMount(config: MirrorConfig, volumeId: string): Mount & { kill(): void } {
  let child: ChildProcess | undefined;
  return {
    async start() {
      const serve = join(dirname(fileURLToPath(import.meta.url)), 'nbd-serve.ts');
      const c = spawn(process.execPath, ['--import', 'tsx', serve, volumeId], {
        env: { ...process.env, VOLMIRROR_BENCH_CONFIG: JSON.stringify(config) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      child = c;
      const lines = createInterface({ input: c.stdout as NodeJS.ReadableStream });
      const [line] = (await Promise.race([
        once(lines, 'line'),
        once(c, 'exit').then(() => {
          throw new Error('the NBD server exited before listening');
        }),
      ])) as [string];
      const { port } = JSON.parse(line) as { port: number };
      return ['--ioengine=nbd', `--uri=nbd://127.0.0.1:${port}/${volumeId}`];
    },
    async stop() {
      if (!child) return;
      child.kill('SIGTERM');
      await exited(child);
      if (child.exitCode !== 0) throw new Error(`the NBD server exited with ${child.exitCode}`);
      child = undefined;
    },
    kill() {
      child?.kill('SIGKILL');
    },
  };
}

function s3backerMount(args: string[], mnt: string): Mount & { kill(): Promise<void> } {
  let child: ChildProcess | undefined;
  const file = join(mnt, 'file');
  return {
    async start() {
      child = spawn('s3backer', ['-f', ...args, mnt], { stdio: 'ignore' });
      await waitFor('s3backer to mount', () => existsSync(file));
      return ['--ioengine=psync', '--direct=1', `--filename=${file}`];
    },
    stats() {
      // Its requests and cache hits: which reads and writes reached S3.
      const wanted = [
        'http_gets',
        'http_puts',
        'http_deletes',
        'cache_data_hits',
        'zero_blocks_read',
        'empty_blocks_read',
      ];
      const out: Record<string, number> = {};
      let text = '';
      try {
        text = readFileSync(join(mnt, 'stats'), 'utf8');
      } catch {
        // A build without the stats file: the row stands without them.
      }
      for (const line of text.split('\n')) {
        const [name, value] = line.trim().split(/\s+/);
        if (wanted.includes(name)) out[name] = Number(value);
      }
      return out;
    },
    async stop() {
      if (!child) return;
      await exec('umount', [mnt]);
      await exited(child);
      child = undefined;
    },
    async kill() {
      await exec('umount', [mnt]).catch(() => undefined);
      child?.kill();
    },
  };
}

/**
 * The transport's own ceiling for a job: qemu-nbd (QEMU's C server) serving a copy of the image
 * from memory (/dev/shm), reached by the same fio `nbd` engine over the same loopback TCP: the
 * rate of a server that only reads memory, one request at a time over this transport.
 */
function qemuNbdMount(image: string, pidFile: string): Mount & { kill(): void } {
  let pid: number | undefined;
  return {
    async start() {
      const port = await freePort();
      // --fork returns once the server listens.
      await exec('qemu-nbd', [
        ...['-f', 'raw', '-x', 'ref', '-b', '127.0.0.1', '-p', String(port), '-t'],
        ...['--fork', `--pid-file=${pidFile}`, image],
      ]);
      pid = Number(readFileSync(pidFile, 'utf8').trim());
      return ['--ioengine=nbd', `--uri=nbd://127.0.0.1:${port}/ref`];
    },
    async stop() {
      if (pid === undefined) return;
      const p = pid;
      process.kill(p, 'SIGTERM');
      pid = undefined;
      await waitFor('qemu-nbd to exit', () => !alive(p));
    },
    kill() {
      if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export async function nbdBench(quick = false) {
  const sizeBytes = (quick ? 16 : 64) * MiB;
  const stack = await LocalStack.start({ topology: 'per-site', leaseSeconds: 30 });
  const clients = buildClients(stack.config);
  const deps = buildDeps(stack.config, clients);
  const runtime = new LocalRuntime(deps, { copyWorkers: 3, tickMs: 200, syncPollMs: 50 }).start();
  const dir = mkdtempSync(join(tmpdir(), 'volmirror-bench-nbd-'));
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const rows: Record<string, string | number>[] = [];
  const s3backerStats: Record<string, Record<string, number>> = {};
  const load = { before: loadavg()[0], after: 0 };
  let nbd: ReturnType<typeof nbdMount> | undefined;
  let s3backer: ReturnType<typeof s3backerMount> | undefined;
  let s3backerArgs: string[] = [];
  let reference: ReturnType<typeof qemuNbdMount> | undefined;
  const ceiling: Record<string, number | string>[] = [];
  const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/volmirror-bench-nbd-') : join(dir, 'shm');
  try {
    const group = await createGroup(deps, {
      name: 'bench',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'scheduled', intervalSeconds: 5 },
    });
    const vol = await createVolume(deps, { name: 'nbd', site: 'east', sizeBytes, chunkSizeBytes: BLOCK });
    await addPair(deps, group.id, { primaryVolumeId: vol.id });
    nbd = nbdMount(stack.config, vol.id);

    const east = stack.config.sites.find((s) => s.name === 'east');
    if (!east?.endpoint) throw new Error('the bench needs the embedded emulators');
    const bucket = `s3backer-${Date.now()}`;
    const s3 = new S3Client({
      region: east.region,
      endpoint: east.endpoint,
      forcePathStyle: true,
      credentials: CREDENTIALS,
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    s3.destroy();
    const accessFile = join(dir, 'access');
    writeFileSync(accessFile, `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}\n`, { mode: 0o600 });
    s3backerArgs = [
      `--baseURL=${east.endpoint.replace(/\/?$/, '/')}`,
      `--accessFile=${accessFile}`,
      `--blockSize=${BLOCK / 1024}k`,
      `--size=${sizeBytes / MiB}M`,
      `--blockCacheSize=${CACHE_BLOCKS}`,
      `--blockCacheThreads=${STORE_THREADS}`,
      bucket,
    ];
    s3backer = s3backerMount(s3backerArgs, mnt);

    for (const job of jobs(quick)) {
      const viaNbd = await timed(job, nbd);
      const viaS3backer = await timed(job, s3backer);
      rows.push({
        job: job.name,
        'NBD MiB/s': viaNbd.MiBps,
        'NBD IOPS': viaNbd.iops,
        'NBD s': viaNbd.seconds,
        's3backer MiB/s': viaS3backer.MiBps,
        's3backer IOPS': viaS3backer.iops,
        's3backer s': viaS3backer.seconds,
        'NBD/s3backer': ratio(viaNbd.iops, viaS3backer.iops),
      });
      if (viaS3backer.stats) s3backerStats[job.name] = viaS3backer.stats;
      if (job.kind === 'read') {
        reference ??= qemuNbdMount(imageInMemory(shm, sizeBytes), join(shm, 'qemu-nbd.pid'));
        const viaQemu = await timed(job, reference);
        ceiling.push({
          job: job.name,
          'qemu-nbd from memory IOPS': viaQemu.iops,
          'qemu-nbd/s3backer': ratio(viaQemu.iops, viaS3backer.iops),
          'NBD/qemu-nbd': ratio(viaNbd.iops, viaQemu.iops),
        });
      }
    }
    load.after = loadavg()[0];
  } finally {
    nbd?.kill();
    reference?.kill();
    await s3backer?.kill();
    await runtime.stop();
    clients.destroy();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(shm, { recursive: true, force: true });
  }
  const results = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(results, { recursive: true });
  const out = join(results, `nbd-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const s3backerSettings = s3backerArgs.filter((a) => /^--(blockSize|size|blockCache)/.test(a));
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        quick,
        sizeBytes,
        blockSize: BLOCK,
        measures:
          'bytes fio moved / seconds from starting fio on a fresh mount until everything is stored and the server exited; iodepth 1, one job',
        s3backer: s3backerSettings,
        loadAverage1m: load,
        rows,
        transportCeiling: {
          measures:
            'the same fio job against qemu-nbd serving a copy of the image from memory (/dev/shm) over the same loopback TCP: what an NBD server that does no work answers at iodepth 1',
          rows: ceiling,
        },
        s3backerStats,
      },
      null,
      2,
    )}\n`,
  );
  return { rows, ceiling };
}

const ratio = (a: number, b: number) => Math.round((a / Math.max(1, b)) * 100) / 100;

/** A raw image of random bytes in memory, for the transport reference. */
function imageInMemory(dir: string, sizeBytes: number): string {
  mkdirSync(dir, { recursive: true });
  const image = join(dir, 'reference.img');
  writeFileSync(image, randomBytes(sizeBytes));
  return image;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  nbdBench(process.argv.includes('--quick')).then(
    ({ rows, ceiling }) => {
      console.table(rows);
      console.table(ceiling);
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
