import { describe, expect, it } from 'vitest';
import { Oracle, type SyncRecord, type WriteRecord } from './oracle';

const SIZE = 32;

function sync(o: Oracle, startedAt: number, committedAt: number, volumes: string[]): SyncRecord {
  const s: SyncRecord = {
    syncId: 'sync-1',
    recoveryPointId: 'rp-1',
    startedAt,
    committedAt,
    pairs: new Map(volumes.map((v) => [v, `${v}-s`])),
    initialFor: new Set(),
    checked: false,
    copied: new Map(),
  };
  o.syncs.push(s);
  return s;
}

function write(o: Oracle, volumeId: string, offset: number, bytes: number[], acked = true): WriteRecord {
  const w: WriteRecord = {
    id: o.writes.length,
    volumeId,
    offset,
    data: o.distinctData(volumeId, offset, Uint8Array.from(bytes)),
    issuedAt: o.tick(),
    session: 'gw-1',
    step: 1,
  };
  o.writes.push(w);
  if (acked) w.ackedAt = o.tick();
  return w;
}

function image(writes: WriteRecord[]): Uint8Array {
  const out = new Uint8Array(SIZE);
  for (const w of writes) out.set(w.data, w.offset);
  return out;
}

describe('soak oracle', () => {
  it('accepts an RP holding the writes acked before the start and a causal prefix of the rest', () => {
    const o = new Oracle();
    const a = write(o, 'v1', 0, [1, 2, 3, 4]);
    const start = o.tick();
    const b = write(o, 'v2', 8, [5, 6]);
    const c = write(o, 'v1', 2, [7, 8, 9]);
    const s = sync(o, start, o.tick(), ['v1', 'v2']);
    o.checkRecoveryPoint(
      s,
      new Map([
        ['v1', image([a])],
        ['v2', image([])],
      ]),
    );
    o.checkRecoveryPoint(
      s,
      new Map([
        ['v1', image([a])],
        ['v2', image([b])],
      ]),
    );
    o.checkRecoveryPoint(
      s,
      new Map([
        ['v1', image([a, c])],
        ['v2', image([b])],
      ]),
    );
    expect(o.violations).toEqual([]);
    void c;
  });

  it('flags a write acknowledged before the sync started that the RP lacks', () => {
    const o = new Oracle();
    const a = write(o, 'v1', 0, [1, 2, 3, 4]);
    write(o, 'v1', 10, [5]);
    const s = sync(o, o.tick(), o.tick(), ['v1']);
    o.checkRecoveryPoint(s, new Map([['v1', image([a])]]));
    expect(o.violations.map((v) => v.kind)).toEqual(['acked-missing']);
  });

  it('flags an RP holding a write issued after the commit', () => {
    const o = new Oracle();
    const a = write(o, 'v1', 0, [1, 2]);
    const s = sync(o, o.tick(), o.tick(), ['v1']);
    const late = write(o, 'v1', 4, [3, 4]);
    o.checkRecoveryPoint(s, new Map([['v1', image([a, late])]]));
    expect(o.violations.map((v) => v.kind)).toEqual(['rp-image']);
  });

  it('flags an RP that is not causally closed across volumes', () => {
    const o = new Oracle();
    const start = o.tick();
    const first = write(o, 'v1', 0, [1, 2]);
    const second = write(o, 'v2', 0, [3, 4]);
    const s = sync(o, start, o.tick(), ['v1', 'v2']);
    o.checkRecoveryPoint(
      s,
      new Map([
        ['v1', image([])],
        ['v2', image([second])],
      ]),
    );
    expect(o.violations.map((v) => v.kind)).toEqual(['not-causal']);
    void first;
  });

  it("allows a refused write's bytes, but not bytes nobody wrote", () => {
    const o = new Oracle();
    const a = write(o, 'v1', 0, [1, 2]);
    const refused = write(o, 'v1', 4, [9, 9], false);
    refused.failedAt = o.tick();
    const s = sync(o, o.tick(), o.tick(), ['v1']);
    o.checkRecoveryPoint(s, new Map([['v1', image([a, refused])]]));
    expect(o.violations).toEqual([]);
    const garbage = image([a]);
    garbage[20] = 77;
    o.checkRecoveryPoint(s, new Map([['v1', garbage]]));
    expect(o.violations.map((v) => v.kind)).toEqual(['rp-image']);
  });

  it('flags a copied chunk that was not written since the previous RP started', () => {
    const o = new Oracle();
    write(o, 'v1', 0, [1]);
    const s = sync(o, o.tick(), o.tick(), ['v1']);
    s.previousStart = o.tick();
    s.copied.set('v1/0', 1);
    o.checkCopies(s, () => 8);
    expect(o.violations.map((v) => v.kind)).toEqual(['needless-copy']);
  });

  it("a planned change's final sync must hold every write acked before its commit was seen", () => {
    const o = new Oracle();
    const start = o.tick();
    const a = write(o, 'v1', 0, [1, 2, 3]);
    const s = sync(o, start, o.tick(), ['v1']);
    o.checkRecoveryPoint(s, new Map([['v1', image([])]]));
    expect(o.violations).toEqual([]);
    s.drained = true;
    o.checkRecoveryPoint(s, new Map([['v1', image([])]]));
    expect(o.violations.map((v) => v.kind)).toEqual(['acked-missing']);
    o.violations.length = 0;
    o.checkRecoveryPoint(s, new Map([['v1', image([a])]]));
    expect(o.violations).toEqual([]);
  });

  it('after a forced promotion, writes issued after the RP it reverted to are in no later image', () => {
    const o = new Oracle();
    const a = write(o, 'v1', 0, [1, 2, 3]);
    const rpSeen = o.tick();
    const lost = write(o, 'v1', 4, [4, 5]);
    expect(o.discardIssuedAfter(rpSeen)).toEqual([lost]);
    const start = o.tick();
    const b = write(o, 'v1', 8, [6]);
    const s = sync(o, start, o.tick(), ['v1']);
    o.checkRecoveryPoint(s, new Map([['v1', image([a, b])]]));
    expect(o.violations).toEqual([]);
    o.checkRecoveryPoint(s, new Map([['v1', image([a, lost, b])]]));
    expect(o.violations.map((v) => v.kind)).toEqual(['rp-image']);
  });

  it('never two writers: gateways at two sites acking at once, or a lower role epoch acking after a higher one', () => {
    const at = (w: WriteRecord, session: string, site: string, roleEpoch: number) =>
      Object.assign(w, { session, site, roleEpoch });
    const ok = new Oracle();
    at(write(ok, 'v1', 0, [1]), 'gw-a', 'east', 0);
    at(write(ok, 'v1', 1, [2]), 'gw-b', 'west', 1);
    ok.checkWriters();
    expect(ok.violations).toEqual([]);

    const overlap = new Oracle();
    const w1 = at(write(overlap, 'v1', 0, [1], false), 'gw-a', 'east', 0);
    at(write(overlap, 'v1', 1, [2]), 'gw-b', 'west', 1);
    w1.ackedAt = overlap.tick();
    overlap.checkWriters();
    expect(overlap.violations.map((v) => v.kind)).toEqual(['two-writers']);

    const stale = new Oracle();
    at(write(stale, 'v1', 0, [1]), 'gw-b', 'west', 1);
    at(write(stale, 'v1', 1, [2]), 'gw-c', 'west', 0);
    stale.checkWriters();
    expect(stale.violations.map((v) => v.kind)).toEqual(['two-writers']);
  });
});
