/**
 * Planned switchover: move the master role to a chosen replica with a short,
 * measured write pause and no lost write.
 *
 * The story, step by step (each one a function below):
 *   lock        one operation per cluster: never next to a failover or another switchover
 *   prepare     open a connection to every node, read the topology, run the preflight
 *               (everything slow happens here, before writes stop)
 *   pause       super_read_only on the old master (MariaDB: read_only): writes stop
 *   final-gtid  what the old master has executed: the target must have exactly that
 *   wait        the target applies it (bounded); on timeout the old master becomes
 *               writable again and nothing else has changed
 *   promote     the target becomes writable (MySQL: at once, since nothing can reach it
 *               from the super_read_only old master; MariaDB, whose read_only lets
 *               privileged users write, stops replicating first)
 *   probe       a write accepted on the new master ends the pause (measured)
 *   detach      the new master forgets its old source (stop + reset replica), after the pause
 *   repoint     the other replicas and the old master follow the new master (in parallel,
 *               after the pause: it does not lengthen it); the old master stays read-only
 *   address     the address mover fences the old master and attaches the new one;
 *               a write through the floating address measures the pause as clients see it
 *   report      every step's timing, the write pause, and what to do when something failed
 */
import { performance } from 'node:perf_hooks';
import type { ClusterConfig, GlobalSettings, NodeConfig } from '../config/schema';
import type { TopologySnapshot } from '../mysql/types';
import type { Conn } from '../mysql/conn';
import * as ops from '../mysql/ops';
import { silentLogger, type Logger } from '../util/log';
import {
  DEFAULT_LIMITS,
  preflight as runPreflight,
  type AddressCheck,
  type LockState,
  type LongTransaction,
  type Preflight,
  type SwitchoverLimits,
} from './switchover-preflight';
import { planSwitchover, type StepName, type SwitchoverPlan } from './switchover-plan';
import type { ChangeSourceOptions } from '../mysql/dialect';
import { connectionId, killApplicationConnections, mariadbBinlogPos, readLongTransactions } from './switchover-io';
import { defaultDeps, type ClusterLockHandle, type SwitchoverDeps } from './switchover-deps';
import { newOperationId } from './journal';
import { runPostHook, type HookRun } from './hooks';

export type { SwitchoverDeps } from './switchover-deps';

export interface SwitchoverOptions {
  /** Node to promote. */
  to: string;
  /** Print plan and preflight only; change nothing (the lock is only looked at). */
  dryRun?: boolean;
  /** Promote a `promotion: never` node anyway. */
  force?: boolean;
  /** Bounded wait for the target to apply the old master's final GTID set (s). Default 10. */
  timeoutS?: number;
  maxLagS?: number;
  maxTransactionS?: number;
  /** After the pause starts, kill the application connections left on the old master after this many ms. */
  killAfterMs?: number;
  /** Who asks (CLI user@host, API token name): goes into the lock and the report. */
  requestedBy?: string;
  global?: GlobalSettings;
  log?: Logger;
  /** Called for each step as it starts and ends (terminal progress, daemon events). */
  onProgress?: (e: ProgressEvent) => void;
  /** Given, the post_switchover hook's run is handed over instead of awaited (see FailoverRequest.postHook). */
  postHook?: (done: Promise<void>) => void;
  /** Replace the outside world (lock, mover, topology reader); defaults are the real ones. */
  deps?: Partial<SwitchoverDeps>;
  /**
   * Faults at exact moments, for tests; never set in production. beforePause:
   * after the catch-up, right before writes stop. beforeWait: inside the pause,
   * after the final GTID set is read, before waiting for it.
   */
  testHooks?: { beforePause?: () => Promise<void>; beforeWait?: () => Promise<void> };
}

/**
 * switched: done. switched-with-errors: the new master takes writes, something after
 * the pause failed (see errors). refused: a check said no; nothing changed.
 * aborted: an error before writes stopped; nothing changed. rolled-back: writes
 * stopped, then the old master was made writable again. failed: the cluster may be
 * half changed (see errors and next). dry-run: nothing was meant to change.
 */
