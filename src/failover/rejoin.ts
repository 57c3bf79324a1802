/**
 * `heir rejoin`: a returning old master (or any node left out of a failover)
 * becomes a read-only replica of the current master — but only when it has no
 * transaction the master lacks. Otherwise heir refuses and writes those
 * transactions (GTIDs, and the mysqlbinlog output where it can get it) to a
 * file for a human: silently dropping them, or replicating on top of them,
 * would both hide a data problem.
 *
 * The daemon runs the same rejoin by itself when failover.auto_rejoin is on
 * (trigger 'auto'). Every real run takes the cluster lock, is journaled
 * (rejoin-<id>.journal.jsonl) and ends in a report (reports/rejoin-<id>.json,
 * written by finishRejoin), whatever its outcome.
 *
 * The decision is pure (rejoin-plan.ts); the steps are a list for the runner
 * (rejoin-steps.ts) acting through rejoin-io.ts; this file sets them up, runs
 * them, and writes the report.
 */
import type { ClusterConfig, GlobalSettings } from '../config/schema';
import type { TopologySnapshot } from '../mysql/types';
import { silentLogger, type Logger } from '../util/log';
import { runPostHook, type HookRun } from './hooks';
import { checkRejoinRequest } from './rejoin-plan';
import { ConnectedRejoinIO } from './rejoin-io';
import { journalDetail, rejoinSteps, rejoinVerdict, type RejoinCtx, type RejoinVerdict } from './rejoin-steps';
import { Runner } from './runner';
import { LocalDiskStore, type FailoverStore, type JournalWriter } from './store';

export { rejoinDecision, type RejoinDecision } from './rejoin-plan';

/** Bound of the verify step: both replication threads running (s). */
const VERIFY_S = 30;

export interface RejoinResult {
  outcome: 'rejoined' | 'refused' | 'failed' | 'dry-run';
  /** An operator (`heir rejoin`) or the daemon (failover.auto_rejoin). */
  trigger: 'manual' | 'auto';
  node: string;
  master: string | null;
  summary: string;
  extra: string;
  /** Where the transactions the master lacks were written (refused). */
  file?: string;
  steps: string[];
  /** The post_rejoin hook's run, once it ran. */
  hooks?: HookRun[];
  /**
   * Refused for a reason that may pass by itself: the cluster lock is held (a failover,
   * switchover or other rejoin), the node or the master does not answer, or the master is
   * not (yet) the one expected or not unique.
   */
  transient?: boolean;
  /** The operation's id, journal and report (every real run that took the cluster lock). */
  id?: string;
  journal?: string;
  reportPath?: string;
  startedAt?: string;
  endedAt?: string;
  /** What could not be kept of the report itself (its file, its record in etcd under heir.ha). */
  warnings?: string[];
}

export interface RejoinRequest {
  cluster: ClusterConfig;
  global: GlobalSettings;
  node: string;
  dryRun?: boolean;
  log?: Logger;
  snapshot?: TopologySnapshot;
  /** Default manual. */
  trigger?: 'manual' | 'auto';
  /** Who asked, for the journal and the report. */
  by?: string;
  /** Refuse (transient) unless the master found is this node: the daemon's master. */
  expectMaster?: string;
  /** Where the lock and the journal live (default: state_dir on local disk; etcd under heir.ha). */
  store?: FailoverStore;
  /**
   * Runs before each step that changes the node, before anything of it happens (manager
   * high availability: the fenced check that this manager still leads). Throwing fails the step.
   */
  beforeMutation?: (what: string) => Promise<void>;
}

/**
 * Rejoin `node` (see rejoin-plan.ts), then, unless it was a dry run, the post_rejoin hook
 * with the result on stdin (as {"kind": "rejoin", "cluster": ..., ...result}).
 */
