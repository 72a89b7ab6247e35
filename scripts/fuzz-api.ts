/**
 * Fuzzes the REST API with schemathesis from its own OpenAPI document: the embedded stack
 * (emulators, runtime, API) in this process, schemathesis (scripts/setup-fuzz.sh) against it
 * with the bearer token. Fails on any 5xx, any response that breaks its schema, any status
 * the document does not name, any schema-breaking request the API accepts, a request served
 * without the token, and a method not served answered without 405 and its Allow header.
 *   npm run fuzz:api [-- --examples 40 --seed 1]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalApiServer } from '../local/http-server';
import { LocalRuntime } from '../local/runtime';
import { LocalStack } from '../local/stack';
import { buildClients } from '../shared/aws/clients';
import { buildDeps, type Deps } from '../shared/deps';
import { createGroup } from '../shared/usecases/groups';
import { addPair } from '../shared/usecases/pairs';
import { getSync, startSync } from '../shared/usecases/sync/index';
import { createVolume } from '../shared/usecases/volumes';

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'ignored_auth',
  'unsupported_method',
  'allow_header_conformance',
];

const root = fileURLToPath(new URL('..', import.meta.url));
const venv = process.env.VOLMIRROR_FUZZ_VENV ?? join(root, '.fuzz-venv');

/**
 * Schemathesis frames its report in pytest's banners and closes it with pytest's closing line
 * (`==== 2 warnings in 100.09s ====`). CI reads that line as a pytest run that executed no test,
 * so the banners are printed as plain headings and the closing line is left to this script's
 * own summary.
 */
function plainReportLine(line: string): string | undefined {
  const banner = /^=+ (.+?) =+$/.exec(line);
  if (!banner) return line;
  return / in [\d.]+s$/.test(banner[1] ?? '') ? undefined : `-- ${banner[1]} --`;
}

