/**
 * ClusterMonitor: the detection runtime of one cluster (I/O).
 *
 * Every detection.interval_ms it pings the master (bounded by ping_timeout_ms). A ping
 * still unanswered after three times the recent pings' median latency (at least
 * SLOW_PING_MS, at most half the timeout) starts corroboration while it waits: a host that went down is
 * corroborated by the time the ping gives up. The first failed ping starts it otherwise, in parallel: the manager's raw TCP
 * probe and a fresh-connection SELECT 1, a read of every replica (and another one each
 * following round, so counters can be seen moving), the SSH host check, and the
 * secondary checks. Each result, as it arrives, is fed with everything else known to
 * the pure analysis (verdict.ts); the pure state machine (state.ts) decides what is
 * reported. Reports are 'verdict' events (and pino log lines) carrying the evidence.
 *
 * While the master is healthy the replicas are read every replicaCheckEveryMs for
 * their health (lag, broken, errant), reported as 'replicas' events when it changes; a
 * read the daemon's status refresh took anyway counts as one (observeTopology).
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { secondaryCheckNodes, type ClusterConfig, type NodeConfig } from '../config/schema';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { readNode, errantGtids } from '../mysql/inspect';
import { silentLogger, type Logger } from '../util/log';
import { analyze } from './verdict';
import { channelToMaster, managerSights, replicaSight, type HealthyView, type MasterRef } from './sight';
import { replicaFindings, findingsKey } from './findings';
import { DEFAULT_MACHINE_PARAMS, initialState, step, type MachineParams, type MachineState } from './state';
import { corroborationBudget, type Release } from './budget';
import { Pinger, hostCheck, readPidFile, reprobe, secondaryCheck, tcpProbe } from './probes';
import type { DetectionParams, HostCheck, Observations, PeerView, PingObservation, ReplicaFinding, ReplicaSight, SecondaryCheck, TcpProbe, Verdict, VerdictKind } from './types';

export interface VerdictEvent {
  type: 'verdict';
  cluster: string;
  master: string;
  /** When the verdict was reached (ms since epoch). */
  at: number;
  from: VerdictKind;
  verdict: VerdictKind;
  failoverAllowed: boolean;
  /** Worth an alert: false for Suspect and for Suspect → Healthy. */
  alert: boolean;
  /** Start of the run of failed pings that led here (null for a recovery). */
  firstFailureAt: number | null;
  rule: string;
  because: string;
  reason: string;
  confirmedBy: Verdict['confirmedBy'];
  evidence: Verdict['evidence'];
  /** The full analysis result. */
  detail: Verdict;
}

export interface ReplicasEvent {
  type: 'replicas';
  cluster: string;
  master: string;
  at: number;
  findings: ReplicaFinding[];
}

/** Every round (ping + analysis), for benchmarks and debugging. */
export interface RoundEvent {
  type: 'round';
  cluster: string;
  master: string;
  at: number;
  ping: PingObservation;
  verdict: VerdictKind;
  failoverAllowed: boolean;
  /** Start of the current run of failed pings (ms since epoch), null when the ping was answered. */
  failingSince: number | null;
}

export interface ClusterMonitorEvents {
  verdict: [VerdictEvent];
  replicas: [ReplicasEvent];
  round: [RoundEvent];
  /** An unexpected internal failure (a bug); only emitted when someone listens. Detection goes on. */
  error: [Error];
}

export interface MonitorOptions {
  log?: Logger;
  /** Name of the master; when absent, start() finds it (the writable node that replicates from no one). */
  master?: string;
  machine?: Partial<MachineParams>;
  /** How often replica health is read while the master is healthy (ms). Default 5000. */
  replicaCheckEveryMs?: number;
  /** Threshold for Lagging findings (s). Default: failover.max_lag_s. */
  lagWarnS?: number;
  /** Written into the heartbeat row (insert mode). Default: this host's name. */
  managerId?: string;
  /**
   * heir.ha: the other managers' latest views of the master (this manager's own is skipped),
   * and how old a view may be to count. Absent: no such source.
   */
  peers?: { self: string; views: () => PeerView[]; maxAgeMs: number };
}