export async function rejoinNode(o: RejoinRequest): Promise<RejoinResult> {
  const r = await rejoin(o);
  if (r.outcome === 'dry-run' || !o.cluster.hooks.post_rejoin) return r;
  const doc: { kind: 'rejoin'; cluster: string; hooks?: HookRun[] } & RejoinResult = { kind: 'rejoin', cluster: o.cluster.name, ...r };
  await runPostHook(o.cluster, 'post_rejoin', doc, { operation: 'rejoin', outcome: r.outcome, node: r.node, newMaster: r.master }, { log: o.log });
  return { ...r, hooks: doc.hooks };
}

async function rejoin(o: RejoinRequest): Promise<RejoinResult> {
  const log = o.log ?? silentLogger;
  const cluster = o.cluster;
  const trigger = o.trigger ?? 'manual';
  const base = { trigger, node: o.node, master: null as string | null, extra: '', steps: [] as string[] };
  const no = checkRejoinRequest(cluster, o.node, o.expectMaster);
  if (no) return { ...base, outcome: 'refused', summary: no };

  const store = o.store ?? new LocalDiskStore(o.global.state_dir);
  const io = new ConnectedRejoinIO(cluster, o.global, store, o.node, log);
  const ctx: RejoinCtx = {
    cluster,
    node: o.node,
    trigger,
    by: o.by,
    dryRun: !!o.dryRun,
    expectMaster: o.expectMaster,
    snapshot: o.snapshot,
    verifyS: VERIFY_S,
    io,
    steps: [],
  };
  const startedAt = new Date().toISOString();
  let journal: JournalWriter | undefined;
  const runner = new Runner<RejoinCtx>({
    operation: `rejoin of ${o.node}`,
    // The journal begins with the decide step, right after the lock: every run that took the
    // lock is journaled, a refusal included.
    openJournal: async () => (journal = await ctx.lock?.openJournal(journalDetail(ctx))),
    ...(o.beforeMutation ? { beforeMutation: o.beforeMutation } : {}),
    onEvent: (e) => log.debug({ step: e.name, node: e.node, phase: e.phase, durationMs: e.durationMs }, `rejoin: ${e.detail}`),
  });
  let v: RejoinVerdict;
  try {
    v = rejoinVerdict(ctx, await runner.run(rejoinSteps(), ctx));
  } catch (e) {
    v = { outcome: 'failed', summary: `${o.node}: ${(e as Error).message}`, error: e };
  } finally {
    await io.close();
  }
  let r: RejoinResult = {
    ...base,
    outcome: v.outcome,
    summary: v.summary,
    master: ctx.master ?? null,
    extra: ctx.plan && !ctx.plan.allowed ? ctx.plan.extra : '',
    steps: ctx.steps,
    ...(v.transient ? { transient: true } : {}),
    ...(ctx.file ? { file: ctx.file } : {}),
  };
  try {
    if (journal) r = await finishRejoin(store, cluster.name, journal, { ...r, startedAt });
  } finally {
    await ctx.lock?.release();
  }
  if (r.outcome === 'rejoined') log.info({ node: o.node, master: r.master }, `${o.node} rejoined as a read-only replica of ${r.master}`);
  // A step failed in a way no outcome describes: recorded above, thrown as before.
  if (v.error !== undefined) throw v.error;
  return r;
}

/**
 * The one place a real rejoin (manual or automatic) ends: the journal's end record and the
 * report (reports/rejoin-<id>.json; under heir.ha also the index in etcd). Whatever else is
 * to follow a finished rejoin belongs here.
 */
async function finishRejoin(store: FailoverStore, cluster: string, journal: JournalWriter, r: RejoinResult): Promise<RejoinResult> {
  const out: RejoinResult = { ...r, id: journal.id, ...(journal.path ? { journal: journal.path } : {}), endedAt: new Date().toISOString() };
  await journal.end(out.outcome, out.summary);
  const saved = await store.saveReport(cluster, 'rejoin', journal.id, out);
  if (saved.warnings.length) out.warnings = saved.warnings;
  return out;
}
