import fc from 'fast-check';
import type { Topology } from '../../local/stack';
import { resumeGroup } from '../../shared/usecases/groups';
import { startSync } from '../../shared/usecases/sync/index';
import { type SoakCommand, soakCommands, type WriteKind } from './commands';
import type { Violation } from './oracle';
import { dumpGroupState } from './state-dump';
import { COPY_WORKERS, SoakRun, type SoakStack, withTimeout } from './system';

export interface SoakOptions {
  seed: number;
  steps: number;
  /** Runs drawn from the seed, each on a fresh group of the same stack. */
  runs?: number;
  /** More faults, drawn beside the built-in steps (see laterFaults). */
  extra?: fc.Arbitrary<SoakCommand>[];
  /** The write kinds drawn (all by default); leaving one out helps look past a known bug. */
  kinds?: WriteKind[];
  /** How long a sync may take to end once every fault is healed. */
  endBoundMs?: number;
  log?: (line: string) => void;
}

export interface SoakResult {
  seed: number;
  topology: Topology;
  ok: boolean;
  /** fast-check's report: seed, path and the command list that replays the failing run. */
  report: string;
  violations: Violation[];
  /** What the last run did: writes and syncs, to tell a quiet pass from a checked one. */
  summary: string;
  notes: string[];
}

/** Runs the seeded soak on a started stack; never throws for a violation, reports it. */
export async function runSoak(stack: SoakStack, topology: Topology, opts: SoakOptions): Promise<SoakResult> {
  let last: SoakRun | undefined;
  const property = fc.asyncProperty(
    // Exactly `steps` steps: a run is costly, a short draw would waste it.
    fc.array(fc.oneof(...soakCommands(opts.extra, opts.kinds)), {
      minLength: opts.steps,
      maxLength: opts.steps,
    }),
    fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    async (commands, runSeed) => {
      const run = await SoakRun.create(stack, runSeed);
      last = run;
      run.log = opts.log ?? (() => undefined);
      try {
        await fc.asyncModelRun(() => ({ model: run.oracle, real: run }), commands);
        await finish(run, opts.endBoundMs ?? 120_000);
      } finally {
        await release(run);
        run.log(`run ${runSeed}: ${summarize(run)}`);
        for (const v of run.oracle.violations)
          run.log(`  violation at step ${v.step} [${v.kind}]: ${v.detail}`);
        for (const n of run.notes) run.log(`  note: ${n}`);
        if (run.oracle.violations.length > 0)
          for (const line of await dumpGroupState(run.deps, run.groupId).catch((e: Error) => [e.message]))
            run.log(`  state: ${line}`);
      }
      if (run.oracle.violations.length > 0) throw new Error('invariant violated after the last step');
    },
  );
  // No shrinking: every replay starts over with real emulators and real time.
  const details = await fc.check(property, { seed: opts.seed, numRuns: opts.runs ?? 1, endOnFailure: true });
  return {
    seed: opts.seed,
    topology,
    ok: !details.failed,
    report: details.failed ? (fc.defaultReportMessage(details) ?? '') : '',
    violations: last?.oracle.violations ?? [],
    summary: last ? summarize(last) : '',
    notes: last?.notes ?? [],
  };
}

/**
 * Heals every fault, lets the in-flight writes and the running sync end within the bound,
 * then takes one more sync: every acknowledged write must be in it.
 */
