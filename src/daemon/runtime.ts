/**
 * ClusterRuntime: everything the daemon does for one cluster.
 *
 *   monitor verdict ──► (decide.ts) failover allowed, auto, not blocked?
 *        │                  ├─ no  → failover.blocked alert (once per incident)
 *        │                  └─ yes → pause detection → failover executor (it reads a fresh
 *        │                           topology, takes the cluster lock, journals, moves the
 *        │                           address) → report → metrics → webhooks →
 *        │                           watch the new master → resume detection
 *        └─► verdict webhook + metrics
 *
 * Besides, a periodic (shared-scheduler) topology read keeps status and metrics current,
 * notices a master changed by someone else (CLI switchover), refreshes the block state
 * (an `heir ack` from the CLI, the end of a block period) and retries a monitor that
 * could not start.
 */
import * as os from 'node:os';
import type { ClusterConfig, GlobalSettings } from '../config/schema';
import { readTopology } from '../mysql/inspect';
import { classifyError } from '../mysql/conn';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { ClusterMonitor, DEAD_VERDICTS, type ReplicasEvent, type VerdictEvent } from '../monitor';
import { runFailover, type FailoverEvent } from '../failover/execute';
import { describeUnfinished, promotedIn, type JournalSummary } from '../failover/journal';
import { decideResume, type ResumeDecision } from '../failover/resume';
import { positionMode } from '../failover/positions';
import { checkGuard, LocalDiskStore, type FailoverStore } from '../failover/store';
import { rejoinNode, type RejoinResult } from '../failover/rejoin';
import type { FailoverReport } from '../failover/report';
import { REPORTS_KEPT, type ReportList } from '../failover/report-index';
import { switchover, type SwitchoverReport } from '../failover/switchover';
import { DEFAULT_SEVERITY, type EventType, type HeirEvent, type Severity } from '../notify/events';
import type { Logger } from '../util/log';
import type { ActionContext, ActionResult, ClusterSummary } from './api';
import { ApiError } from './api';
import type { ClusterHa, HaClusterStatus } from '../ha/cluster-ha';
import { clusterDigest, configMismatches, describeMismatch, type ConfigMismatch } from '../ha/config-digest';
import type { ManagerRecord } from '../ha/managers';
import type { HeirMetrics } from './metrics';
import {
  sshReachable,
  autoRejoinDue,
  transactionCount,
  type AutoRejoinMemory,
  decideAutoFailover,
  decideSecondWritable,
  journaledSuccessor,
  type PromotionRecord,
  failoverEventType,
  failoverMetricResult,
  failoverSeverity,
  inferMaster,
  lagOf,
  switchoverEventType,
  switchoverMetricResult,
} from './decide';
import { addressOf, nodesStatus, type AddressView, type ClusterStatus, type VerdictDetail } from './status';
import { createMover } from '../eni';
import { OldMasterWatch } from './old-master';
import { describeReplicaHealthChange, replicaHealthChanges, replicaHealthSeverity, type ReplicaHealthState } from './replica-health';

export interface RuntimeDeps {
  global: () => GlobalSettings;
  log: Logger;
  metrics: HeirMetrics;
  notify: (e: HeirEvent) => void;
  /** The daemon is shutting down: no new automatic failover. */
  stopping: () => boolean;
  /**
   * Aborted when the daemon starts shutting down: a failover in progress stops at its next
   * step boundary before the promotion (outcome 'interrupted'); after it, it runs to the end.
   */
  stopSignal?: AbortSignal;
  /** Healthy-time replica reads of the monitor (ms). */
  replicaCheckEveryMs?: number;
  /** heir.ha: only the cluster's leader acts, each mutating step fenced in etcd. Absent: this daemon acts alone. */
  ha?: ClusterHa;
  /** Read the topology at the scheduler's next tick instead of at the next period. */
  refreshSoon?: () => void;
}

export interface BlockState {
  blocked: boolean;
  reasons: string[];
  until: string | null;
}

/** Reports listed at most (the etcd index keeps as many: REPORTS_KEPT). */
const MAX_REPORTS = REPORTS_KEPT;
/** How often the address holder is read from the cloud (eni, secondary-ip), besides right after each failover and switchover. */
const ADDRESS_READ_EVERY_MS = 30_000;

export class ClusterRuntime {
  readonly name: string;
  private readonly log: Logger;
  private monitor: ClusterMonitor | null = null;
  private monitorError: string | null = 'starting';
  private snapshot: TopologySnapshot | null = null;
  private lastVerdict: VerdictEvent | null = null;
  private block: BlockState = { blocked: false, reasons: [], until: null };
  /** Operation this daemon runs on the cluster now. */
  private op: { kind: 'failover' | 'switchover' | 'rejoin'; done: Promise<unknown> } | null = null;
  /** Incident (first failure time) a failover.blocked alert was already sent for. */
  private blockedAlertFor: number | null = null;
  /** Replica finding kinds last reported by replica.health events. */
  private replicaHealth: ReplicaHealthState = new Map();
  private stopped = false;
  private starting: Promise<void> | null = null;
  /** Old masters (and any other writable node that replicates from no one) kept fenced. */
  private readonly oldMasters = new Map<string, OldMasterWatch>();
  /** Post hooks running after a report (each bounded by its timeout): stop() waits for them. */
  private readonly hooks = new Set<Promise<void>>();
  /** Where the address was last seen (eni, secondary-ip), for status. */
  private addressSeen: Partial<AddressView> | null = null;
  private addressReadAt = 0;
  private addressReading: Promise<void> | null = null;
  /** failover.auto_rejoin: the last automatic rejoin attempt of each old master. */
  private readonly rejoinMemory = new Map<string, AutoRejoinMemory>();

  constructor(
    readonly cluster: ClusterConfig,
    private readonly deps: RuntimeDeps,
  ) {
    this.name = cluster.name;
    this.log = deps.log.child({ cluster: cluster.name });
  }

  private get stateDir(): string {
    return this.deps.global().state_dir;
  }

  /** Journals, lock, anti-flapping state: in etcd under heir.ha (every manager sees them), else state_dir. */
  private get store(): FailoverStore {
    return this.deps.ha?.store ?? new LocalDiskStore(this.stateDir);
  }

  get master(): string | null {
    return this.monitor?.master ?? null;
  }

