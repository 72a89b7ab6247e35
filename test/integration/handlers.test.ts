import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCopyHandler } from '../../lambdas/copy';
import { groupMetricsPublisher } from '../../lambdas/group-metrics';
import { makeIngestHandler } from '../../lambdas/ingest';
import { logger } from '../../lambdas/observability';
import { makeSchedulerHandler } from '../../lambdas/scheduler';
import type { SyncEvent } from '../../lambdas/sync';
import { makeSyncHandler } from '../../lambdas/sync';
import { sqsEvent } from '../../local/sqs-events';
import { keys } from '../../shared/aws/keys';
import type { ChangeBatch } from '../../shared/domain/model';
import { getSync, startSync } from '../../shared/usecases/sync/index';
import {
  type Harness,
  mirroredGroup,
  openGateway,
  randomBytesOf,
  startHarness,
  startRuntime,
  syncAndWait,
} from '../support/harness';
import { verboseLogger } from '../support/sqs-fakes';
import { jsonLinesOf } from '../support/stdout';
import { readAll } from '../support/workload';

const CHUNK = 64 * 1024;

/** Records as Lambda's SQS trigger delivers them, for bodies that never went through a queue. */
function batchOf(h: Harness, bodies: string[]) {
  return sqsEvent(
    h.deps.copyQueues.east.url,
    'us-east-1',
    bodies.map((body, i) => ({ id: `msg-${i}`, receiptHandle: `rh-${i}`, body, receiveCount: 1 })),
  );
}

function changeBatch(groupId: string, batch: number): ChangeBatch {
  return {
    groupId,
    session: 'gw-000000000001',
    epoch: 1,
    batch,
    records: [
      {
        pairId: 'pair-000000000001',
        volumeId: 'vol-000000000001',
        chunk: batch,
        versionId: `v${batch}`,
        sha256: 'x',
        bytes: CHUNK,
        seq: batch,
      },
    ],
  };
}

