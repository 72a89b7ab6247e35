import fc from 'fast-check';
import { SettleStep, type SoakCommand, StartSyncStep, Step, type WriteKind, WriteStep } from './commands';
import type { Oracle, SyncRecord } from './oracle';
import type { SoakRun } from './system';

export const PLANTED_BUG = 'plantedBug(drop an acknowledged write)';

/**
 * The planted bug: once this step ran, every RP read afterwards lacks one acknowledged write
 * (its first byte reads as never written), as a system that dropped it would serve. The soak
 * must see `acked-missing`, and shrinking must leave little more than a write and this step.
 */
class DropAckedWriteStep extends Step {
  protected async act(m: Oracle, r: SoakRun): Promise<void> {
    r.readHook = (sync, primaryId, image) => dropOneAckedWrite(m, sync, primaryId, image);
  }

  toString(): string {
    return PLANTED_BUG;
  }
}

/** The image with the first byte of the latest write acknowledged before the sync started, and not overwritten since, zeroed. */
function dropOneAckedWrite(m: Oracle, sync: SyncRecord, primaryId: string, image: Uint8Array): Uint8Array {
  const writes = m.writes.filter((w) => w.volumeId === primaryId);
  for (let i = writes.length - 1; i >= 0; i--) {
    const w = writes[i];
    if (w.data.length === 0 || w.ackedAt === undefined || w.ackedAt >= sync.startedAt) continue;
    const later = writes
      .slice(i + 1)
      .some((x) => w.offset >= x.offset && w.offset < x.offset + x.data.length);
    if (later) continue;
    const dropped = Uint8Array.from(image);
    dropped[w.offset] = 0;
    return dropped;
  }
  return image;
}

/** A small step set that runs fast: writes, syncs, short settles, and the planted bug. */
export function plantedCommands(): fc.Arbitrary<SoakCommand>[] {
  const write = fc
    .tuple(
      fc.integer({ min: 0, max: 2 }),
      fc.constantFrom<WriteKind>('random', 'hot', 'partial'),
      fc.integer({ min: 1, max: 2 }),
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    )
    .map(([v, kind, n, seed]) => new WriteStep(v, kind, n, seed));
  return [
    fc.oneof(
      { arbitrary: write, weight: 3 },
      { arbitrary: fc.constant(new StartSyncStep()), weight: 2 },
      { arbitrary: fc.integer({ min: 100, max: 400 }).map((ms) => new SettleStep(ms)), weight: 1 },
      { arbitrary: fc.constant(new DropAckedWriteStep()), weight: 1 },
    ),
  ];
}
