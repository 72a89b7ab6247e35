import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Gateway } from '../../shared/gateway/gateway';
import { type Harness, mirroredGroup, openGateway, startHarness } from '../support/harness';

/**
 * Found by the soak (seed 21, shared topology, and seed 10): a write of zero bytes is never
 * acknowledged nor refused when no other write of its epoch follows it, and the gateway can
 * then never close (closing seals the epoch, which waits for it).
 */
let h: Harness;
let gw: Gateway | undefined;

beforeAll(async () => {
  h = await startHarness();
}, 60_000);

afterAll(async () => {
  gw?.abandon();
  await h?.stop();
}, 60_000);

it('settles a zero-length write, and the epoch it is in can be closed', async () => {
  const g = await mirroredGroup(h, [{ sizeBytes: 1 << 20, chunkSizeBytes: 1 << 16 }]);
  gw = await openGateway(h, g.primaries[0]);
  const outcome = (p: Promise<unknown>) =>
    Promise.race([
      p.then(
        () => 'settled',
        () => 'settled',
      ),
      new Promise((r) => setTimeout(() => r('hung'), 5_000).unref()),
    ]);
  expect(await outcome(gw.write(g.primaries[0], 4096, new Uint8Array(0)))).toBe('settled');
  expect(await outcome(gw.close())).toBe('settled');
}, 60_000);