/** Corroboration gathered since the current run of failures began. */
interface Failure {
  since: number;
  tcp: TcpProbe | null;
  reprobe: PingObservation | null;
  reads: Map<string, NodeSnapshot[]>;
  host: HostCheck | undefined;
  secondary: Map<string, SecondaryCheck>;
  /** Probes of the first round that have not reported yet. */
  pending: Set<string>;
  /** The first round of probes has been started. */
  started: boolean;
  /** Started while the ping was still unanswered (it may yet answer: then this is dropped). */
  early: boolean;
}

/** A ping unanswered this long starts corroboration while it waits (ms), unless recent pings were slower (see slowMarkMs). A LAN answers in about a millisecond. */
export const SLOW_PING_MS = 50;
/** How long a secondary check waits for the master's port to answer, from another node's host (ms). */
export function secondaryProbeTimeoutMs(pingTimeoutMs: number): number {
  return Math.max(200, Math.floor(pingTimeoutMs / 2));
}

/**
 * At most this many pings of the whole process corroborate early at once: when the manager
 * itself is slow (thousands of clusters, a busy host) every ping looks slow, and early
 * corroboration must not add load to that. Failed pings corroborate as always.
 */
export const EARLY_CORROBORATIONS_MAX = 16;
let earlyInFlight = 0;

/** How many recent answered pings set the slow mark. */
const RECENT_PINGS = 8;

/**
 * When an unanswered ping starts corroboration: three times the recent answers' median (one
 * slow answer does not move it), within [SLOW_PING_MS, timeout / 2] (pure).
 */
export function slowMarkMs(recentLatenciesMs: readonly number[], pingTimeoutMs: number): number {
  const median = lowerMedian(recentLatenciesMs);
  return Math.min(Math.max(SLOW_PING_MS, 3 * median), Math.max(1, Math.floor(pingTimeoutMs / 2)));
}

/** Scratch space of lowerMedian: it runs at every round of every cluster, and allocates nothing. */
let scratch = new Float64Array(RECENT_PINGS);

/** The lower median (0 for none): an insertion sort into the scratch array. */
function lowerMedian(xs: readonly number[]): number {
  const n = xs.length;
  if (n === 0) return 0;
  if (scratch.length < n) scratch = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    let j = i - 1;
    for (; j >= 0 && scratch[j]! > x; j--) scratch[j + 1] = scratch[j]!;
    scratch[j + 1] = x;
  }
  return scratch[Math.floor((n - 1) / 2)]!;
}

function newFailure(since: number, early: boolean): Failure {
  return { since, tcp: null, reprobe: null, reads: new Map(), host: undefined, secondary: new Map(), pending: new Set(), started: false, early };
}

export class ClusterMonitor extends EventEmitter<ClusterMonitorEvents> {
  readonly cluster: ClusterConfig;
  private readonly log: Logger;
  private readonly machineParams: MachineParams;
  private readonly params: DetectionParams;
  private readonly replicaCheckEveryMs: number;
  private readonly lagWarnS: number;
  private readonly managerId: string;
  private readonly peers: MonitorOptions['peers'];

  private masterName: string | null;
  private masterSinceMs = Date.now();
  private pinger: Pinger | null = null;
  private machine: MachineState = initialState(Date.now());
  private latestPing: PingObservation | null = null;
  /** Pings so far (numbers the rounds for the state machine). */
  private roundNo = 0;
  private failure: Failure | null = null;
  private verdict: Verdict | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private paused = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly busy = new Set<string>();
  private lastReplicaCheck = 0;
  private findingsSig = '';
  private heartbeatPeriods = new Map<string, number | null>();
  /** Each replica as last read while the master answered (see HealthyView). */
  private readonly healthy = new Map<string, HealthyView>();
  private pidFile: string | null = null;
  private masterServerId: number | undefined;
  /** Bumped by setMaster: results of probes started for an earlier master are dropped. */
  private epoch = 0;
  /** Latencies of the latest answered pings (they set the slow mark). */
  private readonly recent: number[] = [];

