/**
 * fio through the NBD export (writable through the gateway, change records published, scheduled
 * syncs running) against fio through s3backer (a FUSE block device on S3), both on the same
 * S3 emulator endpoint, the same block size and the same jobs, one after the other.
 *   npx tsx bench/nbd.ts [--quick]   (also `npm run bench -- --only nbd`)
 * Writes bench/results/nbd-<time>.json.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalRuntime } from '../local/runtime';
import { LocalStack } from '../local/stack';
import { buildClients } from '../shared/aws/clients';
import { buildDeps } from '../shared/deps';
import { openExport } from '../shared/nbd/open-export';
import { NbdServer } from '../shared/nbd/server';
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
}

const jobs = (quick: boolean): Job[] => {
  const size = quick ? '16M' : '64M';
  const runtime = quick ? '3' : '15';
  return [
    {
      name: 'sequential 1 MiB writes',
      kind: 'write',
      args: ['--rw=write', '--bs=1M', `--size=${size}`, '--end_fsync=1'],
    },
    {
      name: '4 KiB random writes, fsync every 32',
      kind: 'write',
      args: [
        '--rw=randwrite',
        '--bs=4k',
        `--size=${size}`,
        '--fsync=32',
        '--time_based',
        `--runtime=${runtime}`,
      ],
    },
    {
      name: '4 KiB random reads',
      kind: 'read',
      args: ['--rw=randread', '--bs=4k', `--size=${size}`, '--time_based', `--runtime=${runtime}`],
    },
  ];
};

interface Row {
  MiBps: number;
  iops: number;
}

async function fio(job: Job, target: string[]): Promise<Row> {
  const { stdout } = await exec(
    'fio',
    ['--name=bench', '--output-format=json', '--numjobs=1', '--iodepth=1', ...target, ...job.args],
    { timeout: 300_000, maxBuffer: 64 * MiB },
  );
  const result = JSON.parse(stdout.slice(stdout.indexOf('{'))).jobs[0][job.kind];
  return { MiBps: Math.round((result.bw_bytes / MiB) * 100) / 100, iops: Math.round(result.iops) };
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
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
  let s3backer: ChildProcess | undefined;
  let server: NbdServer | undefined;
  const rows: Record<string, string | number>[] = [];
  try {
    const group = await createGroup(deps, {
      name: 'bench',
      primarySite: 'east',
      secondarySite: 'west',
      sync: { mode: 'scheduled', intervalSeconds: 5 },
    });
    const vol = await createVolume(deps, { name: 'nbd', site: 'east', sizeBytes, chunkSizeBytes: BLOCK });
    await addPair(deps, group.id, { primaryVolumeId: vol.id });
    const exp = await openExport(deps, vol.id, { readOnly: false });
    server = new NbdServer([exp]);
    const address = await server.listen({ host: '127.0.0.1', port: 0 });
    const nbdTarget = [
      '--ioengine=nbd',
      `--uri=nbd://127.0.0.1:${'port' in address ? address.port : 0}/${exp.name}`,
    ];

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
    s3backer = spawn(
      's3backer',
      [
        '-f',
        `--baseURL=${east.endpoint.replace(/\/?$/, '/')}`,
        `--accessFile=${accessFile}`,
        `--blockSize=${BLOCK / 1024}k`,
        `--size=${sizeBytes / MiB}M`,
        bucket,
        mnt,
      ],
      { stdio: 'ignore' },
    );
    const file = join(mnt, 'file');
    await waitFor('s3backer to mount', () => existsSync(file));
    const s3backerTarget = ['--ioengine=psync', '--direct=1', `--filename=${file}`];

    for (const job of jobs(quick)) {
      const viaNbd = await fio(job, nbdTarget);
      const viaS3backer = await fio(job, s3backerTarget);
      rows.push({
        job: job.name,
        'NBD MiB/s': viaNbd.MiBps,
        'NBD IOPS': viaNbd.iops,
        's3backer MiB/s': viaS3backer.MiBps,
        's3backer IOPS': viaS3backer.iops,
        'NBD/s3backer': Math.round((viaNbd.iops / Math.max(1, viaS3backer.iops)) * 100) / 100,
      });
    }
    await server.close();
    server = undefined;
    await exp.close();
  } finally {
    await server?.close();
    await exec('umount', [mnt]).catch(() => undefined);
    s3backer?.kill();
    await runtime.stop();
    clients.destroy();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const results = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(results, { recursive: true });
  const out = join(results, `nbd-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    `${JSON.stringify({ at: new Date().toISOString(), quick, sizeBytes, blockSize: BLOCK, rows }, null, 2)}\n`,
  );
  return rows;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  nbdBench(process.argv.includes('--quick')).then(
    (rows) => {
      console.table(rows);
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
