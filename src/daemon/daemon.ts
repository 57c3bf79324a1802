/**
 * `heir daemon`: one process, every cluster of the configuration.
 *
 *   start   load the config → metrics, notifier, API → one ClusterRuntime per cluster
 *           (interrupted journals reported, topology read, master found, monitor started;
 *           a bounded number at a time) → "heir ready: N clusters"
 *   SIGHUP  re-read the config; a bad one is rejected (logged, webhook, old one keeps
 *           running); otherwise only clusters whose configuration changed are started,
 *           stopped or restarted (deep comparison, config-diff.ts)
 *   SIGTERM stop detection everywhere; a failover in progress ends at its next step
 *   SIGINT  boundary before the promotion ('interrupted', see failover/execute.ts) or runs
 *           its bounded remaining steps after it, is journaled, and the process exits 0.
 *           A second signal exits at once.
 *
 * The periodic topology reads of all clusters share one scheduler (scheduler.ts) so the
 * cost stays bounded with a thousand clusters.
 */
import { ConfigError } from '../config/errors';
import { loadConfigWithWarnings } from '../config/load';
import type { ClusterConfig, HeirConfig } from '../config/schema';
import { Notifier, type DeliveryResult } from '../notify';
import type { HeirEvent } from '../notify/events';
import { loadCloudMovers, usesCloudMover } from '../eni';
import { closeSshConnections } from '../ssh';
import { createLogger, type Logger } from '../util/log';
import { ApiError, startApiServer, type ActionContext, type ActionResult, type ApiProvider, type ApiServer, type HealthInfo } from './api';
import { describeDiff, diffConfigs } from './config-diff';
import { HeirMetrics } from './metrics';
import { ClusterRuntime } from './runtime';
import { Scheduler, effectivePeriodMs, unwatchedRetryMs } from './scheduler';
import { heirVersion } from '../cli/version';
import { SystemdNotify } from './sd-notify';
import { HaSession } from '../ha/leadership';
import { clusterHa } from '../ha/cluster-ha';
import { ManagerAnnouncement, readManagerRecord, readManagerRecords } from '../ha/managers';
import { clusterDigest } from '../ha/config-digest';
import { errorText } from '../ha/etcd';
import { advertisedApiUrl } from '../config/checks';
import { leaderUrl, routeAction } from './forward';

export interface DaemonOptions {
  configPath: string;
  env?: NodeJS.ProcessEnv;
  /** Default: JSON lines on stdout at heir.log_level. */
  log?: Logger;
  /** Wanted period of the status/metrics topology read of each cluster. Default 10 s. */
  refreshPeriodMs?: number;
  /**
   * Cap on status topology reads started per second, all clusters together (each reads every
   * node with a fresh connection). Default 10: up to 100 clusters are read every 10 s, 1000
   * clusters every 100 s.
   */
  refreshMaxPerSecond?: number;
  /** Cap on topology reads at once. Default 16. */
  refreshConcurrency?: number;
  /** systemd notifications (Type=notify); default: SystemdNotify.fromEnv (none without NOTIFY_SOCKET). */
  systemd?: SystemdNotify | null;
  /** Clusters started at once at start-up and reload. Default 32. */
  startConcurrency?: number;
  /**
   * Monitor's healthy-time replica reads (findings: lag, broken replication). They read the same
   * servers as the status refresh, so by default they run at most half as often: every
   * max(30 s, 2 × the refresh period).
   */
  replicaCheckEveryMs?: number;
}

export class Daemon {
  private cfg: HeirConfig;
  private readonly log: Logger;
  private readonly metrics = new HeirMetrics();
  private readonly notifier: Notifier;
  private readonly scheduler: Scheduler;
  private readonly runtimes = new Map<string, ClusterRuntime>();
  private api: ApiServer | null = null;
  private stopping = false;
  /** Aborted by stop(): failovers in progress leave at their next step boundary before the promotion. */
  private readonly stopController = new AbortController();
  private reloading: Promise<unknown> = Promise.resolve();
  private readonly startedAt = Date.now();
  private lastReload: { at: string; ok: boolean; message: string } | null = null;
  readonly provider: ApiProvider;
  /** heir.ha: this manager's etcd session (leadership per cluster). Read at start; a reload does not change it. */
  private readonly ha: HaSession | null;
  /** heir.ha: this manager's record in etcd (its API's URL, for forwarded actions). */
  private announcement: ManagerAnnouncement | null = null;
  /** heir.ha: the periodic comparison of the managers' configurations. */
  private configCheck?: NodeJS.Timeout;

