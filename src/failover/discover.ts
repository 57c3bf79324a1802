/**
 * Who is (or was) the master, from a topology snapshot (pure). Used by
 * `heir failover` (which master died?) and `heir rejoin` (whom to follow?).
 */
import type { ClusterConfig } from '../config/schema';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';

export interface MasterGuess {
  master: string | null;
  /** How it was found, or why not. */
  why: string;
}

/**
 * The master the replicas point at: the node named by most replicas'
 * source host:port. A node that answers, is writable and replicates from no
 * one is reported as `writable` (a live master).
 */
export function findReplicasMaster(snap: TopologySnapshot, cluster: ClusterConfig): MasterGuess & { votes: Record<string, string[]> } {
  const votes: Record<string, string[]> = {};
  for (const n of snap.nodes) {
    if (!n.reachable) continue;
    for (const ch of n.replication) {
      const src = cluster.nodes.find((c) => c.host === ch.sourceHost && c.port === ch.sourcePort);
      if (src && src.name !== n.name) (votes[src.name] ??= []).push(n.name);
    }
  }
  const ranked = Object.entries(votes).sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  if (ranked.length === 0) return { master: null, why: 'no reachable replica names a source among the configured nodes', votes };
  if (ranked.length > 1 && ranked[0][1].length === ranked[1][1].length) {
    return {
      master: null,
      why: `replicas disagree on their source: ${ranked.map(([m, r]) => `${m} (${r.join(', ')})`).join('; ')}`,
      votes,
    };
  }
  const [m, r] = ranked[0];
  return { master: m, why: `replicas ${r.join(', ')} replicate from ${m}`, votes };
}

/** Reachable, writable nodes that replicate from no one. */
export function writableMasters(snap: TopologySnapshot, exclude: string[] = []): NodeSnapshot[] {
  return snap.nodes.filter((n) => n.reachable && n.readOnly === false && n.replication.length === 0 && !exclude.includes(n.name));
}
