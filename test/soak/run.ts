import fc from 'fast-check';
import type { Topology } from '../../local/stack';
import { keys } from '../../shared/aws/keys';
import type { Group } from '../../shared/domain/model';
import { resumeGroup } from '../../shared/usecases/groups';
import { startSync } from '../../shared/usecases/sync/index';
import type { FaultSet } from './args';
import { replayCommand } from './args';
import { checkBookkeeping } from './bookkeeping';
import { type SoakCommand, soakCommands, type WriteKind } from './commands';
import { FaultCounts } from './fault-counts';
import { checkLeakedVersions } from './leaks';
import type { Violation } from './oracle';
import { dumpGroupState } from './state-dump';
import { StepList } from './step-list';
import { SoakRun, type SoakStack, withTimeout } from './system';

export interface SoakOptions {
  seed: number;
  steps: number;
  /** Runs drawn from the seed, each on a fresh group of the same stack. */
  runs?: number;
  /** More faults, drawn beside the built-in steps (see laterFaults). */
  extra?: fc.Arbitrary<SoakCommand>[];
  /** Steps drawn instead of the built-in ones (a test's own set); `extra` still adds to them. */
  commands?: fc.Arbitrary<SoakCommand>[];
  /** The write kinds drawn (all by default); leaving one out helps look past a known bug. */
  kinds?: WriteKind[];
  /** Named in the replay command only: which fault set `extra` is. */
  faults?: FaultSet;
  /** How long a sync may take to end once every fault is healed. */
  endBoundMs?: number;
  /** fast-check's path of one case of the seed: runs that case alone (up to `retries` times), no shrinking. */
  path?: string;
  /** Bounds of the shrinking that follows a failure: wall time, and runs (retries included). */
  shrinkBudgetMs?: number;
  maxShrinks?: number;
  /** A shrink candidate (or a replay) is run up to this many times before it counts as passing. */
  retries?: number;
  /** No run (nor shrink attempt) starts after this time (ms since the epoch). */
  deadline?: number;
  log?: (line: string) => void;
}

/** The smallest failing case the shrinking reached, and the one command line that replays it. */
export interface MinimalCase {
  seed: number;
  path: string;
  /** The invariant every shrink step had to break again to count as still failing. */
  kind: string;
  steps: string[];
  command: string;
  shrinkRuns: number;
  shrinkSeconds: number;
}

export interface SoakResult {
  seed: number;
  topology: Topology;
  ok: boolean;
  /** The violations of the minimal failing run, or of the last run when every run passed. */
  violations: Violation[];
  /** What that run did: writes and syncs, to tell a quiet pass from a checked one. */
  summary: string;
  notes: string[];
  minimal?: MinimalCase;
  /** Every run of the seed (shrink attempts included), faults by kind and outcomes. */
  counts: FaultCounts;
  /** Runs were left out because the deadline passed. */
  interrupted: boolean;
}

/** What failed a run: the kind of its first violation, or `error` when it threw without one. */
type FailureKind = Violation['kind'] | 'error';

/**
 * Runs the seeded soak on a started stack; never throws for a violation, reports it. After a
 * failure fast-check shrinks the list of steps, each attempt a fresh run on a fresh group of
 * the same stack; an attempt still fails only if it breaks the same invariant again (within
 * `retries` runs, as timing varies), and the shrinking stops at its budget.
 */
