/**
 * Failover: runFailover() checks the guard (no unfinished journal, not within the block
 * period), takes the cluster lock, then hands the step list (failover-steps.ts: the story,
 * step by step) to the runner (runner.ts: journal, events, boundaries, background steps,
 * undo) over this failover's context, and ends with the report:
 *
 *   report   → JSON report, journal closed, anti-flapping block recorded
 *   (hook)   → post_failover with the report (runFailover, after all of the above)
 *
 * The context (FailoverContext) holds what the steps found and decided, and does each step's
 * work: reads, election (plan.ts, pure), the statements (steps.ts), the address (eni), the
 * salvage (salvage.ts). Every wait is bounded (apply_timeout_s, salvage.timeout_s, query
 * timeouts, the mover's operation timeout).
 *
 * Stopping (FailoverRequest.signal, the daemon's SIGTERM) is honoured at step boundaries
 * only, never inside a step. Before the promotion an abort ends the failover as
 * 'interrupted': what is safe to undo is undone (as after a failure), the fence stays. After
 * it the remaining steps run to their bounded end: stopping there would leave a writable
 * master without its address.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { drainMaxS, type ClusterConfig, type GlobalSettings, type NodeConfig } from '../config/schema';
import { classifyError, Conn, connOptions } from '../mysql/conn';
import { GtidSet } from '../mysql/gtid';
import { compareCoords } from '../mysql/coords';
import { readBinlogStatus, readChannels, readNode, readTopology } from '../mysql/inspect';
import { countTransactionsSince } from '../mysql/events';
import { hostCheck } from '../monitor/probes';
import { MariaGtidPos } from '../mysql/mariadb-gtid';
import { changeSource, executedGtid, fenceIfWritable, fenceReadOnly, setReadOnly, startReplica, stopReplica, waitRelayApplied } from '../mysql/ops';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { SshError, sshTarget, sshWarm } from '../ssh';
import { createMover, type AddressMover, type MoveOutcome } from '../eni';
import { progressed, receivedMark, type ReceivedMark } from '../monitor/sight';
import { silentLogger, type Logger } from '../util/log';
import type { Trigger } from './guard';
import { newOperationId, type JournalSummary } from './journal';
import { clusterDir, LockHeldError } from './lock';
import { checkGuard, LocalDiskStore, type FailoverStore, type JournalWriter, type StoreLock } from './store';
import { planFailover, type EarlierPromotion, type LevelPoint, type PlanOptions } from './plan';
import { channelFrom } from './positions';
import { channelFromDead, eachNode, endSalvageSession, NodeConns, nodeOf, removeCopies, salvagedBetween, winnerPosition } from './failover-io';
import { possiblyLost } from './lost';
import { earlierDrops, earlierPromotion } from './resume';
import { runHook, runPostHook, type HookRun } from './hooks';
import type { FailoverOutcome, FailoverReport, PossiblyLost, SalvageReport, StepRecord } from './report';
import { applySqlFile, decodeArgs, decodeToFile, fetchBinlogs, purgedGap, scanDecodedFile, type FetchedBinlogs } from './salvage';
import { locateLevelUp } from './levelup-io';
import { withinLacking } from './levelup';
import { catchUpFrom, catchUpFromCoords, cutPartialTail, DrainStuck, SourceCannotServe, drainWatched, killMysqldOverSsh, freezeReplica, promoteToMaster, releasePartialTail, repointReplica, verifyReplica, type RepointPosition } from './steps';
import type { Plan, StepName } from './types';
import { failoverSteps, type FailoverCtx } from './failover-steps';
import { Interrupted, Runner, type StepApi, type StepEvent, type StepNote } from './runner';

export interface FailoverRequest {
  cluster: ClusterConfig;
  global: GlobalSettings;
  /** The master that died (node name). */
  deadMaster: string;
  /** 'auto' from the daemon (subject to the block period), 'manual' from `heir failover`. */
  trigger: Trigger;
  /** Detection's evidence, copied into the report. */
  verdict?: unknown;
  /** Forced target (--to). */
  to?: string;
  /** Fail over although the master answers; with `to`, override soft gates. */
  force?: boolean;
  /** Plan only: change nothing, take no lock, write no journal. */
  dryRun?: boolean;
  /**
   * Where the journal, the cluster lock and the anti-flapping state live: state_dir on
   * local disk by default; under heir.ha the cluster's records in etcd (EtcdFailoverStore).
   */
  store?: FailoverStore;
  /** A snapshot already read (the daemon has one); read afresh when absent. */
  snapshot?: TopologySnapshot;
  /** The monitor's last good read of the master: its GTIDs bound what may be lost. */
  lastKnownMaster?: NodeSnapshot;
  /** Lag per node as last seen before the master died. */
  lagHints?: Record<string, number | null | undefined>;
  /** Each replica as the monitor last read it while the master answered (see PlanOptions.healthy). */
  healthy?: PlanOptions['healthy'];
  /** Address mover (default: createMover from the config). */
  mover?: AddressMover;
  /** Whether the dead master's host answers SSH, when detection knows. */
  deadMasterSshReachable?: boolean;
  /**
   * What each replica had received from the master when the verdict was reached (the
   * verdict's `received`). After the freeze the executor compares the survivors' positions
   * with these and with its own first read: anything that arrived since means the master
   * was alive and the failover stops before the promotion.
   */
  verdictReceived?: Record<string, ReceivedMark>;
  log?: Logger;
  /** Progress and the final report, for the notifier. */
  onEvent?: (e: FailoverEvent) => void;
  /**
   * Stop at the next step boundary (the daemon's graceful stop). Before the promotion
   * the failover ends 'interrupted' (undone what is safe, fence kept); from the
   * promotion on the remaining steps run to their end. The reason, when an Error or a
   * string, goes into the report.
   */
  signal?: AbortSignal;
  /**
   * The post_failover hook runs once the report is written (it never delays the address).
   * By default runFailover waits for it; given this, runFailover returns at once and hands
   * over the hook's run (the daemon, which must not wait).
   */
  postHook?: (done: Promise<void>) => void;
  /**
   * Runs before each step, before anything of it happens (manager high availability: the
   * fenced check that this manager still leads the cluster). Throwing fails that step
   * without running it.
   */
  beforeMutation?: (what: string) => Promise<void>;
  /** Test hook: runs before each step starts; throwing fails that step. */
  beforeStep?: (step: StepName) => void | Promise<void>;
  /**
   * Test hook: runs at named points inside a step (promote: 'stopped', 'binlog', 'reset',
   * 'writable'; repoint: 'first' once one survivor is repointed; salvage-apply: 'applying'
   * before the client starts, 'applied' after it ended; attach: 'detached' before the ENI
   * mover's attach request, 'requested' once it was accepted; freeze: 'connected <node>' once
   * the node's connection is open, before its IO thread is stopped), to crash or stall mid-step.
   */
  duringStep?: (step: StepName, point: string) => void | Promise<void>;
}

export type FailoverEvent =
  | { type: 'failover.step'; id: string; cluster: string; step: StepRecord }
  | { type: 'failover.report'; id: string; cluster: string; report: FailoverReport };

/** Run one failover (or a dry run). Never throws for failures of the failover itself: the report says. */
export async function runFailover(req: FailoverRequest): Promise<FailoverReport> {
  const report = await new FailoverContext(req).execute();
  if (report.outcome === 'dry-run' || !req.cluster.hooks.post_failover) return report;
  const done = runPostHook(
    req.cluster,
    'post_failover',
    report,
    { operation: 'failover', id: report.id, trigger: report.trigger, outcome: report.outcome, oldMaster: report.deadMaster, newMaster: report.newMaster },
    { log: req.log },
  ).then(() => undefined);
  if (req.postHook) req.postHook(done);
  else await done;
  return report;
}

/** Survivors kept receiving from the master after the verdict: it is alive. */
class MasterAlive extends Error {
  constructor(readonly moved: string[]) {
    super(`the survivors kept receiving from the master after it was declared dead: ${moved.join('; ')}`);
  }
}


/**
 * One failover's context: the request, what the steps found and decided so far, and the
 * steps' own work (failover-steps.ts names them and their order; the runner runs them).
 */
class FailoverContext implements FailoverCtx {
  private readonly c: ClusterConfig;
  private readonly log: Logger;
  private readonly id = newOperationId();
  private readonly started = Date.now();
  private readonly steps: StepRecord[] = [];
  private readonly warnings: string[] = [];
  private readonly next: string[] = [];
  private readonly undone: string[] = [];
  private readonly errors: string[] = [];
  private readonly conns: NodeConns;
  private journal?: JournalWriter;
  private lock?: StoreLock;
  private readonly store: FailoverStore;
  /** The cluster's journals as read before planning (earlier runs of this failover). */
  private past: JournalSummary[] = [];
  private mover?: AddressMover;
  /** The address leaves the old master at the verdict (set before the list runs). */
  fenceAtVerdict = false;
  /**
   * The old master proved alive, and the fence did not force-stop its instance: the undo gives
   * the address back. Asked when the undo would run, once the fence has ended.
   */
  get addressBack(): boolean {
    return (this.masterAlive !== undefined || this.masterAliveAtPlan) && !this.fenceForceStopped();
  }

  private addressReturned = false;
  salvageWanted = false;
  /** The plan or the hook ended the failover before it began: the report it ends with. */
  private halt?: () => Promise<FailoverReport>;
  /** Catch-ups still to do (catchUpPending). */
  private catchUps?: Plan['catchUp'];
  private repointedOne!: () => void;
  private readonly oneRepointed = new Promise<void>((r) => (this.repointedOne = r));
  private fenceOutcome?: MoveOutcome;
  private snapshot?: TopologySnapshot;
  private finalSnapshot?: TopologySnapshot;
  private plan0?: Plan;
  private plan?: Plan;
  private fenceP?: Promise<MoveOutcome | undefined>;
  private fetchP?: Promise<FetchedBinlogs | undefined>;
  private fetchError?: string;
  private readonly frozen: string[] = [];
  private masterAlive?: MasterAlive;
  private winnerRepointed = false;
  private promoted = false;
  /** The report is being written: background watchers stop. */
  private finished = false;
  private promotedAt?: number;
  private promoteBinlog?: { file: string; pos: number };
  /** Survivors left out during the run (slow catch-up source), and why. */
  private readonly dropped = new Map<string, string>();
  /** Catch-up sources the winner could not fetch from (SourceCannotServe), with why. */
  private readonly cannotServe = new Map<string, string>();
  /** The node whose receiver a GTID catch-up switched to a source (the winner then). */
  private catchUpNode?: string;
  private earlierRead = false;
  private earlierValue?: EarlierPromotion;
  /** The winner's executed coordinates in the dead master's binlog once its relay log was applied. */
  private winnerDrainedAt?: { file: string; pos: number };
  /** File/position catch-up begun: from whom, where in its binlog, where it brings the winner in the dead master's. */
  private catchUpBegun?: { from: string; at: { file: string; pos: number }; fromDead: { file: string; pos: number }; done?: boolean };
  /** The dead master had purged the binlog the survivors needed first: what was in it for the winner. */
  private salvageGap?: { count: number | null; transactions: string; purged: string };
  /** File/position survivors behind the winner: where each resumes in the winner's binlog. */
  private readonly levelAt = new Map<string, LevelPoint>();
  private salvage: SalvageReport = { attempted: false, why: 'not reached', files: [], gtids: '', count: 0 };
  private stepNo = 0;
  /** Each narrated step's record, by the runner's step id (undos: undo:<id>). */
  private readonly recs = new Map<string, StepRecord>();
  private readonly hooks: HookRun[] = [];

  constructor(private readonly req: FailoverRequest) {
    this.c = req.cluster;
    this.log = (req.log ?? silentLogger).child({ cluster: req.cluster.name, failover: this.id });
    this.store = req.store ?? new LocalDiskStore(req.global.state_dir);
    this.conns = new NodeConns(req.cluster);
  }