  private constructor(
    cfg: HeirConfig,
    private readonly o: DaemonOptions,
    log: Logger,
  ) {
    this.cfg = cfg;
    this.log = log;
    this.notifier = new Notifier(cfg.clusters, {
      log: log.child({ component: 'notify' }),
      userAgent: `heir/${heirVersion()}`,
      onResult: (r) => this.onDelivery(r),
    });
    this.scheduler = new Scheduler({
      periodMs: o.refreshPeriodMs ?? 10_000,
      maxPerSecond: o.refreshMaxPerSecond ?? 10,
      maxConcurrent: o.refreshConcurrency ?? 16,
      onError: (key, e) => this.log.error({ cluster: key, err: (e as Error).message }, `topology refresh of ${key} failed: ${(e as Error).message}`),
    });
    this.provider = this.makeProvider();
    this.ha = cfg.heir.ha ? new HaSession(cfg.heir.ha) : null;
    if (this.ha) {
      this.metrics.enableHa(() =>
        [...this.runtimes.values()].flatMap((r) => {
          const ha = r.haStatus();
          return ha ? [{ cluster: r.name, ha }] : [];
        }),
      );
    }
  }

  /** Load the configuration, start the API and every cluster. Throws ConfigError for a bad file. */
  static async start(o: DaemonOptions): Promise<Daemon> {
    const v = loadConfigWithWarnings(o.configPath, { env: o.env });
    const log = o.log ?? createLogger({ level: v.config.heir.log_level, name: 'heir' });
    for (const w of v.warnings) log.warn({ path: w.path, line: w.line }, `config: ${w.message}`);
    const d = new Daemon(v.config, o, log);
    await d.boot();
    return d;
  }

  private async boot(): Promise<void> {
    const c = this.cfg;
    this.log.info({ config: this.o.configPath, clusters: c.clusters.length, stateDir: c.heir.state_dir, pid: process.pid }, `heir ${heirVersion()} starting`);
    if (c.heir.ha) {
      this.log.info(
        { manager: c.heir.ha.manager_id, etcd: c.heir.ha.etcd.endpoints, leaseTtlS: c.heir.ha.lease_ttl_s },
        `manager ${c.heir.ha.manager_id}: high availability on etcd (${c.heir.ha.etcd.endpoints.join(', ')}); only a cluster's leader acts on it`,
      );
    }
    this.api = await this.startApi();
    if (this.ha) {
      const url = advertisedApiUrl(c.heir.api) ?? null;
      this.announcement = new ManagerAnnouncement(this.ha, url, this.log, digests(c.clusters)).start();
      if (url) this.log.info({ manager: this.ha.manager, api: url }, `manager ${this.ha.manager}: API advertised to the other managers at ${url}; actions on a cluster another manager leads are forwarded to its leader`);
      else this.log.warn({ manager: this.ha.manager }, `manager ${this.ha.manager}: no API address for the other managers (heir.api.listen is loopback or a wildcard; set heir.api.advertise_url): they cannot forward actions to this one when it leads`);
    }
    this.loadCloudMoversIfNeeded(c.clusters);
    await this.startClusters(c.clusters);
    this.scheduler.start();
    if (this.ha) this.startConfigCheck(this.ha);
    const watching = [...this.runtimes.values()].filter((r) => r.master !== null).length;
    this.log.info({ clusters: this.runtimes.size, watching, api: this.api.url }, `heir ready: ${this.statusLine()}`);
  }

  /** "3 clusters (1 without a known master yet; retried)": the ready log line and systemd's status. */
  statusLine(): string {
    const watching = [...this.runtimes.values()].filter((r) => r.master !== null).length;
    return `${this.runtimes.size} clusters${watching < this.runtimes.size ? ` (${this.runtimes.size - watching} without a known master yet; retried)` : ''}`;
  }

