/**
 * Prometheus metrics of the daemon (served at GET /metrics by src/daemon/api.ts).
 *
 * One registry per HeirMetrics instance (never prom-client's global one), so tests and a reloaded
 * daemon do not collide. Everything is labelled by cluster (and node where it applies); the small
 * functions below are the only way the rest of heir touches metrics, so names and labels stay in one
 * place. When a cluster leaves the configuration (SIGHUP), forgetCluster() drops its series.
 *
 * Facts of the whole process live in one more registry, made once per process (processRegistry)
 * and exposed by every HeirMetrics: Node's default metrics under their usual names
 * (process_cpu_seconds_total, nodejs_heap_size_used_bytes, ... as stock dashboards expect; their
 * collectors, an event-loop delay monitor and a GC observer, run once however many HeirMetrics
 * there are), heir_build_info, and the Alibaba Cloud API calls (src/eni/observe.ts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { heirRevision, heirVersion } from '../cli/version';
import { onCloudCall } from '../eni/observe';
import type { HaClusterStatus } from '../ha/cluster-ha';
import { corroborationBudget } from '../monitor/budget';

export type FailoverResult = 'success' | 'failure' | 'aborted';
/** failover.auto_rejoin outcomes. */
export type RejoinMetricResult = 'rejoined' | 'kept-fenced' | 'failed';
export type SwitchoverResult = 'success' | 'failure' | 'aborted';
export type AddressMoveStep = 'fence' | 'attach';
export type AddressMoveResult = 'success' | 'failure';
export type WebhookResult = 'delivered' | 'retry' | 'failed';

/** Latency of one health probe of a node, seconds. */
const PING_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Failover and switchover durations, seconds. */
const DURATION_BUCKETS = [1, 2, 5, 10, 15, 20, 30, 45, 60, 120, 300];
/** Write pause of a switchover (old master read-only until the new one is writable), seconds. */
const PAUSE_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30];
/** One Alibaba Cloud API call, seconds (read timeouts are 10 s by default). */
const CLOUD_CALL_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

let processRegistry: Registry | undefined;

/** The registry of process-wide series, made on first use; the same for every HeirMetrics. */
export function processMetrics(): Registry {
  if (processRegistry) return processRegistry;
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'heir_build_info',
    help: 'Always 1; the labels say which heir runs: version, git revision (empty when not run from a checkout), Node.js version.',
    labelNames: ['version', 'revision', 'nodejs_version'],
    registers,
  }).set({ version: heirVersion(), revision: heirRevision() ?? '', nodejs_version: process.version }, 1);
  new Gauge({
    name: 'heir_corroboration_probes',
    help: "Corroborating probes that open a connection (reprobe, replica reads, SSH, secondary checks), all clusters together: running (at most heir_corroboration_probes_max) or queued (a failure's first round waiting for a slot). A lasting queue means this manager is saturated.",
    labelNames: ['state'],
    registers,
    collect() {
      this.set({ state: 'running' }, corroborationBudget.running);
      this.set({ state: 'queued' }, corroborationBudget.queued);
    },
  });
  new Gauge({
    name: 'heir_corroboration_probes_max',
    help: 'How many corroborating probes that open a connection may run at once in this process.',
    registers,
  }).set(corroborationBudget.max);
  const calls = new Counter({
    name: 'heir_cloud_api_requests_total',
    help: 'Alibaba Cloud API calls, by action and outcome (success, or the failure: api, network, timeout, credentials, config); every retry is a call.',
    labelNames: ['action', 'outcome'],
    registers,
  });
  const durations = new Histogram({
    name: 'heir_cloud_api_request_duration_seconds',
    help: 'Duration of Alibaba Cloud API calls, by action and outcome.',
    labelNames: ['action', 'outcome'],
    buckets: CLOUD_CALL_BUCKETS,
    registers,
  });
  onCloudCall((action, outcome, seconds) => {
    const labels = { action, outcome };
    calls.inc(labels);
    durations.observe(labels, seconds);
  });
  return (processRegistry = registry);
}

