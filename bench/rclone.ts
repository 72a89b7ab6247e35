import { spawn } from 'node:child_process';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Topology } from '../local/stack';
import { chunkPrefix } from '../shared/domain/chunks';
import { Gateway } from '../shared/gateway/gateway';
import { COPIES_IN_FLIGHT } from '../shared/tuning';
import { checksumVolume } from '../shared/usecases/reads';
import { listRecoveryPoints } from '../shared/usecases/recovery-points';
import { bareCopyLoop, chunkVersions } from './bare-copy';
import { ingestAll, syncByHand } from './driver';
import { wireEnv } from './wire-env';
import { CHUNK, MiB, mirrored, range, spread, writeChunks } from './workload';

/**
 * rclone's transfers and checkers: as many as volmirror's copies in flight at medium priority,
 * 8 copy tasks (shared/usecases/sync/copy.ts) of COPIES_IN_FLIGHT copies each.
 */
export const RCLONE_TRANSFERS = 8 * COPIES_IN_FLIGHT;

/**
 * The two ways to run `rclone sync`: its default, which compares size and modification time
 * (the time is object metadata on S3, read with a HEAD of each object whose size matches), and
 * `--checksum`, which compares the MD5 in the listing's ETags and so sends no HEAD for an
 * unchanged object. Each has its own destination prefix.
 */
export interface RcloneMode {
  tool: 'rclone' | 'rclone --checksum';
  flags: string[];
  prefix: string;
}

export const RCLONE_MODES: RcloneMode[] = [
  { tool: 'rclone', flags: [], prefix: 'rclone' },
  { tool: 'rclone --checksum', flags: ['--checksum'], prefix: 'rclone-checksum' },
];

/**
 * The initial step's floor: the same chunk copies and nothing else (no listing, no check, no
 * bookkeeping), RCLONE_TRANSFERS at a time, through the ChunkStore call the copy workers use.
 */
export const BARE_LOOP = 'bare copy loop';

export interface ReplicationRow {
  topology: Topology;
  step: string;
  'changed chunks': number;
  tool: 'volmirror' | RcloneMode['tool'] | typeof BARE_LOOP;
  'wall s': number;
  /**
   * Until the secondary is up to date: volmirror's RP commit (the sync's post-commit clean-up,
   * which deletes what the RP does not use, runs after it); rclone's wall time.
   */
  'to up to date s': number;
  'S3 requests': number;
  'S3 MiB on the wire': number;
  /** DynamoDB and SQS requests of the sync (rclone has none). */
  'control requests': number;
  'S3 requests by operation': Record<string, number>;
  verified: boolean;
}

/** A remote named `name` on an emulator endpoint, through rclone's environment configuration. */
function remoteEnv(name: string, endpoint: string, region: string): Record<string, string> {
  const p = `RCLONE_CONFIG_${name.toUpperCase()}_`;
  return {
    [`${p}TYPE`]: 's3',
    [`${p}PROVIDER`]: 'Other',
    [`${p}ENDPOINT`]: endpoint,
    [`${p}REGION`]: region,
    [`${p}ACCESS_KEY_ID`]: 'volmirrorlocal',
    [`${p}SECRET_ACCESS_KEY`]: 'volmirrorlocal',
    [`${p}FORCE_PATH_STYLE`]: 'true',
    // The buckets exist: a user would not pay a bucket check per run either.
    [`${p}NO_CHECK_BUCKET`]: 'true',
  };
}

function rclone(args: string[], env: Record<string, string>): Promise<void> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  // rclone fails on a CA bundle it is told to load against a plain-HTTP emulator.
  delete childEnv.AWS_CA_BUNDLE;
  return new Promise((resolve, reject) => {
    const p = spawn('rclone', args, { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    p.on('error', reject);
    p.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`rclone ${args[0]} exited ${code}: ${err}`)),
    );
  });
}

/** Key (relative to the prefix) -> ETag, the MD5 of a single-part object's bytes. */
async function etags(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let token: string | undefined;
  for (let i = 0; i < 100_000; i++) {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key && o.ETag) out.set(o.Key.slice(prefix.length), o.ETag);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    if (!token) break;
  }
  return out;
}

