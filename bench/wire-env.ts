import { LocalStack, type Topology } from '../local/stack';
import { buildClients } from '../shared/aws/clients';
import type { MirrorConfig } from '../shared/config';
import { buildDeps, type Deps } from '../shared/deps';
import { WireCounter, WireCounters } from './wire-counter';

/** A local stack whose every endpoint is reached through a wire counter. */
export interface WireEnv {
  stack: LocalStack;
  config: MirrorConfig;
  deps: Deps;
  wire: WireCounters;
  /** The counter in front of each site's endpoint (one shared counter in the shared topology). */
  siteWire: Record<string, WireCounters>;
  /** The counted endpoint of each site's S3 (rclone's remotes point here too). */
  s3Endpoint: Record<string, string>;
  stop(): Promise<void>;
}

/** Retention is high so that no sync's cleanup expires a version before a section counts it. */
export async function wireEnv(topology: Topology, retention = 100): Promise<WireEnv> {
  const stack = await LocalStack.start({ topology, leaseSeconds: 60, retention });
  // One counter per distinct endpoint: the link proxies and the control emulator.
  const counters = new Map<string, WireCounter>();
  const counted = async (endpoint: string | undefined) => {
    if (!endpoint) throw new Error('the wire counters need the embedded emulators');
    let c = counters.get(endpoint);
    if (!c) {
      c = await WireCounter.start(endpoint);
      counters.set(endpoint, c);
    }
    return c.url;
  };
  const sites = [];
  // s3Service is kept: it names the S3 service for sameS3Service, it is not dialled.
  for (const s of stack.config.sites) sites.push({ ...s, endpoint: await counted(s.endpoint) });
  const config: MirrorConfig = {
    ...stack.config,
    sites,
    control: { ...stack.config.control, endpoint: await counted(stack.config.control.endpoint) },
  };
  const clients = buildClients(config);
  const deps = buildDeps(config, clients);
  const wire = new WireCounters([...counters.values()]);
  return {
    stack,
    config,
    deps,
    wire,
    siteWire: Object.fromEntries(
      stack.config.sites.map((s) => [
        s.name,
        new WireCounters([counters.get(s.endpoint as string) as WireCounter]),
      ]),
    ),
    s3Endpoint: Object.fromEntries(sites.map((s) => [s.name, s.endpoint as string])),
    async stop() {
      clients.destroy();
      await wire.stop();
      await stack.stop();
    },
  };
}
