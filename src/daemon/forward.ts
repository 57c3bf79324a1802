/**
 * heir.ha, the pure part of forwarding: an action (switchover, failover, ack) posted to the API
 * of a daemon that does not lead the cluster is performed by the cluster's leader. Here: where
 * an action goes (performed here, forwarded to the leader, or refused), the leader's URL from
 * what it published in etcd, what its answer or its silence means for the client. No I/O.
 *
 * A forwarded request carries FORWARDED_BY (the forwarding manager): a daemon that receives one
 * and does not lead refuses it rather than forward it again, so a request crosses at most one
 * hop even while leadership moves.
 */
import type { ManagerRecord } from '../ha/managers';

/** Request header: the manager that forwarded the action. */
export const FORWARDED_BY = 'heir-forwarded-by';
/** Request header: the address of the client that posted the action to the forwarding manager. */
export const FORWARDED_FOR = 'heir-forwarded-for';
/** Response header: the manager that performed (answered) a forwarded action. */
export const FORWARDED_TO = 'heir-forwarded-to';

/** How long a forwarding manager waits for the leader's answer (a long action answers once under way). */
export const FORWARD_TIMEOUT_MS = 15_000;

export type ForwardCode = 'leader_unavailable' | 'not_leader';

export type ActionRoute =
  | { kind: 'here' }
  | { kind: 'forward'; leader: string }
  | { kind: 'refuse'; code: ForwardCode; message: string };

export interface RouteInput {
  cluster: string;
  /** switchover, failover, ack */
  action: string;
  /** This manager (heir.ha.manager_id). */
  self: string;
  /** Why this manager may not act on the cluster now; undefined when it may. */
  whyNot: string | undefined;
  /** The manager that leads the cluster as this one knows it; null when none is known. */
  leader: string | null;
  /** The FORWARDED_BY header of the request: the manager that forwarded it, if any. */
  forwardedBy: string | undefined;
}

/** Where an action is performed (pure). */
export function routeAction(i: RouteInput): ActionRoute {
  if (i.whyNot === undefined) return { kind: 'here' };
  const what = `${i.action} of cluster ${i.cluster}`;
  if (i.forwardedBy !== undefined) {
    return {
      kind: 'refuse',
      code: 'not_leader',
      message: `${what} forwarded by ${i.forwardedBy} to ${i.self}, which does not lead the cluster (${i.whyNot}): not forwarded again and not performed; the leadership moved, post it again`,
    };
  }
  if (i.leader === null) {
    return { kind: 'refuse', code: 'leader_unavailable', message: `${what} not performed: ${i.self} does not lead the cluster and no leader is known (${i.whyNot}); post it again once a manager leads it (heir status shows the leader)` };
  }
  if (i.leader === i.self) {
    return { kind: 'refuse', code: 'leader_unavailable', message: `${what} not performed: ${i.self} leads the cluster but may not act now (${i.whyNot})` };
  }
  return { kind: 'forward', leader: i.leader };
}

/** The leader's API URL from its record, or the refusal naming the leader and why there is none (pure). */
export function leaderUrl(
  i: { cluster: string; action: string; self: string; selfUrl: string | undefined; leader: string },
  record: ManagerRecord | undefined,
): { url: string } | { code: ForwardCode; message: string } {
  const what = `${i.action} of cluster ${i.cluster} not performed: ${i.self} does not lead the cluster, and its leader ${i.leader}`;
  if (!record) return { code: 'leader_unavailable', message: `${what} has published no API address in etcd (it runs without this feature, or its record expired); post it to ${i.leader}'s API` };
  if (!record.api) return { code: 'leader_unavailable', message: `${what} has no API address the other managers can reach: set heir.api.advertise_url on ${i.leader}` };
  if (i.selfUrl !== undefined && record.api === i.selfUrl) {
    return { code: 'leader_unavailable', message: `${what} advertises this manager's own API address (${record.api}): heir.api.advertise_url must differ on every manager` };
  }
  return { url: record.api };
}

/** Connection errors after which the request certainly did not reach the leader. */
const NOT_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Why the leader's API gave no answer, as the 503 says it (pure). A refused connection means
 * the action was not performed; after a timeout or a connection lost mid-way it is unknown.
 */
export function unreachableMessage(i: { cluster: string; action: string; leader: string; url: string; reason: string; timedOut: boolean }): string {
  const head = `${i.action} of cluster ${i.cluster}: its leader ${i.leader} at ${i.url}`;
  if (!i.timedOut && NOT_SENT.has(i.reason)) {
    return `${head} cannot be reached (${i.reason}): not performed; post it again once ${i.leader} answers or another manager leads the cluster`;
  }
  return (
    `${head} ${i.timedOut ? `did not answer within ${FORWARD_TIMEOUT_MS / 1000} s` : 'did not answer'} (${i.reason}); ` +
    `whether the ${i.action} started is unknown: see GET /api/v1/clusters/${i.cluster} (heir status) before posting it again`
  );
}

/**
 * The leader's answer as the client gets it: passed through, except a refusal of this
 * manager's token (the managers must share heir.api.token), which is this manager's fault,
 * not the client's (pure).
 */
export function leaderAnswer(i: { cluster: string; action: string; leader: string; status: number }): { pass: true } | { pass: false; code: ForwardCode; message: string } {
  if (i.status === 401 || i.status === 403) {
    return {
      pass: false,
      code: 'leader_unavailable',
      message: `${i.action} of cluster ${i.cluster} not performed: its leader ${i.leader} refused the forwarded request (HTTP ${i.status}): heir.api.token must be the same on every manager`,
    };
  }
  return { pass: true };
}

/** A Location the leader answered, made absolute to the leader's API (pure). */
export function absoluteLocation(leaderUrl: string, location: string): string {
  return new URL(location, `${leaderUrl}/`).href;
}