  get busy(): string | null {
    return this.op?.kind ?? null;
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  /**
   * Look at the state dir (interrupted operations), read the topology, find the master and
   * start the monitor. Never throws: a cluster that cannot start yet is retried by refresh().
   */
  async start(): Promise<void> {
    this.deps.metrics.clusterConfigured(this.name, this.cluster.nodes.map((n) => n.name));
    const ha = this.deps.ha;
    // heir.ha: what a manager left unfinished (this one before a restart, or another that
    // died or was cut off) is taken up by whichever manager leads the cluster, when it comes
    // to lead it.
    if (ha) ha.onElected(() => this.takeUpOnLeadership());
    else await this.takeUpInterrupted();
    await this.refreshBlock();
    await this.refresh();
  }

  /** A take-up of interrupted operations under way: no new failover, no master followed meanwhile. */
  private takingUp: Promise<void> | null = null;

  private takeUpOnLeadership(): void {
    if (this.takingUp || this.stopped) return;
    // Leading again while an operation of this daemon still runs (it stops at its next step:
    // its leadership ended): its journal is not another's to take up until it has ended.
    if (this.op) {
      const op = this.op;
      void op.done.catch(() => undefined).then(() => {
        if (this.deps.ha && !this.deps.ha.whyNot()) this.takeUpOnLeadership();
      });
      return;
    }
    const p = this.takeUpInterrupted()
      .catch((e) => this.log.error({ err: (e as Error).stack }, `taking up interrupted operations of ${this.name} failed: ${(e as Error).message}`))
      .finally(async () => {
        if (this.takingUp === p) this.takingUp = null;
        if (this.op || this.stopped) return;
        // The former leader may have failed over the master this manager still watches: watch
        // the node it promoted before judging anything.
        await this.followJournaledMaster().catch((e) => this.log.error({ err: (e as Error).stack }, `following ${this.name}'s journaled master failed: ${(e as Error).message}`));
        // A dead master this manager left to the former leader is its own now.
        if (!this.op && !this.stopped) this.actOnWaitingDeadMaster();
      });
    this.takingUp = p;
  }

  /**
   * Operations an earlier process left unfinished (killed, host rebooted; under heir.ha
   * also another manager that died or lost its lease): an automatic failover that is safe to
   * finish (src/failover/resume.ts) is rerun now, keeping the node its journal promoted —
   * before detection starts, since the cluster may have no served master and a monitor
   * started on the half-promoted node would call it healthy. Anything else blocks automatic
   * failover until `heir ack`, with the reason. At start without heir.ha; under heir.ha
   * each time this manager becomes the cluster's leader (the store is etcd's).
   */
  private async takeUpInterrupted(): Promise<void> {
    let js;
    const store = this.store;
    try {
      js = await store.unfinishedJournals(this.name);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, `cannot read the journals of ${this.name} in ${store.where}: ${(e as Error).message}`);
      return;
    }
    if (js.length === 0) return;
    let d: ResumeDecision;
    try {
      const snap = await readTopology(this.cluster);
      this.snapshot = snap;
      const deadName = String(js[0]!.detail.deadMaster ?? '');
      const dead = snap.nodes.find((n) => n.name === deadName);
      const notLeading = this.deps.ha?.whyNot();
      d = decideResume(js, {
        auto: this.cluster.failover.auto,
        deadMasterAnswers: !!dead && (dead.reachable || (!!dead.error && classifyError(dead.error) === 'alive')),
        currentMode: positionMode(snap.nodes.filter((n) => n.name !== deadName)),
        ...(notLeading ? { notLeading } : {}),
      });
    } catch (e) {
      d = { resume: false, why: `the topology could not be read: ${(e as Error).message}` };
    }
    // heir.ha: only while this manager leads (the acknowledgement and every step are fenced).
    if (!d.resume && d.leftToLeader) {
      this.log.warn(`interrupted failover ${js[0]!.id} of ${this.name}: ${d.why}`);
      return;
    }
    if (d.resume && !this.stopped && !this.deps.stopping()) {
      const j = js[0]!;
      const manager = typeof j.manager === 'string' && this.deps.ha && j.manager !== this.deps.ha.manager ? ` of manager ${j.manager}` : '';
      const by = `heir daemon ${this.deps.ha ? `${this.deps.ha.manager} ` : ''}pid ${process.pid} on ${os.hostname()}: resumed automatically: ${d.why}`;
      try {
        await store.ackJournals(this.name, by);
      } catch (e) {
        this.reportInterrupted(js, `its journal could not be acknowledged (${store.where}): ${(e as Error).message}`);
        return;
      }
      if (this.op || this.stopped) return;
      this.log.error({ journal: j.path, id: j.id, deadMaster: d.deadMaster, promoted: d.promoted }, `${describeUnfinished(j).join('\n')}\nfinishing it now${manager}: ${d.why}`);
      this.emit('failover.resumed', `failover ${j.id}${manager} of ${this.name} did not finish; finishing it now: ${d.why}`, {
        id: j.id,
        begunAt: j.begunAt,
        journal: j.path,
        deadMaster: d.deadMaster,
        promoted: d.promoted,
        why: d.why,
        steps: j.steps,
      });
      // this.op is set before the first await: refresh() starts no monitor meanwhile.
      void this.failover({ trigger: 'auto', deadMaster: d.deadMaster, by: `resume of interrupted failover ${j.id}` }).catch((e) =>
        this.log.error({ err: (e as Error).stack }, `finishing the interrupted failover ${j.id} of ${this.name} failed: ${(e as Error).message}`),
      );
      return;
    }
    this.reportInterrupted(js, d.why);
  }

  private reportInterrupted(js: JournalSummary[], notResumed: string): void {
    for (const j of js) {
      const promoted = promotedIn(j)?.node;
      if (promoted) this.resumable.push({ id: j.id, deadMaster: String(j.detail.deadMaster ?? ''), promoted });
      const lines = describeUnfinished(j);
      this.log.error({ journal: j.path, operation: j.operation, id: j.id }, `${lines.join('\n')}\nnot finished automatically: ${notResumed}\nautomatic failover of ${this.name} is blocked until \`heir ack --cluster ${this.name}\``);
      const inFlight = j.steps.filter((s) => s.outcome === 'running').map((s) => s.step);
      this.emit('failover.interrupted', `${j.operation} ${j.id} of ${this.name} did not finish (${inFlight.length ? `step ${inFlight.join(', ')} was in flight` : `last step: ${j.steps.at(-1)?.step ?? 'none'}`}); not finished automatically: ${notResumed}; automatic failover blocked until heir ack`, {
        operation: j.operation,
        id: j.id,
        begunAt: j.begunAt,
        journal: j.path,
        steps: j.steps,
        notes: j.notes,
        notResumed,
      });
    }
  }

  /** Stop detection; wait for an operation in flight (it stops at its next step boundary when the daemon stops). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.oldMasters.values()) w.stop();
    this.oldMasters.clear();
    await this.starting?.catch(() => undefined);
    await this.addressReading;
    const m = this.monitor;
    this.monitor = null;
    await m?.stop();
    await this.deps.ha?.stop();
    if (this.op) {
      this.log.info(`waiting for the ${this.op.kind} of ${this.name} in progress`);
      await this.op.done.catch(() => undefined);
    }
    if (this.hooks.size) {
      this.log.info(`waiting for ${this.hooks.size} hook(s) of ${this.name} (each is killed at its timeout_s)`);
      await Promise.all(this.hooks);
    }
  }

  /** A post hook runs on while the daemon goes on (watching the old master, the monitor). */
  private readonly trackHook = (done: Promise<void>): void => {
    const p = done.catch((e) => this.log.error({ err: (e as Error).message }, `hook of ${this.name} failed: ${(e as Error).message}`));
    this.hooks.add(p);
    void p.finally(() => this.hooks.delete(p));
  };

  /** Remove this cluster's metrics (it left the configuration). */
  forget(): void {
    this.deps.metrics.forgetCluster(this.name);
  }

  // -------------------------------------------------------------------------------------------
  // Periodic refresh (shared scheduler)

