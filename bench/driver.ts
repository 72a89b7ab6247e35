import { LocalRuntime } from '../local/runtime';
import { keys } from '../shared/aws/keys';
import type { Deps } from '../shared/deps';
import type { SyncJob } from '../shared/domain/model';
import { parseCopyMessage, runCopyTask } from '../shared/usecases/copy-worker';
import { ingestChangeBatch } from '../shared/usecases/ingest';
import { advanceSync, startSync } from '../shared/usecases/sync/index';

/**
 * Runs the handlers one after another without timers, so that request counts depend only
 * on the work (the Lambda triggers, played by hand).
 */
export async function ingestAll(deps: Deps, site: string): Promise<number> {
  const queue = deps.changeQueues[site];
  let n = 0;
  for (let i = 0; i < 100_000; i++) {
    const got = await queue.receive(10, 0);
    if (got.length === 0) return n;
    for (const m of got) await ingestChangeBatch(deps, m.body);
    await queue.deleteAll(got.map((m) => m.receiptHandle));
    n += got.length;
  }
  return n;
}

export async function drainCopies(deps: Deps, site: string): Promise<number> {
  const queue = deps.copyQueues[site];
  let n = 0;
  for (let i = 0; i < 100_000; i++) {
    const got = await queue.receive(10, 0);
    if (got.length === 0) return n;
    // The tasks of one receive run at once, as concurrent Lambda invocations would.
    const copied = await Promise.all(got.map((m) => runCopyTask(deps, parseCopyMessage(m.body))));
    n += copied.reduce((a, b) => a + b, 0);
    await queue.deleteAll(got.map((m) => m.receiptHandle));
  }
  return n;
}

/** One sync from start to commit, driven step by step; returns its RP id. */
export async function syncByHand(
  deps: Deps,
  groupId: string,
  primary: string,
  secondary: string,
): Promise<string> {
  const { syncId, recoveryPointId } = await startSync(deps, groupId);
  for (let i = 0; i < 10_000; i++) {
    const r = await advanceSync(deps, groupId, syncId);
    if (r === 'done') return recoveryPointId;
    if (r === 'waiting') {
      await ingestAll(deps, primary);
      await drainCopies(deps, secondary);
    }
  }
  throw new Error(`sync ${syncId} did not finish`);
}

export interface TimedSync {
  recoveryPointId: string;
  /** From the sync's start to its RP's commit, and to the end of its post-commit clean-up. */
  committedMs: number;
  finishedMs: number;
}

/**
 * One sync as `volmirror up` runs it (LocalRuntime): the driver polls its steps while the copy
 * workers take tasks as they are offered, all at once, so copies never wait for a step.
 */
export async function syncByRuntime(deps: Deps, groupId: string, copyWorkers: number): Promise<TimedSync> {
  const runtime = new LocalRuntime(deps, { scheduler: false, copyWorkers, syncPollMs: 50 }).start();
  try {
    const started = Date.now();
    const { syncId, recoveryPointId } = await startSync(deps, groupId);
    runtime.drive(groupId, syncId);
    // The times come from the job's own timestamps, so this watch can be slow: each read is load
    // on the emulator the sync runs on (at 100 ms, about 160 GetItems and 1 CPU-second of the
    // control emulator per 2,048-chunk sync). Bounded: 20 minutes of 1 s polls.
    for (let i = 0; i < 1_200; i++) {
      const job = await deps.table.get<SyncJob>(keys.sync(groupId, syncId));
      if (job?.state === 'failed') throw new Error(`sync ${syncId} failed: ${job.error}`);
      if (job?.finishedAt && job.committedAt) {
        return {
          recoveryPointId,
          committedMs: Date.parse(job.committedAt) - started,
          finishedMs: Date.parse(job.finishedAt) - started,
        };
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    throw new Error(`sync ${syncId} did not finish: ${runtime.errors.join('; ')}`);
  } finally {
    await runtime.stop();
  }
}