export async function runSoak(stack: SoakStack, topology: Topology, opts: SoakOptions): Promise<SoakResult> {
  const retries = Math.max(1, opts.retries ?? 3);
  const budgetMs = opts.shrinkBudgetMs ?? 600_000;
  const maxShrinks = opts.maxShrinks ?? 200;
  const replaying = opts.path !== undefined;
  const counts = new FaultCounts();
  let target: FailureKind | undefined;
  let shrinkStart = 0;
  let shrinkRuns = 0;
  let interrupted = false;
  let last: SoakRun | undefined;
  let failing: SoakRun | undefined;
  const pastDeadline = () => opts.deadline !== undefined && Date.now() > opts.deadline;
  const outOfBudget = () => shrinkRuns >= maxShrinks || Date.now() - shrinkStart > budgetMs || pastDeadline();

  const startErrors: string[] = [];
  const once = async (commands: SoakCommand[], runSeed: number): Promise<FailureKind[]> => {
    let run: SoakRun;
    try {
      run = await SoakRun.create(stack, runSeed);
    } catch (e) {
      startErrors.push(`run ${runSeed} could not start: ${(e as Error).message}`);
      opts.log?.(startErrors[startErrors.length - 1]);
      return ['error'];
    }
    last = run;
    run.log = opts.log ?? (() => undefined);
    const failures: FailureKind[] = [];
    try {
      await fc.asyncModelRun(() => ({ model: run.oracle, real: run }), commands);
      await finish(run, opts.endBoundMs ?? 120_000);
    } catch (e) {
      if (run.oracle.violations.length === 0) {
        run.notes.push(`the run threw: ${(e as Error).message}`);
        failures.push('error');
      }
    } finally {
      await release(run);
      run.countOutcomes();
      counts.merge(run.counts);
      run.log(`run ${runSeed}: ${summarize(run)}`);
      for (const v of run.oracle.violations)
        run.log(`  violation at step ${v.step} [${v.kind}]: ${v.detail}`);
      for (const n of run.notes) run.log(`  note: ${n}`);
      if (run.oracle.violations.length > 0)
        for (const line of await dumpGroupState(run.deps, run.groupId).catch((e: Error) => [e.message]))
          run.log(`  state: ${line}`);
    }
    return [...run.oracle.violations.map((v) => v.kind), ...failures];
  };

  const property = fc.asyncProperty(
    // Exactly `steps` steps: a run is costly, a short draw would waste it.
    new StepList(fc.oneof(...(opts.commands ?? soakCommands(opts.extra, opts.kinds))), opts.steps),
    // The run's own seed (bytes, shuffles) is not worth a shrink attempt.
    fc.noShrink(fc.integer({ min: 1, max: 2 ** 31 - 1 })),
    async (commands, runSeed) => {
      const shrinking = target !== undefined;
      if (shrinking ? outOfBudget() : pastDeadline()) {
        // Out of budget: the candidate counts as passing, so fast-check ends on the smallest failure so far.
        interrupted ||= !shrinking;
        return;
      }
      const attempts = shrinking || replaying ? retries : 1;
      for (let i = 0; i < attempts && !(shrinking && i > 0 && outOfBudget()); i++) {
        if (shrinking) {
          shrinkRuns += 1;
          counts.add('shrink-runs');
          opts.log?.(`shrink attempt ${shrinkRuns} (${commands.length} steps, try ${i + 1}/${attempts})`);
        }
        const kinds = await once(commands, runSeed);
        const kind = target === undefined ? kinds[0] : kinds.find((k) => k === target);
        if (kind !== undefined) {
          if (target === undefined) shrinkStart = Date.now();
          target = kind;
          failing = last;
          throw new Error(`invariant ${kind} violated`);
        }
      }
    },
  );
  const details = await fc.check(property, {
    seed: opts.seed,
    numRuns: replaying ? 1 : (opts.runs ?? 1),
    path: opts.path,
    endOnFailure: replaying,
  });
  const shown = failing ?? last;
  let minimal: MinimalCase | undefined;
  if (details.failed && details.counterexample && details.counterexamplePath) {
    const [steps] = details.counterexample;
    minimal = {
      seed: opts.seed,
      path: details.counterexamplePath,
      kind: target ?? 'error',
      steps: steps.map((x) => x.toString()),
      command: replayCommand({
        seed: opts.seed,
        path: details.counterexamplePath,
        steps: opts.steps,
        topology,
        kinds: opts.kinds,
        faults: opts.faults,
        retries,
        stepBudget: stack.stepBudget,
      }),
      shrinkRuns,
      shrinkSeconds: shrinkStart ? Math.round((Date.now() - shrinkStart) / 1000) : 0,
    };
  }
  return {
    seed: opts.seed,
    topology,
    ok: !details.failed,
    violations: shown?.oracle.violations ?? [],
    summary: shown ? summarize(shown) : '',
    notes: [...startErrors, ...(shown?.notes ?? [])],
    minimal,
    counts,
    interrupted,
  };
}

/**
 * Heals every fault, lets the in-flight writes and the running sync end within the bound,
 * then takes one more sync: every acknowledged write must be in it. Then the control table
 * must hold no item brought back after its deletion and no task of an ended sync.
 */
async function finish(run: SoakRun, boundMs: number): Promise<void> {
  const m = run.oracle;
  m.step += 1;
  run.log(`step ${m.step}: finish (heal all, settle, final sync)`);
  const s = run.stack;
  s.h.stack.heal();
  s.endKills();
  run.delivery.mode = 'normal';
  for (let i = 0; i < 3 && run.delivery.heldCount > 0; i++) await withTimeout(run.delivery.release(), 15_000);
  await withTimeout(
    resumeGroup(run.deps, run.groupId).catch(() => undefined),
    15_000,
  );
  await settleRoles(run, boundMs);
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
    await checkBookkeeping(run, 60_000);
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
  m.checkWriters();
  await checkBookkeeping(run, 60_000);
  await checkLeakedVersions(run, 20_000);
}

/**
 * A role change a step left unfinished must end once every fault is healed (`role-stuck`
 * otherwise); then the writes go to whichever site is primary.
 */
async function settleRoles(run: SoakRun, boundMs: number): Promise<void> {
  const endBy = Date.now() + boundMs;
  for (;;) {
    const g = await run.deps.table.get<Group>(keys.group(run.groupId));
    if (!g?.roleChange && !g?.preserveWrites) break;
    if (Date.now() > endBy) {
      run.oracle.violation(
        'role-stuck',
        `the role change ${g.roleChange?.id ?? '(return of the old primary)'} did not end ${boundMs} ms after every fault was healed (status ${g.status})`,
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  await run.refollow(run.oracle);
}

/** Leaves the stack clean for the next run: faults healed, gateway gone. */
async function release(run: SoakRun): Promise<void> {
  run.stack.h.stack.heal();
  run.stack.endKills();
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
  if (r.interrupted) lines.push('  interrupted: the time limit passed before every run was made');
  for (const v of r.violations) lines.push(`  violation at step ${v.step} [${v.kind}]: ${v.detail}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  const m = r.minimal;
  if (m) {
    lines.push(
      `minimal reproduction: seed ${m.seed}, path ${m.path}, ${m.steps.length} step(s), breaks ${m.kind}${m.shrinkRuns > 0 ? ` (shrunk in ${m.shrinkRuns} run(s), ${m.shrinkSeconds} s)` : ''}:`,
      ...m.steps.map((s, i) => `  ${i + 1}. ${s}`),
      `replay: ${m.command}`,
    );
  }
  return lines.join('\n');
}