  async refresh(): Promise<void> {
    if (this.stopped) return;
    const snap = await readTopology(this.cluster);
    if (this.stopped) return;
    this.snapshot = snap;
    const wasBlocked = this.block.blocked;
    if (!(await this.refreshBlock()).blocked && wasBlocked) void this.afterUnblock();
    if (this.stopped) return;
    if (!this.monitor && !this.op && !this.takingUp) {
      this.starting = this.startMonitor(snap);
      await this.starting;
      this.starting = null;
    } else if (this.monitor && !this.op && !this.takingUp) {
      await this.reconcileMaster(snap);
      if (!this.monitor || this.op) return;
      this.monitor.observeTopology(snap);
      // A second writable node that replicates from no one: an old master restarted
      // writable, or resumed after a hang, is fenced like an old master; one that a
      // failover run outside this daemon promoted while the master is dead is followed.
      const master = this.monitor.master!;
      const masterAnswers = !!snap.nodes.find((n) => n.name === master)?.reachable;
      for (const n of snap.nodes) {
        if (!(n.reachable && n.readOnly === false && n.name !== master && n.replication.every((c) => c.ioState === 'No' && !c.sqlRunning))) continue;
        // An operation holds the cluster (a failover, or a switchover from the CLI between the
        // promotion and the old master's repoint): the node is its doing. Look again later.
        if (await this.operationUnderWay()) continue;
        if (!this.monitor || this.op) return;
        const d = decideSecondWritable(n.name, master, masterAnswers, this.monitor.masterSince, masterAnswers ? [] : await this.promotions());
        if (d.action === 'fence') this.watchOldMaster(n.name);
        else if (d.action === 'follow') {
          this.followFailedOver(this.monitor, master, n.name, d.why);
          break;
        } else if (this.secondWritableAlerted !== n.name) {
          this.secondWritableAlerted = n.name;
          this.log.error({ node: n.name, master }, d.why);
          this.emit('master.fenced', `${this.name}: ${d.why}`, { node: n.name, ok: false, why: d.why, detail: 'not fenced' }, 'critical');
        }
      }
      if (!masterAnswers && this.monitor?.master === master) await this.followJournaledMaster();
      if (this.cluster.failover.auto_rejoin && this.monitor) await this.watchFencedOldMaster(snap, this.monitor.master!);
    }
    this.updateTopologyMetrics(snap);
    this.readAddress(false);
  }

  /**
   * Read where the address is (eni, secondary-ip: one Describe call), at most every
   * ADDRESS_READ_EVERY_MS unless forced (after a failover or switchover). Never throws;
   * a failed read is shown as such.
   */
  private readAddress(force: boolean): void {
    const t = this.cluster.address.type;
    if ((t !== 'eni' && t !== 'secondary-ip') || this.stopped || this.addressReading) return;
    if (!force && Date.now() - this.addressReadAt < ADDRESS_READ_EVERY_MS) return;
    this.addressReadAt = Date.now();
    this.addressReading = (async () => {
      try {
        const s = await createMover(this.cluster, this.deps.global(), { log: this.log }).status({ cluster: this.cluster, reason: 'manual' });
        this.addressSeen = { holder: s.holder ?? null, instanceId: s.instanceId ?? null, eniId: s.eniId ?? null, state: s.state, detail: s.detail, checkedAt: new Date().toISOString() };
      } catch (e) {
        this.addressSeen = { holder: null, instanceId: null, state: 'unknown', detail: `cannot read where the address is: ${(e as Error).message}`, checkedAt: new Date().toISOString() };
      } finally {
        this.addressReading = null;
      }
    })();
  }

  private async startMonitor(snap: TopologySnapshot): Promise<void> {
    const guess = inferMaster(snap, this.cluster);
    if (!guess.master) {
      if (this.monitorError !== guess.why) this.log.error(`cannot start monitoring ${this.name}: ${guess.why}; retrying at every topology refresh`);
      this.monitorError = `cannot tell the master: ${guess.why}`;
      return;
    }
    const ha = this.deps.ha;
    const m = new ClusterMonitor(this.cluster, {
      log: this.deps.log,
      master: guess.master,
      ...(this.deps.replicaCheckEveryMs ? { replicaCheckEveryMs: this.deps.replicaCheckEveryMs } : {}),
      // heir.ha: the other managers' views of the master are a source of the verdict.
      ...(ha ? { peers: { self: ha.manager, views: () => ha.peerViews(), maxAgeMs: ha.viewMaxAgeMs() } } : {}),
    });
    m.on('verdict', (ev) => this.onVerdict(ev));
    m.on('round', (r) => {
      this.deps.metrics.nodeProbe(this.name, r.master, r.ping.class === 'ok', r.ping.class === 'ok' ? r.ping.latencyMs / 1000 : undefined);
      // An error that proves mysqld alive (too many connections, ...) is reaching it, too.
      const reachable = r.ping.class === 'ok' || r.ping.class === 'alive-error';
      ha?.publishView(r.master, reachable, this.lastVerdict?.verdict ?? 'Healthy', reachable ? null : r.failingSince);
    });
    // Another manager watching a different master that answers it (the leader failed over or
    // switched over): this one reads the topology now, not at its next refresh, so that it
    // watches, reports and publishes the new master within a round. Once per master named.
    let followed: string | undefined;
    ha?.onViews(() => {
      m.reconsider();
      const now = Date.now();
      const other = ha.peerViews().find((v) => v.manager !== ha.manager && v.reachable && v.master !== m.master && now - v.at <= ha.viewMaxAgeMs());
      if (!other || other.master === followed) return;
      followed = other.master;
      this.log.info({ manager: other.manager, master: other.master }, `${other.manager} watches ${other.master} as the master of ${this.name} (this manager: ${m.master}): reading the topology now`);
      this.deps.refreshSoon?.();
    });
    m.on('replicas', (ev) => this.onReplicaFindings(ev));
    m.on('error', (e) => this.log.error({ err: e.message }, `monitor of ${this.name}: ${e.message}`));
    try {
      await m.start();
    } catch (e) {
      this.monitorError = (e as Error).message;
      this.log.error(`cannot start monitoring ${this.name}: ${(e as Error).message}`);
      await m.stop().catch(() => undefined);
      return;
    }
    if (this.stopped) {
      await m.stop();
      return;
    }
    this.monitor = m;
    this.monitorError = null;
    // The read that found the master serves as the monitor's first healthy-time read of the
    // replicas, which its first answered ping would otherwise take again at once.
    m.observeTopology(snap);
    this.deps.metrics.verdict(this.name, 'Healthy');
    this.log.info({ master: guess.master, how: guess.why }, `watching ${this.name}: master ${guess.master}`);
  }

  /**
   * The watched master does not answer and a failover of it finished elsewhere (another
   * manager under heir.ha, the CLI) while this daemon watched it: watch the node the journals
   * name, alive or not. A manager that comes to lead would otherwise judge a master failed
   * over long ago while the current one, dead too, goes unhandled.
   */
  private async followJournaledMaster(): Promise<void> {
    const m = this.monitor;
    if (!m?.master || this.op) return;
    const master = m.master;
    const since = m.masterSince;
    if (await this.operationUnderWay()) return; // a failover is under way: look again later
    const next = journaledSuccessor(master, since, await this.promotions());
    if (!next || next.node === master || this.monitor !== m || m.master !== master || this.op) return;
    this.followFailedOver(m, master, next.node, next.why);
  }

  /** A failover outside this daemon replaced `from` with `to`: watch `to`, and fence `from` whenever it answers writable. */
  private followFailedOver(m: ClusterMonitor, from: string, to: string, why: string): void {
    this.log.warn({ from, to }, `master of ${this.name} changed outside this daemon: ${from} → ${to}: ${why}`);
    m.setMaster(to);
    this.deps.metrics.verdict(this.name, 'Healthy');
    this.watchOldMaster(from);
  }