  private get stateDir(): string {
    return this.req.global.state_dir;
  }

  private node(name: string): NodeConfig {
    return nodeOf(this.c, name);
  }

  private conn(name: string): Promise<Conn> {
    return this.conns.get(name);
  }

  // -------------------------------------------------------------------------
  // Guard, lock, the step list, the outcome

  async execute(): Promise<FailoverReport> {
    const { deadMaster, trigger } = this.req;
    this.log.info({ deadMaster, trigger }, `failover of ${this.c.name}: master ${deadMaster} declared dead (${trigger})`);

    // Guard: an unfinished earlier failover or a recent automatic one stops us
    // before anything is touched (a dry run only reports them).
    let guard;
    try {
      guard = await checkGuard(this.store, this.c.name, trigger, this.c.failover.block_period_s);
    } catch (e) {
      return this.refuse([`cannot read the failover state of ${this.c.name} (${this.store.where}): ${(e as Error).message}`], 'guard');
    }
    if (!guard.allowed && !this.req.dryRun) return this.refuse(guard.reasons, 'guard');
    if (!guard.allowed) this.warnings.push(...guard.reasons.map((r) => `a real run would be refused: ${r.trim()}`));

    if (!this.req.dryRun) {
      try {
        this.lock = await this.store.acquireLock(this.c.name, 'failover', `${deadMaster} dead, ${trigger}`);
      } catch (e) {
        if (e instanceof LockHeldError) return this.refuse([e.message], 'lock');
        return this.refuse([`cannot take the lock of ${this.c.name} (${this.store.where}): ${(e as Error).message}`], 'lock');
      }
      if (this.lock.tookOverFrom) {
        this.warnings.push(`took over a stale cluster lock of pid ${this.lock.tookOverFrom.pid} (${this.lock.tookOverFrom.operation})`);
      }
    }
    if (!this.req.dryRun) {
      // The fence, the salvage and the address move talk to the hosts over SSH: connections
      // to them open now (detection's SSH checks usually left them open already), so those
      // steps each cost a channel on an open connection, not a key exchange.
      for (const n of this.c.nodes) if (!(n.name === deadMaster && this.req.deadMasterSshReachable === false)) sshWarm(sshTarget(this.c, n));
    }
    try {
      this.past = await this.store.listJournals(this.c.name);
      // Detach at the verdict: an automatic failover acts on a dead verdict that detection
      // confirmed from several sources, so the address leaves the old master at once and
      // its detach runs while the topology is read (with the master's host down, every read
      // of it costs a connect timeout).
      // A pre_failover hook that may stop the failover runs first: then nothing moves before it.
      this.fenceAtVerdict = !this.req.dryRun && trigger === 'auto' && this.req.verdict !== undefined && !this.req.snapshot && !this.c.hooks.pre_failover?.abort_on_failure;
      const beforeStep = this.req.beforeStep;
      const runner = new Runner<FailoverCtx>({
        operation: `failover ${this.id}`,
        signal: this.req.signal,
        beforeMutation: this.req.beforeMutation,
        ...(beforeStep ? { beforeStep: (name: string) => beforeStep(name as StepName) } : {}),
        openJournal: () => this.beginJournal(),
        onEvent: (e) => this.onStepEvent(e),
      });
      const r = await runner.run(failoverSteps(this.c.nodes.length), this);
      if (!r.ok) {
        if (r.why === 'halted' && this.halt) {
          // Found alive with the address already gone (fence at the verdict): say what was undone.
          if (this.masterAliveAtPlan) await this.afterUndo(r.mayNotAct);
          return await this.halt();
        }
        const message = r.error instanceof Error ? r.error.message : String(r.error);
        if (this.masterAlive && !this.promoted) {
          // The master was alive: never promote. Replication restarted, the address given back (the undos).
          await this.afterUndo(r.mayNotAct);
          this.next.push(
            `${deadMaster} was alive while heir could not reach it: check the network between the manager and ${deadMaster} ` +
              `(heir check --cluster ${this.c.name}); automatic failover stays blocked until heir ack --cluster ${this.c.name}`,
          );
          return await this.finish('master-alive', `${this.masterAlive.message}; nothing was promoted`);
        }
        if (r.error instanceof Interrupted && !this.promoted) {
          await this.afterUndo(r.mayNotAct);
          this.next.push(
            `the failover stopped before ${r.error.before} and nothing was promoted; check the cluster (heir failover --dry-run --cluster ${this.c.name}), ` +
              `then run heir failover --cluster ${this.c.name} (or let the daemon do it)`,
          );
          return await this.finish('interrupted', `${message}; nothing was promoted`);
        }
        if (!this.promoted) {
          if (r.at === 'plan') {
            // A failure before any step (reading the topology, electing).
            this.errors.push(message);
            if (this.journal) await this.afterUndo(r.mayNotAct);
            return await this.finish('failed', `failover did not run: ${message}`);
          }
          // A failure no step recorded (a test hook's): said in the summary all the same.
          if (!this.recs.has(r.at)) this.errors.push(message);
          await this.afterUndo(r.mayNotAct);
          return await this.finish('failed', `stopped before promotion: ${this.errors.join('; ')}`);
        }
      }
      const winner = this.plan!.winner!;
      if (this.errors.length) return await this.finish('promoted-with-errors', `${winner} is the new master, with errors: ${this.errors.join('; ')}`);
      return await this.finish('promoted', `${winner} is the new master`);
    } catch (e) {
      // A failure outside the steps (the journal's list, the report).
      this.errors.push((e as Error).message);
      return this.finish(this.promoted ? 'promoted-with-errors' : 'failed', `failover did not run: ${(e as Error).message}`);
    } finally {
      this.conns.closeAll();
      await this.lock?.release().catch((e) => this.log.warn({ err: (e as Error).message }, `could not release the lock of ${this.c.name}: ${(e as Error).message}`));
    }
  }

  /** The journal, begun at the first step that changes the cluster. */
  beginJournal(): Promise<JournalWriter> {
    this.journalP ??= this.openJournal();
    return this.journalP;
  }

  private journalP?: Promise<JournalWriter>;

  private async openJournal(): Promise<JournalWriter> {
    this.journal = await this.store.beginJournal(this.c.name, 'failover', {
      deadMaster: this.req.deadMaster,
      trigger: this.req.trigger,
      plannedWinner: this.plan0?.winner ?? null,
      to: this.req.to ?? null,
    }, this.id);
    return this.journal;
  }

  /** A step's events become its record in the report, a log line and a notifier event. */
  private onStepEvent(e: StepEvent): void {
    if (e.phase === 'start') {
      const n = ++this.stepNo;
      const rec: StepRecord = { name: e.name, startedAt: new Date().toISOString(), outcome: 'running', detail: '' };
      this.recs.set(e.id, rec);
      this.steps.push(rec);
      this.log.info({ step: e.name, ...(e.params ?? {}) }, `[${n}] ${e.name}: ${e.detail}`);
      this.stepNos.set(e.id, n);
      return;
    }
    // However the repoint ended (refused before it ran, too), nothing waits for its first node any more.
    if (e.id === 'repoint') this.repointedOne();
    const rec = this.recs.get(e.id);
    if (!rec) return;
    const n = this.stepNos.get(e.id);
    const note = e.note ?? {};
    rec.durationMs = Math.round(e.durationMs ?? 0);
    rec.endedAt = new Date().toISOString();
    if (note.nodes) rec.nodes = note.nodes;
    if (e.phase === 'done') {
      rec.outcome = e.outcome ?? 'ok';
      rec.detail = e.detail;
      if (note.error) rec.error = note.error;
      if (note.data) rec.data = note.data;
      const line = `[${n}] ${e.name} ${rec.outcome} in ${rec.durationMs} ms: ${rec.detail}`;
      if (rec.outcome === 'failed') this.log.error({ step: e.name, error: rec.error }, line);
      else this.log.info({ step: e.name }, line);
    } else {
      rec.outcome = 'failed';
      rec.error = e.error;
      rec.detail = note.detail || 'failed';
      this.log.error({ step: e.name, error: rec.error }, `[${n}] ${e.name} FAILED after ${rec.durationMs} ms: ${rec.error}`);
      this.errors.push(`${e.name}: ${rec.error}`);
    }
    this.req.onEvent?.({ type: 'failover.step', id: this.id, cluster: this.c.name, step: rec });
  }

  private readonly stepNos = new Map<string, number>();

  /** What a step does, from the plan (the narration's first line). */
  why(step: string): string {
    return (this.plan ?? this.plan0)?.steps.find((s) => s.name === step)?.why ?? '';
  }

  /** Journaled with each step's start: what a rerun needs to know of how it began. */
  params(step: string): Record<string, unknown> {
    const p = this.plan;
    const stallS = this.c.failover.apply_timeout_s;
    const maxS = drainMaxS(this.c.failover);
    switch (step) {
      case 'fence':
      case 'fence-kill':
        return { node: this.req.deadMaster };
      case 'fence-address':
        return { node: this.req.deadMaster, address: this.c.address.type };
      // The position mode goes into the journal: a restarted daemon decides from it whether
      // an interrupted run can be finished safely (src/failover/resume.ts).
      case 'freeze':
        return { nodes: this.reachableSurvivors(), mode: this.plan0!.mode };
      case 'salvage-fetch':
        return { from: this.req.deadMaster, startFile: this.oldestReadFile() ?? null };
      case 'reread':
        return { nodes: this.reachableSurvivors() };
      case 'drain':
        return { nodes: this.drainNodes(), timeoutS: stallS, maxS };
      case 'level-up':
        return { nodes: p!.levelUp.filter((n) => !this.dropped.has(n)), winner: p!.winner };
      case 'catch-up': {
        const cu = this.catchUps![0]!;
        return { node: p!.winner, from: cu.from, until: cu.until, timeoutS: stallS, maxS };
      }
      case 'promote': {
        // What a rerun needs should heir die inside this step (after RESET REPLICA ALL the winner
        // no longer shows where it stood): journaled with the start, the binlog position as read.
        const { winner, kept, fromDead, levelAt } = this.promotion();
        return {
          node: winner,
          semiSync: this.c.failover.semi_sync,
          ...(fromDead ? { fromDead } : {}),
          ...(Object.keys(levelAt).length ? { levelAt } : {}),
          ...(kept?.binlog ? { binlog: kept.binlog } : {}),
        };
      }
      case 'repoint': {
        const b = this.promoteBinlog;
        const position: RepointPosition | { kind: 'file' } = p!.mode !== 'file' ? { kind: 'gtid' } : b ? { kind: 'file', file: b.file, pos: b.pos } : { kind: 'file' };
        // Survivors behind the winner resume where the transactions they lack begin.
        const levelAt = Object.fromEntries([...this.levelAt].map(([n, l]) => [n, `${l.at.file}:${l.at.pos}`]));
        return { nodes: p!.repoint, to: p!.winner, position, ...(this.levelAt.size ? { levelAt } : {}) };
      }
      case 'verify': {
        const broken = this.mustApply();
        return { nodes: p!.repoint, timeoutS: Math.min(30, stallS), ...(broken.length ? { mustApply: broken } : {}) };
      }
      case 'salvage-apply':
        return { node: p!.winner, from: this.req.deadMaster, mode: p!.mode };
      case 'attach':
        return { node: p!.winner, address: this.c.address.type };
      default:
        return {};
    }
  }

  get waitsForReplica(): boolean {
    return this.c.failover.semi_sync && this.plan!.repoint.length > 0;
  }

  get nodeCount(): number {
    return this.c.nodes.length;
  }