async function finish(run: SoakRun, boundMs: number): Promise<void> {
  const m = run.oracle;
  m.step += 1;
  run.log(`step ${m.step}: finish (heal all, settle, final sync)`);
  const s = run.stack;
  s.h.stack.heal();
  s.killCopy = false;
  const missing = 2 * COPY_WORKERS - s.runtime.copyWorkersAlive;
  if (missing > 0)
    for (const site of ['east', 'west']) s.runtime.startCopyWorkers(site, Math.ceil(missing / 2));
  run.delivery.mode = 'normal';
  for (let i = 0; i < 3 && run.delivery.heldCount > 0; i++) await withTimeout(run.delivery.release(), 15_000);
  await withTimeout(
    resumeGroup(run.deps, run.groupId).catch(() => undefined),
    15_000,
  );
  if (!run.gateway) await run.reopenGateway(m);
  if (!(await run.settleWrites(30_000))) {
    const stuck = m.writes.filter((w) => w.ackedAt === undefined && w.failedAt === undefined);
    const w = stuck[0];
    const current = w.session === run.gateway?.session ? 'the current gateway' : 'a gateway since replaced';
    m.violation(
      'write-stuck',
      `${stuck.length} write(s) neither acknowledged nor refused 30 s after every fault was healed; first #${w.id} to ${w.volumeId}[${w.offset}+${w.data.length}] issued@${w.issuedAt} at step ${w.step} to ${current} (${w.session})`,
    );
  }

  const endBy = Date.now() + boundMs;
  const running = () => m.syncs.filter((x) => x.committedAt === undefined && x.failedAt === undefined);
  while (running().length > 0 && Date.now() < endBy) {
    await new Promise((r) => setTimeout(r, 200));
    await run.observeSyncs();
  }
  for (const x of running())
    m.violation(
      'sync-stuck',
      `sync ${x.syncId} neither committed nor failed ${boundMs} ms after every fault was healed`,
    );
  if (running().length > 0) return;

  let started: { syncId: string; recoveryPointId: string } | undefined;
  let refusal = '';
  const startBy = Date.now() + 30_000;
  while (!started && Date.now() < startBy) {
    const at = m.tick();
    started = await startSync(run.deps, run.groupId).catch((e: Error) => {
      refusal = e.message;
      return undefined;
    });
    if (started) {
      run.recordSync(started.syncId, started.recoveryPointId, at);
      s.runtime.drive(run.groupId, started.syncId);
    } else await new Promise((r) => setTimeout(r, 500));
  }
  if (!started) {
    if (!/no mirrored pairs/.test(refusal))
      run.notes.push(`finish: the final sync could not start: ${refusal}`);
    return;
  }
  const finalSync = m.syncs[m.syncs.length - 1];
  while (
    finalSync.committedAt === undefined &&
    finalSync.failedAt === undefined &&
    Date.now() < endBy + 60_000
  ) {
    await new Promise((r) => setTimeout(r, 200));
    await run.observeSyncs();
  }
  if (finalSync.committedAt === undefined && finalSync.failedAt === undefined)
    m.violation('sync-stuck', `the final sync ${finalSync.syncId} did not end with every fault healed`);
  else if (finalSync.failedAt !== undefined)
    run.notes.push(`finish: the final sync failed with every fault healed: ${finalSync.error}`);
  for (const x of m.syncs)
    if (x.committedAt !== undefined && !x.checked) await run.checkRecoveryPoint(x, true);
}

/** Leaves the stack clean for the next run: faults healed, gateway gone. */
async function release(run: SoakRun): Promise<void> {
  run.stack.h.stack.heal();
  run.stack.killCopy = false;
  run.delivery.mode = 'normal';
  const gw = run.gateway;
  run.gateway = undefined;
  if (
    gw &&
    (await withTimeout(
      gw.close().catch(() => undefined),
      10_000,
    )) === 'timeout'
  )
    gw.abandon();
}

function summarize(run: SoakRun): string {
  const w = run.oracle.writes;
  const s = run.oracle.syncs;
  const reasons = new Map<string, number>();
  for (const x of w) if (x.error) reasons.set(x.error, (reasons.get(x.error) ?? 0) + 1);
  const refused = [...reasons].map(([why, n]) => `${n}x ${why}`).join('; ');
  return [
    `${run.oracle.step} steps`,
    `${w.length} writes (${w.filter((x) => x.ackedAt !== undefined).length} acked, ${w.filter((x) => x.failedAt !== undefined).length} refused)`,
    `${s.length} syncs (${s.filter((x) => x.checked).length} RPs checked, ${s.filter((x) => x.failedAt !== undefined).length} failed)`,
    ...(refused ? [`refusals: ${refused}`] : []),
  ].join(', ');
}

export function formatResult(r: SoakResult): string {
  const lines = [`soak seed ${r.seed} (${r.topology}): ${r.ok ? 'passed' : 'FAILED'}; ${r.summary}`];
  for (const v of r.violations) lines.push(`  violation at step ${v.step} [${v.kind}]: ${v.detail}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  if (!r.ok) lines.push(r.report);
  return lines.join('\n');
}