  /**
   * A master changed by someone else (a switchover from the CLI): follow it, or the
   * monitor would keep watching a node that is now a replica.
   */
  private async reconcileMaster(snap: TopologySnapshot): Promise<void> {
    const m = this.monitor!;
    const current = m.master;
    const cur = snap.nodes.find((n) => n.name === current);
    if (!cur?.reachable) return; // the monitor judges a master that does not answer
    if (cur.readOnly === false && cur.replication.length === 0) return;
    const guess = inferMaster(snap, this.cluster);
    if (!guess.master || guess.master === current) return;
    const target = snap.nodes.find((n) => n.name === guess.master);
    if (!target?.reachable || target.readOnly !== false) return;
    if (await this.operationUnderWay()) return; // an operation is under way: look again later
    if (this.monitor !== m || this.op) return;
    this.log.warn({ from: current, to: guess.master, how: guess.why }, `master of ${this.name} changed outside this daemon: ${current} → ${guess.master}; watching ${guess.master}`);
    m.setMaster(guess.master);
    this.deps.metrics.verdict(this.name, 'Healthy');
  }

  /**
   * The cluster lock is held by a live operation (another process, or under heir.ha another
   * manager whose leadership has not ended), or the store cannot be read: look again later.
   */
  private async operationUnderWay(): Promise<boolean> {
    try {
      const lock = await this.store.peekLock(this.name);
      return !lock.free && !lock.stale;
    } catch {
      return true;
    }
  }

  private secondWritableAlerted: string | null = null;
  /** Failovers found interrupted at start after their promotion: finished once acknowledged. */
  private resumable: { id: string; deadMaster: string; promoted: string }[] = [];

  /**
   * Automatic failover was blocked and is not any more (`heir ack` through the API or the
   * CLI, the end of a block period): finish a failover a crash interrupted after its
   * promotion (the rerun keeps that master and does the rest), or act on a dead master
   * that was waiting only for this.
   */
  private async afterUnblock(): Promise<void> {
    if (this.op || this.stopped || this.deps.stopping() || this.takingUp) return;
    const r = this.resumable.at(-1);
    if (r && this.cluster.failover.auto) {
      let still: boolean;
      try {
        still = (await this.store.unfinishedJournals(this.name)).some((j) => j.id === r.id);
      } catch {
        still = true;
      }
      if (this.op || this.stopped) return;
      if (!still) {
        this.resumable = [];
        this.log.warn({ journal: r.id, deadMaster: r.deadMaster, promoted: r.promoted }, `finishing failover ${r.id} of ${this.name}, interrupted after it promoted ${r.promoted} and acknowledged since`);
        void this.failover({ trigger: 'auto', deadMaster: r.deadMaster, by: `resume of interrupted failover ${r.id}` }).catch((e) =>
          this.log.error({ err: (e as Error).stack }, `finishing the interrupted failover of ${this.name} failed: ${(e as Error).message}`),
        );
        return;
      }
    }
    this.actOnWaitingDeadMaster();
  }

  /** A dead master that was waiting (blocked, or this daemon was busy with a rejoin): act now. */
  private actOnWaitingDeadMaster(): void {
    const st = this.monitor?.state;
    if (st && st.failoverAllowed && DEAD_VERDICTS.includes(st.state) && this.lastVerdict?.failoverAllowed) {
      this.blockedAlertFor = null;
      void this.considerFailover(this.lastVerdict);
    }
  }

  /** Finished failovers of this cluster (every journal in the store), with the node each promoted. */
  private async promotions(): Promise<PromotionRecord[]> {
    let js;
    try {
      js = await this.store.listJournals(this.name);
    } catch {
      return [];
    }
    const out: PromotionRecord[] = [];
    for (const j of js) {
      if (!j.end || !String(j.end.outcome).startsWith('promoted')) continue;
      const node = promotedIn(j)?.node;
      if (node) out.push({ id: j.id, deadMaster: String(j.detail.deadMaster ?? ''), promoted: node, endedAt: j.end.at });
    }
    return out;
  }

  /**
   * failover.auto_rejoin: the old master of the latest failover, back read-only and replicating
   * from no one, is watched (and so rejoined) even when this daemon did not see it go: it was
   * started after that failover, or the node came back already fenced (persisted read_only).
   */
  private async watchFencedOldMaster(snap: TopologySnapshot, master: string): Promise<void> {
    const candidates = snap.nodes.filter((n) => n.name !== master && !this.oldMasters.has(n.name) && n.reachable && n.readOnly === true && n.replication.length === 0);
    if (candidates.length === 0) return;
    const last = (await this.promotions()).sort((a, b) => a.endedAt.localeCompare(b.endedAt)).at(-1);
    if (last && last.promoted === master && candidates.some((n) => n.name === last.deadMaster)) this.watchOldMaster(last.deadMaster);
  }

  /** Keep `node` fenced (read-only, persisted) until it replicates from the master or is the master again. */
  private watchOldMaster(node: string): void {
    if (this.oldMasters.has(node) || this.stopped) return;
    const w = new OldMasterWatch(this.cluster, node, {
      log: this.log,
      currentMaster: () => this.monitor?.master ?? null,
      onFenced: (e) => {
        const text = `${this.name}: ${e.why}: ${e.detail}`;
        if (e.ok) this.log.warn({ event: 'master.fenced', node: e.node }, text);
        else this.log.error({ event: 'master.fenced', node: e.node }, text);
        this.emit('master.fenced', text, { node: e.node, ok: e.ok, why: e.why, detail: e.detail }, 'critical');
      },
      onDone: (n) => {
        this.oldMasters.delete(n);
        this.rejoinMemory.delete(n);
      },
      rejoin: (n) => this.autoRejoin(n),
    });
    this.oldMasters.set(node, w);
    this.log.info({ node }, `watching ${node}: it is fenced whenever it answers writable, until it replicates from the master`);
    w.start();
  }