  /**
   * Read every node and elect (pure from here to the first action). 'stop' when the failover
   * ends here: a master that answers, a dry run, no candidate (this.halt says how).
   */
  async elect(): Promise<'go' | 'stop'> {
    const { deadMaster } = this.req;
    this.snapshot = this.req.snapshot ?? (await readTopology(this.c));
    await this.keepEarlierDrops();
    this.plan0 = planFailover(this.snapshot, this.c, deadMaster, this.planOptions());
    const dead = this.snapshot.nodes.find((n) => n.name === deadMaster);
    // A server that refuses heir (access denied, account locked, host blocked, too many
    // connections) is up: detection counts such answers as proof of life, and so does this.
    const answers = dead?.reachable
      ? `answers at ${dead.host}:${dead.port} (read_only=${dead.readOnly ? 'ON' : 'OFF'})`
      : dead?.error && classifyError(dead.error) === 'alive'
        ? `answers at ${dead.host}:${dead.port} with an error that proves it running (${dead.error.code}${dead.error.errno ? ` ${dead.error.errno}` : ''}: ${dead.error.message})`
        : null;
    if (answers && !this.req.force && this.req.dryRun) {
      this.warnings.push(`master ${deadMaster} ${answers}: a real run would be refused without --force`);
    } else if (answers && !this.req.force) {
      const why =
        `master ${deadMaster} ${answers}: it is not dead. ` +
        'Moving a live master is a switchover (heir switchover); to fail over anyway add --force (it is made read-only first where heir can log in).';
      if (this.fenceAtVerdict) {
        // The address had already left it at the verdict: give it back (the fence's undo).
        this.warnings.push(why);
        this.masterAliveAtPlan = true;
        this.halt = () => this.finish('master-alive', `master ${deadMaster} ${answers} after the dead verdict; nothing was promoted`);
        return 'stop';
      }
      this.halt = () => this.refuse([why], 'master-alive');
      return 'stop';
    }
    if (this.req.dryRun) {
      this.halt = () => this.finish('dry-run', 'plan only, nothing changed');
      return 'stop';
    }
    if (!this.plan0.winner) {
      this.next.push('no survivor can be promoted: see every candidate\'s reasons; fix one (or use --to NODE --force) and run heir failover');
      const reasons = this.plan0.noWinnerReasons.join('; ');
      this.halt = () => this.finish('no-candidate', `no survivor can become master: ${reasons}`);
      return 'stop';
    }
    return 'go';
  }

  /** A master found alive at the plan with the address already gone (fence at the verdict). */
  private masterAliveAtPlan = false;

  async notePlannedWinner(): Promise<void> {
    if (this.journal) await this.note(`planned winner: ${this.plan0!.winner}`);
  }

  /** The fence step made the old master read-only. */
  private fencedReadOnly(): boolean {
    const fence = this.steps.find((x) => x.name === 'fence');
    return fence?.outcome === 'ok' && /is read-only/.test(fence.detail);
  }

  /** The address fence force-stopped the old master's instance: the address cannot go back to it. */
  private fenceForceStopped(): boolean {
    return !!this.fenceOutcome && /force-stopped/.test(this.fenceOutcome.action);
  }

  /** A note in the journal: one that cannot be written is a warning, not the end of the run. */
  private async note(text: string): Promise<void> {
    try {
      await this.journal?.note(text);
    } catch (e) {
      this.warnings.push(`could not journal the note "${text}": ${(e as Error).message}`);
    }
  }

  /**
   * The pre_failover hook, with the plan on stdin, before the first change to a server (and,
   * when it may stop the failover, before the address moves). A failure stops the failover
   * only with abort_on_failure; otherwise it is a warning.
   */
  async preFailoverHook(): Promise<'go' | 'stop'> {
    const run = await runHook(
      this.c,
      'pre_failover',
      this.plan0,
      { operation: 'failover', id: this.id, trigger: this.req.trigger, outcome: 'planned', oldMaster: this.req.deadMaster, newMaster: this.plan0!.winner },
      { log: this.log },
    );
    if (!run) return 'go';
    this.hooks.push(run);
    await this.note(`hook ${run.detail}`);
    if (run.ok) return 'go';
    if (this.c.hooks.pre_failover!.abort_on_failure) {
      this.next.push(`the pre_failover hook stopped the failover (${run.detail}); look at its output in this report, then run heir failover --cluster ${this.c.name}`);
      const why = `the pre_failover hook ${run.detail.replace(/^pre_failover /, '')} and hooks.pre_failover.abort_on_failure is true: the failover was not started, nothing was changed`;
      this.halt = () => this.refuse([why], 'pre-failover-hook');
      return 'stop';
    }
    this.warnings.push(`hook ${run.detail}; the failover went on (hooks.pre_failover.abort_on_failure is false)`);
    return 'go';
  }

  // -------------------------------------------------------------------------
  // Steps

  /** A master that still answers must stop taking writes before positions are compared. */
  async fence(api: StepApi): Promise<void> {
    const rec = api.record;
    const dead = this.snapshot!.nodes.find((n) => n.name === this.req.deadMaster);
    if (!dead?.reachable) {
      rec.outcome = 'skipped';
      rec.detail = `${this.req.deadMaster} does not answer; nothing to set on it`;
      return;
    }
    try {
      const c = await this.conn(this.req.deadMaster);
      const r = await fenceReadOnly(c);
      rec.detail = `${this.req.deadMaster} is read-only (super_read_only where supported), ${r.persisted}`;
    } catch (e) {
      // Not fatal: the address is taken away regardless, and the old master cannot
      // reach the replicas once their IO threads are stopped.
      rec.detail = `could not make ${this.req.deadMaster} read-only: ${(e as Error).message}`;
      this.warnings.push(rec.detail);
    }
  }

  /**
   * An old master that did not answer SQL while its host answers SSH (hung, SIGSTOPped) would
   * resume writable beside the new master: kill its mysqld before the promotion. Only once the
   * reread found no sign of life from it (a master still sending stops the failover before
   * this). Runs beside the drain; the promotion waits for it. Not fatal: when the kill cannot
   * be done, the late fence (startLateFence) and the daemon's old-master watch make it
   * read-only when it answers again.
   */
  fenceKillWanted(): boolean {
    if (!this.c.failover.kill_unresponsive_master) return false;
    if (this.fencedReadOnly()) return false;
    return this.req.deadMasterSshReachable !== false;
  }

  async fenceKill(api: StepApi): Promise<void> {
    const rec = api.record;
    const dead = this.node(this.req.deadMaster);
    let k;
    try {
      k = await killMysqldOverSsh(this.c, dead);
    } catch (e) {
      rec.outcome = 'skipped';
      rec.detail = `could not reach ${dead.name}'s host to kill its mysqld: ${(e as Error).message}`;
      return;
    }
    if (k.killed === 'none') {
      rec.outcome = 'skipped';
      rec.detail = k.error ? `nothing killed on ${dead.name}'s host: ${k.error}` : `no mysqld listens on port ${dead.port} on ${dead.name}'s host`;
      return;
    }
    const what = `mysqld (pid ${k.pid}, state ${k.stateBefore ?? '?'}) on ${dead.name}'s host`;
    if (k.killed === 'failed') {
      rec.detail = `could not kill ${what}: ${k.error ?? 'refused'}; it is made read-only if it answers again`;
      this.warnings.push(`fence: ${rec.detail}`);
      return;
    }
    rec.detail = k.gone
      ? `killed ${what}: it did not answer SQL and must not resume writable beside the new master`
      : `sent SIGKILL to ${what}, still there after 3 s (uninterruptible I/O?): it dies when the I/O returns; made read-only if it answers first`;
    this.warnings.push(`fence: ${rec.detail}`);
    this.next.push(`${dead.name}'s mysqld was killed by the fence: before starting it again, make sure its my.cnf has super_read_only=ON (it must not come back writable), then heir rejoin --cluster ${this.c.name} --node ${dead.name}`);
  }

  /**
   * After the promotion, an old master the fence step could not reach (hung, cut off) is
   * watched until it answers: if it comes back writable it is made read-only on the first
   * connection it serves (a SIGSTOPped server serves its accept queue in order on SIGCONT).
   * The daemon's old-master watch takes over once the failover ends; this covers the
   * failover's own remaining steps.
   */
  startLateFence(): void {
    if (this.fencedReadOnly()) return;
    const dead = this.node(this.req.deadMaster);
    const winner = this.plan!.winner!;
    void (async () => {
      while (!this.finished) {
        let c: Conn | undefined;
        try {
          c = await Conn.open(connOptions(this.c, dead));
          const f = await fenceIfWritable(c);
          if (f.fenced) {
            const msg = `${dead.name} answered writable during the failover, after ${winner}'s promotion: made read-only at once (${f.persisted})`;
            this.warnings.push(msg);
            this.log.warn({ node: dead.name }, msg);
          }
          return; // it answers: fenced now, or already read-only
        } catch {
          if (!this.finished) await new Promise((res) => setTimeout(res, 200));
        } finally {
          c?.destroy();
        }
      }
    })().catch(() => undefined);
  }

  /** The address leaves the old master now; the detach runs while the rest proceeds. */
  fenceAddress(api: StepApi): Promise<MoveOutcome> {
    const rec = api.record;
    const oldMaster = this.node(this.req.deadMaster);
    this.mover ??= this.req.mover ?? createMover(this.c, this.req.global, { log: this.log });
    const work = (async () => {
      const out = await this.mover!.fence({
        cluster: this.c,
        oldMaster,
        reason: 'failover',
        log: this.log,
        oldMasterSshReachable: this.req.deadMasterSshReachable,
      });
      rec.detail = `${out.action}: ${out.detail}`;
      this.fenceOutcome = out;
      if (!out.ok) throw new Error(`address fence failed (${out.code ?? out.action}): ${out.detail}`);
      return out;
    })();
    this.fenceP = work.catch(() => undefined);
    return work;
  }

  /** Stop every IO thread so that the positions compared next can no longer move. */
  async freeze(api: StepApi): Promise<void> {
    const rec = api.record;
    const nodes = this.reachableSurvivors();
    rec.nodes = await eachNode(nodes, async (n) => {
      const c = await this.conn(n);
      await this.req.duringStep?.('freeze', `connected ${n}`);
      const r = await freezeReplica(c);
      if (r.wasReplica) this.frozen.push(n);
      if (!r.wasReplica) return 'not a replica';
      // MariaDB with MASTER_USE_GTID=no keeps no Gtid_IO_Pos: what it received but did not
      // apply shows in no GTID position, and a repoint's CHANGE MASTER deletes that relay
      // log. Applied now, it counts in the election and nothing is discarded later. It is
      // drained as the winner is (drain.ts): waited for while its applier makes progress; a
      // stuck one is dropped (not elected, not repointed; its relay log is reported).
      const chs = c.version.flavor === 'mariadb' ? await readChannels(c) : [];
      if (chs.some((ch) => ch.mariadbUsingGtid === 'No')) {
        const stallS = this.c.failover.apply_timeout_s;
        const maxS = drainMaxS(this.c.failover);
        let r: Awaited<ReturnType<typeof drainWatched>>;
        try {
          r = await drainWatched(c, { stallS, maxS });
        } catch (e) {
          const why = `its relay log (MASTER_USE_GTID=no) was not applied: ${(e as Error).message}`;
          this.drop(n, why);
          throw new Error(`IO thread stopped; dropped: ${why}`);
        }
        const waited = r.waitedMs >= stallS * 1000 ? ` in ${(r.waitedMs / 1000).toFixed(1)} s, longer than failover.apply_timeout_s ${stallS}s: its applier kept making progress (${r.progress ?? 'moving'})` : '';
        return `IO thread stopped; relay log applied${waited} (MASTER_USE_GTID=no: only applied transactions show in its GTID position)`;
      }
      return 'IO thread stopped';
    });
    const failed = rec.nodes.filter((x) => !x.ok);
    // A node we could not freeze is read again next; if it is gone by then it is not a
    // candidate. A dropped one has its warning already.
    for (const f of failed) if (!this.dropped.has(f.node)) this.warnings.push(`freeze: ${f.node}: ${f.detail}`);
    rec.detail = `IO threads stopped on ${this.frozen.join(', ') || 'no node'}${failed.length ? `; failed on ${failed.map((f) => f.node).join(', ')}` : ''}`;
  }