  constructor(cluster: ClusterConfig, o: MonitorOptions = {}) {
    super();
    this.cluster = cluster;
    this.log = (o.log ?? silentLogger).child({ cluster: cluster.name, component: 'monitor' });
    this.machineParams = { ...DEFAULT_MACHINE_PARAMS, ...o.machine };
    this.params = { minSources: cluster.detection.min_sources, suspectTimeoutMs: cluster.detection.suspect_timeout_ms };
    this.replicaCheckEveryMs = o.replicaCheckEveryMs ?? 5000;
    this.lagWarnS = o.lagWarnS ?? cluster.failover.max_lag_s;
    this.managerId = o.managerId ?? hostname();
    this.peers = o.peers;
    this.masterName = o.master ?? null;
    for (const n of secondaryCheckNodes(cluster, '')) {
      if (!cluster.nodes.some((x) => x.name === n)) throw new Error(`cluster ${cluster.name}: detection.secondary_checks names unknown node '${n}'`);
    }
    if (this.masterName && !this.node(this.masterName)) throw new Error(`cluster ${cluster.name}: no node named '${this.masterName}'`);
  }

  /** The master being watched (null before start() found it). */
  get master(): string | null {
    return this.masterName;
  }

  /** Since when (ms) this monitor has watched its current master: its creation, or the last setMaster. */
  get masterSince(): number {
    return this.masterSinceMs;
  }

  /** The reported state (Healthy, Suspect, or a verdict). */
  get state(): MachineState {
    return this.machine;
  }

  /** Each replica as last read while the master answered: IO connected or not, and lag (for the failover's gates). */
  healthyViews(): Record<string, HealthyView> {
    return Object.fromEntries(this.healthy);
  }

  /** The latest analysis (every round, reported or not). */
  get lastVerdict(): Verdict | null {
    return this.verdict;
  }

  private node(name: string): NodeConfig | undefined {
    return this.cluster.nodes.find((n) => n.name === name);
  }

  private masterNode(): NodeConfig {
    return this.node(this.masterName!)!;
  }

  private replicas(): NodeConfig[] {
    return this.cluster.nodes.filter((n) => n.name !== this.masterName);
  }

  /** Find the master if needed, then start pinging. */
  async start(): Promise<void> {
    if (this.running) return;
    if (!this.masterName) this.masterName = await this.findMaster();
    this.running = true;
    this.attach(this.masterName);
    this.log.info({ master: this.masterName, detection: this.cluster.detection }, `monitoring ${this.cluster.name}: master ${this.masterName}`);
    this.schedule(0);
  }

  /** Stop: no more pings, timers cleared, connections closed; waits for probes in flight (each bounded). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pinger?.close();
    this.pinger = null;
    await Promise.allSettled([...this.inflight]);
  }

  /** Stop judging (e.g. while a failover runs); pings continue to be skipped until resume(). */
  pause(): void {
    this.paused = true;
    this.log.info('detection paused');
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.failure = null;
    this.machine = initialState(Date.now());
    this.log.info('detection resumed');
  }

  /** Watch another node as the master (after a failover or switchover). State restarts as Healthy. */
  setMaster(name: string): void {
    if (!this.node(name)) throw new Error(`cluster ${this.cluster.name}: setMaster: no node named '${name}'`);
    const old = this.masterName;
    this.masterName = name;
    this.masterSinceMs = Date.now();
    this.machine = initialState(Date.now());
    this.failure = null;
    this.verdict = null;
    this.findingsSig = '';
    if (this.running) this.attach(name);
    this.log.info({ from: old, to: name }, `master of ${this.cluster.name} is now ${name}`);
  }