export type Outcome = 'switched' | 'switched-with-errors' | 'refused' | 'aborted' | 'rolled-back' | 'failed' | 'dry-run';

export interface ProgressEvent {
  step: StepName;
  phase: 'start' | 'done' | 'failed' | 'info';
  /** ms since the switchover started. */
  atMs: number;
  durationMs?: number;
  node?: string;
  detail: string;
}

export interface StepRecord {
  step: StepName;
  node?: string;
  ok: boolean;
  /** ms since the switchover started. */
  startMs: number;
  durationMs: number;
  detail: string;
}

export interface NodeRepoint {
  node: string;
  ok: boolean;
  durationMs: number;
  detail: string;
}

export interface SwitchoverReport {
  kind: 'switchover';
  /** Operation id (also the journal's): UTC time and a little randomness. */
  id: string;
  cluster: string;
  outcome: Outcome;
  from?: string;
  to: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  requestedBy?: string;
  /** One line for people. */
  summary: string;
  preflight?: Preflight;
  plan?: SwitchoverPlan;
  steps: StepRecord[];
  /** The old master's executed set when writes stopped (MySQL gtid_executed, MariaDB gtid_binlog_pos). */
  finalGtid?: string;
  writePause: {
    /** From the read_only statement on the old master to the first write accepted on the new one. */
    toNewMasterMs: number | null;
    /** From the same start to the first write accepted through the floating address (when there is one). */
    toAddressMs: number | null;
    /** read_only statement on the old master until it returned. */
    readOnlyMs: number | null;
    /** The target's wait for the final set. */
    applyWaitMs: number | null;
  };
  repointed: NodeRepoint[];
  address?: { kind: string; fence?: MoveSummary; attach?: MoveSummary };
  killedConnections?: number[];
  errors: string[];
  /** What the operator should do now, when anything went wrong. */
  next?: string;
  /** The step journal, when a step changed the cluster. */
  journal?: string;
  /** Where the report was saved (state_dir/<cluster>/reports/switchover-<id>.json); not for dry runs. */
  reportPath?: string;
  /** The post_switchover hook's run, once it ran. */
  hooks?: HookRun[];
}

export interface MoveSummary {
  ok: boolean;
  action: string;
  detail: string;
  durationMs: number;
}