type Labels = Record<string, string>;
interface Seriesful {
  remove(labels: Labels): void;
}

export class HeirMetrics {
  readonly registry: Registry;
  /** The process-wide registry exposed with this one (none in tests that ask for no default metrics). */
  private readonly process: Registry | null;

  private readonly nodeUpG: Gauge<'cluster' | 'node'>;
  private readonly nodeMasterG: Gauge<'cluster' | 'node'>;
  private readonly lagG: Gauge<'cluster' | 'node'>;
  private readonly pingH: Histogram<'cluster' | 'node'>;
  private readonly verdictG: Gauge<'cluster' | 'verdict'>;
  private readonly blockedG: Gauge<'cluster'>;
  private readonly failoversC: Counter<'cluster' | 'result'>;
  private readonly failoverDurH: Histogram<'cluster' | 'result'>;
  private readonly switchoversC: Counter<'cluster' | 'result'>;
  private readonly switchoverDurH: Histogram<'cluster' | 'result'>;
  private readonly switchoverPauseH: Histogram<'cluster'>;
  private readonly addressMovesC: Counter<'cluster' | 'step' | 'result'>;
  private readonly webhooksC: Counter<'cluster' | 'type' | 'result'>;
  private readonly rejoinsC: Counter<'cluster' | 'result'>;

  /** Every label set written per cluster, so forgetCluster() can remove them. */
  private readonly seen = new Map<string, Map<string, { metric: Seriesful; labels: Labels }>>();
  private readonly verdicts = new Map<string, string>();
  /**
   * Label sets of the per-ping series (node up, ping latency), tracked once: a ping result is
   * recorded every interval for every cluster (1000 a second with 1000 clusters), and building
   * and tracking the label set on each call was a quarter of the daemon's allocations.
   * Emptied with the cluster's series (clusterConfigured, forgetCluster).
   */
  private readonly probeLabels = new Map<string, Map<string, Labels>>();

