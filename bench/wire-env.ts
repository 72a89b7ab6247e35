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
  /** The counted endpoint of each site's S3 (rclone's remotes point here too). */
  s3Endpoint: Record<string, string>;
  stop(): Promise<void>;
}

export async function wireEnv(topology: Topology): Promise<WireEnv> {
  const stack = await LocalStack.start({ topology, leaseSeconds: 60 });
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
    s3Endpoint: Object.fromEntries(sites.map((s) => [s.name, s.endpoint as string])),
    async stop() {
      clients.destroy();
      await wire.stop();
      await stack.stop();
    },
  };
}