  /**
   * failover.auto_rejoin: the fenced old master `node` becomes a replica of the master when
   * heir rejoin's decision allows it, and by heir rejoin's own code (rejoinNode: cluster lock,
   * journal, report). Only while the master is healthy and this daemon runs nothing else on the
   * cluster; never the master itself. First the decision alone (a dry run: no lock, no file),
   * then the real run only when it allows the rejoin or says something new: a refusal is
   * reported once (master.kept-fenced, with the transactions the master lacks), looked at again
   * now and then quietly (the operator may apply them on the master), and a failed rejoin is
   * left to the operator (autoRejoinDue).
   */
  private async autoRejoin(node: string): Promise<void> {
    const master = this.monitor?.master ?? null;
    if (!this.cluster.failover.auto_rejoin || !master || master === node || this.op || this.stopped || this.deps.stopping()) return;
    if (this.monitor?.state.state !== 'Healthy') return;
    const last = this.rejoinMemory.get(node);
    const now = Date.now();
    if (!autoRejoinDue(last, master, now)) return;
    const args = {
      cluster: this.cluster,
      global: this.deps.global(),
      node,
      expectMaster: master,
      trigger: 'auto' as const,
      store: this.store,
      ...(this.deps.ha ? { beforeMutation: this.deps.ha.beforeMutation } : {}),
    };
    let dry: RejoinResult;
    try {
      dry = await rejoinNode({ ...args, dryRun: true });
    } catch (e) {
      this.rejoinMemory.set(node, { at: now, kind: 'transient', key: '' });
      this.log.warn({ node, err: (e as Error).message }, `automatic rejoin of ${node}: could not read the cluster: ${(e as Error).message}`);
      return;
    }
    if (dry.outcome === 'refused') {
      if (dry.transient) {
        this.rejoinMemory.set(node, { at: now, kind: 'transient', key: '' });
        this.log.info({ node }, `automatic rejoin of ${node} waits: ${dry.summary}`);
        return;
      }
      const key = `${dry.master}|${dry.extra || dry.summary}`;
      if (last?.kind === 'refused' && last.key === key) {
        this.rejoinMemory.set(node, { ...last, at: now });
        return;
      }
    }
    // A real run: it takes the cluster lock and decides again under it.
    if (this.op || this.stopped || this.monitor?.master !== master) return;
    let resolveDone!: () => void;
    this.op = { kind: 'rejoin', done: new Promise<void>((r) => (resolveDone = r)) };
    let r: RejoinResult;
    try {
      this.log.warn({ node, master }, `failover.auto_rejoin: rejoining ${node} to ${master}`);
      r = await rejoinNode({ ...args, by: 'heir daemon (failover.auto_rejoin)', log: this.log });
    } catch (e) {
      r = { outcome: 'failed', trigger: 'auto', node, master, extra: '', steps: [], summary: `${node} could not be rejoined: ${(e as Error).message}; it stays read-only` };
    } finally {
      this.op = null;
      resolveDone();
    }
    this.afterAutoRejoin(r, master);
    // A dead verdict that came meanwhile was set aside (busy): act on it now.
    this.actOnWaitingDeadMaster();
  }

  /** Metrics, memory and the event of an automatic rejoin's outcome. */
  private afterAutoRejoin(r: RejoinResult, master: string): void {
    const node = r.node;
    const common = { node, master: r.master ?? master, trigger: r.trigger, id: r.id ?? null, report: r.reportPath ?? null, journal: r.journal ?? null, steps: r.steps };
    if (r.outcome === 'rejoined') {
      this.rejoinMemory.delete(node);
      this.deps.metrics.rejoin(this.name, 'rejoined');
      const text = `${this.name}: ${node} rejoined automatically: ${r.summary}`;
      this.log.warn({ event: 'master.rejoined', node, master: common.master, report: r.reportPath }, text);
      this.emit('master.rejoined', text, { ...common, summary: r.summary });
      return;
    }
    if (r.outcome === 'refused' && r.transient) {
      this.rejoinMemory.set(node, { at: Date.now(), kind: 'transient', key: '' });
      this.log.info({ node }, `automatic rejoin of ${node} waits: ${r.summary}`);
      return;
    }
    const n = r.extra ? transactionCount(r.extra) : null;
    const what = r.extra
      ? `has ${n === null ? 'transactions' : `${n} transaction${n === 1 ? '' : 's'}`} the new master ${common.master} lacks: ${r.extra}${r.file ? ` (written to ${r.file})` : ''}`
      : r.summary;
    const text = `${this.name}: ${node} kept fenced (read-only, not replicating): ${what}`;
    if (r.outcome === 'refused') this.rejoinMemory.set(node, { at: Date.now(), kind: 'refused', key: `${r.master}|${r.extra || r.summary}` });
    else this.rejoinMemory.set(node, { at: Date.now(), kind: 'failed', key: master });
    this.deps.metrics.rejoin(this.name, r.outcome === 'refused' ? 'kept-fenced' : 'failed');
    this.log.error({ event: 'master.kept-fenced', node, master: common.master, extra: r.extra, report: r.reportPath }, text);
    this.emit('master.kept-fenced', text, {
      ...common,
      outcome: r.outcome,
      extra: r.extra,
      transactions: n,
      file: r.file ?? null,
      reason: r.summary,
      next: `decide about ${node}'s transactions, then heir rejoin --cluster ${this.name} --node ${node}`,
    });
  }

  private updateTopologyMetrics(snap: TopologySnapshot): void {
    const mx = this.deps.metrics;
    const master = this.master;
    for (const n of snap.nodes) {
      if (n.name !== master) mx.nodeProbe(this.name, n.name, n.reachable);
      mx.replicationLag(this.name, n.name, lagOf(n));
    }
    mx.master(this.name, master, this.cluster.nodes.map((n) => n.name));
  }

  /** Block state from the store (unfinished journals, block period). */
  async refreshBlock(): Promise<BlockState> {
    let b: BlockState;
    const store = this.store;
    try {
      const g = await checkGuard(store, this.name, 'auto', this.cluster.failover.block_period_s);
      b = { blocked: !g.allowed, reasons: g.reasons, until: g.blockedUntil ?? null };
    } catch (e) {
      b = { blocked: true, reasons: [`cannot read the failover state of ${this.name} (${store.where}): ${(e as Error).message}`], until: null };
    }
    if (b.blocked !== this.block.blocked) this.deps.metrics.blocked(this.name, b.blocked);
    this.block = b;
    return b;
  }

  /** A replica's findings changed (new or resolved): one replica.health event per replica and change. */
  private onReplicaFindings(ev: ReplicasEvent): void {
    const replicas = this.cluster.nodes.map((n) => n.name).filter((n) => n !== ev.master);
    const { changes, next } = replicaHealthChanges(this.replicaHealth, ev.findings, replicas);
    this.replicaHealth = next;
    for (const c of changes) {
      this.emit('replica.health', describeReplicaHealthChange(this.name, c), {
        replica: c.replica,
        master: ev.master,
        added: c.added,
        resolved: c.resolved,
        current: c.current,
        healthy: c.current.length === 0,
      }, replicaHealthSeverity(c));
    }
  }

  // -------------------------------------------------------------------------------------------
  // Verdicts

  private onVerdict(ev: VerdictEvent): void {
    this.lastVerdict = ev;
    this.deps.metrics.verdict(this.name, ev.verdict);
    if (ev.alert) {
      const sev: Severity = ev.failoverAllowed ? 'critical' : ev.verdict === 'Healthy' ? 'info' : 'warning';
      this.emit(
        'verdict',
        `${this.name}: master ${ev.master} ${ev.from} → ${ev.verdict}: ${ev.reason}`,
        {
          master: ev.master,
          from: ev.from,
          verdict: ev.verdict,
          failoverAllowed: ev.failoverAllowed,
          rule: ev.rule,
          because: ev.because,
          reason: ev.reason,
          confirmedBy: ev.confirmedBy,
          evidence: ev.evidence,
          firstFailureAt: ev.firstFailureAt ? new Date(ev.firstFailureAt).toISOString() : null,
        },
        sev,
      );
    }
    if (ev.failoverAllowed) void this.considerFailover(ev);
  }

  /**
   * Under heir.ha without the leadership of this cluster: say so for this dead verdict (left to
   * the leader, or nobody may act) and return true.
   */
  private notLeadingFor(ev: VerdictEvent): boolean {
    const ha = this.deps.ha;
    const notLeading = ha?.whyNot();
    if (!ha || !notLeading) return false;
    // Another manager leads: it acts. No leadership (etcd unreachable, lease unconfirmed): nobody may.
    if (ha.follower()) {
      this.log.info(`dead verdict for ${ev.master} left to the leader: ${notLeading}`);
      return true;
    }
    const incident = ev.firstFailureAt ?? ev.at;
    this.log.error(`master ${ev.master} of ${this.name} is dead but this manager may not act: ${notLeading}`);
    if (this.blockedAlertFor !== incident) {
      this.blockedAlertFor = incident;
      this.emit('failover.blocked', `${this.name}: master ${ev.master} is dead (${ev.verdict}) but no manager may act: ${notLeading}`, {
        master: ev.master,
        verdict: ev.verdict,
        reasons: [notLeading],
      });
    }
    return true;
  }