  constructor(o: { defaultMetrics?: boolean } = {}) {
    this.registry = new Registry();
    const registers = [this.registry];
    this.process = (o.defaultMetrics ?? true) ? processMetrics() : null;

    this.nodeUpG = new Gauge({
      name: 'heir_node_up',
      help: '1 when the last health probe of the node succeeded, 0 when it failed.',
      labelNames: ['cluster', 'node'],
      registers,
    });
    this.nodeMasterG = new Gauge({
      name: 'heir_node_master',
      help: '1 for the node heir considers the cluster master, 0 for the others.',
      labelNames: ['cluster', 'node'],
      registers,
    });
    this.lagG = new Gauge({
      name: 'heir_replication_lag_seconds',
      help: 'Replication lag of a replica as last read (Seconds_Behind_Source); absent when unknown.',
      labelNames: ['cluster', 'node'],
      registers,
    });
    this.pingH = new Histogram({
      name: 'heir_ping_latency_seconds',
      help: 'Latency of successful health probes of a node.',
      labelNames: ['cluster', 'node'],
      buckets: PING_BUCKETS,
      registers,
    });
    this.verdictG = new Gauge({
      name: 'heir_cluster_verdict',
      help: 'Current detection verdict of the cluster: one series with value 1, labelled with the verdict.',
      labelNames: ['cluster', 'verdict'],
      registers,
    });
    this.blockedG = new Gauge({
      name: 'heir_cluster_blocked',
      help: '1 while automatic failover of the cluster is blocked (recent failover, interrupted journal) until acknowledged.',
      labelNames: ['cluster'],
      registers,
    });
    this.failoversC = new Counter({
      name: 'heir_failovers_total',
      help: 'Failovers run, by result.',
      labelNames: ['cluster', 'result'],
      registers,
    });
    this.failoverDurH = new Histogram({
      name: 'heir_failover_duration_seconds',
      help: 'Time from the dead verdict to the new master reachable through the address.',
      labelNames: ['cluster', 'result'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.switchoversC = new Counter({
      name: 'heir_switchovers_total',
      help: 'Planned switchovers run, by result.',
      labelNames: ['cluster', 'result'],
      registers,
    });
    this.switchoverDurH = new Histogram({
      name: 'heir_switchover_duration_seconds',
      help: 'Duration of a switchover from start to finish.',
      labelNames: ['cluster', 'result'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.switchoverPauseH = new Histogram({
      name: 'heir_switchover_pause_seconds',
      help: 'Write pause of a successful switchover: old master read-only until the new one accepts writes.',
      labelNames: ['cluster'],
      buckets: PAUSE_BUCKETS,
      registers,
    });
    this.addressMovesC = new Counter({
      name: 'heir_address_moves_total',
      help: 'Address mover operations (fence: take the address from the old master; attach: give it to the new one), by result.',
      labelNames: ['cluster', 'step', 'result'],
      registers,
    });
    this.rejoinsC = new Counter({
      name: 'heir_auto_rejoins_total',
      help: 'Automatic rejoins of a returning old master (failover.auto_rejoin), by result: rejoined, kept-fenced (it has transactions the master lacks, or rejoin refused it), failed.',
      labelNames: ['cluster', 'result'],
      registers,
    });
    this.webhooksC = new Counter({
      name: 'heir_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by webhook type and result (retry: an attempt failed and will be retried).',
      labelNames: ['cluster', 'type', 'result'],
      registers,
    });
  }

  /**
   * heir.ha: leadership, etcd's health and the age of every manager's view, read from `source`
   * at each scrape (nothing to keep in step; a cluster gone from the configuration is gone
   * from the source). Not registered without heir.ha.
   */
  enableHa(source: () => { cluster: string; ha: HaClusterStatus }[]): void {
    if (this.haEnabled) return;
    this.haEnabled = true;
    const registers = [this.registry];
    new Gauge({
      name: 'heir_ha_leader',
      help: 'heir.ha: 1 for the manager that leads the cluster, 0 for every other manager known (this one, those with a published view).',
      labelNames: ['cluster', 'manager'],
      registers,
      collect() {
        this.reset();
        for (const { cluster, ha } of source()) for (const m of ha.managers) this.set({ cluster, manager: m }, m === ha.leader ? 1 : 0);
      },
    });
    new Gauge({
      name: 'heir_ha_lease_confirmed_age_seconds',
      help: "heir.ha: clusters this manager leads: seconds since etcd last confirmed its leadership lease (it stops acting before lease_ttl_s minus a margin).",
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const { cluster, ha } of source()) if (ha.leaseConfirmedMsAgo !== null) this.set({ cluster }, ha.leaseConfirmedMsAgo / 1000);
      },
    });
    new Gauge({
      name: 'heir_ha_view_age_seconds',
      help: "heir.ha: age of each manager's latest published view of the cluster's master (views older than heir_ha_view_max_age_seconds count for nothing).",
      labelNames: ['cluster', 'manager'],
      registers,
      collect() {
        this.reset();
        for (const { cluster, ha } of source()) for (const v of ha.views) this.set({ cluster, manager: v.manager }, v.ageMs / 1000);
      },
    });
    new Gauge({
      name: 'heir_ha_view_reachable',
      help: "heir.ha: each manager's latest view of the cluster's master: 1 it reaches the master, 0 it does not.",
      labelNames: ['cluster', 'manager'],
      registers,
      collect() {
        this.reset();
        for (const { cluster, ha } of source()) for (const v of ha.views) this.set({ cluster, manager: v.manager }, v.reachable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'heir_ha_view_max_age_seconds',
      help: 'heir.ha: how old a view may be to count in the verdict (one refresh period and two detection intervals).',
      labelNames: ['cluster'],
      registers,
      collect() {
        this.reset();
        for (const { cluster, ha } of source()) this.set({ cluster }, ha.viewMaxAgeMs / 1000);
      },
    });
    const etcd = () => source()[0]?.ha.etcd;
    new Gauge({
      name: 'heir_ha_etcd_up',
      help: "heir.ha: 1 when etcd's last answer to this manager is newer than its last failure, else 0.",
      registers,
      collect() {
        const e = etcd();
        this.reset();
        if (e) this.set(e.reachable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'heir_ha_etcd_last_error_age_seconds',
      help: 'heir.ha: seconds since etcd last failed a request of this manager (absent when it never did).',
      registers,
      collect() {
        const e = etcd();
        this.reset();
        if (e?.lastErrorAt) this.set(Math.max(0, (Date.now() - Date.parse(e.lastErrorAt)) / 1000));
      },
    });
  }

  private haEnabled = false;

  /** Content-Type of metrics(). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric, the process-wide ones first. */
  async metrics(): Promise<string> {
    const own = await this.registry.metrics();
    return this.process ? `${await this.process.metrics()}\n${own}` : own;
  }

  /**
   * A cluster was (re)configured: start its counters at zero so rate() and alerts work before the
   * first event, and drop series of nodes no longer in it.
   */
  clusterConfigured(cluster: string, nodes: string[]): void {
    const keep = new Set(nodes);
    this.probeLabels.delete(cluster);
    const seen = this.seen.get(cluster);
    if (seen) {
      for (const [key, s] of seen) {
        if (s.labels.node !== undefined && !keep.has(s.labels.node)) {
          s.metric.remove(s.labels);
          seen.delete(key);
        }
      }
    }
    for (const result of ['success', 'failure'] as const) {
      this.failoversC.labels(this.track(this.failoversC, { cluster, result })).inc(0);
      this.switchoversC.labels(this.track(this.switchoversC, { cluster, result })).inc(0);
      for (const step of ['fence', 'attach'] as const) this.addressMovesC.labels(this.track(this.addressMovesC, { cluster, step, result })).inc(0);
    }
    for (const result of ['rejoined', 'kept-fenced', 'failed'] as const) this.rejoinsC.labels(this.track(this.rejoinsC, { cluster, result })).inc(0);
    if (!this.seen.get(cluster)?.has(key(this.blockedG, { cluster }))) this.blockedG.labels(this.track(this.blockedG, { cluster })).set(0);
  }

  /** The cluster left the configuration: remove all its series. */
  forgetCluster(cluster: string): void {
    const seen = this.seen.get(cluster);
    if (seen) for (const s of seen.values()) s.metric.remove(s.labels);
    this.seen.delete(cluster);
    this.verdicts.delete(cluster);
    this.probeLabels.delete(cluster);
  }

  /** Result of one health probe; latencySeconds only for a successful one. */
  nodeProbe(cluster: string, node: string, up: boolean, latencySeconds?: number): void {
    let byNode = this.probeLabels.get(cluster);
    if (!byNode) this.probeLabels.set(cluster, (byNode = new Map()));
    let labels = byNode.get(node);
    if (!labels) {
      labels = { cluster, node };
      this.track(this.nodeUpG, labels);
      this.track(this.pingH, labels);
      byNode.set(node, labels);
    }
    this.nodeUpG.set(labels, up ? 1 : 0);
    if (up && latencySeconds !== undefined && Number.isFinite(latencySeconds) && latencySeconds >= 0) {
      this.pingH.observe(labels, latencySeconds);
    }
  }

  /** Replication lag of a replica in seconds; null when unknown (SQL thread stopped, unreachable, the master). */
  replicationLag(cluster: string, node: string, seconds: number | null): void {
    if (seconds === null || !Number.isFinite(seconds)) {
      this.lagG.remove({ cluster, node });
      this.seen.get(cluster)?.delete(key(this.lagG, { cluster, node }));
      return;
    }
    this.lagG.labels(this.track(this.lagG, { cluster, node })).set(seconds);
  }

  /** Which node is the master now (after start, failover or switchover); null when there is none. */
  master(cluster: string, master: string | null, nodes: string[]): void {
    for (const node of nodes) this.nodeMasterG.labels(this.track(this.nodeMasterG, { cluster, node })).set(node === master ? 1 : 0);
  }

  /** The current detection verdict (e.g. 'healthy', 'master-dead', ...): one series per cluster. */
  verdict(cluster: string, verdict: string): void {
    const previous = this.verdicts.get(cluster);
    if (previous !== undefined && previous !== verdict) {
      this.verdictG.remove({ cluster, verdict: previous });
      this.seen.get(cluster)?.delete(key(this.verdictG, { cluster, verdict: previous }));
    }
    this.verdicts.set(cluster, verdict);
    this.verdictG.labels(this.track(this.verdictG, { cluster, verdict })).set(1);
  }

  /** Automatic failover blocked (true) or allowed again (false). */
  blocked(cluster: string, isBlocked: boolean): void {
    this.blockedG.labels(this.track(this.blockedG, { cluster })).set(isBlocked ? 1 : 0);
  }

  /** A failover ended. durationSeconds: dead verdict → new master reachable through the address. */
  failover(cluster: string, result: FailoverResult, durationSeconds: number): void {
    this.failoversC.labels(this.track(this.failoversC, { cluster, result })).inc();
    if (Number.isFinite(durationSeconds) && durationSeconds >= 0) {
      this.failoverDurH.labels(this.track(this.failoverDurH, { cluster, result })).observe(durationSeconds);
    }
  }

  /** A switchover ended. pauseSeconds: write pause, for a successful one. */
  switchover(cluster: string, result: SwitchoverResult, durationSeconds: number, pauseSeconds?: number): void {
    this.switchoversC.labels(this.track(this.switchoversC, { cluster, result })).inc();
    if (Number.isFinite(durationSeconds) && durationSeconds >= 0) {
      this.switchoverDurH.labels(this.track(this.switchoverDurH, { cluster, result })).observe(durationSeconds);
    }
    if (pauseSeconds !== undefined && Number.isFinite(pauseSeconds) && pauseSeconds >= 0) {
      this.switchoverPauseH.labels(this.track(this.switchoverPauseH, { cluster })).observe(pauseSeconds);
    }
  }

  /** One fence or attach of the address mover ended. */
  addressMove(cluster: string, step: AddressMoveStep, result: AddressMoveResult): void {
    this.addressMovesC.labels(this.track(this.addressMovesC, { cluster, step, result })).inc();
  }

  /** One webhook delivery attempt ended. type: generic, dingtalk, wecom, feishu, slack. */
  /** An automatic rejoin ended. */
  rejoin(cluster: string, result: RejoinMetricResult): void {
    this.rejoinsC.labels(this.track(this.rejoinsC, { cluster, result })).inc();
  }

  webhookDelivery(cluster: string, type: string, result: WebhookResult): void {
    this.webhooksC.labels(this.track(this.webhooksC, { cluster, type, result })).inc();
  }

  /** Remember a label set of a cluster (for forgetCluster) and return it, for metric.labels(). */
  private track(metric: Seriesful, labels: Labels): Labels {
    const cluster = labels.cluster!;
    let seen = this.seen.get(cluster);
    if (!seen) this.seen.set(cluster, (seen = new Map()));
    const k = key(metric, labels);
    if (!seen.has(k)) seen.set(k, { metric, labels });
    return labels;
  }
}

function key(metric: Seriesful, labels: Labels): string {
  const name = (metric as unknown as { name: string }).name;
  return `${name}\u0000${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000')}`;
}