  private attach(name: string): void {
    this.epoch++;
    this.pinger?.close();
    const d = this.cluster.detection;
    this.pinger = new Pinger(this.cluster, this.node(name)!, {
      mode: d.ping_type,
      timeoutMs: d.ping_timeout_ms,
      heartbeatTable: d.heartbeat_table,
      managerId: this.managerId,
      onConnectionLost: () => this.pingSoon(),
    });
    this.pidFile = null;
    this.masterServerId = undefined;
    this.heartbeatPeriods.clear();
    this.healthy.clear();
    this.recent.length = 0;
    this.lastReplicaCheck = 0;
    // The pid file serves only the SSH host check: without it, no connection is opened to read it
    // (one connection per cluster at start and after each change of master).
    if (!this.cluster.detection.ssh_check) return;
    this.track('pidfile', async () => {
      const epoch = this.epoch;
      const pf = await readPidFile(this.cluster, this.masterNode());
      if (epoch === this.epoch && pf) this.pidFile = pf;
    });
  }

  /** The writable node that replicates from no one; an error naming the candidates otherwise. */
  private async findMaster(): Promise<string> {
    const snaps = await Promise.all(this.cluster.nodes.map((n) => readNode(this.cluster, n)));
    const writable = snaps.filter((s) => s.reachable && s.readOnly === false);
    const roots = writable.filter((s) => s.replication.length === 0 || s.replication.every((c) => c.ioState === 'No' && !c.sqlRunning));
    if (roots.length === 1) return roots[0]!.name;
    const desc = snaps.map((s) => `${s.name}: ${s.reachable ? `read_only=${s.readOnly ? 1 : 0}, ${s.replication.length ? 'replica' : 'not a replica'}` : 'unreachable'}`).join('; ');
    throw new Error(
      `cluster ${this.cluster.name}: cannot tell the master (${roots.length} writable nodes that replicate from no one). ${desc}. ` +
        'Name it explicitly or fix read_only on the replicas.',
    );
  }

  private masterRef(): MasterRef {
    const m = this.masterNode();
    const aliases = [m.name, ...(m.ssh?.host ? [m.ssh.host] : [])];
    return { name: m.name, host: m.host, port: m.port, ...(this.masterServerId !== undefined ? { serverId: this.masterServerId } : {}), aliases };
  }

  // -------------------------------------------------------------------------
  // The loop.