  /** Copy the dead master's binlogs to the manager while the survivors drain. */
  decideSalvage(): void {
    this.salvageWanted = false;
    if (!this.c.failover.salvage.enabled) {
      this.salvage = { attempted: false, why: 'failover.salvage.enabled is false', files: [], gtids: '', count: 0 };
      return;
    }
    if (this.req.deadMasterSshReachable === false) {
      this.salvage = { attempted: false, why: `${this.req.deadMaster}'s host does not answer SSH (detection)`, files: [], gtids: '', count: 0 };
      return;
    }
    this.salvageWanted = true;
  }

  salvageFetch(api: StepApi): Promise<FetchedBinlogs | undefined> {
    const rec = api.record;
    const fo = this.c.failover;
    const dead = this.node(this.req.deadMaster);
    const startFile = this.oldestReadFile();
    const work = (async () => {
      let got: FetchedBinlogs;
      try {
        got = await fetchBinlogs({
          cluster: this.c,
          node: dead,
          startFile,
          workDir: path.join(clusterDir(this.stateDir, this.c.name), `salvage-${this.id}`),
          deadlineMs: Date.now() + fo.salvage.timeout_s * 1000,
        });
      } catch (e) {
        // A host that does not answer SSH is the "host down" case, not a fault of the failover.
        if (e instanceof SshError && (e.kind === 'connect' || e.kind === 'timeout')) {
          rec.outcome = 'skipped';
          rec.detail = `${dead.name}'s host does not answer SSH: ${e.message}`;
          this.fetchError = rec.detail;
          return undefined;
        }
        throw e;
      }
      rec.detail = `copied ${got.remote.length} binlog(s), ${got.bytes} bytes: ${got.remote.join(', ')}`;
      for (const w of got.warnings) this.warnings.push(`salvage: ${w}`);
      return got;
    })();
    this.fetchP = work.catch((e) => {
      this.fetchError = (e as Error).message;
      return undefined;
    });
    return work;
  }

  /** Read the survivors again, now frozen, and elect on these final positions. */
  async reread(api: StepApi): Promise<void> {
    const rec = api.record;
    const fresh = await Promise.all(
      this.snapshot!.nodes.map((n) =>
        n.name === this.req.deadMaster || !n.reachable ? Promise.resolve(n) : readNode(this.c, this.node(n.name)),
      ),
    );
    this.finalSnapshot = { cluster: this.c.name, takenAt: Date.now(), nodes: fresh };
    const moved = this.stillReceiving(fresh);
    if (moved.length) {
      // What a killed mysqld's kernel still had in its send buffers arrives after its
      // death (seconds of it on a slow link): only the host itself can tell that from a
      // master that is alive and cut off from the manager.
      const gone = await this.mysqldGoneOnHost();
      if (!gone) {
        this.masterAlive = new MasterAlive(moved);
        throw this.masterAlive;
      }
      this.warnings.push(`${moved.join('; ')}; but ${gone}: that was still in flight when it died`);
      this.log.warn({ moved, host: gone }, `survivors received from ${this.req.deadMaster} after its first read, but ${gone}: going on`);
    }
    this.plan = planFailover(this.finalSnapshot, this.c, this.req.deadMaster, this.planOptions());
    if (!this.plan.winner) throw new Error(`no winner on the frozen positions: ${this.plan.noWinnerReasons.join('; ')}`);
    if (this.plan.winner !== this.plan0!.winner) {
      this.warnings.push(`the winner changed after the freeze: ${this.plan0!.winner} → ${this.plan.winner} (positions moved before the IO threads stopped)`);
    }
    rec.detail =
      `winner ${this.plan.winner} (most advanced ${this.plan.mostAdvanced}); ` +
      (this.plan.catchUp.length ? `catch-up from ${this.plan.catchUp.map((c) => c.from).join(', ')}` : 'no catch-up needed');
  }

  /**
   * Defence in depth against a wrong verdict: after the freeze, did any survivor receive
   * something from the dead master since the verdict (its marks) or since this failover's
   * first read? A master that kept sending was alive. Only asked when heir could not make
   * the old master read-only itself (it did not answer): a master fenced by read_only may
   * still finish what was in flight.
   */
  private stillReceiving(fresh: NodeSnapshot[]): string[] {
    if (this.fencedReadOnly()) return [];
    const dead = this.node(this.req.deadMaster);
    const ref = { host: dead.host, port: dead.port, serverId: this.req.lastKnownMaster?.serverId };
    const out: string[] = [];
    for (const n of fresh) {
      if (n.name === dead.name || !n.reachable) continue;
      const ch = channelFrom(n, ref);
      if (!ch) continue;
      const now = receivedMark(n, ch);
      const seen: [string, ReceivedMark][] = [];
      const v = this.req.verdictReceived?.[n.name];
      if (v) seen.push(['the verdict', v]);
      const first = this.snapshot!.nodes.find((x) => x.name === n.name);
      const firstCh = first?.reachable ? channelFrom(first, ref) : undefined;
      if (first && firstCh) seen.push(["the failover's first read", receivedMark(first, firstCh)]);
      for (const [what, mark] of seen) {
        const p = progressed(mark, now);
        if (p) {
          out.push(`${n.name}: ${p} since ${what}`);
          break;
        }
      }
    }
    return out;
  }

  /**
   * SSH to the dead master's host: mysqld is gone when nothing listens on its port and no
   * process holds it (or the pid file names a process that no longer exists). undefined
   * when the host does not say so (mysqld there, stopped, or the host unreachable).
   */
  private async mysqldGoneOnHost(): Promise<string | undefined> {
    if (this.req.deadMasterSshReachable === false) return undefined;
    const dead = this.node(this.req.deadMaster);
    const h = await hostCheck(this.c, dead, { pidFile: null, probeTimeoutMs: 1000 }).catch(() => undefined);
    if (!h?.ran || h.listening !== false) return undefined;
    if (h.processState && h.processState !== 'Z') return undefined;
    return `${dead.name}'s host shows no mysqld (nothing listens on port ${dead.port}${h.pid ? `, pid ${h.pid} is gone` : ''})`;
  }

  /**
   * Never promote or serve with an unapplied relay log. Each node gets as long as its applier
   * makes progress (a long transaction in its relay log), up to failover.drain_max_s; one that
   * is stuck (no progress for apply_timeout_s, a SQL thread error, the bound passed) is
   * dropped. A dropped winner is replaced: the planner elects again without the dropped nodes,
   * and the new plan's nodes are drained in turn. Only when no promotable node remains does
   * the failover stop here.
   */
  async drain(api: StepApi): Promise<void> {
    const rec = api.record;
    const stallS = this.c.failover.apply_timeout_s;
    const maxS = drainMaxS(this.c.failover);
    const drained = new Set<string>();
    /** Where each drained node's SQL thread stopped in the dead master's binlog. */
    const execAt = new Map<string, { file: string; pos: number }>();
    rec.nodes = [];
    const replaced: string[] = [];
    for (;;) {
      const p = this.plan!;
      const todo = this.drainNodes().filter((n) => !drained.has(n) && !this.dropped.has(n));
      const round = await eachNode(todo, async (n) => {
        const c = await this.conn(n);
        const r = await drainWatched(c, { stallS, maxS });
        drained.add(n);
        // Where its SQL thread stopped in the dead master's binlog: a transaction boundary,
        // where salvage starts in file/position mode should it become the winner.
        const ch = await channelFromDead(c, this.node(this.req.deadMaster), { orFirst: true });
        if (ch?.exec) execAt.set(n, ch.exec);
        const waited = r.waitedMs >= stallS * 1000 ? ` in ${(r.waitedMs / 1000).toFixed(1)} s, longer than failover.apply_timeout_s ${stallS}s: its applier kept making progress (${r.progress ?? 'moving'})` : '';
        return `relay log applied${waited}`;
      });
      rec.nodes.push(...round);
      // A node whose relay log cannot be applied must not fail the whole failover with the
      // address already gone: it is dropped, and what only it has is reported.
      for (const b of round.filter((x) => !x.ok)) this.drop(b.node, `its relay log was not applied: ${b.detail}`);
      if (!this.dropped.has(p.winner!)) break;
      // The winner is stuck: elect again on the same frozen positions without the dropped nodes.
      const again = planFailover(this.finalSnapshot!, this.c, this.req.deadMaster, this.planOptions());
      if (!again.winner) {
        const why = `${p.winner} was dropped (${this.dropped.get(p.winner!)}) and no promotable node remains: ${again.noWinnerReasons.join('; ')}`;
        this.next.push(
          `${p.winner}'s SQL thread goes on applying its relay log (its IO thread is stopped): once it has applied everything (or the cause is fixed), ` +
            `run heir failover --cluster ${this.c.name}`,
        );
        throw new Error(why);
      }
      // Why it was dropped is in its own warning (drop), once.
      const msg = `the winner changed during the drain: ${p.winner} → ${again.winner} (${p.winner} was dropped)`;
      this.warnings.push(msg);
      await this.note(msg);
      this.log.warn({ dropped: p.winner, winner: again.winner }, msg);
      replaced.push(`${p.winner} → ${again.winner}`);
      this.plan = again;
    }
    const p = this.plan!;
    const w = execAt.get(p.winner!);
    if (w) this.winnerDrainedAt = w;
    const good = rec.nodes.filter((x) => x.ok).map((x) => x.node);
    const bad = rec.nodes.filter((x) => !x.ok).map((x) => x.node);
    if (bad.length) rec.data = { dropped: Object.fromEntries(bad.map((n) => [n, this.dropped.get(n)])), winner: p.winner };
    rec.detail =
      `relay logs applied on ${good.join(', ') || 'no node'}` +
      (bad.length ? `; dropped ${bad.join(', ')} (stuck: no progress within failover.apply_timeout_s ${stallS}s, an error, or past failover.drain_max_s ${maxS}s)` : '') +
      (replaced.length ? `; winner replaced: ${replaced.join(', ')}` : '');
  }

  /** The nodes the current plan drains: the winner, catch-up sources, file/position survivors. */
  private drainNodes(): string[] {
    return (this.plan!.steps.find((s) => s.name === 'drain')?.params.nodes as string[] | undefined) ?? [this.plan!.winner!];
  }

  /**
   * Leave a survivor out of the rest of this failover: no catch-up from it, no repoint (it
   * may hold transactions the new master lacks: a person looks, then heir rejoin).
   */
  private drop(node: string, why: string): void {
    if (this.dropped.has(node)) return;
    this.dropped.set(node, why);
    // Before the reread there is no plan yet: the planner leaves the node out from there on.
    const p = this.plan;
    if (p) {
      p.repoint = p.repoint.filter((n) => n !== node);
      p.leftOut.push({ node, why: `dropped during the failover: ${why}` });
    }
    this.warnings.push(`${node} dropped: ${why}; what only it received is listed as possibly lost`);
    if (!p) {
      this.next.push(`${node}: compare it with the new master (it may hold transactions the new master lacks), then heir rejoin --cluster ${this.c.name} --node ${node}`);
    } else if (node === p.winner && p.mode === 'file') {
      // No GTIDs tell what it holds beyond the next winner: only possiblyLost's coordinates do.
      this.next.push(
        `${node}: it was not repointed (its IO thread is stopped, its SQL thread goes on applying its relay log). What it read of ${this.req.deadMaster}'s binlog ` +
          `beyond the new master (possiblyLost names the coordinates) is not on the new master: once applied, replay those transactions on the new master or accept their loss, ` +
          `then rebuild ${node} from the new master; in file/position mode nothing tells heir rejoin which of its transactions the new master lacks`,
      );
    } else if (node === p.winner) {
      // Elected for having received the most: it may well hold transactions the next winner lacks.
      this.next.push(
        `${node}: it was not repointed (its IO thread is stopped, its SQL thread goes on applying its relay log); once applied, compare it with the new master: ` +
          `rejoin it (heir rejoin --cluster ${this.c.name} --node ${node}) only if it has no transaction the new master lacks (see possiblyLost), else rebuild it from the new master`,
      );
    } else if (p.mode === 'file') {
      // Without GTIDs heir rejoin resumes it only where the report places it exactly.
      this.next.push(
        `${node}: compare it with ${p.winner} (it may hold transactions the new master lacks); heir rejoin --cluster ${this.c.name} --node ${node} resumes it only where ` +
          `its position in ${p.winner}'s binlog is known exactly (and says why not otherwise); else rebuild it from ${p.winner}`,
      );
    } else {
      this.next.push(`${node}: compare it with ${p.winner} (it may hold transactions the new master lacks), then heir rejoin --cluster ${this.c.name} --node ${node}`);
    }
  }

