import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import { makeCopyHandler } from '../lambdas/copy';
import { makeIngestHandler } from '../lambdas/ingest';
import { makeSchedulerHandler } from '../lambdas/scheduler';
import { makeSyncHandler } from '../lambdas/sync';
import type { Queue, QueueMessage } from '../shared/aws/queues';
import type { Deps } from '../shared/deps';
import { DomainError } from '../shared/domain/errors';
import { type StopCheck, WorkerStopped } from '../shared/usecases/copy-worker';
import { killableDeps, ProcessKilled } from './killable-deps';
import { sqsEvent } from './sqs-events';

/** Where an ingest worker can be killed: after receiving a batch, or after handling it but before the delete. */
export type IngestStopPoint = 'before-handle' | 'before-delete';

/** Asked at each stop point with the batch at hand; returning true stops that worker as a kill would. */
export type IngestStopCheck = (point: IngestStopPoint, messages: QueueMessage[]) => boolean;

export interface RuntimeOptions {
  /** Copy workers per site. */
  copyWorkers?: number;
  tickMs?: number;
  syncPollMs?: number;
  /** Checked between chunk copies; returning true stops that worker as a kill would. */
  shouldStopCopy?: StopCheck;
  /** Checked around each ingest batch; returning true stops that worker as a kill would. */
  shouldStopIngest?: IngestStopCheck;
  /** Run the scheduler tick (scheduled/continuous syncs and driving running syncs). */
  scheduler?: boolean;
  /** The copy queue's visibility timeout: a worker extends it while it works on a task. */
  copyVisibilitySeconds?: number;
  /** The time each sync invocation may run, as the sync Lambda's timeout (15 minutes by default). */
  syncBudgetMs?: number;
  /** Where the handlers log; by default the Logger the deployed handlers use (lambdas/observability.ts). */
  logger?: Logger;
}

export const INGEST_POLLERS = 2;
const SYNC_BUDGET_MS = 15 * 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What Lambda's context tells a handler of its invocation, so local log lines carry a request id too. */
const invocation = () => ({ awsRequestId: randomUUID() });

interface Driver {
  kill(): void;
  readonly done: Promise<void>;
}

/**
 * The Lambda triggers, emulated in process around the deployed handlers: SQS pollers hand
 * SQS-shaped batches to the ingest and copy handlers and delete what they did not report
 * failed, a timer plays the EventBridge tick with the scheduler handler, and the syncs it
 * hands over are driven by the sync handler within a time budget, as asynchronous invocations.
 */
export class LocalRuntime {
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly driving = new Map<string, Driver>();
  readonly errors: string[] = [];
  copyWorkersAlive = 0;
  ingestWorkersAlive = 0;
  /** Scheduler ticks run so far, so a test can wait for ticks to pass instead of for time. */
  ticks = 0;

  private readonly ingest: ReturnType<typeof makeIngestHandler>;
  private readonly scheduler: ReturnType<typeof makeSchedulerHandler>;

  constructor(
    private readonly deps: Deps,
    private readonly opts: RuntimeOptions = {},
  ) {
    this.ingest = makeIngestHandler(() => this.deps, {
      logger: opts.logger,
      onFailure: (_, e) => this.report('ingest', e),
    });
    this.scheduler = makeSchedulerHandler(() => this.deps, {
      invokeSync: async (event) => this.drive(event.groupId, event.syncId),
      logger: opts.logger,
      onGroupError: (groupId, error) => this.report(`tick ${groupId}`, new Error(error)),
    });
  }

  start(): this {
    for (const site of this.deps.config.sites) {
      this.startIngestWorkers(site.name);
      this.startCopyWorkers(site.name);
    }
    if (this.opts.scheduler !== false) this.loops.push(this.tickLoop());
    return this;
  }

  /** Starts (again) the ingest workers of a site, e.g. after they were stopped by shouldStopIngest. */
  startIngestWorkers(site: string, count = INGEST_POLLERS, shouldStop?: IngestStopCheck): void {
    const stop = shouldStop ?? this.opts.shouldStopIngest;
    for (let i = 0; i < count; i++) this.loops.push(this.ingestLoop(site, stop));
  }

  /** Starts (again) the copy workers of a site, e.g. after they were stopped by shouldStopCopy. */
  startCopyWorkers(site: string, count = this.opts.copyWorkers ?? 4, shouldStop?: StopCheck): void {
    const stop = shouldStop ?? this.opts.shouldStopCopy;
    for (let i = 0; i < count; i++) this.loops.push(this.copyLoop(site, stop));
  }

  private eventFor(site: string, queue: Queue, messages: QueueMessage[]) {
    const region = this.deps.config.sites.find((s) => s.name === site)?.region ?? 'us-east-1';
    return sqsEvent(queue.url, region, messages);
  }