export class SwitchoverError extends Error {
  constructor(message: string, readonly report: SwitchoverReport) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_S = 10;

/** Steps that change the cluster, and so go into the journal. */
const CHANGES = new Set<StepName>(['pause', 'kill-connections', 'rollback', 'promote', 'detach', 'repoint', 'semi-sync', 'address']);

/**
 * Run a switchover of `cluster` to `o.to`. Resolves with the report in every
 * case the switchover could be judged (refused, rolled back, switched, failed);
 * look at `report.outcome`. Throws only on programming errors.
 */
export async function switchover(cluster: ClusterConfig, o: SwitchoverOptions): Promise<SwitchoverReport> {
  const run = new Run(cluster, o);
  let report: SwitchoverReport;
  try {
    report = await run.execute();
  } catch (e) {
    report = run.unexpected(e);
  } finally {
    await run.closeAll();
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

class Run {
  private readonly t0 = performance.now();
  private readonly started = new Date();
  private readonly log: Logger;
  private readonly deps: SwitchoverDeps;
  private readonly timeoutS: number;
  private readonly limits: SwitchoverLimits;
  private readonly conns = new Map<string, Conn>();
  private readonly ownIds = new Map<string, number[]>();
  private readonly report: SwitchoverReport;
  private lock?: ClusterLockHandle;
  private deferJournal = false;
  private paused = false;
  private readonly deferred: [StepName, 'done' | 'failed', string][] = [];

  constructor(private readonly cluster: ClusterConfig, private readonly o: SwitchoverOptions) {
    this.log = (o.log ?? silentLogger).child({ cluster: cluster.name, op: 'switchover' });
    this.deps = { ...defaultDeps(cluster, o.global, this.log), ...o.deps };
    this.timeoutS = o.timeoutS ?? DEFAULT_TIMEOUT_S;
    this.limits = {
      maxLagS: o.maxLagS ?? DEFAULT_LIMITS.maxLagS,
      maxTransactionS: o.maxTransactionS ?? DEFAULT_LIMITS.maxTransactionS,
      force: o.force ?? false,
    };
    this.report = {
      kind: 'switchover',
      id: newOperationId(this.started),
      cluster: cluster.name,
      outcome: 'failed',
      to: o.to,
      startedAt: this.started.toISOString(),
      finishedAt: '',
      durationMs: 0,
      requestedBy: o.requestedBy,
      summary: '',
      steps: [],
      writePause: { toNewMasterMs: null, toAddressMs: null, readOnlyMs: null, applyWaitMs: null },
      repointed: [],
      errors: [],
    };
  }

  private ms(): number {
    return Math.round((performance.now() - this.t0) * 10) / 10;
  }

  private emit(e: Omit<ProgressEvent, 'atMs'>): void {
    const ev = { ...e, atMs: this.ms() };
    this.log[e.phase === 'failed' ? 'warn' : 'info']({ step: e.step, node: e.node, phase: e.phase, durationMs: e.durationMs }, e.detail);
    try {
      this.o.onProgress?.(ev);
    } catch {
      /* a broken progress printer never stops a switchover */
    }
  }

  /** Run one step: progress before and after, a record in the report, the journal. */
  private async step<T>(step: StepName, node: string | undefined, what: string, fn: () => Promise<T>, done?: (v: T) => string): Promise<T> {
    const start = performance.now();
    const startMs = this.ms();
    this.emit({ step, node, phase: 'start', detail: what });
    try {
      if (CHANGES.has(step)) await this.deps.beforeMutation?.(`step ${step} of switchover ${this.report.id}`);
      await this.journal(step, 'start', what);
      const v = await fn();
      const durationMs = round(performance.now() - start);
      const detail = done ? done(v) : what;
      this.report.steps.push({ step, node, ok: true, startMs, durationMs, detail });
      this.emit({ step, node, phase: 'done', durationMs, detail });
      await this.journal(step, 'done', detail);
      return v;
    } catch (e) {
      const durationMs = round(performance.now() - start);
      const detail = `${what}: ${errText(e)}`;
      this.report.steps.push({ step, node, ok: false, startMs, durationMs, detail });
      this.emit({ step, node, phase: 'failed', durationMs, detail });
      await this.journal(step, 'failed', detail);
      throw e;
    }
  }

  private async journal(step: StepName, phase: 'start' | 'done' | 'failed', detail: string): Promise<void> {
    // Only steps that change the cluster are journaled (an fsync each): reads
    // inside the write pause are not slowed down by the disk. A step's start is
    // always written before it runs; inside the pause its end waits for flushJournal().
    if (!this.lock?.journal || !CHANGES.has(step)) return;
    if (this.deferJournal && phase !== 'start') {
      this.deferred.push([step, phase, detail]);
      return;
    }
    try {
      await this.lock.journal(step, phase, detail);
    } catch (e) {
      this.log.warn({ err: errText(e) }, 'journal write failed');
    }
  }

  private async flushJournal(): Promise<void> {
    this.deferJournal = false;
    const q = this.deferred.splice(0);
    for (const [step, phase, detail] of q) await this.journal(step, phase, detail);
  }

  private finish(outcome: Outcome, summary: string, next?: string): SwitchoverReport {
    const r = this.report;
    r.outcome = outcome;
    r.summary = summary;
    if (next) r.next = next;
    r.finishedAt = new Date().toISOString();
    r.durationMs = this.ms();
    return r;
  }

  /** An error no step handled: say whether anything had changed by then. */
  unexpected(e: unknown): SwitchoverReport {
    this.report.errors.push(errText(e));
    if (!this.paused) {
      return this.finish('aborted', `switchover of ${this.cluster.name} to ${this.o.to} stopped before writes were paused: ${errText(e)}; nothing changed`,
        'fix the cause named above and run again');
    }
    return this.finish('failed', `switchover of ${this.cluster.name} to ${this.o.to} failed after writes were paused: ${errText(e)}`,
      'run `heir check` to see which node is writable and which replicate, then fix by hand');
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.close().catch(() => c.destroy())));
    this.conns.clear();
    if (this.lock) {
      const l = this.lock;
      this.lock = undefined;
      try {
        await l.release(this.report);
      } catch (e) {
        this.log.error({ err: errText(e) }, 'releasing the cluster lock failed');
      }
    }
  }

  private node(name: string): NodeConfig {
    const n = this.cluster.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`node ${name} is not in cluster ${this.cluster.name}`);
    return n;
  }