  /** A catch-up is still to do: the current plan's sources in turn, those dropped left out. */
  catchUpPending(): boolean {
    this.catchUps ??= [...this.plan!.catchUp];
    while (this.catchUps.length > 0 && this.dropped.has(this.catchUps[0]!.from)) this.catchUps.shift();
    return this.catchUps.length > 0;
  }

  /** The winner takes what the next source received and it lacks. */
  async catchUp(api: StepApi): Promise<void> {
    const cu = this.catchUps!.shift()!;
    const p = this.plan!;
    const stallS = this.c.failover.apply_timeout_s;
    const maxS = drainMaxS(this.c.failover);
    if (p.mode === 'file') return this.catchUpByCoords(api, cu.from, cu.until, stallS, maxS);
    const rec = api.record;
    this.winnerRepointed = true;
    this.catchUpNode = p.winner!;
    // Waited for as long as the winner's applier makes progress on what it fetches (drain.ts).
    let r: Awaited<ReturnType<typeof catchUpFrom>>;
    try {
      r = await catchUpFrom(await this.conn(p.winner!), this.c, this.node(cu.from), cu.until, { stallS, maxS });
    } catch (e) {
      if (!(e instanceof DrainStuck)) throw e;
      if (e instanceof SourceCannotServe) {
        // The source holds what the winner lacks and cannot send it (e.g. purged from its
        // binlog): elect again, with no catch-up from it. The node holding the data may win
        // (its relay log was drained with the winner's); the old winner is repointed like
        // any survivor, and its verify says whether it can follow.
        this.cannotServe.set(cu.from, e.message);
        const again = planFailover(this.finalSnapshot!, this.c, this.req.deadMaster, this.planOptions());
        if (again.winner && again.winner !== p.winner) {
          const msg = `the winner changed at the catch-up: ${p.winner} → ${again.winner} (${p.winner} could not fetch from ${cu.from}: ${e.message})`;
          rec.outcome = 'skipped';
          rec.detail = msg;
          this.warnings.push(msg);
          await this.note(msg);
          this.log.warn({ winner: again.winner, was: p.winner, source: cu.from }, msg);
          this.plan = again;
          // A new winner: its own catch-ups (from the sources that can serve) follow.
          this.catchUps = [...again.catchUp];
          return;
        }
      }
      // Whatever arrived is kept (whole transactions, by GTID); the rest is reported.
      rec.outcome = 'skipped';
      rec.detail = `${p.winner} did not reach ${cu.until} from ${cu.from}: ${e.message}`;
      this.drop(cu.from, `catch-up from it did not finish (${p.winner}: ${e.message})`);
      return;
    }
    const waited = r.waitedMs >= stallS * 1000 ? ` in ${(r.waitedMs / 1000).toFixed(1)} s, longer than failover.apply_timeout_s ${stallS}s: its applier kept making progress (${r.progress ?? 'moving'})` : '';
    rec.detail = `${p.winner} caught up from ${cu.from}${waited}: ${cu.brings}`;
  }

  /**
   * File/position catch-up: the source read further into the dead master's binlog than the
   * winner. Where the winner's next transaction begins in the source's binlog is found as the
   * level-up finds it for a survivor behind the winner (counted in the source's relay log, located
   * in its binlog); the winner replicates from there to the source's binlog end, and from then
   * on stands where the source stood in the dead master's binlog (salvage starts there). Cut
   * short after it began, the winner's place in the dead master's binlog is unknown: the
   * failover stops before any promotion, the winner left pointed at the source.
   */
  private async catchUpByCoords(api: StepApi, from: string, until: string, stallS: number, maxS: number): Promise<void> {
    const rec = api.record;
    const winner = this.plan!.winner!;
    const dead = this.node(this.req.deadMaster);
    const sc = await this.conn(from);
    const sch = await channelFromDead(sc, dead);
    const wexec = this.winnerExecCoords();
    const origin = sch?.sourceServerId || this.req.lastKnownMaster?.serverId || 0;
    let why: string | undefined;
    let at: { file: string; pos: number } | undefined;
    if (!sch?.relayLogFile || !sch.exec || !origin || !wexec) why = `${from} has no relay log, applied coordinates or source server_id from ${dead.name}, or ${winner} no applied coordinates`;
    else {
      const [f] = await locateLevelUp({ winner: sc, relayLogFile: sch.relayLogFile, winnerExec: sch.exec, origin, behind: [{ node: winner, received: wexec }] }); // drained: it holds whole what it received up to there
      if (f?.ok) at = f.at;
      else why = f ? f.why : 'not located';
    }
    const end = at ? await readBinlogStatus(sc) : undefined;
    if (!at || !end || !sch?.exec) {
      rec.outcome = 'skipped';
      rec.detail = `${winner}'s position was not located in ${from}'s binlog: ${why ?? `${from}'s binary log is off`}`;
      this.drop(from, `catch-up from it is not possible (${why ?? 'binary log off'})`);
      // Survivors that read as far as it did can no longer be repointed at the winner: plan again
      // without it (same frozen positions); the winner must stay, its level-up is done.
      const again = planFailover(this.finalSnapshot!, this.c, this.req.deadMaster, this.planOptions());
      if (again.winner !== winner) throw new Error(`${from} was dropped (${this.dropped.get(from)}) and the election then names ${again.winner ?? 'no node'}, not ${winner}: nothing is promoted`);
      this.plan = again;
      return;
    }
    await api.progress({ at, end, fromDead: sch.exec });
    this.winnerRepointed = true;
    this.catchUpBegun = { from, at, fromDead: sch.exec };
    let r: Awaited<ReturnType<typeof catchUpFromCoords>>;
    try {
      r = await catchUpFromCoords(await this.conn(winner), this.c, this.node(from), at, end, { stallS, maxS });
    } catch (e) {
      const msg = e instanceof DrainStuck ? e.message : (e as Error).message;
      throw new Error(
        `${winner} did not finish catching up from ${from} (from ${at.file}:${at.pos} to ${end.file}:${end.pos} of its binlog): ${msg}; ` +
          `where ${winner} stands in ${dead.name}'s binlog is now between ${wexec!.file}:${wexec!.pos} and ${sch.exec.file}:${sch.exec.pos}, so nothing is promoted`,
      );
    }
    // The winner now holds the dead master's transactions up to where the source applied them.
    this.winnerDrainedAt = sch.exec;
    this.catchUpBegun.done = true;
    rec.data = { fromDead: sch.exec };
    const waited = r.waitedMs >= stallS * 1000 ? ` in ${(r.waitedMs / 1000).toFixed(1)} s, longer than failover.apply_timeout_s ${stallS}s: its applier kept making progress (${r.progress ?? 'moving'})` : '';
    rec.detail = `${winner} caught up from ${from} (its binlog ${at.file}:${at.pos} to ${end.file}:${end.pos})${waited}: now at ${sch.exec.file}:${sch.exec.pos} of ${dead.name}'s binlog${r.tail ? `; before it, its ${r.tail}` : ''}`;
  }

  /**
   * File/position survivors that read less of the dead master's binlog than the winner:
   * where, in the winner's binlog, the transactions each lacks begin. Read before the
   * promotion (which resets the winner's relay log); one that cannot be located is dropped.
   * Judged by what each received (its receiver is stopped), not by where its applier stands:
   * an applier that is slow or held by a lock is waited for in its own repoint, after the
   * promotion, which checks that it stopped where this step counted from.
   */
  levelUpWanted(): boolean {
    return this.plan!.levelUp.some((n) => !this.dropped.has(n));
  }

  async levelUp(api: StepApi): Promise<void> {
    const rec = api.record;
    const p = this.plan!;
    const nodes = p.levelUp.filter((n) => !this.dropped.has(n));
    const winner = p.winner!;
    const dead = this.node(this.req.deadMaster);
    const behind: { node: string; received: { file: string; pos: number } }[] = [];
    const bad = new Map<string, string>();
    for (const n of nodes) {
      try {
        const ch = await channelFromDead(await this.conn(n), dead);
        if (!ch?.read) bad.set(n, `no received coordinates in ${dead.name}'s binlog`);
        else behind.push({ node: n, received: ch.read });
      } catch (e) {
        bad.set(n, (e as Error).message);
      }
    }
    const kept = this.earlier?.node === winner ? this.earlier.levelAt ?? {} : undefined;
    const todo: typeof behind = [];
    for (const b of behind) {
      const k = kept?.[b.node];
      if (k?.received && compareCoords(k.received, b.received) === 0) this.levelAt.set(b.node, k);
      else if (kept) bad.set(b.node, `the earlier run promoted ${winner} (its relay log is gone) without locating ${b.node}'s position in its binlog`);
      else todo.push(b);
    }
    if (todo.length > 0) {
      const wc = await this.conn(winner);
      const wch = await channelFromDead(wc, dead);
      const origin = wch?.sourceServerId || this.req.lastKnownMaster?.serverId || 0;
      const wexec = this.winnerDrainedAt ?? wch?.exec ?? undefined;
      if (!wch?.relayLogFile || !wexec || !origin) {
        for (const b of todo) bad.set(b.node, `${winner} has no relay log, applied coordinates or source server_id from ${dead.name}`);
      } else {
        const found = await locateLevelUp({ winner: wc, relayLogFile: wch.relayLogFile, winnerExec: wexec, origin, behind: todo });
        for (const f of found) {
          const received = todo.find((b) => b.node === f.node)!.received;
          if (f.ok) this.levelAt.set(f.node, { at: f.at, from: f.from, ...(f.before ? { before: f.before } : {}), received, count: f.count });
          else bad.set(f.node, f.why);
        }
      }
    }
    // A node left out (its SQL thread stopped on an error) is located all the same: the
    // report keeps where it resumes once fixed (heir rejoin), and it is not repointed now.
    const later = (n: string) => !p.repoint.includes(n);
    rec.nodes = nodes.map((n) => {
      const l = this.levelAt.get(n);
      return l
        ? {
            node: n,
            ok: true,
            detail:
              `resumes at ${l.at.file}:${l.at.pos} of ${winner}'s binlog (${l.count} transaction(s) after ${l.from.file}:${l.from.pos})` +
              (later(n) ? ', by heir rejoin once it has applied its relay log (left out now)' : ''),
            durationMs: 0,
          }
        : { node: n, ok: false, detail: bad.get(n) ?? 'not located', durationMs: 0 };
    });
    for (const [n, why] of bad) {
      if (!later(n)) {
        this.drop(n, `cannot be brought level with ${winner}: ${why}`);
        continue;
      }
      const left = p.leftOut.find((x) => x.node === n);
      if (left) left.why = left.why.replace(/; it read less of .*$/, `; it read less of ${dead.name}'s binlog than ${winner} and the level-up could not locate it in ${winner}'s binlog (${why}): rebuild it from the new master`);
      this.warnings.push(`${n}: not located in ${winner}'s binlog: ${why}`);
    }
    rec.data = { levelAt: Object.fromEntries(this.levelAt) };
    rec.detail =
      `${[...this.levelAt.keys()].join(', ') || 'no node'} located in ${winner}'s binlog` +
      (bad.size ? `; not located: ${[...bad.keys()].join(', ')}` : '');
  }

