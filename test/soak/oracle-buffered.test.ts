import { describe, expect, it } from 'vitest';
import { Oracle, type SyncRecord, type WriteRecord } from './oracle';

const SIZE = 32;

function write(o: Oracle, volumeId: string, offset: number, bytes: number[], buffered: boolean): WriteRecord {
  const w: WriteRecord = {
    id: o.writes.length,
    volumeId,
    offset,
    data: o.distinctData(volumeId, offset, Uint8Array.from(bytes)),
    issuedAt: o.tick(),
    session: 'nbd',
    step: 1,
    ...(buffered && { buffered }),
  };
  o.writes.push(w);
  w.ackedAt = o.tick();
  return w;
}

function image(writes: WriteRecord[]): Uint8Array {
  const out = new Uint8Array(SIZE);
  for (const w of writes) out.set(w.data, w.offset);
  return out;
}

/** A sync started before both writes: neither is required, only ordering is judged. */
function check(o: Oracle, startedAt: number, included: WriteRecord[]): string[] {
  const s: SyncRecord = {
    syncId: 'sync-1',
    recoveryPointId: 'rp-1',
    startedAt,
    committedAt: o.tick(),
    pairs: new Map([['v1', 'v1-s']]),
    initialFor: new Set(),
    checked: false,
    copied: new Map(),
  };
  o.syncs.push(s);
  o.checkRecoveryPoint(s, new Map([['v1', image(included)]]));
  return o.violations.map((v) => v.kind);
}

describe('soak oracle, writes acknowledged from a write-back buffer', () => {
  it('a later write may be in an RP without an earlier one that was acknowledged but not yet durable', () => {
    const o = new Oracle();
    const start = o.tick();
    write(o, 'v1', 0, [1, 2, 3], true);
    const later = write(o, 'v1', 8, [4, 5], true);
    expect(check(o, start, [later])).toEqual([]);
  });

  it('once a FLUSH (or FUA) made it durable, every write issued after it brings it along', () => {
    const o = new Oracle();
    const start = o.tick();
    const first = write(o, 'v1', 0, [1, 2, 3], true);
    first.durableAt = o.tick();
    const later = write(o, 'v1', 8, [4, 5], true);
    expect(check(o, start, [later])).toEqual(['not-causal']);
  });

  it('a gateway write is ordered by its acknowledgement, as before', () => {
    const o = new Oracle();
    const start = o.tick();
    write(o, 'v1', 0, [1, 2, 3], false);
    const later = write(o, 'v1', 8, [4, 5], false);
    expect(check(o, start, [later])).toEqual(['not-causal']);
  });
});