  private schedule(delayMs: number): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.round(), Math.max(0, delayMs));
  }

  /**
   * The master closed heir's ping connection: ping now instead of at the next interval
   * (kill -9 is seen in milliseconds, not up to interval_ms later). Nothing if a round runs.
   */
  private pingSoon(): void {
    if (!this.running || this.paused || this.inRound) return;
    this.log.info('the master closed the ping connection: pinging now');
    this.schedule(0);
  }

  private inRound = false;

  private async round(): Promise<void> {
    if (!this.running) return;
    this.inRound = true;
    try {
      await this.roundInner();
    } finally {
      this.inRound = false;
    }
  }

  private async roundInner(): Promise<void> {
    const started = Date.now();
    const interval = this.cluster.detection.interval_ms;
    if (this.paused || !this.pinger) return this.schedule(interval);
    const epoch = this.epoch;
    let ping: PingObservation;
    let early = false;
    const slow = this.failure
      ? null
      : setTimeout(() => {
          if (earlyInFlight >= EARLY_CORROBORATIONS_MAX) return;
          early = this.slowPing(epoch, started);
          if (early) earlyInFlight++;
        }, slowMarkMs(this.recent, this.cluster.detection.ping_timeout_ms));
    try {
      ping = await this.pinger.ping();
    } catch (e) {
      // Pinger.ping() reports failures as observations; anything thrown is a bug here.
      this.fault(e, 'ping');
      return this.schedule(interval);
    } finally {
      if (slow) clearTimeout(slow);
      if (early) earlyInFlight--;
    }
    if (!this.running || epoch !== this.epoch || this.paused) return this.schedule(interval);
    this.latestPing = ping;
    this.roundNo++;
    if (ping.class === 'ok') {
      this.recent.push(ping.latencyMs);
      if (this.recent.length > RECENT_PINGS) this.recent.shift();
      if (this.failure?.early) {
        this.log.info({ latencyMs: ping.latencyMs }, `slow ping of ${this.masterName} answered after ${ping.latencyMs} ms; corroboration dropped`);
      } else if (this.failure) this.log.info({ failingForMs: ping.at - this.failure.since }, 'ping answered again');
      this.failure = null;
      if (started - this.lastReplicaCheck >= this.replicaCheckEveryMs) {
        this.lastReplicaCheck = started;
        this.track('replicas-health', () => this.checkReplicaHealth(epoch));
      }
    } else {
      if (!this.failure || this.failure.early) {
        this.failure ??= newFailure(ping.at, false);
        this.failure.early = false;
        this.log.info({ ping }, `ping of ${this.masterName} failed (${ping.class}); corroborating`);
      }
      this.corroborate(epoch);
    }
    this.evaluate();
    this.schedule(started + interval - Date.now());
  }

  /**
   * The ping started at `at` is still unanswered: corroborate while it waits, so that the
   * evidence is in (or nearly) when it gives up. Dropped if it answers after all.
   */
  private slowPing(epoch: number, at: number): boolean {
    if (!this.running || this.paused || epoch !== this.epoch || this.failure) return false;
    this.failure = newFailure(at, true);
    this.log.info(`ping of ${this.masterName} unanswered after ${Date.now() - at} ms; corroborating while it waits`);
    this.corroborate(epoch);
    return true;
  }

  /** Start every corroborating probe that is not already running. */
  private corroborate(epoch: number): void {
    const d = this.cluster.detection;
    const master = this.masterNode();
    const f = this.failure!;
    const first = !f.started;
    f.started = true;
    const useful = () => epoch === this.epoch && this.failure === f && this.running;
    // Each probe stores its result, then the analysis runs on everything known. In the
    // first round every probe is awaited (f.pending) before an unconfirmed dead verdict
    // is reported. Probes that open a connection take a slot of the process's budget
    // (budget.ts): the first round waits for one, later rounds skip a probe when none is free.
    const probe = <T>(key: string, run: () => Promise<T>, store: (r: T) => void, opens = true) => {
      if (this.busy.has(key)) return;
      let release: Release | null = null;
      if (opens && !first) {
        release = corroborationBudget.tryAcquire();
        if (!release) return;
      }
      this.once_(key, async () => {
        let r: T;
        try {
          if (opens && !release) release = await corroborationBudget.acquire();
          if (!useful()) return;
          r = await run();
        } finally {
          release?.();
          f.pending.delete(key);
        }
        if (!useful()) return;
        store(r);
        // While the ping may still answer, results wait for its outcome (the round evaluates).
        if (!f.early) this.evaluate();
      });
      if (first) f.pending.add(key);
    };
    // A bare TCP connection and the server's greeting: no TLS, no session; outside the budget.
    probe('tcp', () => tcpProbe(master.host, master.port, d.ping_timeout_ms), (r) => (f.tcp = r), false);
    probe('reprobe', () => reprobe(this.cluster, master, d.ping_timeout_ms), (r) => (f.reprobe = r));
    for (const rep of this.replicas()) {
      probe(
        `read ${rep.name}`,
        () => readNode(this.cluster, rep),
        (snap) => {
          // The first read since the failure began and the latest two: silence is measured
          // from the first, so it can span two heartbeat periods however long that takes.
          const list = f.reads.get(rep.name) ?? [];
          list.push(snap);
          if (list.length > 3) list.splice(1, 1);
          f.reads.set(rep.name, list);
        },
      );
    }
    if (d.ssh_check) {
      probe('ssh', () => hostCheck(this.cluster, master, { pidFile: this.pidFile, probeTimeoutMs: d.ping_timeout_ms }), (r) => (f.host = r));
    }
    for (const name of secondaryCheckNodes(this.cluster, this.masterName!)) {
      const from = this.node(name)!;
      // A SYN-ACK between hosts of one VPC takes well under a millisecond: half the ping's
      // timeout is ample, and with the SSH connection in front the answer is in by the time
      // the ping gives up.
      probe(`secondary ${name}`, () => secondaryCheck(this.cluster, from, master, secondaryProbeTimeoutMs(d.ping_timeout_ms)), (r) => f.secondary.set(name, r));
    }
  }

  /** Run a probe, marked in flight under its key (the caller checked none was). */
  private once_(key: string, fn: () => Promise<void>): void {
    this.busy.add(key);
    this.track(key, async () => {
      try {
        await fn();
      } finally {
        this.busy.delete(key);
      }
    });
  }

  private track(what: string, fn: () => Promise<void>): void {
    const p = fn().catch((e) => this.fault(e, what));
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** An unexpected failure inside the monitor: logged, and emitted as 'error' when someone listens. */
  private fault(e: unknown, what: string): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.log.error({ err, what }, `monitor ${what} failed unexpectedly: ${err.message}`);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /** Another manager published a view of the master: while a failure is being corroborated, judge again with it. */
  reconsider(): void {
    if (!this.running || this.paused || !this.failure || this.failure.early) return;
    this.evaluate();
  }

  /** Current observations → analysis → state machine → events. */
  private evaluate(): void {
    if (!this.latestPing || !this.masterName || this.paused) return;
    const now = Date.now();
    const f = this.failure?.early ? null : this.failure;
    const obs: Observations = {
      cluster: this.cluster.name,
      master: this.masterName,
      now,
      ping: this.latestPing,
      firstFailureAt: f?.since ?? null,
      pending: f ? [...f.pending] : [],
      tcp: f?.tcp ?? null,
      reprobe: f?.reprobe ?? null,
      replicas: f ? this.replicaSights(f) : [],
      host: this.cluster.detection.ssh_check ? (f?.host ?? undefined) : null,
      secondary: f ? [...f.secondary.values()] : [],
      managers:
        f && this.peers
          ? managerSights(this.peers.views(), { self: this.peers.self, master: this.masterName, now, firstFailureAt: f.since, maxAgeMs: this.peers.maxAgeMs })
          : [],
    };
    const v = analyze(obs, this.params);
    this.verdict = v;
    const { state, change } = step(this.machine, v, this.machineParams, this.roundNo);
    this.machine = state;
    this.emit('round', { type: 'round', cluster: v.cluster, master: v.master, at: now, ping: obs.ping, verdict: v.kind, failoverAllowed: v.failoverAllowed, failingSince: f?.since ?? null });
    if (!change) return;
    const ev: VerdictEvent = {
      type: 'verdict',
      cluster: v.cluster,
      master: v.master,
      at: change.at,
      from: change.from,
      verdict: change.to,
      failoverAllowed: change.failoverAllowed,
      alert: change.alert,
      firstFailureAt: f?.since ?? null,
      rule: v.rule,
      because: v.because,
      reason: v.reason,
      confirmedBy: v.confirmedBy,
      evidence: v.evidence,
      detail: v,
    };
    const line = { event: 'verdict', from: ev.from, to: ev.verdict, failoverAllowed: ev.failoverAllowed, rule: ev.rule, reason: ev.reason, confirmedBy: ev.confirmedBy, evidence: ev.evidence, failingForMs: v.failingForMs };
    const msg = `${this.cluster.name}: master ${ev.master} ${ev.from} → ${ev.verdict}${ev.verdict !== v.kind ? ` (analysis: ${v.kind})` : ''}: ${ev.reason}`;
    if (ev.failoverAllowed) this.log.error(line, msg);
    else if (ev.alert && ev.verdict !== 'Healthy') this.log.warn(line, msg);
    else this.log.info(line, msg);
    this.emit('verdict', ev);
  }

  /** What each replica's reads since the failure began say of the master (only during a failure). */
  private replicaSights(f: Failure): ReplicaSight[] {
    const ref = this.masterRef();
    return this.replicas().map((r) => replicaSight(r.name, f.reads.get(r.name) ?? [], ref, f.since, this.heartbeatPeriods.get(r.name) ?? null, this.healthy.get(r.name)));
  }

  /**
   * A read of every node taken elsewhere (the daemon's status refresh) serves as the
   * healthy-time replica read, so the servers are not read twice. Ignored unless the master
   * answers in it and no failure is being corroborated.
   */
  observeTopology(snap: TopologySnapshot): void {
    if (!this.running || this.paused || this.failure || !this.masterName) return;
    const m = snap.nodes.find((n) => n.name === this.masterName);
    if (!m?.reachable) return;
    const reps = this.replicas().map((r) => snap.nodes.find((n) => n.name === r.name));
    if (reps.some((r) => r === undefined)) return;
    this.lastReplicaCheck = Date.now();
    this.absorbHealth(m, reps as NodeSnapshot[]);
  }

  /** Healthy-time read of the replicas (and master): findings, heartbeat periods, master's server id. */
  private async checkReplicaHealth(epoch: number): Promise<void> {
    const master = this.masterNode();
    const [m, ...reps] = await Promise.all([readNode(this.cluster, master), ...this.replicas().map((r) => readNode(this.cluster, r))]);
    if (epoch !== this.epoch || !this.running) return;
    this.absorbHealth(m!, reps);
  }

  private absorbHealth(m: NodeSnapshot, reps: NodeSnapshot[]): void {
    const master = this.masterNode();
    if (m.reachable && m.serverId !== undefined) this.masterServerId = m.serverId;
    const errant: Record<string, string> = {};
    if (m.reachable) for (const r of reps) if (r.reachable) errant[r.name] = errantGtids(r, m);
    const findings = replicaFindings(reps, this.masterRef(), { lagWarnS: this.lagWarnS, errant });
    // Each replica's heartbeat period comes with its snapshot (the channel to the master).
    const ref = this.masterRef();
    for (const r of reps) {
      const ch = r.reachable ? channelToMaster(r, ref) : undefined;
      const s = ch?.heartbeatPeriodS;
      this.heartbeatPeriods.set(r.name, s !== null && s !== undefined && s > 0 ? Math.round(s * 1000) : null);
      // Read while the master answered: what a later failure is compared with.
      if (r.reachable && m.reachable) {
        const connected = ch?.ioState === 'Yes';
        const runs = connected ? 0 : (this.healthy.get(r.name)?.disconnectedChecks ?? 0) + 1;
        this.healthy.set(r.name, {
          at: r.takenAt,
          connected,
          lagS: ch ? ch.secondsBehind : null,
          disconnectedChecks: runs,
          stoppedCleanly: ch?.ioState === 'No' && ch.lastIoErrno === 0,
        });
      }
    }
    const sig = findingsKey(findings);
    if (sig !== this.findingsSig) {
      this.findingsSig = sig;
      const ev: ReplicasEvent = { type: 'replicas', cluster: this.cluster.name, master: master.name, at: Date.now(), findings };
      if (findings.length) this.log.warn({ event: 'replicas', findings }, `${this.cluster.name}: replica findings: ${findings.map((x) => `${x.replica} ${x.kind}`).join(', ')}`);
      else this.log.info({ event: 'replicas', findings }, `${this.cluster.name}: all replicas healthy`);
      this.emit('replicas', ev);
    }
  }
}