  /**
   * The winner, what an earlier run of this failover journaled of promoting it (a rerun keeps
   * it), where it stands in the dead master's binlog and where each survivor behind it resumes.
   */
  private promotion() {
    const winner = this.plan!.winner!;
    const kept = this.earlier?.node === winner ? this.earlier : undefined;
    const fromDead = kept?.fromDead ?? this.winnerDrainedAt;
    const levelAt = { ...(kept?.levelAt ?? {}), ...Object.fromEntries(this.levelAt) };
    return { winner, kept, fromDead, levelAt };
  }

  /** The winner becomes the master. From here on nothing is undone. */
  async promote(api: StepApi): Promise<void> {
    const rec = api.record;
    const { winner, kept, fromDead, levelAt } = this.promotion();
    const c = await this.conn(winner);
    // A partial transaction at the end of the winner's relay log would hold STOP REPLICA
    // for 60 s: let the receiver begin another survivor's stream first, which discards it.
    // Otherwise (file/position, or no survivor to release it through) the applier, which
    // waits only for the rest of that transaction, is stopped at once by a KILL.
    const waitS = Math.min(10, this.c.failover.apply_timeout_s);
    const released = this.plan!.mode === 'mysql-gtid' ? await releasePartialTail(c, this.c, this.releaseVia(winner), waitS) : undefined;
    const cut = released?.released ? undefined : await cutPartialTail(c, waitS);
    if (released) this.log.info({ node: winner }, `${winner}: ${released.detail}`);
    if (cut) this.log.info({ node: winner }, `${winner}: ${cut.detail}`);
    const tailNote = cut ?? released;
    if (tailNote && !('cut' in tailNote ? tailNote.cut : tailNote.released)) this.warnings.push(`${winner}: ${tailNote.detail}`);
    const r = await promoteToMaster(c, {
      semiSync: this.c.failover.semi_sync,
      stopTimeoutS: this.c.failover.apply_timeout_s,
      at: async (point, data) => {
        if (point === 'binlog' && data?.binlog && !kept?.binlog) await api.progress({ binlog: data.binlog });
        await this.req.duringStep?.('promote', point);
      },
    });
    this.promoted = true;
    this.promotedAt = Date.now();
    // A rerun keeping the earlier run's master repoints at the coordinates where it became
    // the master then (writes it took since are in its binlog after them).
    this.promoteBinlog = kept?.binlog ?? r.binlog;
    rec.data = { node: winner, binlog: this.promoteBinlog ?? null, fromDead: fromDead ?? null, levelAt };
    rec.detail = `${winner} is writable${this.promoteBinlog ? ` at ${this.promoteBinlog.file}:${this.promoteBinlog.pos}` : ''}${kept ? ' (where the earlier run promoted it)' : ''}${tailNote ? ` (${tailNote.detail})` : ''}`;
    this.log.info({ node: winner }, `${winner} is the new master and accepts writes`);
  }

  /** Every other survivor replicates from the new master. */
  repointWanted(): boolean {
    return this.plan!.repoint.length > 0;
  }

  async repoint(api: StepApi): Promise<void> {
    try {
      await this.repointAll(api, () => this.repointedOne());
    } finally {
      this.repointedOne();
    }
  }

  firstRepointed(): Promise<void> {
    return this.oneRepointed;
  }

  private async repointAll(api: StepApi, onFirst?: () => void): Promise<void> {
    const rec = api.record;
    const p = this.plan!;
    const to = this.node(p.winner!);
    let position0: RepointPosition = { kind: 'gtid' };
    if (p.mode === 'file') {
      if (!this.promoteBinlog) throw new Error(`no binlog position read on ${to.name} at promotion: cannot repoint file/position replicas`);
      position0 = { kind: 'file', file: this.promoteBinlog.file, pos: this.promoteBinlog.pos };
    }
    // Survivors behind the winner resume where the transactions they lack begin.
    rec.nodes = await eachNode(p.repoint, async (n) => {
      const c = await this.conn(n);
      const l = this.levelAt.get(n);
      const position: RepointPosition = l ? { kind: 'file', file: l.at.file, pos: l.at.pos } : position0;
      if (position.kind === 'file' && (await readChannels(c)).some((ch) => ch.sourceHost === to.host && ch.sourcePort === to.port)) {
        // Repointed by an earlier run: its coordinates in the new master's binlog are its own.
        await setReadOnly(c, true);
        await startReplica(c);
        onFirst?.();
        return `already replicates from ${to.name} (repointed by an earlier run): kept at its own coordinates`;
      }
      // File/position: the survivor resumes where the winner's binlog holds what follows its last
      // applied transaction, so it applies its relay log first (the change of source discards
      // it). Bounded as the drain is. One behind the winner must stop where the level-up
      // counted from, or its position in the winner's binlog is not where it resumes.
      let drained = '';
      if (position.kind === 'file') {
        const w = await drainWatched(c, { stallS: this.c.failover.apply_timeout_s, maxS: drainMaxS(this.c.failover) });
        if (w.waitedMs >= 1000) drained = ` (its relay log applied first, in ${(w.waitedMs / 1000).toFixed(1)} s)`;
        const exec = l ? (await channelFromDead(c, this.node(this.req.deadMaster)))?.exec : undefined;
        if (l && (!exec || !withinLacking(exec, l))) {
          throw new Error(
            `its relay log applied, it stands at ${exec ? `${exec.file}:${exec.pos}` : 'no position'} of ${this.req.deadMaster}'s binlog, not where the level-up located it ` +
              `(at or after ${l.from.file}:${l.from.pos}${l.before ? `, before ${l.before.file}:${l.before.pos}` : ''}): not repointed; compare it with ${to.name}, then rebuild it`,
          );
        }
      }
      await repointReplica(c, this.c, to, position, { semiSync: this.c.failover.semi_sync });
      onFirst?.();
      await this.req.duringStep?.('repoint', 'first');
      return `replicates from ${to.name}${position.kind === 'file' ? ` at ${position.file}:${position.pos}` : ''}${drained}`;
    });
    this.failIfAny(rec, 'repoint');
  }

  /**
   * A survivor whose SQL thread had stopped on an error is repointed like the others (it
   * follows the new master once someone fixes it), but its threads running right after
   * START REPLICA prove nothing: it must apply past that error (GTID modes).
   */
  private mustApply(): string[] {
    const p = this.plan!;
    return p.mode === 'file' ? [] : p.candidates.filter((c) => p.repoint.includes(c.name) && c.reasons.some((r) => r.startsWith('gate: SQL thread error'))).map((c) => c.name);
  }

  async verify(api: StepApi): Promise<void> {
    const rec = api.record;
    const p = this.plan!;
    const timeoutS = Math.min(30, this.c.failover.apply_timeout_s);
    const broken = this.mustApply();
    // Every survivor (GTID modes) must also have received what the new master had when the
    // verify began: a receiver refused by it (1236) says Yes for a moment first.
    const target = p.mode === 'file' ? undefined : await executedGtid(await this.conn(p.winner!));
    rec.nodes = await eachNode(p.repoint, async (n) => {
      const mustApply = broken.includes(n);
      const ch = await verifyReplica(await this.conn(n), timeoutS, target === undefined ? {} : mustApply ? { applies: target } : { receives: target });
      return `IO ${ch.ioState}, SQL ${ch.sqlRunning ? 'Yes' : 'No'}, from ${ch.sourceHost}:${ch.sourcePort}${mustApply ? ', past the SQL error it had stopped on' : target !== undefined ? `, has received ${p.winner}'s transactions` : ''}`;
    });
    this.failIfAny(rec, 'verify');
  }

