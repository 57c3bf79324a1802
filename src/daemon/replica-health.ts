/**
 * Replica health changes (pure): the monitor reports every replica's findings (Lagging,
 * ReplicationBroken, ErrantGtids, ...) whenever the list changes; the daemon turns that into
 * one 'replica.health' event per replica whose set of finding kinds changed: a new finding
 * or a resolved one. A finding that persists is not repeated (a Lagging replica whose lag
 * moves from 40 s to 50 s is the same finding); a node that stopped being a replica (it is
 * the master now) is forgotten without an event.
 */
import type { ReplicaFinding, ReplicaFindingKind } from '../monitor/types';
import type { Severity } from '../notify/events';

/** Per replica, the finding kinds last reported (absent: healthy or never seen). */
export type ReplicaHealthState = ReadonlyMap<string, ReadonlySet<ReplicaFindingKind>>;

export interface ReplicaHealthChange {
  replica: string;
  /** Findings that appeared since the last report. */
  added: ReplicaFinding[];
  /** Finding kinds reported before that are gone now. */
  resolved: ReplicaFindingKind[];
  /** Everything the replica shows now ([] when healthy). */
  current: ReplicaFinding[];
}

/**
 * Compare the findings of one replica check with the state of the last one. `replicas` are
 * the nodes that are replicas now (every node but the master): those absent from `findings`
 * are healthy; nodes not in it are dropped from the state silently.
 */
export function replicaHealthChanges(
  prev: ReplicaHealthState,
  findings: readonly ReplicaFinding[],
  replicas: readonly string[],
): { changes: ReplicaHealthChange[]; next: ReplicaHealthState } {
  const byReplica = new Map<string, ReplicaFinding[]>();
  for (const f of findings) byReplica.set(f.replica, [...(byReplica.get(f.replica) ?? []), f]);
  const names = [...new Set([...replicas, ...byReplica.keys()])].sort();
  const next = new Map<string, ReadonlySet<ReplicaFindingKind>>();
  const changes: ReplicaHealthChange[] = [];
  for (const replica of names) {
    const current = byReplica.get(replica) ?? [];
    const kinds = new Set(current.map((f) => f.kind));
    const before = prev.get(replica) ?? new Set<ReplicaFindingKind>();
    if (kinds.size) next.set(replica, kinds);
    const seen = new Set<ReplicaFindingKind>();
    const added = current.filter((f) => !before.has(f.kind) && !seen.has(f.kind) && seen.add(f.kind));
    const resolved = [...before].filter((k) => !kinds.has(k)).sort();
    if (added.length || resolved.length) changes.push({ replica, added, resolved, current });
  }
  return { changes, next };
}

/** A new finding is a warning; only resolved ones are good news. */
export function replicaHealthSeverity(c: ReplicaHealthChange): Severity {
  return c.added.length ? 'warning' : 'info';
}

/** One line for people: "replica db2: new Lagging (45 s behind db1 ...); resolved ReplicationStopped". */
export function describeReplicaHealthChange(cluster: string, c: ReplicaHealthChange): string {
  const parts: string[] = [];
  if (c.added.length) parts.push(`new ${c.added.map((f) => `${f.kind} (${f.detail})`).join(', ')}`);
  if (c.resolved.length) parts.push(`resolved ${c.resolved.join(', ')}`);
  const now = c.current.length ? '' : '; healthy now';
  return `${cluster}: replica ${c.replica}: ${parts.join('; ')}${now}`;
}
