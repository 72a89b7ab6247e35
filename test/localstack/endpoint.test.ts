import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checksumVolume } from '../../shared/usecases/reads';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
} from '../support/harness';

const CHUNK = 64 * 1024;

// Runs under vitest.localstack.config.ts, which provides the endpoint; the default config skips it.
describe.skipIf(!inject('localstackEndpoint'))('LocalStack with DynamoDB Local behind one endpoint', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    startRuntime(h);
  });
  afterAll(async () => h?.stop());

  it('keeps the control table in DynamoDB Local, reached with the local credentials', async () => {
    const endpoint = inject('localstackEndpoint');
    expect(h.stack.config.control.endpoint).toBe(endpoint);
    expect(h.stack.config.sites.map((s) => s.endpoint)).toEqual([endpoint, endpoint]);
    const tables = await h.clients.control.send(new ListTablesCommand({}));
    expect(tables.TableNames).toContain(h.stack.config.control.table);
  });

  it('replicates a volume across the two regions of the one endpoint', async () => {
    const g = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], 100, randomBytesOf(3 * CHUNK, 7));
    await gw.close();
    const rp = await syncAndWait(h, g.groupId);
    const [a, b] = await Promise.all([
      checksumVolume(h.deps, g.primaries[0], rp),
      checksumVolume(h.deps, g.secondaries[0], rp),
    ]);
    expect(b.sha256).toBe(a.sha256);
    // Same service for both sites: the copy is server-side, as on AWS.
    expect(h.counter.total('s3', 'west', 'CopyObjectCommand')).toBeGreaterThan(0);
  });
});
