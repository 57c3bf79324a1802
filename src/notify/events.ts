/**
 * Events heir reports to people: detection verdicts, failovers, switchovers,
 * address moves. One shape for every webhook; formatters turn it into each
 * vendor's message.
 */

export const EVENT_TYPES = [
  /** The detector reached a verdict about a cluster's master (dead, unreachable, recovered, ...). */
  'verdict',
  'failover.started',
  'failover.finished',
  'failover.failed',
  /** A failover was needed but refused (block period, unacknowledged journal, no candidate, auto off). */
  'failover.blocked',
  /**
   * A failover did not finish: on start, a journal of one that did not end was found; or the
   * daemon was stopped during one before the promotion (outcome 'interrupted').
   */
  'failover.interrupted',
  /**
   * On start, a journal of an automatic failover that did not end was found, and it is safe to
   * finish without a person (src/failover/resume.ts): the daemon reruns it.
   */
  'failover.resumed',
  'switchover.started',
  'switchover.finished',
  'switchover.failed',
  /** A replica's health findings changed: a new one (Lagging, ReplicationBroken, ErrantGtids, ...) or one resolved. */
  'replica.health',
  /** The old master was fenced (read-only, address taken away, instance stopped). */
  'master.fenced',
  /** failover.auto_rejoin: the returning old master became a read-only replica of the new master. */
  'master.rejoined',
  /**
   * failover.auto_rejoin: the returning old master stays fenced, because it has transactions the
   * new master lacks (named in the event), or the rejoin could not be done or failed.
   */
  'master.kept-fenced',
  'address.moved',
  'address.failed',
  /** A blocked cluster was acknowledged by an operator. */
  'cluster.acknowledged',
  'config.reloaded',
  'config.rejected',
  /**
   * heir.ha: the cluster's leader found another manager whose configuration of the cluster
   * differs from its own, or lacks the cluster (it could not take over); or that it no longer does.
   */
  'ha.config-mismatch',
  /** Sent by `heir notify test` to check a webhook end to end. */
  'test',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export type Severity = 'info' | 'warning' | 'critical';

export interface HeirEvent {
  type: EventType;
  /** Cluster name ('' for events about heir itself, e.g. config.reloaded). */
  cluster: string;
  /** ISO 8601 time the event happened. */
  at: string;
  severity: Severity;
  /** One line for humans: "db1 is dead; promoted db2 in 4.2 s; address moved". */
  summary: string;
  /** Facts for machines and for the message body; never secrets. */
  details: Record<string, unknown>;
}
/** Alias in the domain's words. */
export type Event = HeirEvent;

/** Default severity of each type, when the emitter does not choose one. */
export const DEFAULT_SEVERITY: Record<EventType, Severity> = {
  verdict: 'warning',
  'failover.started': 'critical',
  'failover.finished': 'warning',
  'failover.failed': 'critical',
  'failover.blocked': 'critical',
  'failover.interrupted': 'critical',
  'failover.resumed': 'critical',
  'switchover.started': 'info',
  'switchover.finished': 'info',
  'switchover.failed': 'critical',
  'replica.health': 'warning',
  'master.fenced': 'warning',
  'master.rejoined': 'info',
  'master.kept-fenced': 'critical',
  'address.moved': 'info',
  'address.failed': 'critical',
  'cluster.acknowledged': 'info',
  'config.reloaded': 'info',
  'config.rejected': 'warning',
  'ha.config-mismatch': 'warning',
  test: 'info',
};

export function isEventType(s: string): s is EventType {
  return (EVENT_TYPES as readonly string[]).includes(s);
}

/**
 * Whether a webhook's `events` filter lets an event through: empty means all;
 * entries are exact types, "prefix.*" (failover.*) or "*".
 */
export function eventMatches(filter: readonly string[], type: string): boolean {
  if (filter.length === 0) return true;
  return filter.some((f) => f === '*' || f === type || (f.endsWith('.*') && type.startsWith(f.slice(0, -1))));
}

/** Whether a filter entry can ever match a known event type (config validation). */
export function isValidEventFilter(f: string): boolean {
  if (f === '*' || isEventType(f)) return true;
  if (f.endsWith('.*')) return EVENT_TYPES.some((t) => t.startsWith(f.slice(0, -1)));
  return false;
}

export function makeEvent(
  type: EventType,
  cluster: string,
  summary: string,
  details: Record<string, unknown> = {},
  o: { severity?: Severity; at?: Date } = {},
): HeirEvent {
  return {
    type,
    cluster,
    at: (o.at ?? new Date()).toISOString(),
    severity: o.severity ?? DEFAULT_SEVERITY[type],
    summary,
    details,
  };
}