  /** Receives up to ten change messages per batch, as the trigger's batch size. */
  private async ingestLoop(site: string, shouldStop?: IngestStopCheck): Promise<void> {
    const queue = this.deps.changeQueues[site];
    this.ingestWorkersAlive++;
    try {
      while (this.running) {
        let messages: QueueMessage[];
        try {
          messages = await queue.receive(10, 1);
        } catch (e) {
          this.report('poll', e);
          await sleep(250);
          continue;
        }
        if (messages.length === 0) continue;
        if (shouldStop?.('before-handle', messages)) return;
        let failed: Set<string>;
        try {
          const out = await this.ingest(this.eventFor(site, queue, messages), invocation());
          failed = new Set(out.batchItemFailures.map((f) => f.itemIdentifier));
        } catch (e) {
          // The whole invocation failed: every message comes back after the visibility timeout.
          this.report('ingest', e);
          continue;
        }
        if (shouldStop?.('before-delete', messages)) return;
        await queue
          .deleteAll(messages.filter((m) => !failed.has(m.id)).map((m) => m.receiptHandle))
          .catch((e) => this.report('poll', e));
      }
    } finally {
      this.ingestWorkersAlive--;
    }
  }

  /** One copy task per batch, as the trigger's batch size. */
  private async copyLoop(site: string, shouldStop?: StopCheck): Promise<void> {
    const queue = this.deps.copyQueues[site];
    const copy = makeCopyHandler(() => this.deps, {
      shouldStop,
      logger: this.opts.logger,
      onFailure: (_, e) => this.report('copy', e),
    });
    this.copyWorkersAlive++;
    try {
      while (this.running) {
        let messages: QueueMessage[];
        try {
          messages = await queue.receive(1, 1);
        } catch (e) {
          this.report('copy-poll', e);
          await sleep(250);
          continue;
        }
        if (messages.length === 0) continue;
        // Keep the task invisible while it runs, so no second worker copies the same chunks.
        const visibility = this.opts.copyVisibilitySeconds ?? 30;
        const heartbeat = setInterval(
          () => {
            for (const m of messages) void queue.release(m.receiptHandle, visibility).catch(() => undefined);
          },
          (visibility * 1000) / 3,
        );
        let failed: Set<string>;
        try {
          const out = await copy(this.eventFor(site, queue, messages), invocation());
          failed = new Set(out.batchItemFailures.map((f) => f.itemIdentifier));
        } catch (e) {
          if (e instanceof WorkerStopped) return;
          this.report('copy', e);
          continue;
        } finally {
          clearInterval(heartbeat);
        }
        await queue
          .deleteAll(messages.filter((m) => !failed.has(m.id)).map((m) => m.receiptHandle))
          .catch((e) => this.report('copy-poll', e));
        // Back off before a failed task is offered again; the sync pauses on link errors.
        for (const m of messages.filter((x) => failed.has(x.id))) {
          await queue
            .release(m.receiptHandle, Math.min(30, 2 ** Math.min(m.receiveCount, 5)))
            .catch(() => undefined);
        }
      }
    } finally {
      this.copyWorkersAlive--;
    }
  }

  private async tickLoop(): Promise<void> {
    while (this.running) {
      try {
        await this.scheduler(undefined, invocation());
      } catch (e) {
        this.report('tick', e);
      }
      this.ticks++;
      await sleep(this.opts.tickMs ?? 250);
    }
  }

  /**
   * Invokes the sync handler for a sync in the background (an asynchronous invocation), unless
   * one is already driving it. Its context's remaining time runs down from the budget and is
   * zero once the runtime stops, so the drive ends and hands the sync back.
   */
  drive(groupId: string, syncId: string): void {
    if (this.driving.has(syncId) || !this.running) return;
    let killed = false;
    const handler = makeSyncHandler(() => killableDeps(this.deps, () => killed), {
      pollMs: this.opts.syncPollMs ?? 50,
      logger: this.opts.logger,
    });
    const budgetEnd = Date.now() + (this.opts.syncBudgetMs ?? SYNC_BUDGET_MS);
    const context = {
      ...invocation(),
      getRemainingTimeInMillis: () => (this.running ? Math.max(0, budgetEnd - Date.now()) : 0),
    };
    const driver: Driver = {
      kill: () => {
        killed = true;
      },
      done: handler({ groupId, syncId }, context)
        .then(
          () => undefined,
          (e) => {
            if (!(e instanceof ProcessKilled)) this.report('sync', e);
          },
        )
        .finally(() => {
          if (this.driving.get(syncId) === driver) this.driving.delete(syncId);
        }),
    };
    this.driving.set(syncId, driver);
  }

  /**
   * Abandons every sync driver as a crashed Lambda would: no further request, and the driver
   * lease is left to expire. Resolves with how many were killed once they have all ended.
   */
  async killDrivers(): Promise<number> {
    const drivers = [...this.driving.values()];
    for (const d of drivers) d.kill();
    await Promise.all(drivers.map((d) => d.done));
    return drivers.length;
  }

  private report(where: string, e: unknown): void {
    if (e instanceof DomainError && e.status < 500) return;
    this.errors.push(`${where}: ${(e as Error).message ?? String(e)}`);
    if (this.errors.length > 100) this.errors.shift();
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.loops, ...[...this.driving.values()].map((d) => d.done)]);
  }
}
