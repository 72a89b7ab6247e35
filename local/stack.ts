import { randomBytes } from 'node:crypto';
import type { MirrorConfig } from '../shared/config';
import { Emulator } from './emulator';
import { type Degradation, LinkProxy } from './link-proxy';
import { provision } from './provision';

export const DEFAULT_SITES = [
  { name: 'east', region: 'us-east-1' },
  { name: 'west', region: 'us-west-2' },
];

export type Topology = 'per-site' | 'shared';

export interface LocalStackOptions {
  /** One emulator per site plus one for the control table, or one emulator for everything. */
  topology?: Topology;
  /** An AWS-compatible endpoint to use instead of starting emulators (e.g. LocalStack). */
  endpoint?: string;
  leaseSeconds?: number;
  retention?: number;
  copyVisibilitySeconds?: number;
  /** Needs-attention topics and the alert adapters on, as deployed (local/provision.ts). */
  alerts?: boolean;
}

/**
 * The emulated AWS of the local stack: emulators on loopback ports, a link proxy in front
 * of each site (so a site can be cut off for real), and the provisioned resources.
 */
export class LocalStack {
  private constructor(
    readonly config: MirrorConfig,
    private readonly emulators: Emulator[],
    readonly proxies: Record<string, LinkProxy>,
  ) {}

  static async start(opts: LocalStackOptions = {}): Promise<LocalStack> {
    const emulators: Emulator[] = [];
    const proxies: Record<string, LinkProxy> = {};
    try {
      let controlEndpoint: string;
      const siteEndpoints: Record<string, string> = {};
      let s3Service: string | undefined;
      if (opts.endpoint) {
        controlEndpoint = opts.endpoint;
        for (const s of DEFAULT_SITES) siteEndpoints[s.name] = opts.endpoint;
      } else if (opts.topology === 'shared') {
        const shared = await Emulator.start('shared');
        emulators.push(shared);
        controlEndpoint = shared.url;
        s3Service = shared.url;
        for (const s of DEFAULT_SITES) {
          proxies[s.name] = await LinkProxy.start(shared.port);
          siteEndpoints[s.name] = proxies[s.name].url;
        }
      } else {
        const started = await Promise.all(
          ['control', ...DEFAULT_SITES.map((s) => s.name)].map((n) => Emulator.start(n)),
        );
        emulators.push(...started);
        controlEndpoint = started[0].url;
        for (const [i, s] of DEFAULT_SITES.entries()) {
          proxies[s.name] = await LinkProxy.start(started[i + 1].port);
          siteEndpoints[s.name] = proxies[s.name].url;
        }
      }
      const config = await provision({
        prefix: `volmirror-${randomBytes(3).toString('hex')}`,
        sites: DEFAULT_SITES.map((s) => ({
          ...s,
          endpoint: siteEndpoints[s.name],
          ...(s3Service && { s3Service }),
        })),
        control: { region: DEFAULT_SITES[0].region, endpoint: controlEndpoint },
        leaseSeconds: opts.leaseSeconds,
        retention: opts.retention,
        copyVisibilitySeconds: opts.copyVisibilitySeconds,
        alerts: opts.alerts,
      });
      return new LocalStack(config, emulators, proxies);
    } catch (e) {
      await Promise.all([...emulators.map((x) => x.stop()), ...Object.values(proxies).map((p) => p.stop())]);
      throw e;
    }
  }

  get pids(): number[] {
    return this.emulators.flatMap((e) => (e.pid ? [e.pid] : []));
  }

  /** Cuts the network path to a site (both sites when none is named). */
  cut(site?: string): void {
    for (const p of this.proxyFor(site)) p.cutLink();
  }

  /** Restores the path to a site (both when none is named): no cut, no degradation. */
  heal(site?: string): void {
    for (const p of this.proxyFor(site)) p.heal();
  }

  /** Holds every request to a site (both sites when none is named) until release(). */
  stall(site?: string): void {
    for (const p of this.proxyFor(site)) p.stall();
  }

  release(site?: string): void {
    for (const p of this.proxyFor(site)) p.release();
  }

  /** Fails a fraction of the requests to a site (both sites when none is named) and/or delays them. */
  degrade(d: Degradation, site?: string): void {
    for (const p of this.proxyFor(site)) p.degrade(d);
  }

  private proxyFor(site?: string): LinkProxy[] {
    if (Object.keys(this.proxies).length === 0)
      throw new Error('link faults need the embedded emulators (no --endpoint)');
    if (!site) return Object.values(this.proxies);
    const p = this.proxies[site];
    if (!p) throw new Error(`unknown site ${site}; sites: ${Object.keys(this.proxies).join(', ')}`);
    return [p];
  }

  async stop(): Promise<void> {
    await Promise.all([
      ...Object.values(this.proxies).map((p) => p.stop()),
      ...this.emulators.map((e) => e.stop()),
    ]);
  }
}
