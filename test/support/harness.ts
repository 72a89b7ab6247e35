import { randomBytes } from 'node:crypto';
import { LocalApiServer } from '../../local/http-server';
import { LocalRuntime, type RuntimeOptions } from '../../local/runtime';
import { LocalStack, type LocalStackOptions } from '../../local/stack';
import { buildClients, type Clients, RequestCounter } from '../../shared/aws/clients';
import { keys } from '../../shared/aws/keys';
import { buildDeps, type Deps } from '../../shared/deps';
import { Gateway, type GatewayOptions } from '../../shared/gateway/gateway';
import { parseCopyMessage, runCopyTask } from '../../shared/usecases/copy-worker';
import { createGroup } from '../../shared/usecases/groups';
import { addPair } from '../../shared/usecases/pairs';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import { createVolume } from '../../shared/usecases/volumes';

export interface Harness {
  stack: LocalStack;
  clients: Clients;
  deps: Deps;
  counter: RequestCounter;
  runtime?: LocalRuntime;
  stop(): Promise<void>;
}

/** Starts emulators (per-site unless VOLMIRROR_TEST_TOPOLOGY=shared) and the clients on them. */
export async function startHarness(opts: LocalStackOptions = {}): Promise<Harness> {
  const topology =
    opts.topology ?? (process.env.VOLMIRROR_TEST_TOPOLOGY as LocalStackOptions['topology']) ?? 'per-site';
  const stack = await LocalStack.start({ leaseSeconds: 3, copyVisibilitySeconds: 2, ...opts, topology });
  const clients = buildClients(stack.config);
  const counter = new RequestCounter().attach(clients);
  const deps = buildDeps(stack.config, clients);
  const h: Harness = {
    stack,
    clients,
    deps,
    counter,
    async stop() {
      await h.runtime?.stop();
      clients.destroy();
      await stack.stop();
    },
  };
  return h;
}

export function startRuntime(h: Harness, opts: RuntimeOptions = {}): LocalRuntime {
  h.runtime = new LocalRuntime(h.deps, {
    copyWorkers: 3,
    tickMs: 100,
    syncPollMs: 30,
    copyVisibilitySeconds: 2,
    ...opts,
  }).start();
  return h.runtime;
}

export async function startApi(h: Harness): Promise<{ server: LocalApiServer; token: string }> {
  const token = randomBytes(16).toString('hex');
  return { server: await LocalApiServer.start(h.deps, token), token };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Runs a sync to commit and returns its RP id. */
export async function syncAndWait(h: Harness, groupId: string, timeoutMs = 60_000): Promise<string> {
  const { syncId, recoveryPointId } = await startSync(h.deps, groupId);
  h.runtime?.drive(groupId, syncId);
  let last: unknown;
  try {
    await waitFor(
      `sync ${syncId} to commit`,
      async () => {
        const s = await getSync(h.deps, groupId, syncId);
        last = s;
        if (s.state === 'failed') throw new Error(`sync failed: ${s.error}`);
        return s.state === 'committed';
      },
      timeoutMs,
    );
  } catch (e) {
    // What the sync was doing and what the runtime saw, for a failure that is hard to reproduce.
    const group = await h.deps.table.get(keys.group(groupId));
    throw new Error(
      `${(e as Error).message}\nsync: ${JSON.stringify(last)}\ngroup: ${JSON.stringify(group)}\nruntime errors: ${JSON.stringify(h.runtime?.errors.slice(-10))}`,
    );
  }
  return recoveryPointId;
}

export interface MirroredGroup {
  groupId: string;
  primaries: string[];
  secondaries: string[];
}

/** A group with one pair per volume spec, secondaries created by the pair add. */
export async function mirroredGroup(
  h: Harness,
  volumes: { sizeBytes: number; chunkSizeBytes: number }[],
  sync: Record<string, unknown> = { mode: 'manual' },
): Promise<MirroredGroup> {
  const group = await createGroup(h.deps, { name: 'g1', primarySite: 'east', secondarySite: 'west', sync });
  const primaries: string[] = [];
  const secondaries: string[] = [];
  for (const [i, v] of volumes.entries()) {
    const vol = await createVolume(h.deps, { name: `v${i}`, site: 'east', ...v });
    const pair = await addPair(h.deps, group.id, { primaryVolumeId: vol.id });
    primaries.push(vol.id);
    secondaries.push(pair.secondaryVolumeId);
  }
  return { groupId: group.id, primaries, secondaries };
}

/** Runs the copy tasks offered on a site's copy queue (up to ten), as a copy worker would. */
export async function runOfferedCopies(h: Harness, site = 'west'): Promise<void> {
  const queue = h.deps.copyQueues[site];
  const got = await queue.receive(10, 0);
  for (const m of got) await runCopyTask(h.deps, parseCopyMessage(m.body));
  await queue.deleteAll(got.map((m) => m.receiptHandle));
}

export function openGateway(h: Harness, volumeId: string, opts: GatewayOptions = {}): Promise<Gateway> {
  return Gateway.open(h.deps, volumeId, { renewEveryMs: 100, ...opts });
}

export function randomBytesOf(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Runs `hook` before every chunk object written at a site (PutObject or CopyObject of a chunk key). */
export function hookChunkWrites(
  h: Harness,
  site: string,
  name: string,
  hook: (key: string) => Promise<void>,
): void {
  const stack = h.clients.sites[site].s3.middlewareStack as unknown as {
    add(mw: unknown, opts: { step: string; name: string }): void;
  };
  stack.add(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input?: { Key?: string } }) => {
        const cmd = context.commandName;
        const key = args.input?.Key;
        if ((cmd === 'PutObjectCommand' || cmd === 'CopyObjectCommand') && key?.includes('/chunks/'))
          await hook(key);
        return next(args);
      },
    { step: 'initialize', name },
  );
}

/** Counts chunk objects written at a site: one per chunk copy. */
export function chunkWriteCounter(h: Harness, site: string): { count(): number; reset(): void } {
  let n = 0;
  hookChunkWrites(h, site, `chunkWriteCounter${site}`, async () => {
    n++;
  });
  return {
    count: () => n,
    reset: () => {
      n = 0;
    },
  };
}