  /** Apply the dead master's transactions that nobody received. */
  async salvageApply(api: StepApi): Promise<void> {
    const rec = api.record;
    const p = this.plan!;
    const winner = p.winner!;
    const fo = this.c.failover;
    const got = await this.fetchP!;
    if (!got) {
      rec.outcome = 'skipped';
      rec.detail = `no binlogs from ${this.req.deadMaster}: ${this.fetchError ?? 'fetch failed'}`;
      this.salvage = { attempted: true, why: rec.detail, files: [], gtids: '', count: 0, error: this.fetchError };
      return;
    }
    // File/position: what earlier runs of this failover applied is not in any position the
    // winner shows (GTID modes filter by the winner's GTIDs, so they simply repeat).
    const earlier = p.mode === 'file' && this.earlier?.node === winner ? this.earlier.salvage : undefined;
    if (earlier?.outcome === 'ok' || earlier?.outcome === 'failed') {
      rec.outcome = 'skipped';
      rec.detail =
        earlier.outcome === 'ok'
          ? `done by the earlier run: ${earlier.detail ?? 'salvage applied'}${removeCopies(got.local)}`
          : `not retried: the earlier run's salvage apply failed (${earlier.detail ?? 'no detail'}); the transactions it did not apply may be lost${removeCopies(got.local)}`;
      if (earlier.outcome === 'failed') this.warnings.push(`salvage: ${rec.detail}`);
      this.salvage = { attempted: true, why: rec.detail, files: got.remote, gtids: '', count: 0, ...(earlier.outcome === 'failed' ? { error: earlier.detail ?? 'failed' } : {}) };
      return;
    }
    const deadline = Date.now() + fo.salvage.timeout_s * 1000;
    const left = () => Math.max(1000, deadline - Date.now());
    const c = await Conn.open(connOptions(this.c, this.node(winner), { timeoutMs: fo.salvage.timeout_s * 1000 }));
    let before = '';
    let decoded: { count: number; gtids: string } | undefined;
    let outputFile: string | undefined;
    let appliedBefore = 0;
    /** File/position: where the winner's binlog stood before the first salvaged commit (this run's or an earlier one's). */
    let applyFrom: { file: string; pos: number } | undefined;
    try {
      before = await winnerPosition(c, p.mode);
      let files = got.local;
      let args: string[];
      let at0: { file: string; pos: number } | undefined;
      if (p.mode === 'mysql-gtid') args = decodeArgs(p.mode, { exclude: before });
      // MariaDB with the survivors' binlog purged: mariadb-binlog finds no start GTID that
      // lies in a purged file and prints nothing; decoded whole first, filtered below.
      else if (p.mode === 'mariadb-gtid') args = decodeArgs(p.mode, got.purged ? {} : { startGtid: before });
      else {
        // File/position: from where the winner's SQL thread stopped in the dead master's
        // binlog (after the drain: a transaction boundary), not where its IO thread stopped
        // reading (possibly inside a transaction whose BEGIN would be left out).
        at0 = this.winnerExecCoords();
        if (!at0) throw new Error(`${winner} has no executed coordinates in ${this.req.deadMaster}'s binlog`);
        const from = at0;
        const at = files.findIndex((f) => path.basename(f) === from.file);
        if (at < 0) throw new Error(`${from.file} (where ${winner} stopped applying) was not among the fetched binlogs`);
        files = files.slice(at);
        args = decodeArgs(p.mode, { startPos: from.pos });
      }
      outputFile = path.join(path.dirname(files[0] ?? got.local[0]), 'salvage.sql');
      const dec = await decodeToFile(fo.salvage.mysqlbinlog, args, files, outputFile, left());
      if (dec.warning) this.warnings.push(`salvage: mysqlbinlog: ${dec.warning}`);
      if (dec.startNotReached !== undefined) {
        // No event follows the winner's position: either the binlogs end there (nothing to
        // salvage) or they never hold it. Decoded whole, they tell which.
        await decodeToFile(fo.salvage.mysqlbinlog, decodeArgs(p.mode, {}), files, outputFile, left());
        const beyond = (await scanDecodedFile(outputFile, { deadline })).mariaBeyond(MariaGtidPos.tryParse(before) ?? MariaGtidPos.empty());
        if (beyond) {
          throw new Error(
            `${fo.salvage.mysqlbinlog} found no event after ${winner}'s position ${before} (${dec.startNotReached}), yet ${this.req.deadMaster}'s binlogs hold transactions beyond it: ${beyond}; not salvaged`,
          );
        }
        fs.truncateSync(outputFile, 0);
      }
      let scan = await scanDecodedFile(outputFile, { deadline, ...(at0 ? { trackEnds: { firstFile: at0.file } } : {}) });
      // An earlier run died while applying: the transactions its client committed are the
      // first ones decoded, and the winner's binlog counts them since that run began.
      if (earlier?.since) {
        appliedBefore = await countTransactionsSince(c, earlier.since);
        if (appliedBefore > 0 && appliedBefore < scan.commits) {
          const from = scan.commitEnds[appliedBefore - 1]!;
          files = files.slice(files.findIndex((f) => path.basename(f) === from.file));
          await decodeToFile(fo.salvage.mysqlbinlog, decodeArgs(p.mode, { startPos: from.pos }), files, outputFile, left());
          scan = await scanDecodedFile(outputFile, { deadline });
        } else if (appliedBefore > 0) {
          rec.detail = `done by the earlier run: ${winner}'s binlog holds the ${appliedBefore} transaction(s) it applied since ${earlier.since.file}:${earlier.since.pos}${removeCopies(got.local)}`;
          this.salvage = { attempted: true, why: rec.detail, files: got.remote, gtids: '', count: appliedBefore, outputFile, decoded: { count: scan.transactions, gtids: '' } };
          return;
        }
      }
      if (got.purged && p.mode !== 'file') {
        const gap = purgedGap(p.mode, scan.previous, before);
        if (gap.count !== 0) this.salvageGap = { ...gap, purged: got.purged };
        if (p.mode === 'mariadb-gtid' && !gap.count) {
          // The winner reaches into the remaining binlogs (or that is unknown): only what
          // follows its position.
          await decodeToFile(fo.salvage.mysqlbinlog, decodeArgs(p.mode, { startGtid: before }), files, outputFile, left());
          scan = await scanDecodedFile(outputFile, { deadline });
        }
      }
      decoded = { count: scan.transactions, gtids: scan.gtids };
      if (scan.transactions === 0) {
        rec.detail = `nothing to salvage: every transaction in ${got.remote.length} binlog(s) is on ${winner}${removeCopies(got.local)}`;
        this.salvage = { attempted: true, why: rec.detail, files: got.remote, gtids: '', count: 0, outputFile, decoded };
        return;
      }
      if (p.mode === 'file') {
        // Where the winner's binlog stands before the client commits anything: should heir
        // die while it applies, a rerun counts from here what was applied.
        const wb = await readBinlogStatus(c);
        applyFrom = earlier?.since ?? (wb ? { file: wb.file, pos: wb.pos } : undefined);
        if (applyFrom) await api.progress({ winnerBinlog: applyFrom });
      }
      await this.req.duringStep?.('salvage-apply', 'applying');
      this.log.info({ step: 'salvage-apply', transactions: scan.transactions, file: outputFile }, `salvage: applying ${scan.transactions} transaction(s) to ${winner} with ${fo.salvage.mysql}`);
      const n = this.node(winner);
      // A replica's applier takes events up to replica_max_allowed_packet (1 GB); a client
      // session only up to max_allowed_packet (16–64 MB by default), less than one BINLOG
      // statement of a large transaction can be: raised for the salvage, then restored.
      const [mp] = await c.query('SELECT @@global.max_allowed_packet AS p');
      let packet = Number(mp?.p ?? 0);
      if (packet > 0 && packet < SALVAGE_PACKET) {
        try {
          await c.exec(`SET GLOBAL max_allowed_packet = ${SALVAGE_PACKET}`);
        } catch (e) {
          // MariaDB wants SUPER for it: go on with the server's own limit, and say so.
          this.warnings.push(`salvage: could not raise max_allowed_packet on ${winner} from ${packet} (${(e as Error).message}); a statement larger than that will fail`);
          packet = 0;
        }
      }
      try {
        await applySqlFile({
          client: fo.salvage.mysql,
          file: outputFile,
          target: { name: winner, host: n.host, port: n.port, user: this.c.mysql.user, password: this.c.mysql.password, tls: this.c.mysql.tls, connectTimeoutMs: this.c.mysql.connect_timeout_ms },
          workDir: path.dirname(outputFile),
          timeoutMs: left(),
          endSession: (id) => endSalvageSession(c, winner, id),
        });
      } finally {
        if (packet > 0 && packet < SALVAGE_PACKET) await c.exec(`SET GLOBAL max_allowed_packet = ${packet}`).catch((e) => this.warnings.push(`salvage: could not restore max_allowed_packet ${packet} on ${winner}: ${(e as Error).message}`));
      }
      await this.req.duringStep?.('salvage-apply', 'applied');
      const after = await winnerPosition(c, p.mode);
      let { gtids, count } = salvagedBetween(p.mode, before, after, scan.transactions);
      // A MariaDB position moved across a purged gap counts the gap too: what was applied
      // is what was decoded (the client ended without an error).
      if (this.salvageGap && p.mode === 'mariadb-gtid') ({ gtids, count } = { gtids: scan.gtids, count: scan.transactions });
      const earlierPart = appliedBefore ? ` (and ${appliedBefore} the earlier run applied before it stopped)` : '';
      rec.detail = `applied ${count} transaction(s) from ${this.req.deadMaster}'s binlogs to ${winner}${earlierPart}${gtids ? `: ${gtids}` : ''}${removeCopies(got.local)}`;
      this.salvage = { attempted: true, why: rec.detail, files: got.remote, gtids, count: count + appliedBefore, outputFile, decoded };
    } catch (e) {
      // What did get applied (whole transactions: the client's open one is rolled back).
      // File/position: the winner's binlog counts the commits since the apply began (nothing
      // else writes to it before the address is attached), an earlier run's included.
      let applied = { gtids: '', count: 0 };
      let known = true;
      if (decoded && p.mode !== 'file') {
        const after = await winnerPosition(c, p.mode).catch(() => undefined);
        if (after !== undefined) applied = salvagedBetween(p.mode, before, after, 0);
        known = after !== undefined;
      } else if (applyFrom) {
        const n = await countTransactionsSince(c, applyFrom).catch(() => undefined);
        if (n !== undefined) applied = { gtids: '', count: n };
        known = n !== undefined;
      }
      const msg = (e as Error).message;
      const kept = outputFile ? `; the decoded transactions are in ${outputFile}` : '';
      const howMany = known ? `${applied.count} transaction(s)` : `an unknown number of transactions (${winner}'s position could not be read)`;
      this.salvage = {
        attempted: true,
        why: `salvage failed after applying ${howMany}: ${msg}${kept}`,
        files: got.remote,
        gtids: applied.gtids,
        count: applied.count,
        outputFile,
        decoded,
        error: msg,
      };
      throw e;
    } finally {
      await c.close();
    }
  }

  /** The address goes to the new master, last, once it is writable. */
  async attach(api: StepApi): Promise<void> {
    const rec = api.record;
    const winner = this.node(this.plan!.winner!);
    // A mover that can tell by itself when the old master let go starts while the fence settles.
    const early = this.fenceP !== undefined && this.mover!.attachesWhileFencing === true;
    const fenceFailed = () => {
      if (this.c.address.type !== 'none') this.warnings.push('the address fence did not succeed; attaching anyway (see fence-address)');
    };
    if (!early && !(await this.fenceP)) fenceFailed();
    const out = await this.mover!.attach({
      cluster: this.c,
      oldMaster: this.node(this.req.deadMaster),
      newMaster: winner,
      reason: 'failover',
      log: this.log,
      at: (point) => this.req.duringStep?.('attach', point),
      ...(early ? { fencing: this.fenceP } : {}),
    });
    if (early && !(await this.fenceP)) fenceFailed();
    rec.detail = `${out.action}: ${out.detail}`;
    if (!out.ok) {
      this.next.push(`move the address to ${winner.name} by hand (heir eni move --cluster ${this.c.name} --to ${winner.name})`);
      throw new Error(`address attach failed (${out.code ?? out.action}): ${out.detail}`);
    }
  }

  /**
   * Before promotion: restart what the freeze stopped, and point a winner that was pointed at a
   * catch-up source back at the dead master. The fences stay (they are the safe side); the
   * address goes back only to a master that proved alive (giveAddressBack).
   */
  async undoReplication(): Promise<void> {
    const winner = this.plan?.winner ?? this.plan0?.winner;
    if (this.winnerRepointed && winner && this.catchUpBegun && !this.catchUpBegun.done) {
      this.undone.push(
        `${winner} is left pointed at ${this.catchUpBegun.from} (replication stopped): its file/position catch-up did not finish, so where it stands in ` +
          `${this.req.deadMaster}'s binlog is not known; rebuild it, or finish the catch-up by hand from ${this.catchUpBegun.at.file}:${this.catchUpBegun.at.pos} of ${this.catchUpBegun.from}'s binlog`,
      );
    } else if (this.winnerRepointed && winner) {
      const dead = this.node(this.req.deadMaster);
      const back = this.catchUpBegun?.done ? this.catchUpBegun.fromDead : undefined;
      // The node that was pointed at a catch-up source: the winner then (a later election may have named another).
      const repointed = this.catchUpNode ?? winner;
      try {
        const c = await this.conn(repointed);
        await stopReplica(c);
        await changeSource(c, {
          host: dead.host,
          port: dead.port,
          user: this.c.mysql.replication_user,
          password: this.c.mysql.replication_password,
          position: back ? { kind: 'file', file: back.file, pos: back.pos } : { kind: 'gtid' },
          connectRetryS: 1,
        });
        this.undone.push(`${repointed} points at ${dead.name} again${back ? ` at ${back.file}:${back.pos}, where its catch-up brought it` : ''} (it had been pointed at a catch-up source)`);
      } catch (e) {
        this.undone.push(`could not point ${repointed} back at ${dead.name}: ${(e as Error).message}`);
      }
    }
    await Promise.all(
      this.frozen.map(async (n) => {
        try {
          await startReplica(await this.conn(n));
          this.undone.push(`${n}: replication restarted (IO thread had been stopped by the freeze)`);
        } catch (e) {
          this.undone.push(`${n}: could not restart replication: ${(e as Error).message}`);
        }
      }),
    );
  }

  /** After the list stopped before the promotion (its undos done): the journal and the report say what was undone. */
  private async afterUndo(mayNotAct: string | undefined): Promise<void> {
    if (mayNotAct) {
      // Undoing is acting too: the manager that leads now finds the journal and decides.
      this.undone.push(`nothing undone: ${mayNotAct}`);
      await this.note(`nothing undone: ${mayNotAct}`);
      return;
    }
    if ((this.masterAlive || this.masterAliveAtPlan) && this.fenceForceStopped()) {
      this.undone.push(`the address cannot go back to ${this.req.deadMaster}: its instance was force-stopped by the fence`);
    }
    await this.note(`undone: ${this.undone.join('; ') || 'nothing'}`);
    if (this.addressReturned) return;
    if (this.steps.some((s) => (s.name === 'fence' && s.outcome === 'ok') || s.name === 'fence-address')) {
      this.warnings.push(
        `the fence is not undone: ${this.req.deadMaster} stays read-only and its address stays taken away; ` +
          'the application has no writable database until a failover succeeds',
      );
    }
  }

