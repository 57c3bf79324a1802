/**
 * What a cluster's runtime asks of manager high availability, and nothing more: may this
 * manager act on the cluster now; the fenced check before each mutating step; publish this
 * manager's view of the master and read the others' (a source of the verdict); what status
 * and metrics show. Without heir.ha the runtime has no ClusterHa and acts alone.
 */
import type { Logger } from '../util/log';
import type { PeerView } from '../monitor/types';
import { peerLostAt, viewMaxAgeMs, viewPublishDue, viewRefreshMs, type MasterView } from './decide';
import { errorText } from './etcd';
import type { HaSession } from './leadership';
import type { FailoverStore } from '../failover/store';
import { EtcdFailoverStore } from './etcd-store';
import type { ConfigMismatch } from './config-digest';

/** Manager high availability of one cluster, as `heir status` shows it. */
export interface HaClusterStatus {
  /** This manager. */
  manager: string;
  /** The manager that leads the cluster, null when none is known (etcd unreachable, election under way). */
  leader: string | null;
  /** When the leader took the leadership (ISO), null when unknown. */
  leaderSince: string | null;
  /** This manager leads: how long ago etcd last confirmed its lease (ms); null otherwise. */
  leaseConfirmedMsAgo: number | null;
  /** Why this manager may not act now (not the leader, lease unconfirmed, etcd down); null when it may. */
  whyNot: string | null;
  /** Managers known: this one, the leader, and every one with a published view. */
  managers: string[];
  /** Every manager's latest view of the master, with its age. */
  views: (MasterView & { ageMs: number })[];
  /** How old a view may be to count in the verdict (ms). */
  viewMaxAgeMs: number;
  etcd: { reachable: boolean; lastOkAt: string | null; lastErrorAt: string | null; lastError: string | null };
  /**
   * This manager leads: the other managers whose configuration of the cluster differs from its
   * own, or lacks the cluster (from their records in etcd). Empty otherwise.
   */
  configMismatches: (ConfigMismatch & { text: string })[];
}

export interface ClusterHa {
  /** This manager's id (heir.ha.manager_id). */
  readonly manager: string;
  /** The cluster's journals, lock, anti-flapping state and acknowledgements, in etcd: what every manager sees. */
  readonly store: FailoverStore;
  /**
   * Called each time this manager becomes the cluster's leader (and at once when it leads
   * already): the moment to take up what another manager, or this one, left unfinished.
   */
  onElected(fn: () => void): void;
  /** Why this manager may not act on the cluster now (not the leader, lease not confirmed, etcd down), or undefined when it may. */
  whyNot(): string | undefined;
  /** Whether the refusal is only that another manager leads (nothing to alert about). */
  follower(): boolean;
  /**
   * Before each mutating step: records the step in etcd in a transaction fenced on this
   * manager's leadership. Throws (NotLeaderError, StoreUnavailableError) when it may not act.
   */
  beforeMutation(what: string): Promise<void>;
  /**
   * Publish this manager's view of the master: at once when it changed, else every
   * viewRefreshMs (failures are logged, not thrown).
   */
  publishView(master: string, reachable: boolean, verdict: string, failingSince: number | null): void;
  /** The other managers' latest views (for the monitor; this manager's own is included and skipped there). */
  peerViews(): PeerView[];
  /** How old a view may be to count. */
  viewMaxAgeMs(): number;
  /** Called whenever a manager's view changes. */
  onViews(fn: () => void): void;
  status(): HaClusterStatus;
  /** The leader's latest comparison of the other managers' configurations with its own (for status). */
  setConfigMismatches(list: (ConfigMismatch & { text: string })[]): void;
  /** Stop watching the views. */
  stop(): Promise<void>;
}