  /** A corroborated dead master: fail over, or say why not. */
  private async considerFailover(ev: VerdictEvent): Promise<void> {
    if (this.takingUp) {
      this.log.info(`dead verdict for ${ev.master} set aside: an interrupted failover of ${this.name} is being taken up`);
      return;
    }
    if (this.notLeadingFor(ev)) return;
    const block = await this.refreshBlock();
    let lock: { free: boolean; stale?: boolean; text?: string };
    try {
      lock = await this.store.peekLock(this.name);
    } catch (e) {
      lock = { free: false, text: `the lock cannot be read (${this.store.where}): ${(e as Error).message}` };
    }
    if (this.takingUp) return;
    // Asked again after the reads: the leadership may have ended while they waited (a paused
    // process, a slow etcd). The executor's fenced steps would refuse anyway; this says why first.
    if (this.notLeadingFor(ev)) return;
    const d = decideAutoFailover({
      failoverAllowed: ev.failoverAllowed,
      auto: this.cluster.failover.auto,
      guard: { allowed: !block.blocked, reasons: block.reasons },
      lock: { held: !lock.free && !lock.stale, text: lock.text },
      busy: this.busy,
      stopping: this.deps.stopping(),
    });
    if (d.action === 'ignore') {
      this.log.info(`dead verdict for ${ev.master} not acted on: ${d.why}`);
      return;
    }
    if (d.action === 'blocked') {
      const incident = ev.firstFailureAt ?? ev.at;
      this.log.error({ reasons: d.reasons }, `master ${ev.master} of ${this.name} is dead but automatic failover is blocked:\n${d.reasons.join('\n')}`);
      if (this.blockedAlertFor !== incident) {
        this.blockedAlertFor = incident;
        this.emit('failover.blocked', `${this.name}: master ${ev.master} is dead (${ev.verdict}) but automatic failover is blocked: ${d.reasons[0]}`, {
          master: ev.master,
          verdict: ev.verdict,
          reasons: d.reasons,
          blockedUntil: block.until,
        });
      }
      return;
    }
    void this.failover({ trigger: 'auto', deadMaster: ev.master, verdict: ev }).catch((e) =>
      this.log.error({ err: (e as Error).stack }, `automatic failover of ${this.name} failed unexpectedly: ${(e as Error).message}`),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Operations

  /** Run the failover executor; detection is paused meanwhile and follows the new master after. */
  async failover(o: {
    trigger: 'auto' | 'manual';
    deadMaster: string;
    to?: string;
    verdict?: VerdictEvent;
    by?: string;
    /** API operations: called once the failover is under way, and with each step. */
    started?: () => void;
    step?: ActionContext['step'];
  }): Promise<FailoverReport> {
    if (this.op) throw new ApiError(409, `${this.name}: a ${this.op.kind} is already running in the daemon; wait for it to finish`, 'busy');
    this.refuseUnlessLeading('failover');
    let resolveDone!: () => void;
    this.op = { kind: 'failover', done: new Promise<void>((r) => (resolveDone = r)) };
    o.started?.();
    const monitor = this.monitor;
    monitor?.pause();
    const started = Date.now();
    let announced = false;
    try {
      const ev = o.verdict;
      const snap = this.snapshot;
      const lastKnownMaster = snap?.nodes.find((n) => n.name === o.deadMaster && n.reachable);
      const lagHints: Record<string, number | null> = {};
      for (const n of snap?.nodes ?? []) lagHints[n.name] = lagOf(n);
      this.log.error(
        { deadMaster: o.deadMaster, trigger: o.trigger, to: o.to, by: o.by },
        `starting ${o.trigger} failover of ${this.name}: master ${o.deadMaster}${ev ? ` ${ev.verdict} (${ev.reason})` : ''}`,
      );
      const report = await runFailover({
        cluster: this.cluster,
        global: this.deps.global(),
        deadMaster: o.deadMaster,
        trigger: o.trigger,
        ...(o.to ? { to: o.to } : {}),
        verdict: ev ? verdictSummary(ev) : o.by ? `operator (${o.by})` : 'operator',
        ...(lastKnownMaster ? { lastKnownMaster } : {}),
        lagHints,
        ...(monitor ? { healthy: monitor.healthyViews() } : {}),
        ...(ev ? sshHint(ev) : {}),
        ...(ev ? { verdictReceived: ev.detail.received } : {}),
        log: this.deps.log,
        store: this.store,
        ...(this.deps.ha ? { beforeMutation: this.deps.ha.beforeMutation } : {}),
        onEvent: (e) => {
          if (e.type === 'failover.step' && !announced) {
            // The first step ran: the failover is under way (a refusal never gets here).
            announced = true;
            this.emit('failover.started', `${this.name}: ${o.trigger} failover started: master ${o.deadMaster} ${ev ? `${ev.verdict}` : 'declared dead by an operator'}`, {
              id: e.id,
              trigger: o.trigger,
              deadMaster: o.deadMaster,
              ...(o.to ? { to: o.to } : {}),
              verdict: ev ? verdictSummary(ev) : 'operator',
            });
          }
          this.onFailoverEvent(e);
          if (e.type === 'failover.step') {
            const s = e.step;
            o.step?.({ name: s.name, outcome: s.outcome, startedAt: s.startedAt, ...(s.durationMs !== undefined ? { durationMs: s.durationMs } : {}), detail: s.error && s.error !== s.detail ? `${s.detail}: ${s.error}` : s.detail });
          }
        },
        // Stopping: the executor leaves at the next step boundary before the promotion
        // (undoing what it can, journaled, outcome 'interrupted'); after the promotion the
        // remaining steps (repoint, verify, attach the address) run to their bounded end.
        ...(this.deps.stopSignal ? { signal: this.deps.stopSignal } : {}),
        postHook: this.trackHook,
      });
      this.afterFailover(report, o, started);
      return report;
    } finally {
      this.op = null;
      resolveDone();
      if (this.monitor === monitor) monitor?.resume();
    }
  }

  private onFailoverEvent(e: FailoverEvent): void {
    if (e.type !== 'failover.step') return;
    const s = e.step;
    if ((s.name === 'fence-address' || s.name === 'attach') && s.outcome !== 'running' && this.cluster.address.type !== 'none') {
      this.deps.metrics.addressMove(this.name, s.name === 'attach' ? 'attach' : 'fence', s.outcome === 'failed' ? 'failure' : 'success');
      this.emit(s.outcome === 'failed' ? 'address.failed' : 'address.moved', `${this.name}: address ${s.name === 'attach' ? 'attach' : 'fence'} ${s.outcome}: ${s.detail}`, {
        id: e.id,
        step: s.name,
        outcome: s.outcome,
        detail: s.detail,
        ...(s.error ? { error: s.error } : {}),
      });
    }
  }

  private afterFailover(r: FailoverReport, o: { trigger: string; verdict?: VerdictEvent }, started: number): void {
    const result = failoverMetricResult(r.outcome);
    if (result) {
      const from = o.verdict?.at ?? started;
      this.deps.metrics.failover(this.name, result, (Date.parse(r.endedAt) - from) / 1000);
    }
    const type = failoverEventType(r.outcome);
    if (type === 'failover.blocked') {
      this.emit(type, `${this.name}: ${o.trigger} failover refused: ${r.summary}`, { id: r.id, reasons: r.warnings, deadMaster: r.deadMaster });
    } else {
      // A failover that ended before its first step never announced itself: do it now.
      if (r.steps.length === 0) {
        this.emit('failover.started', `${this.name}: ${o.trigger} failover started: master ${r.deadMaster}`, { id: r.id, trigger: o.trigger, deadMaster: r.deadMaster });
      }
      const leftOut = r.newMaster ? (r.plan?.leftOut ?? []) : [];
      this.emit(
        type,
        `${this.name}: failover ${r.outcome}: ${r.summary} (${(r.durationMs / 1000).toFixed(1)} s)` +
          (leftOut.length ? `; left out of the new topology: ${leftOut.map((x) => `${x.node} (${x.why})`).join(', ')}` : ''),
        {
          id: r.id,
          outcome: r.outcome,
          trigger: r.trigger,
          deadMaster: r.deadMaster,
          newMaster: r.newMaster,
          durationMs: r.durationMs,
          toWritableMs: r.toWritableMs ?? null,
          steps: r.steps.map((s) => ({ name: s.name, outcome: s.outcome, durationMs: s.durationMs, detail: s.detail, ...(s.error ? { error: s.error } : {}) })),
          possiblyLost: r.possiblyLost,
          leftOut,
          warnings: r.warnings,
          next: r.next,
          report: r.reportPath ?? null,
        },
        failoverSeverity(r.outcome),
      );
    }
    if (r.newMaster && this.monitor) {
      this.monitor.setMaster(r.newMaster);
      this.deps.metrics.verdict(this.name, 'Healthy');
    }
    // The old master must find itself fenced whenever it comes back.
    if (r.newMaster) this.watchOldMaster(r.deadMaster);
    if (r.finalTopology) {
      this.snapshot = r.finalTopology;
      this.updateTopologyMetrics(r.finalTopology);
    }
    this.readAddress(true);
    this.blockedAlertFor = null;
    void this.refreshBlock();
  }

  async switchover(to: string, ctx: ActionContext): Promise<SwitchoverReport> {
    if (this.op) throw new ApiError(409, `${this.name}: a ${this.op.kind} is already running in the daemon; wait for it to finish`, 'busy');
    this.refuseUnlessLeading('switchover');
    if (!this.cluster.nodes.some((n) => n.name === to)) {
      throw new ApiError(404, `${this.name} has no node "${to}"; nodes: ${this.cluster.nodes.map((n) => n.name).join(', ')}`, 'unknown_node');
    }
    let resolveDone!: () => void;
    this.op = { kind: 'switchover', done: new Promise<void>((r) => (resolveDone = r)) };
    ctx.started?.();
    const monitor = this.monitor;
    monitor?.pause();
    try {
      const by = `api ${ctx.remote} (request ${ctx.requestId})`;
      this.emit('switchover.started', `${this.name}: switchover to ${to} requested by ${by}`, { to, from: this.master, requestedBy: by });
      const r = await switchover(this.cluster, {
        to,
        global: this.deps.global(),
        log: this.deps.log,
        requestedBy: by,
        postHook: this.trackHook,
        onProgress: (e) => {
          if (e.phase === 'info') return;
          const outcome = e.phase === 'start' ? 'running' : e.phase === 'done' ? 'ok' : 'failed';
          ctx.step?.({ name: e.step, outcome, ...(e.node ? { node: e.node } : {}), ...(e.durationMs !== undefined ? { durationMs: e.durationMs } : {}), detail: e.detail });
        },
        store: this.store,
        ...(this.deps.ha ? { deps: { beforeMutation: this.deps.ha.beforeMutation } } : {}),
      });
      // The switchover saved its own report (reports/switchover-<id>.json) when it took the
      // lock; a refused one before that leaves none, like from the CLI.
      const id = r.id;
      const result = switchoverMetricResult(r.outcome);
      if (result) {
        const pause = r.outcome === 'switched' && r.writePause.toNewMasterMs !== null ? r.writePause.toNewMasterMs / 1000 : undefined;
        this.deps.metrics.switchover(this.name, result, r.durationMs / 1000, pause);
      }
      for (const step of ['fence', 'attach'] as const) {
        const m = r.address?.[step];
        if (m && r.address?.kind !== 'none') this.deps.metrics.addressMove(this.name, step, m.ok ? 'success' : 'failure');
      }
      this.emit(
        switchoverEventType(r.outcome),
        `${this.name}: switchover ${r.outcome}: ${r.summary}`,
        { id, outcome: r.outcome, from: r.from ?? null, to: r.to, writePause: r.writePause, errors: r.errors, next: r.next ?? null, report: r.reportPath ?? null },
        r.outcome === 'switched' ? 'info' : r.outcome === 'refused' ? 'warning' : 'critical',
      );
      if ((r.outcome === 'switched' || r.outcome === 'switched-with-errors') && monitor && this.monitor === monitor) {
        monitor.setMaster(r.to);
        this.deps.metrics.verdict(this.name, 'Healthy');
        // heir_node_master follows now, not at the next topology refresh.
        this.deps.metrics.master(this.name, r.to, this.cluster.nodes.map((n) => n.name));
      }
      if (r.outcome !== 'refused') {
        // Status shows the new tree now, not at the next topology refresh.
        const snap = await readTopology(this.cluster).catch(() => null);
        if (snap && !this.stopped) {
          this.snapshot = snap;
          this.updateTopologyMetrics(snap);
        }
      }
      this.readAddress(true);
      return r;
    } finally {
      this.op = null;
      resolveDone();
      if (this.monitor === monitor) monitor?.resume();
    }
  }

  /** `heir ack` through the API: acknowledge journals, lift the block; act on a dead master still waiting. */
  async ack(ctx: ActionContext): Promise<ActionResult> {
    // heir.ha: the acknowledgement is recorded in etcd under the leader's lease.
    this.refuseUnlessLeading('ack');
    const by = `api ${ctx.remote} (request ${ctx.requestId})${this.deps.ha ? ` on manager ${this.deps.ha.manager}` : ''}`;
    const r = await this.store.acknowledge(this.name, by);
    const block = await this.refreshBlock();
    const what = [
      r.journals.length ? `acknowledged ${r.journals.map((j) => `${j.operation} ${j.id}`).join(', ')}` : '',
      r.hadBlock ? 'lifted the block after the last automatic failover' : '',
    ].filter(Boolean);
    const message = `${this.name}: ${what.join('; ') || 'nothing was blocked'}; automatic failover ${block.blocked ? `still blocked: ${block.reasons.join('; ')}` : 'allowed'}`;
    this.log.warn({ by, journals: r.journals.map((j) => j.id), hadBlock: r.hadBlock }, message);
    this.emit('cluster.acknowledged', message, { by, journals: r.journals.map((j) => j.id), hadBlock: r.hadBlock, blocked: block.blocked });
    // A dead master (or an interrupted failover) that was waiting only for this: act now.
    if (!block.blocked) void this.afterUnblock();
    return { ok: true, message, journals: r.journals.map((j) => j.id), hadBlock: r.hadBlock, blocked: block.blocked };
  }

  // -------------------------------------------------------------------------------------------
  // Views

  /** heir.ha: the mismatches last reported (manager:kind:parts), to report each change once. */
  private reportedMismatches = new Map<string, ConfigMismatch>();

  /**
   * heir.ha, while this manager leads the cluster: compare the other managers' configurations
   * of it (their records in etcd) with this one's; a manager whose configuration differs or
   * lacks the cluster is logged and reported (ha.config-mismatch) once, and shown in status
   * until it is resolved. A follower compares nothing (the leader reports).
   */
  checkManagerConfigs(records: readonly ManagerRecord[]): void {
    const ha = this.deps.ha;
    if (!ha) return;
    if (ha.whyNot() !== undefined) {
      this.reportedMismatches.clear();
      ha.setConfigMismatches([]);
      return;
    }
    const list = configMismatches(this.name, ha.manager, clusterDigest(this.cluster), records);
    const key = (m: ConfigMismatch) => `${m.manager}:${m.kind}:${m.parts.join(',')}`;
    const now = new Map(list.map((m) => [key(m), m]));
    for (const [k, m] of now) {
      if (this.reportedMismatches.has(k)) continue;
      const text = describeMismatch(this.name, ha.manager, m);
      this.log.warn({ manager: m.manager, kind: m.kind, parts: m.parts }, text);
      this.emit('ha.config-mismatch', `${this.name}: ${text}`, { manager: m.manager, leader: ha.manager, kind: m.kind, parts: m.parts, resolved: false });
    }
    for (const [k, m] of this.reportedMismatches) {
      if (now.has(k)) continue;
      const alive = records.some((r) => r.manager === m.manager);
      const text = alive
        ? `manager ${m.manager}'s configuration of cluster ${this.name} is now the same as ${ha.manager}'s`
        : `manager ${m.manager}, whose configuration of cluster ${this.name} differed from ${ha.manager}'s, is gone from etcd`;
      this.log.info({ manager: m.manager }, text);
      this.emit('ha.config-mismatch', `${this.name}: ${text}`, { manager: m.manager, leader: ha.manager, kind: m.kind, parts: m.parts, resolved: true }, 'info');
    }
    this.reportedMismatches = now;
    ha.setConfigMismatches(list.map((m) => ({ ...m, text: describeMismatch(this.name, ha.manager, m) })));
  }

  /** heir.ha: leadership, managers and their views of the master; undefined without heir.ha. */
  haStatus(): HaClusterStatus | undefined {
    return this.deps.ha?.status();
  }

  status(): ClusterStatus {
    const master = this.master ?? (this.snapshot ? inferMaster(this.snapshot, this.cluster).master : null);
    const v = this.lastVerdict;
    const state = this.monitor?.state;
    return {
      name: this.name,
      master,
      verdict: state ? state.state : 'unknown',
      blocked: this.block.blocked,
      blockedReasons: this.block.reasons,
      blockedUntil: this.block.until,
      source: 'daemon',
      snapshotAt: this.snapshot ? new Date(this.snapshot.takenAt).toISOString() : null,
      operation: this.busy,
      verdictAt: v ? new Date(v.at).toISOString() : null,
      verdictReason: v ? v.reason : null,
      verdictDetail: v ? verdictDetail(v) : null,
      failoverAllowed: state?.failoverAllowed ?? false,
      monitor: this.monitor ? 'running' : (this.monitorError ?? 'stopped'),
      address: this.addressView(),
      nodes: nodesStatus(this.snapshot, master, this.cluster),
      ...(this.deps.ha ? { ha: this.deps.ha.status() } : {}),
    };
  }

  private addressView(): AddressView {
    const a = addressOf(this.cluster);
    if (this.cluster.address.type === 'script') {
      return { ...a, holder: null, state: 'script', detail: `moved by ${this.cluster.address.path} at each failover and switchover; the daemon does not read it back (heir eni status runs the script's status command)` };
    }
    if (this.cluster.address.type === 'none') return { ...a, holder: null, state: 'none', detail: 'no address moves with the master' };
    return { ...a, holder: null, state: 'not read yet', ...(this.addressSeen ?? {}) };
  }

  /** GET /clusters carries the whole status of each cluster (heir status needs the nodes). */
  summary(): ClusterSummary {
    return { ...this.status() };
  }

  /**
   * Failover and switchover reports, newest first: this manager's (state_dir), and under
   * heir.ha every manager's (the index in etcd), each once.
   */
  reports(limit = MAX_REPORTS): Promise<ReportList> {
    return this.store.listReports(this.name, { kinds: ['failover', 'switchover'], limit: Math.min(limit, MAX_REPORTS) });
  }

  /** The last snapshot's view of a node (for lastKnownMaster and tests). */
  node(name: string): NodeSnapshot | undefined {
    return this.snapshot?.nodes.find((n) => n.name === name);
  }

  /**
   * heir.ha: an operation needs this manager to lead the cluster. The API forwards an action to
   * the leader before it gets here (src/daemon/forward.ts); this catches leadership lost since.
   */
  private refuseUnlessLeading(what: string): void {
    const why = this.deps.ha?.whyNot();
    if (why) throw new ApiError(409, `${this.name}: no ${what} from this manager: ${why}; post it again (the API forwards actions to the leader)`);
  }

  /** heir.ha: what decides where an action from the API is performed (routeAction); undefined without heir.ha. */
  haRoute(): { self: string; whyNot: string | undefined; leader: string | null } | undefined {
    const ha = this.deps.ha;
    return ha ? { self: ha.manager, whyNot: ha.whyNot(), leader: ha.status().leader } : undefined;
  }

  private emit(type: EventType, summary: string, details: Record<string, unknown>, severity?: Severity): void {
    this.deps.notify({ type, cluster: this.name, at: new Date().toISOString(), severity: severity ?? DEFAULT_SEVERITY[type], summary, details });
  }
}

/** The verdict as it goes into the failover report and events. */
function verdictSummary(ev: VerdictEvent): Record<string, unknown> {
  return {
    verdict: ev.verdict,
    from: ev.from,
    master: ev.master,
    at: new Date(ev.at).toISOString(),
    firstFailureAt: ev.firstFailureAt ? new Date(ev.firstFailureAt).toISOString() : null,
    rule: ev.rule,
    because: ev.because,
    reason: ev.reason,
    confirmedBy: ev.confirmedBy,
    evidence: ev.evidence,
  };
}

/** The latest verdict as status shows it (times as ISO, the evidence as read by people). */
function verdictDetail(ev: VerdictEvent): VerdictDetail {
  return {
    verdict: ev.verdict,
    from: ev.from,
    master: ev.master,
    rule: ev.rule,
    because: ev.because,
    confirmedBy: ev.confirmedBy.map(String),
    evidence: ev.evidence.map((e) => ({ source: String(e.source), subject: e.subject, at: new Date(e.at).toISOString(), observation: e.observation, points: String(e.points) })),
  };
}

/** Whether the dead master's host answers SSH, as detection saw it (salvage needs it): see sshReachable in decide.ts. */
function sshHint(ev: VerdictEvent): { deadMasterSshReachable?: boolean } {
  const r = sshReachable(ev.verdict, ev.evidence);
  return r === undefined ? {} : { deadMasterSshReachable: r };
}