  private conn(name: string): Conn {
    const c = this.conns.get(name);
    if (!c) throw new Error(`no connection to ${name}`);
    return c;
  }

  async execute(): Promise<SwitchoverReport> {
    const { cluster, o } = this;

    // 1. The lock: nothing else may change this cluster while we look and act.
    //    A dry run only looks at it.
    let lockState: LockState;
    if (o.dryRun) {
      lockState = await this.deps.lockState();
    } else {
      const got = await this.step('lock', undefined, `take the lock of ${cluster.name}`, () =>
        this.deps.acquireLock({ operation: 'switchover', id: this.report.id, target: o.to, requestedBy: o.requestedBy }),
        (g) => ('refused' in g ? `locked by ${g.refused}` : 'lock taken'));
      if ('refused' in got) lockState = { free: false, holder: got.refused };
      else {
        this.lock = got;
        lockState = { free: true };
      }
    }

    // 2. Prepare: connections to every node (reused through the pause), topology, preflight.
    const facts = await this.step('prepare', undefined, 'connect to every node, read topology and preflight facts', () => this.prepare(lockState),
      (f) => `${f.topology.nodes.filter((n) => n.reachable).length}/${cluster.nodes.length} nodes read`);
    const pre = runPreflight(facts, cluster, o.to, this.limits);
    this.report.preflight = pre;
    this.report.from = pre.master;
    for (const c of pre.checks)
      if (!c.ok) this.emit({ step: 'prepare', node: c.node, phase: 'info', detail: `${c.severity === 'block' ? 'refusal' : 'warning'}: ${c.id}: ${c.detail}` });

    const flavor = facts.topology.nodes.find((n) => n.name === pre.master)?.version?.flavor
      ?? facts.topology.nodes.find((n) => n.version)?.version?.flavor ?? 'mysql';
    if (pre.master) {
      this.report.plan = planSwitchover(pre, cluster, flavor, {
        timeoutS: this.timeoutS,
        killAfterMs: o.killAfterMs,
        heartbeatTable: cluster.detection.heartbeat_table,
      });
    }
    if (o.dryRun) {
      return this.finish('dry-run', pre.ok
        ? `dry run: ${pre.master} → ${o.to} would go ahead; nothing changed`
        : `dry run: switchover to ${o.to} would be refused: ${pre.refusals.map((r) => r.id).join(', ')}; nothing changed`);
    }
    if (!pre.ok || !pre.master) {
      return this.finish('refused', `switchover of ${cluster.name} to ${o.to} refused: ${pre.refusals.map((r) => `${r.node ? `${r.node} ` : ''}${r.id}`).join(', ')}`,
        pre.refusals.map((r) => r.fix).filter(Boolean).join('; '));
    }

    const from = pre.master;
    const to = o.to;
    await this.ensureHeartbeatTable(from);

    // 2b. Let the target catch up while writes still flow: the in-pause wait is
    //     then only for what the last moments brought, not for a backlog.
    const caughtUp = await this.step('catch-up', to, `let ${to} catch up with ${from} before writes stop`, async () => {
      const pos = await this.finalPosition(from, flavor);
      return ops.waitForGtid(this.conn(to), pos, this.timeoutS);
    }, (ok) => (ok ? `${to} has what ${from} had a moment ago` : `not within ${this.timeoutS}s`)).catch((e) => {
      this.report.errors.push(`catch-up: ${errText(e)}`);
      return false;
    });
    if (!caughtUp) {
      return this.finish('refused', `${to} did not catch up with ${from} within ${this.timeoutS}s before the pause; nothing changed`,
        `check replication on ${to} (lag, errors, locks) and run again, or raise --timeout`);
    }

    if (o.testHooks?.beforePause) await o.testHooks.beforePause();

    // 3. Pause writes on the old master. From here until the probe write, journal
    //    records other than step starts wait (an fsync each would lengthen the pause).
    let pauseStart = performance.now();
    this.deferJournal = true;
    try {
      await this.step('pause', from, `${flavor === 'mysql' ? 'super_read_only' : 'read_only'} ON on ${from}`, async () => {
        this.paused = true;
        pauseStart = performance.now();
        await ops.setReadOnly(this.conn(from), true);
      });
    } catch (e) {
      // The statement may or may not have taken effect: make sure it did not.
      await this.rollback(from, false);
      return this.finish('rolled-back', `could not stop writes on ${from}: ${errText(e)}; ${from} is writable again, nothing else changed`,
        `look for long transactions or locks on ${from} (SHOW PROCESSLIST), then run again`);
    }
    this.report.writePause.readOnlyMs = round(performance.now() - pauseStart);
    const killer = this.scheduleKill(from);

    // 4. What the old master has: the target must apply exactly this.
    let finalGtid: string;
    try {
      finalGtid = await this.step('final-gtid', from, `read ${from}'s final GTID position`, () => this.finalPosition(from, flavor), (g) => g || '(empty)');
      this.report.finalGtid = finalGtid;
      if (o.testHooks?.beforeWait) await o.testHooks.beforeWait();
    } catch (e) {
      killer.cancel();
      await this.rollback(from, true);
      return this.finish('rolled-back', `could not read ${from}'s final GTID position: ${errText(e)}; ${from} is writable again`, `check ${from} and run again`);
    }

    // 5. Wait (bounded) for the target to apply it; roll back on timeout.
    const waitStart = performance.now();
    let applied = false;
    let waitError: unknown;
    try {
      applied = await this.step('wait-applied', to, `wait up to ${this.timeoutS}s for ${to} to apply ${from}'s final set`,
        () => ops.waitForGtid(this.conn(to), finalGtid, this.timeoutS),
        (ok) => (ok ? `${to} has applied everything ${from} executed` : `timed out after ${this.timeoutS}s`));
    } catch (e) {
      waitError = e;
    }
    this.report.writePause.applyWaitMs = round(performance.now() - waitStart);
    if (!applied) {
      killer.cancel();
      await killer.settled();
      await this.rollback(from, true);
      const why = waitError ? `failed: ${errText(waitError)}` : `did not apply ${from}'s final set within ${this.timeoutS}s`;
      return this.finish('rolled-back', `${to} ${why}; ${from} is the writable master again and nothing else changed`,
        `check replication on ${to} (SHOW REPLICA STATUS: errors, lag, locks) and run again, or raise --timeout`);
    }

    // 6. Promote the target, then prove it takes writes: the pause ends here.
    try {
      await this.step('promote', to, flavor === 'mysql' ? `read_only OFF on ${to}` : `stop replication on ${to}, read_only OFF`, () => this.promote(to, flavor));
    } catch (e) {
      killer.cancel();
      await killer.settled();
      await this.flushJournal();
      const restored = await this.undoPromote(from, to);
      this.report.errors.push(`promote ${to}: ${errText(e)}`);
      return this.finish(restored ? 'rolled-back' : 'failed',
        restored
          ? `promoting ${to} failed (${errText(e)}); ${to} replicates from ${from} again and ${from} is writable`
          : `promoting ${to} failed (${errText(e)}) and the rollback did not complete; check both servers`,
        restored ? `fix ${to} and run again` : `decide which of ${from} and ${to} is master; run \`heir check\``);
    }
    try {
      await this.step('probe-write', to, `write into ${this.cluster.detection.heartbeat_table} on ${to}`, () => this.deps.probeWrite(this.conn(to), this.node(to)));
      this.report.writePause.toNewMasterMs = round(performance.now() - pauseStart);
    } catch (e) {
      this.report.errors.push(`probe write on ${to}: ${errText(e)}`);
    }
    await this.flushJournal();

    // 7. After the pause, all at once: the new master forgets its old source; the
    //    other replicas follow it; the address moves. The old master follows only
    //    once the new master no longer replicates from it (else they would point
    //    at each other), so not at all if that fails.
    const detached = this.step('detach', to, `stop and reset replication on ${to}`, async () => {
      const c = this.conn(to);
      await ops.stopReplica(c);
      await ops.resetReplicaAll(c);
    }).then(
      () => true,
      (e) => {
        this.report.errors.push(`detach ${to} from ${from}: ${errText(e)}; run RESET REPLICA ALL (MariaDB: RESET SLAVE ALL) on ${to}, then point ${from} at ${to}`);
        return false;
      },
    );
    const others = cluster.nodes.map((n) => n.name).filter((n) => n !== to && n !== from);
    const repoint = (names: string[], node?: string) =>
      names.length === 0
        ? Promise.resolve([] as NodeRepoint[])
        : this.step('repoint', node, `point ${names.join(', ')} at ${to}`, () => this.repointAll(names, to, from, flavor),
          (rs) => rs.map((r) => `${r.node} ${r.ok ? 'ok' : 'FAILED'} (${r.durationMs} ms)`).join(', ')).catch(() => [] as NodeRepoint[]);
    const [repointedOthers, repointedOld] = await Promise.all([
      repoint(others),
      detached.then((ok) => (ok ? repoint([from], from) : [])),
      this.moveAddress(from, to, pauseStart),
    ]);
    const repointed = [...repointedOthers, ...repointedOld];

    // 9. Semi-sync source on the new master only now that its replicas are
    //    connected as semi-sync replicas: enabled earlier, the first commits would
    //    wait for acknowledgements no replica could send yet.
    if (cluster.failover.semi_sync) {
      await this.step('semi-sync', to, `semi-sync source on ${to}`, () => ops.setSemiSync(this.conn(to), 'source')).catch((e) => {
        this.report.errors.push(`semi-sync on ${to}: ${errText(e)}; writes are replicated asynchronously until it is enabled`);
      });
    }
    this.report.repointed = repointed;
    const killed = await killer.settled();
    if (killed) this.report.killedConnections = killed;
    for (const r of repointed) if (!r.ok) this.report.errors.push(`repoint ${r.node}: ${r.detail}`);

    const pauseText = this.report.writePause.toNewMasterMs !== null ? `write pause ${this.report.writePause.toNewMasterMs} ms` : 'write pause not measured';
    if (this.report.errors.length === 0)
      return this.finish('switched', `${to} is the master of ${cluster.name} (was ${from}); ${pauseText}`);
    return this.finish('switched-with-errors', `${to} is the master of ${cluster.name} (was ${from}); ${pauseText}; ${this.report.errors.length} problem(s): ${this.report.errors.join('; ')}`,
      'fix the nodes named above (`heir check` lists what is wrong); the new master is taking writes');
  }