  /**
   * The Alibaba Cloud SDK is loaded only by processes that move a cloud address (src/eni), and
   * loading it takes about a second: load it now, not in the middle of a failover.
   */
  private loadCloudMoversIfNeeded(clusters: ClusterConfig[]): void {
    const cloud = clusters.filter(usesCloudMover).map((c) => c.name);
    if (cloud.length === 0) return;
    const t0 = Date.now();
    loadCloudMovers(clusters.filter(usesCloudMover).map((c) => c.address.type));
    this.log.debug({ clusters: cloud.length, ms: Date.now() - t0 }, `cloud address movers loaded (${cloud.slice(0, 3).join(', ')}${cloud.length > 3 ? ', ...' : ''})`);
  }

  get apiUrl(): string | null {
    return this.api?.url ?? null;
  }

  get config(): HeirConfig {
    return this.cfg;
  }

  runtime(name: string): ClusterRuntime | undefined {
    return this.runtimes.get(name);
  }

  private replicaCheckEveryMs(n: number): number {
    if (this.o.replicaCheckEveryMs) return this.o.replicaCheckEveryMs;
    // The status refresh's read of every node serves as the replica read (observeTopology);
    // the monitor reads on its own only when refreshes fall behind by this much.
    return Math.max(30_000, 3 * effectivePeriodMs(n, this.o.refreshPeriodMs ?? 10_000, this.o.refreshMaxPerSecond ?? 10));
  }

  private newRuntime(c: ClusterConfig): ClusterRuntime {
    return new ClusterRuntime(c, {
      global: () => this.cfg.heir,
      log: this.log,
      metrics: this.metrics,
      notify: (e) => this.notify(e),
      stopping: () => this.stopping,
      stopSignal: this.stopController.signal,
      replicaCheckEveryMs: this.replicaCheckEveryMs(this.cfg.clusters.length),
      ...(this.ha ? { ha: clusterHa(this.ha, c.name, this.log, () => c.detection.interval_ms, this.cfg.heir.state_dir) } : {}),
      refreshSoon: () => this.scheduler.soon(c.name),
    });
  }

