import type { LinkCounters } from '../../local/link-proxy';

/** Per-site counters of the link proxies, by the name each gets in the summary. */
const LINK_KEYS: [keyof LinkCounters, string][] = [
  ['cuts', 'link-cuts'],
  ['connectionsCut', 'connections-cut'],
  ['heals', 'link-heals'],
  ['degradeWindows', 'degrade-windows'],
  ['answered503', 'answered-503'],
  ['answered500', 'answered-500'],
  ['delayed', 'requests-delayed'],
  ['stalls', 'stalls'],
  ['stalledDropped', 'stalled-requests-dropped'],
];

/** The rows of the summary, in the order they are printed; site rows follow the link rows' order. */
const ROWS = [
  'runs',
  'shrink-runs',
  'steps',
  ...LINK_KEYS.map(([, name]) => `${name}:*`),
  'copy-worker-kills',
  'ingest-kills',
  'driver-kills',
  'runtime-restarts',
  'extra-runtimes',
  'gateway-crashes',
  'gateways-fenced-by-stall',
  'duplicate-deliveries',
  'held-deliveries',
  'released-deliveries',
  'duplicate-copy-tasks',
  'held-copy-tasks',
  'released-copy-tasks',
  'pair-removes',
  'pair-adds',
  'suspends',
  'resumes',
  'abort-requests',
  'aborts-accepted',
  'second-gateway-attempts',
  'second-gateways-accepted',
  'role-changes',
  'role-change-cuts',
  'role-change-cut-while-role-change-pending',
  'role-change-cut-while-role-change-in-progress',
  'role-change-cut-while-done',
  'role-flips',
  'role-changes-refused',
  'final-syncs-checked',
  'site-losses',
  'site-losses-skipped',
  'forced-promotions',
  'preserved-items-checked',
  'writes-issued',
  'writes-acknowledged',
  'writes-refused',
  'syncs-started',
  'syncs-committed',
  'syncs-failed',
  'syncs-aborted',
  'rps-checked',
  'violations',
];

/**
 * Counts of what a soak did, by kind: every fault counted where it was injected (the proxy
 * counts the requests it answered with an error, the runtime hook the workers it stopped),
 * every outcome counted from the oracle's records. Runs add up into a seed's, seeds into a
 * combined summary.
 */
export class FaultCounts {
  private readonly n = new Map<string, number>();

  add(key: string, by = 1): void {
    if (by !== 0) this.n.set(key, (this.n.get(key) ?? 0) + by);
  }

  get(key: string): number {
    return this.n.get(key) ?? 0;
  }

  merge(other: FaultCounts): void {
    for (const [k, v] of other.n) this.add(k, v);
  }

  /** Adds what each site's proxy did between two readings of its counters. */
  addLinks(before: Record<string, LinkCounters>, after: Record<string, LinkCounters>): void {
    for (const [site, now] of Object.entries(after))
      for (const [field, name] of LINK_KEYS)
        this.add(`${name}:${site}`, now[field] - (before[site]?.[field] ?? 0));
  }

  /** Every known row (zero when nothing happened), then any other key, in a stable order. */
  entries(sites: string[]): [string, number][] {
    const keys = ROWS.flatMap((r) => (r.endsWith(':*') ? sites.map((s) => r.replace('*', s)) : [r]));
    const known = new Set(keys);
    const others = [...this.n.keys()].filter((k) => !known.has(k)).sort();
    return [...keys, ...others].map((k) => [k, this.get(k)]);
  }

  toJSON(sites: string[]): Record<string, number> {
    return Object.fromEntries(this.entries(sites));
  }

  table(sites: string[]): string {
    const rows = this.entries(sites);
    const width = Math.max(...rows.map(([k]) => k.length));
    return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${String(v).padStart(7)}`).join('\n');
  }
}

/** Copies each site's counters, to count what happened from now on. */
export function readLinks(proxies: Record<string, { counters: LinkCounters }>): Record<string, LinkCounters> {
  return Object.fromEntries(Object.entries(proxies).map(([site, p]) => [site, { ...p.counters }]));
}