function sameObjects(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/**
 * volmirror's initial and delta syncs against `rclone copy` / `rclone sync --checksum` of the
 * same chunk objects, on a volume of `chunks` 64 KiB chunks: wall time, S3 requests and
 * bytes counted at the wire, each destination verified.
 */
export async function replicationVsRclone(
  topology: Topology,
  chunks: number,
  percents: number[],
  log: (s: string) => void,
): Promise<ReplicationRow[]> {
  const e = await wireEnv(topology);
  const rows: ReplicationRow[] = [];
  try {
    const [east, west] = e.config.sites;
    const g = await mirrored(e.deps, chunks * CHUNK);
    const t0 = performance.now();
    const gw = await Gateway.open(e.deps, g.primary);
    await writeChunks(gw, g.primary, range(chunks), 64, 8);
    await gw.close();
    await ingestAll(e.deps, 'east');
    log(`  wrote ${chunks} chunks in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const remotes =
      topology === 'shared'
        ? { src: 'aws', dst: 'aws', env: remoteEnv('aws', e.s3Endpoint.east, east.region) }
        : {
            src: 'east',
            dst: 'west',
            env: {
              ...remoteEnv('east', e.s3Endpoint.east, east.region),
              ...remoteEnv('west', e.s3Endpoint.west, west.region),
            },
          };
    const srcPrefix = chunkPrefix(g.primary);
    const dstPrefix = (mode: RcloneMode) => `${mode.prefix}/${g.primary}/`;
    const eastS3 = e.deps.stores.east.s3;
    const westS3 = e.deps.stores.west.s3;

    const measureVolmirror = async (step: string, changed: number) => {
      const before = e.wire.snapshot();
      const t = performance.now();
      const startedAt = Date.now();
      const rp = await syncByHand(e.deps, g.groupId, 'east', 'west');
      const wall = (performance.now() - t) / 1000;
      const committedAt = (await listRecoveryPoints(e.deps, g.groupId)).find((x) => x.id === rp)?.committedAt;
      const s3 = e.wire.since(before, 's3');
      const row: ReplicationRow = {
        topology,
        step,
        'changed chunks': changed,
        tool: 'volmirror',
        'wall s': round(wall),
        'to up to date s': committedAt ? round((Date.parse(committedAt) - startedAt) / 1000) : round(wall),
        'S3 requests': s3.requests,
        'S3 MiB on the wire': round((s3.bytesUp + s3.bytesDown) / MiB),
        'control requests': e.wire.since(before, 'dynamodb').requests + e.wire.since(before, 'sqs').requests,
        'S3 requests by operation': e.wire.byOperation(before, 's3'),
        verified: false,
      };
      const [a, b] = await Promise.all([
        checksumVolume(e.deps, g.primary, rp),
        checksumVolume(e.deps, g.secondary, rp),
      ]);
      row.verified = a.sha256 === b.sha256;
      rows.push(row);
      log(`  ${step} volmirror ${row['wall s']} s, ${row['S3 requests']} S3 requests`);
    };
    const measureRclone = async (step: string, changed: number, verb: 'copy' | 'sync', mode: RcloneMode) => {
      const before = e.wire.snapshot();
      const t = performance.now();
      await rclone(
        [
          verb,
          `${remotes.src}:${east.bucket}/${srcPrefix}`,
          `${remotes.dst}:${west.bucket}/${dstPrefix(mode)}`,
          ...mode.flags,
          '--transfers',
          String(RCLONE_TRANSFERS),
          '--checkers',
          String(RCLONE_TRANSFERS),
          '-q',
        ],
        remotes.env,
      );
      await copied(step, changed, mode.tool, before, (performance.now() - t) / 1000, dstPrefix(mode));
    };
    /** The row of a copier whose destination is compared object by object with the source. */
    const copied = async (
      step: string,
      changed: number,
      tool: ReplicationRow['tool'],
      before: ReturnType<typeof e.wire.snapshot>,
      wall: number,
      destination: string,
    ) => {
      const s3 = e.wire.since(before, 's3');
      const row: ReplicationRow = {
        topology,
        step,
        'changed chunks': changed,
        tool,
        'wall s': round(wall),
        'to up to date s': round(wall),
        'S3 requests': s3.requests,
        'S3 MiB on the wire': round((s3.bytesUp + s3.bytesDown) / MiB),
        'control requests': 0,
        'S3 requests by operation': e.wire.byOperation(before, 's3'),
        verified: sameObjects(
          await etags(eastS3, east.bucket, srcPrefix),
          await etags(westS3, west.bucket, destination),
        ),
      };
      rows.push(row);
      log(`  ${step} ${tool} ${row['wall s']} s, ${row['S3 requests']} S3 requests`);
    };

    const measureBareLoop = async () => {
      const target = `${BARE_LOOP.replaceAll(' ', '-')}-${g.primary}`;
      const refs = await chunkVersions(e.deps, g.primary);
      const before = e.wire.snapshot();
      const ms = await bareCopyLoop(e.deps, g.primary, refs, target, RCLONE_TRANSFERS);
      await copied('initial', refs.length, BARE_LOOP, before, ms / 1000, chunkPrefix(target));
    };

    await measureVolmirror('initial', chunks);
    for (const mode of RCLONE_MODES) await measureRclone('initial', chunks, 'copy', mode);
    await measureBareLoop();
    for (const [i, pct] of percents.entries()) {
      const changed = spread(Math.max(1, Math.round((chunks * pct) / 100)), chunks);
      const w = await Gateway.open(e.deps, g.primary);
      await writeChunks(w, g.primary, changed, 64, 16, i + 1);
      await w.close();
      await ingestAll(e.deps, 'east');
      await measureVolmirror(`${pct}% changed`, changed.length);
      for (const mode of RCLONE_MODES) await measureRclone(`${pct}% changed`, changed.length, 'sync', mode);
    }
    return rows;
  } finally {
    await e.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

/** One line per step and rclone mode: rclone / volmirror for time and S3 requests (above 1: volmirror ahead). */
export function ratios(rows: ReplicationRow[]) {
  const out = [];
  for (const v of rows.filter((r) => r.tool === 'volmirror')) {
    for (const r of rows.filter(
      (x) => x.tool !== 'volmirror' && x.tool !== BARE_LOOP && x.topology === v.topology && x.step === v.step,
    ))
      out.push({
        topology: v.topology,
        step: v.step,
        baseline: r.tool,
        'changed chunks': v['changed chunks'],
        'time rclone/volmirror': round(r['wall s'] / v['wall s']),
        'time to up to date rclone/volmirror': round(r['to up to date s'] / v['to up to date s']),
        'S3 requests rclone/volmirror': round(r['S3 requests'] / Math.max(1, v['S3 requests'])),
        'S3 bytes rclone/volmirror': round(r['S3 MiB on the wire'] / Math.max(0.01, v['S3 MiB on the wire'])),
        'volmirror S3 requests per changed chunk': round(v['S3 requests'] / v['changed chunks']),
        'both verified': v.verified && r.verified,
      });
  }
  return out;
}

/**
 * How far ahead of rclone any tool could be on the initial step, which must copy every chunk:
 * rclone's time over the bare loop's, next to volmirror's. Above the target (1.5) only if the
 * copies themselves leave room for it.
 */
export function initialCeilings(rows: ReplicationRow[]) {
  const out = [];
  for (const bare of rows.filter((r) => r.tool === BARE_LOOP)) {
    const v = rows.find(
      (r) => r.tool === 'volmirror' && r.topology === bare.topology && r.step === bare.step,
    );
    for (const r of rows.filter((x) => x.topology === bare.topology && x.step === bare.step)) {
      if (r.tool === 'volmirror' || r.tool === BARE_LOOP) continue;
      out.push({
        topology: bare.topology,
        baseline: r.tool,
        'bare loop s': bare['wall s'],
        'bare loop S3 requests': bare['S3 requests'],
        'time rclone/bare loop (the most any tool can be ahead)': round(r['wall s'] / bare['wall s']),
        'time to up to date rclone/volmirror': v ? round(r['to up to date s'] / v['to up to date s']) : '',
        'volmirror to up to date / bare loop': v ? round(v['to up to date s'] / bare['wall s']) : '',
        verified: bare.verified,
      });
    }
  }
  return out;
}