  private async startClusters(list: ClusterConfig[]): Promise<void> {
    const queue = [...list];
    const n = Math.max(1, this.o.startConcurrency ?? 32);
    const worker = async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        if (this.stopping) return;
        const rt = this.newRuntime(c);
        this.runtimes.set(c.name, rt);
        try {
          await rt.start();
        } catch (e) {
          this.log.error({ cluster: c.name, err: (e as Error).message }, `cluster ${c.name} could not start: ${(e as Error).message}; retried at every refresh`);
        }
        // Spread the periodic reads over the period; the first one already happened. A
        // cluster not watched yet is read again sooner, backing off (unwatchedRetryMs).
        let unwatchedReads = 0;
        const afterRead = () => {
          unwatchedReads = rt.master === null ? unwatchedReads + 1 : 0;
          if (unwatchedReads > 0 && this.runtimes.get(c.name) === rt) this.scheduler.retryIn(c.name, unwatchedRetryMs(unwatchedReads - 1, this.scheduler.period, Math.random()));
        };
        this.scheduler.add(c.name, async () => {
          try {
            await rt.refresh();
          } finally {
            afterRead();
          }
        });
        afterRead();
      }
    };
    await Promise.all(Array.from({ length: Math.min(n, list.length) }, worker));
  }

  private async startApi(): Promise<ApiServer> {
    const api = this.cfg.heir.api;
    return startApiServer({
      listen: api.listen,
      token: api.token,
      provider: this.provider,
      metrics: this.metrics,
      log: this.log.child({ component: 'api' }),
      secrets: () => secretsOf(this.cfg),
      version: heirVersion(),
    });
  }

  private notify(e: HeirEvent): void {
    const n = this.notifier.enqueue(e);
    this.log.debug({ event: e.type, cluster: e.cluster, deliveries: n }, `event ${e.type}: ${e.summary}`);
  }

  private onDelivery(r: DeliveryResult): void {
    for (let i = 1; i < r.attempts; i++) this.metrics.webhookDelivery(r.cluster, r.webhookType, 'retry');
    this.metrics.webhookDelivery(r.cluster, r.webhookType, r.outcome === 'delivered' ? 'delivered' : 'failed');
  }

  /**
   * heir.ha: every CONFIG_CHECK_MS, one read of every manager's record in etcd; each cluster
   * this manager leads compares the others' configurations of it with its own.
   */
  private startConfigCheck(ha: HaSession): void {
    let running = false;
    let lastError = '';
    const check = async () => {
      if (running || this.stopping) return;
      running = true;
      try {
        const records = await readManagerRecords(ha);
        lastError = '';
        for (const rt of this.runtimes.values()) rt.checkManagerConfigs(records);
      } catch (e) {
        const m = (e as Error).message;
        if (m !== lastError) this.log.warn(`cannot compare the managers' configurations: ${m}; retried every ${CONFIG_CHECK_MS / 1000} s`);
        lastError = m;
      } finally {
        running = false;
      }
    };
    this.configCheck = setInterval(() => void check(), CONFIG_CHECK_MS);
    this.configCheck.unref();
  }

  // -------------------------------------------------------------------------------------------
  // Reload

  /** Re-read the configuration file and apply it. Serialized; never throws. */
  reload(): Promise<{ ok: boolean; message: string }> {
    const p = this.reloading.then(() => this.doReload());
    this.reloading = p.catch(() => undefined);
    return p;
  }

  private async doReload(): Promise<{ ok: boolean; message: string }> {
    if (this.stopping) return { ok: false, message: 'stopping' };
    let next: HeirConfig;
    try {
      const v = loadConfigWithWarnings(this.o.configPath, { env: this.o.env });
      next = v.config;
      for (const w of v.warnings) this.log.warn({ path: w.path, line: w.line }, `config: ${w.message}`);
    } catch (e) {
      const issues = e instanceof ConfigError ? e.issues : [{ path: '', message: (e as Error).message }];
      const message = `configuration ${this.o.configPath} rejected; the running configuration stays in force: ${(e as Error).message}`;
      this.log.error({ issues }, message);
      this.lastReload = { at: new Date().toISOString(), ok: false, message };
      this.notify({ type: 'config.rejected', cluster: '', at: new Date().toISOString(), severity: 'warning', summary: message, details: { file: this.o.configPath, issues } });
      return { ok: false, message };
    }
    const diff = diffConfigs(this.cfg, next);
    const old = this.cfg;
    this.cfg = next;
    this.loadCloudMoversIfNeeded(next.clusters);
    if (diff.logLevelChanged) this.log.level = next.heir.log_level;
    this.notifier.setClusters(next.clusters);
    const stopNames = [...diff.removed, ...diff.changed.map((c) => c.name)];
    await Promise.all(
      stopNames.map(async (name) => {
        const rt = this.runtimes.get(name);
        this.scheduler.remove(name);
        if (!rt) return;
        await rt.stop();
        this.runtimes.delete(name);
        if (diff.removed.includes(name)) {
          rt.forget();
          await this.ha?.drop(name);
        }
      }),
    );
    const byName = new Map(next.clusters.map((c) => [c.name, c]));
    await this.startClusters([...diff.changed.map((c) => byName.get(c.name)!), ...diff.added.map((n) => byName.get(n)!)]);
    if (diff.apiChanged) {
      try {
        await this.api?.close();
        this.api = await this.startApi();
        this.announcement?.setApi(advertisedApiUrl(next.heir.api) ?? null);
      } catch (e) {
        this.log.error(`API server could not start with the new heir.api settings (${(e as Error).message}); trying the previous ones`);
        this.cfg = { ...next, heir: { ...next.heir, api: old.heir.api } };
        this.api = await this.startApi().catch((e2) => {
          this.log.error(`API server could not start again: ${(e2 as Error).message}; the API is down until the next reload`);
          return null;
        });
      }
    }
    if (!diff.same) this.announcement?.setClusters(digests(next.clusters));
    const message = `configuration reloaded: ${describeDiff(diff)}`;
    this.log.info({ added: diff.added, removed: diff.removed, changed: diff.changed, unchanged: diff.unchanged.length }, message);
    this.lastReload = { at: new Date().toISOString(), ok: true, message };
    if (!diff.same) this.notify({ type: 'config.reloaded', cluster: '', at: new Date().toISOString(), severity: 'info', summary: message, details: { added: diff.added, removed: diff.removed, changed: diff.changed } });
    return { ok: true, message };
  }

  // -------------------------------------------------------------------------------------------
  // Stop

  /** Stop everything; a failover in progress ends at its next step boundary. */
  async stop(reason = 'stop requested'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.stopController.abort(new Error(`heir daemon is stopping (${reason})`));
    const busy = [...this.runtimes.values()].filter((r) => r.busy).map((r) => `${r.name} (${r.busy})`);
    this.log.info({ reason, busy }, `heir stopping: ${reason}${busy.length ? `; waiting for ${busy.join(', ')} to reach a step boundary` : ''}`);
    this.scheduler.stop();
    clearInterval(this.configCheck);
    await this.reloading.catch(() => undefined);
    await Promise.all([...this.runtimes.values()].map((r) => r.stop()));
    // Resign every leadership at once: another manager takes over without waiting for the lease.
    await this.announcement?.stop();
    await this.ha?.close();
    const { drained, dropped } = await this.notifier.close(5000);
    if (!drained) this.log.warn({ dropped }, `${dropped} webhook event(s) not delivered before exit`);
    await this.api?.close();
    this.api = null;
    // The SSH connections kept for reuse (ssh.keep_open_s) end with the daemon.
    closeSshConnections();
    this.log.info(`heir stopped (${reason})`);
  }

  // -------------------------------------------------------------------------------------------
  // The API

  private rt(name: string): ClusterRuntime {
    const r = this.runtimes.get(name);
    if (!r) throw new ApiError(404, `unknown cluster "${name}"; known: ${[...this.runtimes.keys()].join(', ')}`, 'unknown_cluster');
    return r;
  }

  private makeProvider(): ApiProvider {
    return {
      listClusters: () => [...this.runtimes.values()].map((r) => r.summary()),
      clusterStatus: (name) => this.runtimes.get(name)?.status(),
      reports: (name, limit) => this.runtimes.get(name)?.reports(limit),
      switchover: async (name, req, ctx): Promise<ActionResult> => {
        this.refuseWhileStopping();
        const r = await this.rt(name).switchover(req.to, ctx);
        return {
          ok: r.outcome === 'switched' || r.outcome === 'switched-with-errors',
          message: `${r.outcome}: ${r.summary}${r.next ? ` Next: ${r.next}` : ''}`,
          outcome: r.outcome,
          id: r.id,
          from: r.from ?? null,
          to: r.to,
          writePause: r.writePause,
          errors: r.errors,
          reportPath: r.reportPath ?? null,
          report: r,
        };
      },
      failover: async (name, req, ctx): Promise<ActionResult> => {
        this.refuseWhileStopping();
        const rt = this.rt(name);
        const dead = rt.master;
        if (!dead) throw new ApiError(409, `${name}: the daemon does not know the master (${rt.status().monitor}); use heir failover on the manager`, 'no_master');
        if (req.to && !rt.cluster.nodes.some((n) => n.name === req.to)) {
          throw new ApiError(404, `${name} has no node "${req.to}"; nodes: ${rt.cluster.nodes.map((n) => n.name).join(', ')}`, 'unknown_node');
        }
        const r = await rt.failover({
          trigger: 'manual',
          deadMaster: dead,
          ...(req.to ? { to: req.to } : {}),
          by: `api ${ctx.remote} (request ${ctx.requestId})`,
          ...(ctx.started ? { started: ctx.started } : {}),
          ...(ctx.step ? { step: ctx.step } : {}),
        });
        return {
          ok: r.outcome === 'promoted' || r.outcome === 'promoted-with-errors',
          message: `${r.outcome}: ${r.summary}`,
          outcome: r.outcome,
          id: r.id,
          deadMaster: r.deadMaster,
          newMaster: r.newMaster,
          reportPath: r.reportPath ?? null,
          warnings: r.warnings,
          next: r.next,
          report: r,
        };
      },
      ack: async (name, ctx: ActionContext) => this.rt(name).ack(ctx),
      actionTarget: async (name, action, forwardedBy) => {
        const on = this.rt(name).haRoute();
        if (!on || !this.ha) return undefined;
        const route = routeAction({ cluster: name, action, ...on, forwardedBy });
        if (route.kind === 'here') return undefined;
        if (route.kind === 'refuse') throw new ApiError(503, route.message, route.code);
        let record;
        try {
          record = await readManagerRecord(this.ha, route.leader);
        } catch (e) {
          throw new ApiError(503, `${action} of cluster ${name} not performed: ${on.self} does not lead the cluster and cannot read the API address of its leader ${route.leader}: ${errorText(e)}`, 'leader_unavailable');
        }
        const u = leaderUrl({ cluster: name, action, self: on.self, selfUrl: advertisedApiUrl(this.cfg.heir.api), leader: route.leader }, record);
        if ('code' in u) throw new ApiError(503, u.message, u.code);
        return { manager: route.leader, url: u.url, self: on.self };
      },
      health: (): HealthInfo => ({
        ok: !this.stopping,
        clusters: this.runtimes.size,
        watching: [...this.runtimes.values()].filter((r) => r.master !== null).length,
        busy: [...this.runtimes.values()].filter((r) => r.busy).map((r) => ({ cluster: r.name, operation: r.busy })),
        webhooksPending: this.notifier.pending(),
        lastReload: this.lastReload,
        startedAt: new Date(this.startedAt).toISOString(),
        pid: process.pid,
      }),
    };
  }

  private refuseWhileStopping(): void {
    if (this.stopping) throw new ApiError(503, 'heir is stopping; try again once it is back', 'stopping');
  }
}