describe('Lambda handlers with real-shaped events', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.stop());

  it('ingest: a batch with one malformed message names exactly that one and stores the others once', async () => {
    const failures: string[] = [];
    const ingest = makeIngestHandler(() => h.deps, { onFailure: (id) => failures.push(id) });
    const groupId = 'grp-0000000000aa';
    const event = batchOf(h, [
      JSON.stringify(changeBatch(groupId, 1)),
      '{"groupId": "grp-0000000000aa", "epoch": "one"}',
      JSON.stringify(changeBatch(groupId, 2)),
    ]);
    expect(event.Records[1]).toMatchObject({
      messageId: 'msg-1',
      eventSource: 'aws:sqs',
      eventSourceARN: expect.stringMatching(/^arn:aws:sqs:us-east-1:\d{12}:volmirror-[0-9a-f]+-east-copy$/),
      attributes: { ApproximateReceiveCount: '1' },
    });
    expect(await ingest(event)).toEqual({ batchItemFailures: [{ itemIdentifier: 'msg-1' }] });
    expect(failures).toEqual(['msg-1']);
    for (const batch of [1, 2]) {
      const item = await h.deps.table.get<{ records: string }>(
        keys.changeBatch(groupId, 1, 'gw-000000000001', batch),
      );
      expect(JSON.parse(item?.records ?? '[]')).toEqual(changeBatch(groupId, batch).records);
    }
    // Delivered again (the trigger retries): nothing fails, nothing is stored twice.
    expect(await ingest(batchOf(h, [JSON.stringify(changeBatch(groupId, 2))]))).toEqual({
      batchItemFailures: [],
    });
  });

  it('copy: a malformed task message fails alone; a task that no longer exists is done', async () => {
    const copy = makeCopyHandler(() => h.deps, { onFailure: () => undefined });
    const event = batchOf(h, [
      'not json',
      JSON.stringify({ syncId: 'sync-000000000001', groupId: 'grp-000000000001', taskNo: 0 }),
      JSON.stringify({ syncId: '../x', groupId: 'grp-000000000001', taskNo: 0 }),
    ]);
    expect(await copy(event)).toEqual({
      batchItemFailures: [{ itemIdentifier: 'msg-0' }, { itemIdentifier: 'msg-2' }],
    });
  });

  it('scheduler and sync: the tick hands the running sync to the injected invoker, which drives it to commit', async () => {
    startRuntime(h, { scheduler: false });
    const g = await mirroredGroup(h, [{ sizeBytes: 8 * CHUNK, chunkSizeBytes: CHUNK }]);
    const gw = await openGateway(h, g.primaries[0]);
    await gw.write(g.primaries[0], CHUNK, randomBytesOf(3 * CHUNK, 5));
    await gw.close();
    const { syncId } = await startSync(h.deps, g.groupId);

    const invoked: SyncEvent[] = [];
    const scheduler = makeSchedulerHandler(() => h.deps, {
      invokeSync: async (event) => {
        invoked.push(event);
      },
      metrics: groupMetricsPublisher(logger),
      deployment: 'test',
    });
    const { result: ticked, lines } = await jsonLinesOf(() => scheduler());
    expect(ticked.driven).toBeGreaterThanOrEqual(1);
    expect(invoked).toContainEqual({ groupId: g.groupId, syncId });
    // The EMF record Powertools wrote for the group: what CloudWatch turns into the alarms' series.
    const perGroup = lines.find((m) => m.GroupId === g.groupId);
    expect(perGroup).toMatchObject({
      Deployment: 'test',
      VolmirrorBacklogBytes: 3 * CHUNK,
      _aws: { CloudWatchMetrics: [{ Namespace: 'Volmirror' }] },
    });

    const sync = makeSyncHandler(() => h.deps, { pollMs: 30 });
    // A bad event is refused before anything is read.
    await expect(
      sync({ groupId: '../x', syncId }, { getRemainingTimeInMillis: () => 60_000 }),
    ).rejects.toMatchObject({ code: 'bad-id' });
    // An invocation with no time left takes no step and leaves the sync to the next tick.
    expect(await sync({ groupId: g.groupId, syncId }, { getRemainingTimeInMillis: () => 5_000 })).toEqual({
      result: 'progress',
    });
    expect((await getSync(h.deps, g.groupId, syncId)).phase).toBe('cutting');
    const driver = await h.deps.table.get<{ driver?: unknown }>(keys.sync(g.groupId, syncId));
    expect(driver?.driver).toBeUndefined();

    const started = Date.now();
    const out = await sync(
      { groupId: g.groupId, syncId },
      { getRemainingTimeInMillis: () => 70_000 - (Date.now() - started) },
    );
    expect(out).toEqual({ result: 'done' });
    const view = await getSync(h.deps, g.groupId, syncId);
    expect(view.state).toBe('committed');
    expect(
      (await readAll(h, g.secondaries[0], view.recoveryPointId)).equals(await readAll(h, g.primaries[0])),
    ).toBe(true);
  });

  it('local runtime: the handlers it invokes log Powertools JSON lines with the invocation keys', async () => {
    await h.runtime?.stop();
    const g = await mirroredGroup(h, [{ sizeBytes: 4 * CHUNK, chunkSizeBytes: CHUNK }]);
    const { lines } = await jsonLinesOf(async () => {
      startRuntime(h, { logger: verboseLogger() });
      const gw = await openGateway(h, g.primaries[0]);
      await gw.write(g.primaries[0], 0, randomBytesOf(2 * CHUNK, 9));
      await gw.close();
      await syncAndWait(h, g.groupId);
      // Stopped inside the capture, so the drive's last line is written before it ends.
      await h.runtime?.stop();
    });
    const requestId = expect.stringMatching(/^[0-9a-f-]{36}$/);
    const common = { service: 'volmirror', timestamp: expect.any(String), awsRequestId: requestId };
    expect(lines).toContainEqual(
      expect.objectContaining({
        ...common,
        level: 'DEBUG',
        message: 'change batch ingested',
        messageId: expect.any(String),
        groupId: g.groupId,
        volumeId: g.primaries[0],
      }),
    );
    const copied = lines.filter((l) => l.message === 'copy task done' && l.groupId === g.groupId);
    expect(copied.length).toBeGreaterThanOrEqual(1);
    for (const line of copied)
      expect(line).toMatchObject({ ...common, level: 'INFO', syncId: expect.stringMatching(/^sync-/) });
    expect(lines).toContainEqual(
      expect.objectContaining({ ...common, level: 'INFO', message: 'sync drive ended', groupId: g.groupId }),
    );
    // The tick runs for all groups: no group's keys reach its lines.
    const ticks = lines.filter((l) => l.message === 'tick done');
    expect(ticks.length).toBeGreaterThanOrEqual(1);
    for (const t of ticks) expect(t).not.toHaveProperty('groupId');
  });
});
