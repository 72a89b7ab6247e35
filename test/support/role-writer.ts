import { keys } from '../../shared/aws/keys';
import { DomainError } from '../../shared/domain/errors';
import type { Group, Volume } from '../../shared/domain/model';
import type { Gateway } from '../../shared/gateway/gateway';
import { type Harness, openGateway, randomBytesOf } from './harness';

/** One pair as the writer sees it: one volume per site. */
export interface PairSides {
  bySite: Record<string, string>;
  sizeBytes: number;
  chunkSize: number;
}

export interface AckedWrite {
  pair: number;
  volumeId: string;
  site: string;
  offset: number;
  data: Uint8Array;
  roleEpoch: number;
  /** Wall time the write was issued and acknowledged. */
  issuedAt: number;
  ackedAt: number;
}

/** Refusals that happen before any I/O: the write certainly did not land. */
const CLEAN_REFUSALS = ['role-change', 'gateway-closed', 'wrong-state', 'secondary-volume', 'lease-held'];

/**
 * A writer that follows the primary: one lane per pair, each writing its pair's volume at
 * the group's primary site, one write at a time; refused writes make it reopen a gateway
 * wherever the group's primary is then. Every acknowledged write is logged with its role epoch.
 */
export class RoleFollowingWriter {
  readonly acked: AckedWrite[] = [];
  /** Writes that failed after they may have reached storage (lease lost mid-write). */
  readonly uncertain: { pair: number; error: string }[] = [];
  refused = 0;
  private gw?: Gateway;
  private gwEpoch = 0;
  private gwSite = '';
  private opening?: Promise<void>;
  private seed = 1;
  stopped = false;
  private running?: Promise<void>;

  constructor(
    private readonly h: Harness,
    private readonly groupId: string,
    private readonly pairs: PairSides[],
  ) {}

  start(): void {
    this.stopped = false;
    this.running = Promise.all(this.pairs.map((_, i) => this.lane(i))).then(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    const gw = this.gw;
    this.gw = undefined;
    await gw?.close().catch(() => undefined);
  }

  /** The distinct chunks per volume touched by the acknowledged writes that pass `filter`. */
  chunksWritten(filter: (w: AckedWrite) => boolean): Map<string, Set<number>> {
    const out = new Map<string, Set<number>>();
    for (const w of this.acked.filter(filter)) {
      const p = this.pairs[w.pair];
      const set = out.get(w.volumeId) ?? new Set<number>();
      for (let c = Math.floor(w.offset / p.chunkSize); c * p.chunkSize < w.offset + w.data.length; c++)
        set.add(c);
      out.set(w.volumeId, set);
    }
    return out;
  }

  /** The content each pair's volumes must hold once every acknowledged write is replicated. */
  expectedImage(pair: number): Buffer {
    const image = Buffer.alloc(this.pairs[pair].sizeBytes);
    for (const w of this.acked) if (w.pair === pair) image.set(w.data, w.offset);
    return image;
  }

  private async gateway(): Promise<{ gw: Gateway; roleEpoch: number; site: string } | undefined> {
    if (this.gw) return { gw: this.gw, roleEpoch: this.gwEpoch, site: this.gwSite };
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    await this.opening;
    return this.gw ? { gw: this.gw, roleEpoch: this.gwEpoch, site: this.gwSite } : undefined;
  }

  private async open(): Promise<void> {
    const group = await this.h.deps.table.get<Group>(keys.group(this.groupId));
    if (!group) return;
    const volumeId = this.pairs[0].bySite[group.primarySite];
    const volume = await this.h.deps.table.get<Volume>(keys.volume(volumeId));
    if (volume?.role !== 'primary') return;
    try {
      this.gw = await openGateway(this.h, volumeId);
      this.gwEpoch = group.roleEpoch;
      this.gwSite = group.primarySite;
    } catch (e) {
      if (!(e instanceof DomainError) || e.status !== 409) throw e;
    }
  }

  private drop(gw: Gateway): void {
    if (this.gw !== gw) return;
    this.gw = undefined;
    void gw.close().catch(() => undefined);
  }

  private async lane(pair: number): Promise<void> {
    const p = this.pairs[pair];
    for (let i = 0; i < 100_000 && !this.stopped; i++) {
      const open = await this.gateway();
      if (!open) {
        await new Promise((r) => setTimeout(r, 30));
        continue;
      }
      const seed = this.seed++;
      const offset = (seed * 7919) % (p.sizeBytes - 1);
      const length = 1 + ((seed * 104_729) % Math.min(2 * p.chunkSize, p.sizeBytes - offset));
      const data = randomBytesOf(length, seed);
      const writeSite = open.site;
      const volumeId = p.bySite[writeSite];
      const issuedAt = Date.now();
      try {
        await open.gw.write(volumeId, offset, data);
        this.acked.push({
          pair,
          volumeId,
          site: writeSite,
          offset,
          data,
          roleEpoch: open.roleEpoch,
          issuedAt,
          ackedAt: Date.now(),
        });
      } catch (e) {
        const code = e instanceof DomainError ? e.code : (e as Error).name;
        if (CLEAN_REFUSALS.includes(code) || code === 'not-in-scope') this.refused++;
        else this.uncertain.push({ pair, error: `${code}: ${(e as Error).message}` });
        this.drop(open.gw);
      }
    }
  }
}
