import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Harness,
  type MirroredGroup,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
} from '../support/harness';
import { expectOnlyLiveAndRetained } from '../support/versions';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;
const CHUNKS = 64;

/**
 * A copy that fails (a 500 from the secondary's S3) fails its task, which is retried: the
 * copies of that task that landed beside it are recorded before the task gives up, so the
 * retry copies only what is missing and no chunk version is written twice or left unnamed.
 */
describe('a copy task retried after one failed copy', () => {
  let h: Harness;
  let g: MirroredGroup;
  const puts = new Map<string, number>();
  let failOn: number | undefined;
  let attempts = 0;

  beforeAll(async () => {
    h = await startHarness({ retention: 10 });
    const stack = h.clients.sites.west.s3.middlewareStack as unknown as {
      add(mw: unknown, opts: { step: string; name: string }): void;
    };
    stack.add(
      (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) =>
        async (args: { input?: { Key?: string } }) => {
          const key = args.input?.Key;
          if (context.commandName === 'PutObjectCommand' && key?.includes('/chunks/')) {
            // Counted at the start of each PUT: several copies can land between two starts.
            if (++attempts === failOn) {
              failOn = undefined;
              throw Object.assign(new Error('injected: the secondary S3 answered 500'), {
                name: 'InternalError',
                $metadata: { httpStatusCode: 500 },
              });
            }
            const out = await next(args);
            puts.set(key, (puts.get(key) ?? 0) + 1);
            return out;
          }
          return next(args);
        },
      { step: 'initialize', name: 'failOneCopy' },
    );
    startRuntime(h);
    g = await mirroredGroup(h, [{ sizeBytes: CHUNKS * CHUNK, chunkSizeBytes: CHUNK }]);
  }, 120_000);
  afterAll(async () => h?.stop());

  it('copies every chunk exactly once, and the RP equals the primary', async () => {
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 0, randomBytesOf(CHUNKS * CHUNK, 7));
    await gw.close();
    // Mid-task: copies before and after it in the same task are in flight or landed.
    failOn = attempts + 20;
    const rp = await syncAndWait(h, g.groupId);
    expect(failOn).toBeUndefined();
    expect(puts.size).toBe(CHUNKS);
    const twice = [...puts].filter(([, n]) => n > 1).map(([k]) => k);
    expect(twice).toEqual([]);
    expect((await readAll(h, g.secondaries[0], rp)).equals(await readAll(h, g.primaries[0]))).toBe(true);
    await expectOnlyLiveAndRetained(h, g, 'a sync with one failed copy');
  }, 90_000);
});