/** Runs a command in `cwd` (schemathesis keeps its example cache there: a temporary directory). */
function run(cmd: string, args: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const shown = plainReportLine(line);
      if (shown !== undefined) console.log(shown);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

const SEED_SYNC_MS = 60_000;

/**
 * Real resources for the fuzzer to aim at: random ids only ever reach 404, so schemathesis
 * draws path ids, body ids and site names from these (config dictionaries) most of the time.
 * A group with a pair and a committed RP, an empty group, free volumes at both sites.
 */
async function seed(deps: Deps): Promise<string> {
  const [east, west] = deps.config.sites.map((s) => s.name);
  const size = { sizeBytes: 4 * 1024 * 1024, chunkSizeBytes: 1024 * 1024 };
  const volumes = [];
  for (const [i, site] of [east, east, east, west, west].entries()) {
    volumes.push((await createVolume(deps, { name: `seed${i}`, site, ...size })).id);
  }
  const mirrored = await createGroup(deps, { name: 'seed-mirrored', primarySite: east, secondarySite: west });
  const empty = await createGroup(deps, { name: 'seed-empty', primarySite: east, secondarySite: west });
  const pair = await addPair(deps, mirrored.id, { primaryVolumeId: volumes[0] });
  const started = await startSync(deps, mirrored.id);
  const deadline = Date.now() + SEED_SYNC_MS;
  while ((await getSync(deps, mirrored.id, started.syncId)).state !== 'committed') {
    if (Date.now() > deadline) throw new Error(`the seed sync did not commit in ${SEED_SYNC_MS} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const list = (values: string[]) => `{ values = [${values.map((v) => JSON.stringify(v)).join(', ')}] }`;
  const bind = (dictionary: string) => `{ dictionary = "${dictionary}", probability = 0.8 }`;
  return [
    '[dictionaries]',
    `groups = ${list([mirrored.id, empty.id])}`,
    `volumes = ${list([...volumes, pair.secondaryVolumeId])}`,
    `syncs = ${list([started.syncId])}`,
    `sites = ${list([east, west])}`,
    '',
    '[parameters]',
    `"path.groupId" = ${bind('groups')}`,
    `"path.volumeId" = ${bind('volumes')}`,
    `"path.primaryVolumeId" = ${bind('volumes')}`,
    `"path.syncId" = ${bind('syncs')}`,
    `"body.primaryVolumeId" = ${bind('volumes')}`,
    `"body.secondaryVolumeId" = ${bind('volumes')}`,
    `"body.site" = ${bind('sites')}`,
    `"body.primarySite" = ${bind('sites')}`,
    `"body.secondarySite" = ${bind('sites')}`,
    '',
  ].join('\n');
}

interface Figures {
  requests: number;
  uncovered: string[];
  operationsCovered: number;
  operationsTotal: number;
  failures: number;
}

/** The run's figures from schemathesis's NDJSON event stream. */
function figuresOf(ndjsonPath: string, operations: Set<string>): Figures {
  let requests = 0;
  const covered = new Set<string>();
  const failed = new Set<string>();
  for (const line of readFileSync(ndjsonPath, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as Record<string, Record<string, unknown>>;
    const finished = event.ScenarioFinished;
    if (!finished) continue;
    const recorder = finished.recorder as {
      label: string;
      interactions: Record<string, unknown>;
      checks: Record<
        string,
        { name: string; status: string; failure_info?: { failure?: { title?: string } } }[]
      >;
    };
    const count = Object.keys(recorder.interactions ?? {}).length;
    requests += count;
    // Stateful scenarios carry a chain's label; operations are counted by their own.
    if (count > 0 && operations.has(recorder.label)) covered.add(recorder.label);
    for (const checks of Object.values(recorder.checks ?? {})) {
      for (const c of checks) {
        if (c.status === 'FAILURE')
          failed.add(`${recorder.label}: ${c.name}: ${c.failure_info?.failure?.title ?? ''}`);
      }
    }
  }
  return {
    requests,
    uncovered: [...operations].filter((o) => !covered.has(o)),
    operationsCovered: covered.size,
    operationsTotal: operations.size,
    failures: failed.size,
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      examples: { type: 'string', default: process.env.VOLMIRROR_FUZZ_EXAMPLES ?? '25' },
      seed: { type: 'string', default: process.env.VOLMIRROR_FUZZ_SEED ?? '1' },
    },
  });
  const stack = await LocalStack.start({ topology: 'shared', leaseSeconds: 5 });
  const clients = buildClients(stack.config);
  const deps = buildDeps(stack.config, clients);
  const runtime = new LocalRuntime(deps, { copyWorkers: 2, tickMs: 250 }).start();
  const token = randomBytes(16).toString('hex');
  const api = await LocalApiServer.start(deps, token);
  const reports = mkdtempSync(join(tmpdir(), 'volmirror-fuzz-'));
  const started = Date.now();
  try {
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const operations = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    const ndjson = join(reports, 'events.ndjson');
    const config = join(reports, 'schemathesis.toml');
    writeFileSync(config, await seed(deps));
    const code = await run(
      join(venv, 'bin', 'schemathesis'),
      [
        '--config-file',
        config,
        'run',
        `${api.url}/openapi.json`,
        '--url',
        api.url,
        '--header',
        `Authorization: Bearer ${token}`,
        '--checks',
        CHECKS.join(','),
        '--max-examples',
        values.examples,
        '--seed',
        values.seed,
        // One worker: hypothesis's lambda descriptions call ast.parse, which is not thread-safe on
        // Python 3.11 ("AST constructor recursion depth mismatch" with two workers).
        '--workers',
        '1',
        '--phases',
        'examples,coverage,fuzzing,stateful',
        '--max-time',
        '100',
        '--report',
        'ndjson',
        '--report-ndjson-path',
        ndjson,
        '--no-color',
      ],
      reports,
    );
    const f = figuresOf(ndjson, operations);
    console.log(
      `fuzz:api: ${f.requests} requests, ${f.operationsCovered}/${f.operationsTotal} operations covered, ` +
        `${f.failures} failures, ${Math.round((Date.now() - started) / 1000)} s (schemathesis exit ${code})` +
        (f.uncovered.length ? `; not exercised: ${f.uncovered.join(', ')}` : ''),
    );
    return code === 0 && f.failures === 0 ? 0 : 1;
  } finally {
    rmSync(reports, { recursive: true, force: true });
    await runtime.stop();
    await api.stop();
    clients.destroy();
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`fuzz:api: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