  /** The address back on the old master (it is alive): the runner's undo of fence-address. */
  async giveAddressBack(api: StepApi): Promise<void> {
    const rec = api.record;
    const old = this.node(this.req.deadMaster);
    try {
      const r = await this.mover!.attach({ cluster: this.c, oldMaster: old, newMaster: old, reason: 'failover', log: this.log });
      rec.detail = `back on ${old.name}: ${r.action}: ${r.detail}`;
      let action = r.action;
      // Attached, but the check through the address could not compare with the node itself:
      // heir still cannot reach the old master (that is why it thought it dead).
      if (!r.ok && r.code === 'VerifyFailed') {
        this.warnings.push(`the address is back on ${old.name} but could not be verified: ${r.detail}`);
        action = 'attached (unverified)';
      } else if (!r.ok) throw new Error(`address attach back to ${old.name} failed (${r.code ?? r.action}): ${r.detail}`);
      this.undone.push(`the address is back on ${old.name} (${action})`);
      this.addressReturned = true;
    } catch (e) {
      this.undone.push(`could not give the address back to ${old.name}: ${(e as Error).message}`);
      this.next.push(`move the address back to ${old.name} by hand (heir eni move --cluster ${this.c.name} --to ${old.name})`);
      throw e;
    }
  }

  // -------------------------------------------------------------------------
  // The report

  private refusedBy?: FailoverReport['refusedBy'];

  private async refuse(reasons: string[], by: NonNullable<FailoverReport['refusedBy']>): Promise<FailoverReport> {
    this.refusedBy = by;
    this.warnings.push(...reasons);
    const first = by === 'guard' ? reasons.find((r) => !r.startsWith(' ')) ?? reasons[0] : reasons[0];
    return this.finish('refused', first ?? 'refused');
  }

  private async finish(outcome: FailoverOutcome, summary: string): Promise<FailoverReport> {
    this.finished = true;
    if (this.fenceP && outcome !== 'dry-run') await this.fenceP;
    const plan = this.plan ?? this.plan0 ?? null;
    const ran = new Set(this.steps.map((s) => s.name));
    const notDone =
      outcome === 'dry-run' || outcome === 'refused' || outcome === 'no-candidate'
        ? []
        : (plan?.steps ?? []).filter((s) => !ran.has(s.name)).map((s) => `${s.name}: ${s.why}`);
    let finalTopology: TopologySnapshot | undefined;
    if (this.journal) {
      try {
        finalTopology = await readTopology(this.c);
      } catch (e) {
        this.warnings.push(`could not read the final topology: ${(e as Error).message}`);
      }
    }
    const report: FailoverReport = {
      kind: 'failover',
      id: this.id,
      cluster: this.c.name,
      trigger: this.req.trigger,
      outcome,
      ...(this.refusedBy ? { refusedBy: this.refusedBy } : {}),
      summary,
      startedAt: new Date(this.started).toISOString(),
      endedAt: new Date().toISOString(),
      durationMs: Date.now() - this.started,
      deadMaster: this.req.deadMaster,
      newMaster: this.promoted ? this.plan!.winner : null,
      verdict: this.req.verdict ?? (this.req.trigger === 'manual' ? 'operator' : undefined),
      plan,
      initialPlan: this.plan && this.plan0 && this.plan.winner !== this.plan0.winner ? this.plan0 : undefined,
      steps: this.steps,
      salvage: this.salvageGap ? { ...this.salvage, purgedGap: this.salvageGap } : this.salvage,
      possiblyLost: this.journal ? this.possiblyLost(finalTopology) : [],
      undone: this.undone,
      notDone,
      toWritableMs: this.promotedAt ? this.promotedAt - this.started : undefined,
      finalTopology,
      warnings: [...(plan?.warnings ?? []), ...this.warnings],
      next: this.next,
      journal: this.journal?.path,
      ...(this.hooks.length ? { hooks: this.hooks } : {}),
    };
    if (outcome === 'failed') {
      report.next.push(
        `look at the cluster (heir failover --dry-run --cluster ${this.c.name}), fix the cause, then heir failover --cluster ${this.c.name} again`,
      );
    }
    if (outcome !== 'dry-run') {
      // state_dir, and under heir.ha the index of reports in etcd (best effort: never throws).
      report.warnings.push(...(await this.store.saveReport(this.c.name, 'failover', report.id, report)).warnings);
    }
    if (this.journal) {
      try {
        await this.journal.end(outcome, summary);
      } catch (e) {
        report.warnings.push(`could not journal the end of failover ${this.id} (${this.store.where}): ${(e as Error).message}; the journal stays unfinished`);
      }
      // An interrupted failover is not an automatic failover that happened: it starts no
      // block period (the dead master is still dead; the next daemon may fail over).
      if (this.req.trigger === 'auto' && outcome !== 'interrupted') {
        try {
          await this.store.recordAutoFailover(this.c.name, {
            id: this.id,
            at: new Date(this.started).toISOString(),
            oldMaster: this.req.deadMaster,
            newMaster: report.newMaster,
            outcome,
          });
        } catch (e) {
          report.warnings.push(`could not record the automatic failover for the anti-flapping block (${this.store.where}): ${(e as Error).message}`);
        }
      }
    }
    const line = `failover ${outcome}: ${summary}`;
    if (outcome === 'promoted' || outcome === 'dry-run') this.log.info({ outcome, reportPath: report.reportPath }, line);
    else this.log.error({ outcome, reportPath: report.reportPath }, line);
    this.req.onEvent?.({ type: 'failover.report', id: this.id, cluster: this.c.name, report });
    return report;
  }

  /** What may be missing on the new master (lost.ts), once a node was promoted. */
  private possiblyLost(final: TopologySnapshot | undefined): PossiblyLost[] {
    const plan = this.plan ?? this.plan0;
    if (!plan || !this.promoted) return [];
    return possiblyLost({
      plan,
      dead: this.node(this.req.deadMaster),
      final,
      frozen: this.finalSnapshot,
      salvage: this.salvage,
      salvageGap: this.salvageGap,
      lastKnownMaster: this.req.lastKnownMaster,
      dropped: this.dropped,
      winnerExec: () => this.winnerExecCoords(),
    });
  }

  // -------------------------------------------------------------------------
  // Plumbing

  /** The promotion an earlier unfinished run of this failover journaled (resume.ts: earlierPromotion). */
  private get earlier(): EarlierPromotion | undefined {
    if (this.earlierRead) return this.earlierValue;
    this.earlierRead = true;
    this.earlierValue = earlierPromotion(this.past, this.req.deadMaster, this.id);
    return this.earlierValue;
  }

  /**
   * A rerun after an earlier run of this failover dropped a node in its drain (its applier was
   * stuck) and then stopped: the node stays dropped while its relay log is still not applied
   * (judging it again would cost apply_timeout_s for the same answer, with the address gone);
   * one that has applied everything since is a survivor like any other. Applied is asked of
   * the node itself, as the drain asks it (bounded by EARLIER_DROP_CHECK_S): a parallel
   * applier that went idle may leave its executed coordinates behind what it applied.
   */
  private async keepEarlierDrops(): Promise<void> {
    const dead = this.node(this.req.deadMaster);
    for (const { journal, node, why } of earlierDrops(this.past, this.req.deadMaster, this.id)) {
      const snap = this.snapshot!.nodes.find((n) => n.name === node);
      if (!snap?.reachable || this.dropped.has(node)) continue;
      const ch = channelFrom(snap, { host: dead.host, port: dead.port });
      if (!ch) continue;
      const applied = !ch.lastSqlErrno && (await this.conn(node).then((c) => waitRelayApplied(c, EARLIER_DROP_CHECK_S)).catch(() => false));
      if (!applied) this.drop(node, `${why}; dropped by the earlier run ${journal}, and its relay log is still not applied`);
    }
  }

  private planOptions(): PlanOptions {
    const hints: Record<string, number | null | undefined> = { ...(this.req.lagHints ?? {}) };
    for (const n of this.snapshot?.nodes ?? []) {
      const lag = n.replication[0]?.secondsBehind;
      if (hints[n.name] === undefined && lag !== null && lag !== undefined) hints[n.name] = lag;
    }
    return {
      earlier: this.earlier,
      to: this.req.to,
      force: this.req.force,
      lagHints: hints,
      healthy: this.req.healthy,
      lastKnownMaster: this.req.lastKnownMaster,
      ...(this.dropped.size ? { dropped: Object.fromEntries(this.dropped) } : {}),
      ...(this.cannotServe.size ? { cannotServe: Object.fromEntries(this.cannotServe) } : {}),
      salvage:
        this.c.failover.salvage.enabled && this.req.deadMasterSshReachable === false
          ? { possible: false, why: 'its host does not answer SSH' }
          : undefined,
    };
  }

  private reachableSurvivors(): string[] {
    return this.snapshot!.nodes.filter((n) => n.name !== this.req.deadMaster && n.reachable).map((n) => n.name);
  }

  /** The oldest dead-master binlog file a survivor was still reading (salvage starts there). */
  private oldestReadFile(): string | undefined {
    const dead = this.node(this.req.deadMaster);
    const ref = { host: dead.host, port: dead.port, serverId: this.req.lastKnownMaster?.serverId };
    let oldest: string | undefined;
    for (const n of this.snapshot!.nodes) {
      if (n.name === dead.name || !n.reachable) continue;
      const f = channelFrom(n, ref)?.read?.file;
      // By number, not as text: binlog.999999 comes before binlog.1000000.
      if (f && (!oldest || compareCoords({ file: f, pos: 0 }, { file: oldest, pos: 0 }) < 0)) oldest = f;
    }
    return oldest;
  }

  /** A reachable survivor holding nothing the winner lacks (executed and received), to release a partial tail through. */
  private releaseVia(winner: string): { node: NodeConfig; executed: string }[] {
    const out: { node: NodeConfig; executed: string }[] = [];
    for (const n of this.finalSnapshot?.nodes ?? []) {
      if (n.name === winner || n.name === this.req.deadMaster || !n.reachable || !n.executedGtid) continue;
      let has = GtidSet.tryParse(n.executedGtid);
      for (const ch of n.replication) has = has?.union(GtidSet.tryParse(ch.retrievedGtidSet || '') ?? GtidSet.empty());
      if (has) out.push({ node: this.node(n.name), executed: has.toString() });
    }
    return out;
  }

  /** Where the winner's SQL thread stopped in the dead master's binlog (after the drain). */
  private winnerExecCoords(): { file: string; pos: number } | undefined {
    if (this.winnerDrainedAt) return this.winnerDrainedAt;
    // A rerun keeping the earlier run's master: its replication was reset; where it stood in
    // the dead master's binlog is in the journal.
    const kept = this.earlier?.node === this.plan?.winner ? this.earlier : undefined;
    if (kept?.fromDead) return kept.fromDead;
    const dead = this.node(this.req.deadMaster);
    const w = this.finalSnapshot?.nodes.find((n) => n.name === this.plan!.winner);
    return w ? (channelFrom(w, { host: dead.host, port: dead.port })?.exec ?? undefined) : undefined;
  }

  /** After promotion a partial failure is recorded and the failover goes on. */
  private failIfAny(rec: StepNote, what: string): void {
    const bad = (rec.nodes ?? []).filter((n) => !n.ok);
    const good = (rec.nodes ?? []).filter((n) => n.ok).map((n) => n.node);
    rec.detail = `${what} ok on ${good.join(', ') || 'no node'}${bad.length ? `; FAILED on ${bad.map((b) => b.node).join(', ')}` : ''}`;
    if (bad.length) {
      rec.outcome = 'failed';
      rec.error = bad.map((b) => `${b.node}: ${b.detail}`).join('; ');
      this.errors.push(`${what} failed on ${bad.map((b) => b.node).join(', ')}`);
      this.next.push(...bad.map((b) => `${b.node}: ${what} failed (${b.detail}); fix it and repoint it to ${this.plan!.winner} (heir rejoin --cluster ${this.c.name} --node ${b.node})`));
    }
  }
}

/**
 * How long a rerun looks at a node an earlier run dropped before it counts as still stuck: an
 * idle applier is recognised after 1 s without movement (waitRelayApplied).
 */
const EARLIER_DROP_CHECK_S = 2;

/** max_allowed_packet during salvage: the server's maximum, as replica_max_allowed_packet. */
const SALVAGE_PACKET = 1073741824;