  /** Connections, topology and the facts the preflight needs. */
  private async prepare(lock: LockState): Promise<{ topology: TopologySnapshot; longTransactions: LongTransaction[]; address: { kind: string; checks: AddressCheck[] }; lock: LockState }> {
    const [topology, address] = await Promise.all([
      this.deps.readTopology(this.cluster),
      this.deps.addressPreflight().catch((e): { kind: string; checks: AddressCheck[] } => ({
        kind: this.cluster.address.type,
        checks: [{ name: 'preflight', ok: false, detail: errText(e) }],
      })),
      ...this.cluster.nodes.map(async (n) => {
        try {
          const c = await this.deps.openConn(this.cluster, n);
          this.conns.set(n.name, c);
          this.ownIds.set(n.name, [await connectionId(c)]);
        } catch {
          /* unreachable: the topology says so and the preflight refuses */
        }
      }),
    ]);
    const master = topology.nodes.filter((n) => n.reachable && n.readOnly === false);
    let longTransactions: LongTransaction[] = [];
    if (master.length === 1 && this.conns.has(master[0].name)) {
      // A second connection to the master: rollback and the connection killer
      // must work even if the first one hangs on the read_only statement.
      const aux = await this.deps.openConn(this.cluster, this.node(master[0].name));
      this.conns.set(`${master[0].name}#aux`, aux);
      this.ownIds.get(master[0].name)!.push(await connectionId(aux));
      longTransactions = await readLongTransactions(aux, this.ownIds.get(master[0].name)!);
      // SET GLOBAL read_only waits for the global read lock: bound it.
      await this.conn(master[0].name).exec(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(this.timeoutS))}`);
    }
    return { topology, longTransactions, address, lock };
  }

  private async ensureHeartbeatTable(master: string): Promise<void> {
    await this.deps.ensureProbeTable(this.conn(master));
  }

  private async finalPosition(from: string, flavor: string): Promise<string> {
    const c = this.conn(from);
    return flavor === 'mariadb' ? mariadbBinlogPos(c) : ops.executedGtid(c);
  }

  /** Kill the application's connections on the old master after the grace period. */
  private scheduleKill(from: string): { cancel(): void; settled(): Promise<number[] | undefined> } {
    const after = this.o.killAfterMs;
    if (after === undefined) return { cancel() {}, settled: async () => undefined };
    let cancelled = false;
    let timer: NodeJS.Timeout | undefined;
    const p = new Promise<number[] | undefined>((resolve) => {
      timer = setTimeout(async () => {
        if (cancelled) return resolve(undefined);
        try {
          const r = await this.step('kill-connections', from, `kill application connections left on ${from}`,
            () => killApplicationConnections(this.conn(`${from}#aux`), this.ownIds.get(from) ?? [], [this.cluster.mysql.user, this.cluster.mysql.replication_user]),
            (k) => `killed ${k.killed.length}${k.failed.length ? `, could not kill ${k.failed.join('; ')}` : ''}`);
          resolve(r.killed);
        } catch {
          resolve(undefined);
        }
      }, after);
    });
    return {
      cancel() {
        cancelled = true;
        if (timer) clearTimeout(timer);
      },
      settled: () => (cancelled && timer ? Promise.race([p, Promise.resolve(undefined)]) : p),
    };
  }

  /**
   * Undo the pause: the old master takes writes again. Before promotion nothing
   * else has changed, so this is the whole rollback.
   */
  private async rollback(from: string, readOnlyWasSet: boolean): Promise<void> {
    await this.flushJournal();
    await this.step('rollback', from, `make ${from} writable again${readOnlyWasSet ? '' : ' (in case read_only took effect)'}`, async () => {
      const c = this.conns.get(`${from}#aux`) ?? this.conn(from);
      await ops.setReadOnly(c, false);
    }).catch((e) => {
      this.report.errors.push(`rollback on ${from}: ${errText(e)}`);
    });
  }

  /**
   * Make the target writable. Its replication from the old master is left
   * configured (reset after the pause): with MySQL's super_read_only nothing can
   * arrive from the old master any more. MariaDB's read_only does not stop
   * privileged users, so there replication is stopped first.
   */
  private async promote(to: string, flavor: string): Promise<void> {
    const c = this.conn(to);
    if (flavor !== 'mysql') await ops.stopReplica(c);
    await ops.setReadOnly(c, false);
  }

  /** Promotion failed: the target read-only and replicating from the old master again (its source is still configured), the old master writable. */
  private async undoPromote(from: string, to: string): Promise<boolean> {
    let ok = true;
    await this.step('rollback', to, `${to} read-only and replicating from ${from} again; ${from} writable`, async () => {
      const c = this.conn(to);
      await ops.setReadOnly(c, true);
      await ops.startReplica(c);
      await ops.verifyReplicating(c, 5);
      await ops.setReadOnly(this.conns.get(`${from}#aux`) ?? this.conn(from), false);
    }).catch((e) => {
      ok = false;
      this.report.errors.push(`rollback: ${errText(e)}`);
    });
    return ok;
  }

  private changeSourceTo(master: NodeConfig, formerMaster = false): ChangeSourceOptions {
    return {
      // MariaDB: a former master's own writes are in gtid_binlog_pos only; current_pos covers them.
      ...(formerMaster ? { mariadbUseGtid: 'current_pos' as const } : {}),
      host: master.host,
      port: master.port,
      user: this.cluster.mysql.replication_user,
      password: this.cluster.mysql.replication_password,
      position: { kind: 'gtid' },
      getPublicKey: true,
    };
  }

  /** Repoint every other node (and the old master) at the new master, in parallel. */
  private async repointAll(names: string[], to: string, from: string, flavor: string): Promise<NodeRepoint[]> {
    const target = this.node(to);
    return Promise.all(
      names.map(async (name): Promise<NodeRepoint> => {
        const start = performance.now();
        try {
          const c = this.conn(name);
          // A replica with a backlog stops at a transaction boundary: bounded by apply_timeout_s.
          await ops.stopReplica(c, this.cluster.failover.apply_timeout_s);
          await ops.changeSource(c, this.changeSourceTo(target, name === from && flavor === 'mariadb'));
          // Semi-sync replica side before the IO thread starts: it acks from its first connection.
          if (this.cluster.failover.semi_sync) await ops.setSemiSync(c, 'replica');
          await ops.startReplica(c);
          const ch = await ops.verifyReplicating(c, Math.max(5, this.timeoutS));
          const ms = round(performance.now() - start);
          return { node: name, ok: true, durationMs: ms, detail: `replicating from ${to} (IO ${ch.ioState}, SQL ${ch.sqlRunning ? 'Yes' : 'No'})${name === from ? ', read-only' : ''}` };
        } catch (e) {
          return { node: name, ok: false, durationMs: round(performance.now() - start), detail: errText(e) };
        }
      }),
    );
  }

  /** Fence the old master's address, attach the new one's, then measure a write through it. */
  private async moveAddress(from: string, to: string, pauseStart: number): Promise<void> {
    const kind = this.cluster.address.type;
    this.report.address = { kind };
    if (kind === 'none') return;
    const ctx = { oldMaster: this.node(from), newMaster: this.node(to) };
    try {
      const fence = await this.step('address', from, `fence the address from ${from}`, () => this.deps.fenceAddress(ctx), (r) => `${r.action}: ${r.detail}`);
      this.report.address.fence = fence;
      if (!fence.ok) throw new Error(`fence: ${fence.detail}`);
      const attach = await this.step('address', to, `attach the address to ${to}`, () => this.deps.attachAddress(ctx), (r) => `${r.action}: ${r.detail}`);
      this.report.address.attach = attach;
      if (!attach.ok) throw new Error(`attach: ${attach.detail}`);
    } catch (e) {
      this.report.errors.push(`address move: ${errText(e)}`);
      return;
    }
    const floating = 'floating_ip' in this.cluster.address ? this.cluster.address.floating_ip : undefined;
    if (!floating) return;
    try {
      await this.step('address-probe', to, `write through ${floating}`, () => this.deps.probeThroughAddress(floating, this.node(to), Math.max(10, this.timeoutS)));
      this.report.writePause.toAddressMs = round(performance.now() - pauseStart);
    } catch (e) {
      this.report.errors.push(`write through ${floating}: ${errText(e)}`);
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

export function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
