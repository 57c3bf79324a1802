/**
 * Planned switchover: move the master role to a chosen replica with a short, measured write
 * pause and no lost write. The steps are in switchover-steps.ts, carried out by the runner
 * (runner.ts); this file sets them up, runs them, and writes the report.
 */
import { performance } from 'node:perf_hooks';
import type { ClusterConfig } from '../config/schema';
import { silentLogger } from '../util/log';
import { DEFAULT_LIMITS } from './switchover-preflight';
import { defaultDeps } from './switchover-deps';
import { ConnectedIO } from './switchover-io';
import { newOperationId } from './journal';
import { runPostHook } from './hooks';
import { Runner } from './runner';
import type { JournalWriter } from './store';
import { journalDetail, stoppedVerdict, switchedVerdict, switchoverSteps, unexpectedVerdict, type SwitchoverCtx, type Verdict } from './switchover-steps';
import type { ProgressEvent, SwitchoverOptions, SwitchoverReport } from './switchover-types';

export type { SwitchoverDeps } from './switchover-deps';
export type { MoveSummary, NodeRepoint, Outcome, ProgressEvent, StepRecord, SwitchoverOptions, SwitchoverReport } from './switchover-types';
export { SwitchoverError } from './switchover-types';

const DEFAULT_TIMEOUT_S = 10;

/**
 * Run a switchover of `cluster` to `o.to`. Resolves with the report in every
 * case the switchover could be judged (refused, rolled back, switched, failed);
 * look at `report.outcome`. Throws only on programming errors.
 */
export async function switchover(cluster: ClusterConfig, o: SwitchoverOptions): Promise<SwitchoverReport> {
  const t0 = performance.now();
  const started = new Date();
  const log = (o.log ?? silentLogger).child({ cluster: cluster.name, op: 'switchover' });
  const deps = { ...defaultDeps(cluster, o.global, log, o.store), ...o.deps };
  const timeoutS = o.timeoutS ?? DEFAULT_TIMEOUT_S;
  const report: SwitchoverReport = {
    kind: 'switchover',
    id: newOperationId(started),
    cluster: cluster.name,
    outcome: 'failed',
    to: o.to,
    startedAt: started.toISOString(),
    finishedAt: '',
    durationMs: 0,
    requestedBy: o.requestedBy,
    summary: '',
    steps: [],
    writePause: { toNewMasterMs: null, toAddressMs: null, readOnlyMs: null, applyWaitMs: null },
    repointed: [],
    errors: [],
  };
  const ms = (at = performance.now()) => Math.round((at - t0) * 10) / 10;
  const emit = (e: Omit<ProgressEvent, 'atMs'>) => {
    log[e.phase === 'failed' ? 'warn' : 'info']({ step: e.step, node: e.node, phase: e.phase, durationMs: e.durationMs }, e.detail);
    try {
      o.onProgress?.({ ...e, atMs: ms() });
    } catch {
      /* a broken progress printer never stops a switchover */
    }
  };
  const io = new ConnectedIO(cluster, deps, timeoutS, { id: report.id, target: o.to, requestedBy: o.requestedBy });
  const ctx: SwitchoverCtx = {
    cluster,
    to: o.to,
    requestedBy: o.requestedBy,
    dryRun: !!o.dryRun,
    timeoutS,
    limits: { maxLagS: o.maxLagS ?? DEFAULT_LIMITS.maxLagS, maxTransactionS: o.maxTransactionS ?? DEFAULT_LIMITS.maxTransactionS, force: o.force ?? false },
    killAfterMs: o.killAfterMs,
    testHooks: o.testHooks,
    io,
    report,
    now: () => performance.now(),
    info: (e) => emit({ ...e, phase: 'info' }),
    flavor: 'mysql',
    paused: false,
    pauseStart: performance.now(),
    repointed: { others: [], old: [] },
  };
  let journal: JournalWriter | undefined;
  const runner = new Runner<SwitchoverCtx>({
    operation: `switchover ${report.id}`,
    beforeMutation: deps.beforeMutation,
    // Only steps that change the cluster are journaled (an fsync each); the journal begins
    // with the first of them, so a refused switchover leaves none behind.
    openJournal: async () => (journal = await ctx.lock?.openJournal(journalDetail(ctx))),
    onJournalError: (e) => log.warn({ err: errText(e) }, 'journal write failed'),
    onEvent: (e) => {
      const step = e.name as ProgressEvent['step'];
      if (e.phase !== 'start') report.steps.push({ step, node: e.node, ok: e.phase === 'done', startMs: ms(e.startedAt), durationMs: e.durationMs ?? 0, detail: e.detail });
      emit({ step, node: e.node, phase: e.phase, detail: e.detail, ...(e.durationMs !== undefined ? { durationMs: e.durationMs } : {}) });
    },
  });

  let v: Verdict;
  try {
    const r = await runner.run(switchoverSteps(), ctx);
    if (r.ok) v = switchedVerdict(ctx);
    else {
      // The leadership check refused a step: nothing more was done, not even an undo.
      if (r.mayNotAct) report.errors.push(`nothing undone: ${r.mayNotAct}`);
      v = stoppedVerdict(ctx, r.at, r.error, r.undoFailed.length === 0 && !r.mayNotAct);
    }
  } catch (e) {
    v = unexpectedVerdict(ctx, e);
  }
  report.outcome = v.outcome;
  report.summary = v.summary;
  if (v.next) report.next = v.next;
  report.finishedAt = new Date().toISOString();
  report.durationMs = ms();

  await io.close();
  if (ctx.lock) {
    try {
      try {
        if (journal?.path) report.journal = journal.path;
        await journal?.end(report.outcome, report.summary);
        const saved = await ctx.lock.saveReport(report);
        if (saved.warnings.length) report.warnings = [...(report.warnings ?? []), ...saved.warnings];
      } finally {
        await ctx.lock.release();
      }
    } catch (e) {
      log.error({ err: errText(e) }, 'releasing the cluster lock failed');
    }
  }

  // The post_switchover hook, once the report is saved (the lock is released by then).
  if (report.outcome === 'dry-run' || !cluster.hooks.post_switchover) return report;
  const switched = report.outcome === 'switched' || report.outcome === 'switched-with-errors';
  const done = runPostHook(
    cluster,
    'post_switchover',
    report,
    { operation: 'switchover', id: report.id, outcome: report.outcome, oldMaster: report.from ?? null, newMaster: switched ? report.to : null },
    { log: o.log },
  ).then(() => undefined);
  if (o.postHook) o.postHook(done);
  else await done;
  return report;
}

export function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
