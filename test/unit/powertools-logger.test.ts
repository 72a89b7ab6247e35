import { describe, expect, it, vi } from 'vitest';
import { makeCopyHandler } from '../../lambdas/copy';
import { makeIngestHandler } from '../../lambdas/ingest';
import { makeSyncHandler } from '../../lambdas/sync';
import { changeBatchBody, sqsBatch, tableDeps, verboseLogger } from '../support/sqs-fakes';
import { jsonLinesOf } from '../support/stdout';

const GROUP = 'grp-00000000000a';

describe('handler logs through the Powertools Logger', () => {
  it('ingest: one JSON line per record with the request, message, group and volume as keys', async () => {
    const { deps } = tableDeps();
    const ingest = makeIngestHandler(() => deps, { logger: verboseLogger() });
    const { result, lines } = await jsonLinesOf(() =>
      ingest(sqsBatch([changeBatchBody(GROUP, 1), 'not json']), { awsRequestId: 'req-1' }),
    );
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'DEBUG',
        service: 'volmirror',
        message: 'change batch ingested',
        timestamp: expect.any(String),
        awsRequestId: 'req-1',
        messageId: 'msg-0',
        groupId: GROUP,
        volumeId: 'vol-000000000001',
        outcome: 'stored',
      }),
    );
    // The ERROR line the LoggedErrors metric filter counts ($.level = "ERROR").
    const failed = lines.find((l) => l.level === 'ERROR');
    expect(failed).toMatchObject({
      message: 'ingest failed',
      awsRequestId: 'req-1',
      messageId: 'msg-1',
      error: { name: 'DomainError', message: 'change batch is not JSON' },
    });
    // Nothing was learnt of the malformed record: no group key from its neighbour.
    expect(failed?.groupId).toBeUndefined();
  });

  it('keys never leak between invocations, whether they run one after another or side by side', async () => {
    const { deps } = tableDeps();
    const log = verboseLogger();
    const ingest = makeIngestHandler(() => deps, { logger: log });
    const { lines } = await jsonLinesOf(async () => {
      await ingest(sqsBatch([changeBatchBody(GROUP, 1)], 'first'), { awsRequestId: 'req-1' });
      await Promise.all([
        ingest(sqsBatch(['{}'], 'second'), { awsRequestId: 'req-2' }),
        ingest(sqsBatch([changeBatchBody('grp-00000000000b', 2)], 'third'), { awsRequestId: 'req-3' }),
      ]);
      await ingest(sqsBatch(['{}'], 'fourth'));
      log.info('after the invocations');
    });
    const byMessage = (id: string) => lines.filter((l) => l.messageId === id);
    expect(byMessage('first-0')).toEqual([
      expect.objectContaining({ awsRequestId: 'req-1', groupId: GROUP }),
    ]);
    expect(byMessage('second-0')).toEqual([expect.objectContaining({ awsRequestId: 'req-2' })]);
    expect(byMessage('second-0')[0].groupId).toBeUndefined();
    expect(byMessage('third-0')).toEqual([
      expect.objectContaining({ awsRequestId: 'req-3', groupId: 'grp-00000000000b' }),
    ]);
    // An invocation without a request id carries none of an earlier one's.
    expect(byMessage('fourth-0')).toHaveLength(1);
    expect(byMessage('fourth-0')[0].awsRequestId).toBeUndefined();
    expect(byMessage('fourth-0')[0].groupId).toBeUndefined();
    const after = lines.find((l) => l.message === 'after the invocations');
    expect(after).toBeDefined();
    for (const key of ['awsRequestId', 'messageId', 'groupId', 'volumeId'])
      expect(after?.[key]).toBeUndefined();
  });

  it('copy and sync: group and sync ids are keys of the lines they log', async () => {
    const { deps } = tableDeps();
    const log = verboseLogger();
    const copy = makeCopyHandler(() => deps, { logger: log });
    const sync = makeSyncHandler(() => deps, { logger: log });
    const task = { groupId: GROUP, syncId: 'sync-000000000001', taskNo: 3 };
    const { lines } = await jsonLinesOf(async () => {
      // A task that no longer exists is done: nothing to copy.
      await copy(sqsBatch([JSON.stringify(task)]), { awsRequestId: 'req-c' });
      // The control table fails the drive's first read: logged with the ids, then thrown (Lambda's Errors).
      await expect(
        sync(
          { groupId: GROUP, syncId: 'sync-000000000001' },
          { awsRequestId: 'req-s', getRemainingTimeInMillis: () => 60_000 },
        ),
      ).rejects.toThrow();
    });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'INFO',
        message: 'copy task done',
        awsRequestId: 'req-c',
        groupId: GROUP,
        syncId: 'sync-000000000001',
        taskNo: 3,
        chunksCopied: 0,
      }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message: 'sync drive failed',
        awsRequestId: 'req-s',
        groupId: GROUP,
        syncId: 'sync-000000000001',
      }),
    );
  });

  it('takes its level from POWERTOOLS_LOG_LEVEL, or else LOG_LEVEL', async () => {
    try {
      for (const [env, level] of [
        [{ POWERTOOLS_LOG_LEVEL: 'WARN', LOG_LEVEL: 'DEBUG' }, 'WARN'],
        [{ POWERTOOLS_LOG_LEVEL: '', LOG_LEVEL: 'DEBUG' }, 'DEBUG'],
      ] as const) {
        for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
        vi.resetModules();
        const { logger } = await import('../../lambdas/observability');
        expect(logger.getLevelName()).toBe(level);
      }
    } finally {
      vi.unstubAllEnvs();
      vi.resetModules();
    }
  });
});