/** Every secret value in the configuration, for scrubbing API output. */
/** heir.ha: how often a manager compares the other managers' configurations of the clusters it leads. */
const CONFIG_CHECK_MS = 5000;

/** Each cluster's configuration digest, as this manager publishes it in its record. */
function digests(clusters: ClusterConfig[]): Record<string, string> {
  return Object.fromEntries(clusters.map((c) => [c.name, clusterDigest(c)]));
}

export function secretsOf(cfg: HeirConfig): string[] {
  const out: string[] = [];
  if (cfg.heir.api.token) out.push(cfg.heir.api.token);
  for (const c of cfg.clusters) {
    out.push(c.mysql.password, c.mysql.replication_password);
    for (const w of c.webhooks) if (w.secret) out.push(w.secret);
  }
  return out.filter((s) => s && s.length >= 4);
}

/**
 * Run the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads. Resolves with the
 * exit code (0 after a clean stop). A second SIGTERM/SIGINT exits at once with 1. Signals
 * are handled from the first moment (a SIGHUP while starting must not kill the process).
 */
export async function runDaemon(o: DaemonOptions): Promise<number> {
  let d: Daemon | undefined;
  let stopSignal: NodeJS.Signals | undefined;
  let hupWhileStarting = false;
  let signals = 0;
  let wake: (() => void) | undefined;
  const stopRequested = new Promise<void>((r) => (wake = r));
  const onStop = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`heir: second ${sig}: exiting now; an operation in progress is left as its journal says (see heir status, heir ack)\n`);
      process.exit(1);
    }
    stopSignal = sig;
    wake?.();
  };
  const onHup = () => {
    if (d) void d.reload();
    else hupWhileStarting = true;
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  // Type=notify: the watchdog runs from the start (starting 1000 clusters takes tens of seconds),
  // READY=1 once every cluster's first topology read is done (Daemon.start), STOPPING=1 on SIGTERM.
  // Its own logger only when systemd asked (the daemon's comes with the configuration, later).
  const sd = o.systemd !== undefined ? o.systemd : process.env.NOTIFY_SOCKET ? SystemdNotify.fromEnv({ log: o.log ?? createLogger({ name: 'heir', level: 'info' }) }) : null;
  sd?.startWatchdog();
  try {
    d = await Daemon.start(o);
    if (hupWhileStarting && !stopSignal) void d.reload();
    await sd?.ready(d.statusLine());
    await stopRequested;
    void sd?.stopping(`stopping: ${stopSignal} received`);
    await d.stop(`${stopSignal} received`);
    return 0;
  } finally {
    sd?.close();
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
  }
}
