import type { Queue, QueueMessage } from '../shared/aws/queues';
import type { Deps } from '../shared/deps';
import { DomainError } from '../shared/domain/errors';
import { parseCopyMessage, runCopyTask, type StopCheck, WorkerStopped } from '../shared/usecases/copy-worker';
import { ingestChangeBatch } from '../shared/usecases/ingest';
import { tick } from '../shared/usecases/scheduler';
import { driveSync } from '../shared/usecases/sync/index';

export interface RuntimeOptions {
  /** Copy workers per site. */
  copyWorkers?: number;
  tickMs?: number;
  syncPollMs?: number;
  /** Checked between chunk copies; returning true stops that worker as a kill would. */
  shouldStopCopy?: StopCheck;
  /** Run the scheduler tick (scheduled/continuous syncs and driving running syncs). */
  scheduler?: boolean;
  /** The copy queue's visibility timeout: a worker extends it while it works on a task. */
  copyVisibilitySeconds?: number;
}

const INGEST_POLLERS = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The Lambda triggers, emulated in process: SQS pollers feed the ingest and copy handlers,
 * a timer plays the EventBridge tick, and the syncs it lists are driven to completion.
 */
export class LocalRuntime {
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly driving = new Set<string>();
  private readonly drivers = new Set<Promise<unknown>>();
  readonly errors: string[] = [];
  copyWorkersAlive = 0;

  constructor(
    private readonly deps: Deps,
    private readonly opts: RuntimeOptions = {},
  ) {}

  start(): this {
    for (const site of this.deps.config.sites) {
      for (let i = 0; i < INGEST_POLLERS; i++) {
        this.loops.push(
          this.pollLoop(this.deps.changeQueues[site.name], 10, (m) => ingestChangeBatch(this.deps, m.body)),
        );
      }
      this.startCopyWorkers(site.name);
    }
    if (this.opts.scheduler !== false) this.loops.push(this.tickLoop());
    return this;
  }

  /** Starts (again) the copy workers of a site, e.g. after they were stopped by shouldStopCopy. */
  startCopyWorkers(site: string, count = this.opts.copyWorkers ?? 4, shouldStop?: StopCheck): void {
    const stop = shouldStop ?? this.opts.shouldStopCopy;
    for (let i = 0; i < count; i++) this.loops.push(this.copyLoop(this.deps.copyQueues[site], stop));
  }

  /** Receives up to ten messages, handles them side by side, deletes the handled ones in one request. */
  private async pollLoop(
    queue: Queue,
    max: number,
    handle: (m: QueueMessage) => Promise<unknown>,
  ): Promise<void> {
    while (this.running) {
      try {
        const messages = await queue.receive(max, 1);
        const handled = await Promise.all(
          messages.map((m) =>
            handle(m).then(
              () => m.receiptHandle,
              (e) => {
                this.report('ingest', e);
                return undefined;
              },
            ),
          ),
        );
        await queue.deleteAll(handled.filter((r): r is string => r !== undefined));
      } catch (e) {
        this.report('poll', e);
        await sleep(250);
      }
    }
  }

  private async copyLoop(queue: Queue, shouldStop?: StopCheck): Promise<void> {
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
        for (const m of messages) {
          // Keep the task invisible while it runs, so no second worker copies the same chunks.
          const visibility = this.opts.copyVisibilitySeconds ?? 30;
          const heartbeat = setInterval(
            () => void queue.release(m.receiptHandle, visibility).catch(() => undefined),
            (visibility * 1000) / 3,
          );
          try {
            await runCopyTask(this.deps, parseCopyMessage(m.body), shouldStop);
            clearInterval(heartbeat);
            await queue.delete(m.receiptHandle);
          } catch (e) {
            clearInterval(heartbeat);
            if (e instanceof WorkerStopped) return;
            this.report('copy', e);
            // Back off before the task is offered again; the sync pauses on link errors.
            await queue
              .release(m.receiptHandle, Math.min(30, 2 ** Math.min(m.receiveCount, 5)))
              .catch(() => undefined);
          }
        }
      }
    } finally {
      this.copyWorkersAlive--;
    }
  }

  private async tickLoop(): Promise<void> {
    while (this.running) {
      try {
        const result = await tick(this.deps);
        for (const e of result.errors) this.report(`tick ${e.groupId}`, new Error(e.error));
        for (const a of result.active) this.drive(a.groupId, a.syncId);
      } catch (e) {
        this.report('tick', e);
      }
      await sleep(this.opts.tickMs ?? 250);
    }
  }

  /** Drives a sync in the background unless it is already being driven. */
  drive(groupId: string, syncId: string): void {
    if (this.driving.has(syncId) || !this.running) return;
    this.driving.add(syncId);
    const p = driveSync(
      this.deps,
      groupId,
      syncId,
      Date.now() + 3_600_000,
      this.opts.syncPollMs ?? 50,
      () => !this.running,
    )
      .catch((e) => this.report('sync', e))
      .finally(() => {
        this.driving.delete(syncId);
        this.drivers.delete(p);
      });
    this.drivers.add(p);
  }

  private report(where: string, e: unknown): void {
    if (e instanceof DomainError && e.status < 500) return;
    this.errors.push(`${where}: ${(e as Error).message ?? String(e)}`);
    if (this.errors.length > 100) this.errors.shift();
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all([...this.loops, ...this.drivers]);
  }
}
