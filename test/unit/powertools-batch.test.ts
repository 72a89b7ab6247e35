import { describe, expect, it } from 'vitest';
import { makeCopyHandler } from '../../lambdas/copy';
import { makeIngestHandler } from '../../lambdas/ingest';
import { WorkerStopped } from '../../shared/usecases/copy-worker';
import { changeBatchBody, sqsBatch, tableDeps } from '../support/sqs-fakes';

const A = 'grp-00000000000a';
const B = 'grp-00000000000b';

describe('SQS handlers on the Powertools BatchProcessor', () => {
  it('ingest: a record the table refuses fails alone; its neighbours are stored', async () => {
    const { deps, puts } = tableDeps({ failing: [B] });
    const failures: string[] = [];
    const ingest = makeIngestHandler(() => deps, { onFailure: (id) => failures.push(id) });
    const out = await ingest(sqsBatch([changeBatchBody(A, 1), changeBatchBody(B, 1), changeBatchBody(A, 2)]));
    expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    expect(failures).toEqual(['msg-1']);
    expect(puts).toHaveLength(2);
  });

  it('a batch whose every record failed names them all instead of failing the invocation', async () => {
    const { deps } = tableDeps({ failing: [A] });
    const ingest = makeIngestHandler(() => deps);
    // Side by side, failures are named in the order they happen: Lambda reads them as a set.
    const { batchItemFailures } = await ingest(sqsBatch([changeBatchBody(A, 1), 'not json']));
    expect(batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['msg-0', 'msg-1']);
    const copy = makeCopyHandler(() => deps);
    expect(await copy(sqsBatch(['not json']))).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-0' }] });
  });

  it('copy: a stopped worker ends the invocation as a crash would, and takes no further task', async () => {
    const task = {
      taskNo: 0,
      sourceSite: 'west',
      targetSite: 'east',
      chunks: [[0, 'v0']],
      chunkSizeBytes: 1,
    };
    const { deps, reads } = tableDeps({ get: () => task });
    const failures: string[] = [];
    const copy = makeCopyHandler(() => deps, {
      shouldStop: () => true,
      onFailure: (id) => failures.push(id),
    });
    const message = (taskNo: number) => JSON.stringify({ groupId: A, syncId: 'sync-000000000001', taskNo });
    await expect(copy(sqsBatch([message(0), message(1)]))).rejects.toBeInstanceOf(WorkerStopped);
    expect(reads).toHaveLength(1);
    expect(failures).toEqual([]);
  });
});
