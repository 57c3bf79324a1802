/**
 * What a cluster's runtime asks of manager high availability, and nothing more: may this
 * manager act on the cluster now; the fenced check before each mutating step; publish this
 * manager's view of the master. Without heir.ha the runtime has no ClusterHa and acts alone.
 */
import type { Logger } from '../util/log';
import { errorText } from './etcd';
import type { HaSession } from './leadership';

export interface ClusterHa {
  /** Why this manager may not act on the cluster now (not the leader, lease not confirmed, etcd down), or undefined when it may. */
  whyNot(): string | undefined;
  /** Whether the refusal is only that another manager leads (nothing to alert about). */
  follower(): boolean;
  /**
   * Before each mutating step: records the step in etcd in a transaction fenced on this
   * manager's leadership. Throws (NotLeaderError, StoreUnavailableError) when it may not act.
   */
  beforeMutation(what: string): Promise<void>;
  /** Publish this manager's view of the master (at most once a second; failures are logged, not thrown). */
  publishView(master: string, reachable: boolean, verdict: string): void;
}

export function clusterHa(s: HaSession, cluster: string, log: Logger): ClusterHa {
  const l = s.leadership(cluster);
  l.on('elected', () => log.info({ cluster, manager: s.manager }, `${s.manager} leads cluster ${cluster}: it alone may fail over, switch over, fence and move the address`));
  l.on('lost', (why: string) => log.warn({ cluster, manager: s.manager }, `${s.manager} no longer leads cluster ${cluster}: ${why}`));
  l.on('leader', (who: string | undefined) => {
    if (who && who !== s.manager) log.info({ cluster, leader: who }, `cluster ${cluster} is led by ${who}`);
  });
  // etcd down: the campaign retries twice a second; say so at most every 30 s.
  let unavailableLoggedAt = 0;
  l.on('unavailable', (why: string) => {
    if (Date.now() - unavailableLoggedAt < 30_000) return;
    unavailableLoggedAt = Date.now();
    log.warn({ cluster }, `leadership of cluster ${cluster}: ${why}; no manager may act on it until etcd answers`);
  });
  let lastPublished = 0;
  let lastError = '';
  return {
    whyNot: () => l.mayMutate().reason,
    follower: () => l.state().role === 'follower',
    beforeMutation: (what) =>
      l.fenced(`${what} (cluster ${cluster})`, [
        { type: 'put', key: `${s.keys.cluster(cluster)}last-action`, value: JSON.stringify({ manager: s.manager, what, at: new Date().toISOString() }) },
      ]),
    publishView(master, reachable, verdict) {
      const now = Date.now();
      if (now - lastPublished < 1000) return;
      lastPublished = now;
      s.publishView({ cluster, master, reachable, verdict, at: new Date(now).toISOString() }).then(
        () => {
          lastError = '';
        },
        (e) => {
          const m = errorText(e);
          if (m !== lastError) log.warn({ cluster }, `cannot publish the view of ${cluster}'s master: ${m}`);
          lastError = m;
        },
      );
    },
  };
}