/** `stateDir`: where this manager keeps the whole reports (its state_dir); their index is in etcd. */
export function clusterHa(s: HaSession, cluster: string, log: Logger, intervalMs: () => number, stateDir: string): ClusterHa {
  const l = s.leadership(cluster);
  let viewsChanged: () => void = () => undefined;
  const watch = s.watchViews(cluster, () => viewsChanged());
  l.on('elected', () => log.info({ cluster, manager: s.manager }, `${s.manager} leads cluster ${cluster}: it alone may fail over, switch over, fence and move the address`));
  l.on('lost', (why: string) => log.warn({ cluster, manager: s.manager }, `${s.manager} no longer leads cluster ${cluster}: ${why}`));
  l.on('leader', (who: string | undefined) => {
    if (who && who !== s.manager) log.info({ cluster, leader: who }, `cluster ${cluster} is led by ${who}`);
  });
  // etcd down: the campaign retries twice a second; say so at most every 30 s.
  let unavailableLoggedAt = 0;
  l.on('unavailable', (why: string) => {
    s.noteEtcd(false, why);
    if (Date.now() - unavailableLoggedAt < 30_000) return;
    unavailableLoggedAt = Date.now();
    log.warn({ cluster }, `leadership of cluster ${cluster}: ${why}; no manager may act on it until etcd answers`);
  });
  let last: { view: MasterView; sentAt: number } | undefined;
  let inFlight = false;
  let lastError = '';
  const store = new EtcdFailoverStore(s, stateDir, { log: log.child({ cluster }) });
  let mismatches: (ConfigMismatch & { text: string })[] = [];
  return {
    manager: s.manager,
    store,
    onElected(fn) {
      l.on('elected', () => fn());
      if (l.state().role === 'leader') fn();
    },
    whyNot: () => l.mayMutate().reason,
    follower: () => l.state().role === 'follower',
    beforeMutation: (what) =>
      l.fenced(`${what} (cluster ${cluster})`, [
        { type: 'put', key: `${s.keys.cluster(cluster)}last-action`, value: JSON.stringify({ manager: s.manager, what, at: new Date().toISOString() }) },
      ]),
    publishView(master, reachable, verdict, failingSince) {
      const now = Date.now();
      const view: MasterView = {
        manager: s.manager,
        cluster,
        master,
        reachable,
        verdict,
        at: new Date(now).toISOString(),
        ...(failingSince !== null ? { failingSince: new Date(failingSince).toISOString() } : {}),
      };
      // One write at a time: a change seen while one is in flight goes with the next round.
      const lostAt = peerLostAt(watch.views(), s.manager, master);
      if (inFlight || !viewPublishDue(last, view, now, viewRefreshMs(intervalMs()), lostAt)) return;
      inFlight = true;
      const { manager: _self, ...rest } = view;
      s.publishView(rest).then(
        () => {
          last = { view, sentAt: now };
          lastError = '';
        },
        (e) => {
          const m = errorText(e);
          if (m !== lastError) log.warn({ cluster }, `cannot publish the view of ${cluster}'s master: ${m}`);
          lastError = m;
        },
      ).finally(() => {
        inFlight = false;
      });
    },
    peerViews: () =>
      watch.views().map((v) => ({
        manager: v.manager,
        master: v.master,
        reachable: v.reachable,
        verdict: v.verdict,
        at: Date.parse(v.at),
        failingSince: v.failingSince ? Date.parse(v.failingSince) : null,
      })),
    viewMaxAgeMs: () => viewMaxAgeMs(intervalMs()),
    onViews(fn) {
      viewsChanged = fn;
    },
    status(): HaClusterStatus {
      const now = Date.now();
      const st = l.state();
      const rec = l.leaderRecord();
      const views = watch
        .views()
        .map((v) => ({ ...v, ageMs: Math.max(0, now - Date.parse(v.at)) }))
        .sort((a, b) => a.manager.localeCompare(b.manager));
      const leader = st.role === 'leader' ? s.manager : st.role === 'follower' ? (st.leader ?? null) : null;
      const managers = [...new Set([s.manager, ...(leader ? [leader] : []), ...views.map((v) => v.manager)])].sort();
      const h = s.health;
      const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
      return {
        manager: s.manager,
        leader,
        leaderSince: leader && rec?.manager === leader ? rec.since : null,
        leaseConfirmedMsAgo: st.role === 'leader' ? Math.max(0, Math.round(performance.now() - st.confirmedSentAt)) : null,
        whyNot: l.mayMutate().reason ?? null,
        managers,
        views,
        viewMaxAgeMs: viewMaxAgeMs(intervalMs()),
        etcd: { reachable: h.lastOkAt !== null && (h.lastErrorAt === null || h.lastOkAt > h.lastErrorAt), lastOkAt: iso(h.lastOkAt), lastErrorAt: iso(h.lastErrorAt), lastError: h.lastError },
        configMismatches: st.role === 'leader' ? mismatches : [],
      };
    },
    setConfigMismatches(list) {
      mismatches = list;
    },
    stop: () => watch.stop(),
  };
}
