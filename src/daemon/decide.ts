/**
 * The daemon's decisions, as pure functions of plain data: which node is the master
 * when the daemon starts, whether a dead verdict leads to an automatic failover or to a
 * "blocked" alert, and how outcomes map onto metrics and events. runtime.ts gathers the
 * facts and carries the decisions out.
 */
import type { ClusterConfig } from '../config/schema';
import { GtidSet } from '../mysql/gtid';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import type { FailoverOutcome } from '../failover/report';
import type { Outcome as SwitchoverOutcome } from '../failover/switchover';
import type { EventType, Severity } from '../notify/events';
import type { Evidence, VerdictKind } from '../monitor/types';
import type { FailoverResult, SwitchoverResult } from './metrics';

// ---------------------------------------------------------------------------------------------
// Which node is the master

export interface MasterGuess {
  master: string | null;
  /** How it was found, or why not. */
  why: string;
}

/** Name of the configured node a replication channel points at, if any. */
export function sourceNode(cluster: ClusterConfig, host: string, port: number): string | undefined {
  return cluster.nodes.find((n) => (n.host === host || n.ssh?.host === host || n.name === host) && n.port === port)?.name;
}

function replicatingChannels(s: NodeSnapshot) {
  return s.replication.filter((c) => c.ioState !== 'No' || c.sqlRunning || c.lastIoErrno !== 0);
}

/**
 * The master as the topology shows it: the one reachable writable node that replicates from
 * no one; when there is none (it is down), the node the replicas replicate from, when they
 * agree. Two writable roots: unknown (split brain is for a person to resolve).
 */
export function inferMaster(snap: TopologySnapshot, cluster: ClusterConfig): MasterGuess {
  const roots = snap.nodes.filter((s) => s.reachable && s.readOnly === false && replicatingChannels(s).length === 0);
  if (roots.length === 1) return { master: roots[0]!.name, why: `${roots[0]!.name} is writable and replicates from no one` };
  if (roots.length > 1) {
    // Two writable masters: a person must decide which one the application writes to.
    return { master: null, why: `several writable nodes replicate from no one (${roots.map((r) => r.name).join(', ')}); set read_only on the replicas` };
  }
  const votes = new Map<string, number>();
  for (const s of snap.nodes) {
    if (!s.reachable) continue;
    for (const ch of s.replication) {
      const src = sourceNode(cluster, ch.sourceHost, ch.sourcePort);
      if (src && src !== s.name) votes.set(src, (votes.get(src) ?? 0) + 1);
    }
  }
  const ranked = [...votes.entries()].sort((a, b) => b[1] - a[1]);
  if (ranked.length === 1 || (ranked.length > 1 && ranked[0]![1] > ranked[1]![1])) {
    const [name, n] = ranked[0]!;
    const s = snap.nodes.find((x) => x.name === name);
    return { master: name, why: `${n} replica(s) replicate from ${name}${s && !s.reachable ? ' (it does not answer)' : ''}` };
  }
  const desc = snap.nodes
    .map((s) => `${s.name}: ${s.reachable ? `read_only=${s.readOnly ? 1 : 0}, ${s.replication.length ? 'replica' : 'not a replica'}` : 'unreachable'}`)
    .join('; ');
  return { master: null, why: `no writable node that replicates from no one, and the replicas do not agree on a source (${desc})` };
}

// ---------------------------------------------------------------------------------------------
// Dead verdict → failover or blocked

export interface AutoFailoverFacts {
  /** The verdict allows failover (corroborated dead master). */
  failoverAllowed: boolean;
  /** failover.auto */
  auto: boolean;
  /** The failover guard's decision (unfinished journal, block period). */
  guard: { allowed: boolean; reasons: string[] };
  /** The cluster lock as seen now (held by the CLI or another process). */
  lock: { held: boolean; text?: string };
  /** An operation this daemon runs on the cluster right now. */
  busy: string | null;
  /** The daemon is shutting down. */
  stopping: boolean;
}

export type AutoFailoverDecision =
  | { action: 'failover' }
  | { action: 'blocked'; reasons: string[] }
  | { action: 'ignore'; why: string };

export function decideAutoFailover(f: AutoFailoverFacts): AutoFailoverDecision {
  if (!f.failoverAllowed) return { action: 'ignore', why: 'the verdict does not allow failover' };
  if (f.stopping) return { action: 'ignore', why: 'the daemon is stopping' };
  if (f.busy) return { action: 'ignore', why: `${f.busy} already running in this daemon` };
  const reasons: string[] = [];
  if (!f.auto) reasons.push('failover.auto is false: run `heir failover` after checking the cluster');
  if (f.lock.held) reasons.push(`the cluster lock is held: ${f.lock.text ?? 'by another process'}`);
  if (!f.guard.allowed) reasons.push(...f.guard.reasons);
  return reasons.length ? { action: 'blocked', reasons } : { action: 'failover' };
}

// ---------------------------------------------------------------------------------------------
// Outcomes → metrics and events

export function failoverMetricResult(o: FailoverOutcome): FailoverResult | null {
  if (o === 'refused' || o === 'dry-run') return null;
  // Stopped by the daemon's shutdown before the promotion: neither done nor a fault.
  if (o === 'interrupted') return 'aborted';
  // The master turned out to be alive: nothing was promoted, the address went back.
  if (o === 'master-alive') return 'aborted';
  return o === 'promoted' ? 'success' : 'failure';
}

export function failoverEventType(o: FailoverOutcome): EventType {
  if (o === 'refused') return 'failover.blocked';
  if (o === 'promoted' || o === 'promoted-with-errors') return 'failover.finished';
  if (o === 'interrupted') return 'failover.interrupted';
  return 'failover.failed';
}

export function failoverSeverity(o: FailoverOutcome): Severity {
  return o === 'promoted' ? 'warning' : 'critical';
}

export function switchoverMetricResult(o: SwitchoverOutcome): SwitchoverResult | null {
  if (o === 'refused' || o === 'dry-run') return null;
  if (o === 'switched') return 'success';
  // aborted: an error before writes stopped, nothing changed; rolled-back: the old master
  // took writes again. Neither moved the master; neither left the cluster half changed.
  if (o === 'rolled-back' || o === 'aborted') return 'aborted';
  return 'failure';
}

export function switchoverEventType(o: SwitchoverOutcome): EventType {
  return o === 'switched' || o === 'switched-with-errors' ? 'switchover.finished' : 'switchover.failed';
}

// ---------------------------------------------------------------------------------------------
// Roles for status

export type NodeRole = 'master' | 'replica' | 'unreachable' | 'standalone';

export function nodeRole(s: NodeSnapshot, master: string | null): NodeRole {
  if (!s.reachable) return 'unreachable';
  if (s.name === master) return 'master';
  if (s.replication.length) return 'replica';
  return s.readOnly === false && master === null ? 'master' : 'standalone';
}

/** Replication lag of a replica in seconds, null when unknown or not a replica. */
export function lagOf(s: NodeSnapshot): number | null {
  if (!s.reachable || s.replication.length === 0) return null;
  const lags = s.replication.map((c) => c.secondsBehind);
  if (lags.some((l) => l === null)) return null;
  return Math.max(...(lags as number[]));
}

// ---------------------------------------------------------------------------------------------
// A returning old master

export type OldMasterAction =
  /** It does not answer, or answers fenced: keep watching. */
  | { action: 'watch'; why: string }
  /** It answers writable: make it read-only (and persist that) now. */
  | { action: 'fence'; why: string }
  /** It answers fenced and failover.auto_rejoin is on: try to make it a replica of the master (heir rejoin's decision). */
  | { action: 'rejoin'; why: string }
  /** It replicates from the current master (rejoined) or is the master again: stop watching. */
  | { action: 'done'; why: string };

/**
 * What to do about a master that was failed over away from, from a read of it. It must
 * never take writes again next to the new master: whenever it answers writable it is
 * fenced, until an operator (or heir rejoin) has made it a replica of the current master,
 * or, with failover.auto_rejoin, the daemon has (see autoRejoinDue).
 */
export function decideOldMaster(cluster: ClusterConfig, n: NodeSnapshot, currentMaster: string | null): OldMasterAction {
  if (n.name === currentMaster) return { action: 'done', why: `${n.name} is the master again` };
  if (!n.reachable) return { action: 'watch', why: `${n.name} does not answer (${n.error?.message ?? 'unreachable'})` };
  if (n.readOnly === false) {
    return { action: 'fence', why: `${n.name} answers writable (read_only=0) while ${currentMaster ?? 'another node'} is the master` };
  }
  const master = cluster.nodes.find((x) => x.name === currentMaster);
  const rejoined = master && n.replication.some((c) => sourceNode(cluster, c.sourceHost, c.sourcePort) === master.name && c.ioState === 'Yes' && c.sqlRunning);
  if (rejoined) return { action: 'done', why: `${n.name} replicates from ${master.name}` };
  if (cluster.failover.auto_rejoin && master && n.readOnly === true && n.replication.length === 0) {
    return { action: 'rejoin', why: `${n.name} is read-only, replicates from no one, and failover.auto_rejoin is on: it follows ${master.name} if it has nothing ${master.name} lacks` };
  }
  return { action: 'watch', why: `${n.name} is read-only${n.superReadOnly ? ' (super_read_only)' : ''}, not yet a replica of ${currentMaster ?? 'the master'}` };
}

/** What the daemon remembers of its last automatic rejoin attempt of a node. */
export interface AutoRejoinMemory {
  at: number;
  /**
   * transient: the lock was held or the master not the expected one; refused: heir rejoin's
   * decision said no (key: the master and what the node has that it lacks, or the reason);
   * failed: the rejoin ran and the node did not replicate (key: the master).
   */
  kind: 'transient' | 'refused' | 'failed';
  key: string;
}

/** Time (ms) between two looks at a fenced old master whose rejoin was refused (the operator may have applied its transactions on the master). */
export const AUTO_REJOIN_RECHECK_MS = 30_000;
/** Time (ms) before trying again after a refusal that may pass by itself (lock held, master not settled). */
export const AUTO_REJOIN_RETRY_MS = 5_000;

/**
 * Whether the daemon looks again (heir rejoin's decision, without lock or file) at a fenced old
 * master now. A rejoin that ran and failed is not retried while the master is the same: an
 * operator looks (heir rejoin). A refusal is looked at again now and then, without a new alert
 * while the answer stays the same.
 */
export function autoRejoinDue(last: AutoRejoinMemory | undefined, master: string, now: number): boolean {
  if (!last) return true;
  if (last.kind === 'failed') return last.key !== master;
  return now - last.at >= (last.kind === 'transient' ? AUTO_REJOIN_RETRY_MS : AUTO_REJOIN_RECHECK_MS);
}

/** How many transactions a GTID text names: a MySQL GTID set's count; null for MariaDB positions (a list of last GTIDs). */
export function transactionCount(extra: string): number | null {
  if (!extra) return 0;
  const set = GtidSet.tryParse(extra);
  if (!set || !/:/.test(extra)) return null;
  return Number(set.count());
}

// ---------------------------------------------------------------------------------------------
// A second writable node

export type SecondWritableAction =
  /** The monitor's master answers: this one is an old master come back writable. */
  | { action: 'fence'; why: string }
  /** The monitor's master is dead and a failover run outside this daemon (heir failover) promoted this node: follow it. */
  | { action: 'follow'; why: string }
  /** The monitor's master does not answer and nothing says this node was promoted: alert, touch nothing. */
  | { action: 'alert'; why: string };

/** A finished failover as its journal records it: the dead master and the node it promoted. */
export interface PromotionRecord {
  id: string;
  deadMaster: string;
  promoted: string;
  endedAt: string;
}

/**
 * `node` answers writable and replicates from no one while the monitor watches
 * `master`. When `master` answers, `node` is a returning old master (or a mistake) and is
 * fenced. When `master` does not answer, `node` may be the master a failover run outside
 * this daemon promoted (`heir failover` from the CLI): fencing it would leave the cluster
 * without a writable master. The journals decide: the latest finished failover of `master`
 * that promoted `node` makes the daemon follow it; without one, a person decides. As in
 * journaledSuccessor, only failovers that ended after `since` (when the daemon began watching
 * `master`) count: an older one was before `master` became the master again, and says
 * nothing of who is the master now.
 */
export function decideSecondWritable(node: string, master: string, masterAnswers: boolean, since: number, promotions: PromotionRecord[]): SecondWritableAction {
  if (masterAnswers) return { action: 'fence', why: `${node} answers writable and replicates from no one while ${master} is the master` };
  const last = [...promotions].filter((p) => p.deadMaster === master && Date.parse(p.endedAt) > since).sort((a, b) => a.endedAt.localeCompare(b.endedAt)).at(-1);
  if (last && last.promoted === node) {
    return { action: 'follow', why: `failover ${last.id} (ended ${last.endedAt}) promoted ${node} after ${master} died` };
  }
  return {
    action: 'alert',
    why: `${node} answers writable and replicates from no one while the master ${master} does not answer, and no finished failover of ${master} promoted it: heir leaves both alone (decide which is the master)`,
  };
}

/**
 * The watched master does not answer, and the journals say it was failed over already (by
 * another manager under heir.ha, or `heir failover` from the CLI) while this daemon watched it:
 * the node to watch instead, following failovers one after another (each of the node the
 * previous one promoted, ended after it). Only failovers that ended after `since` (when the
 * daemon began watching `master`) count: an older one of the same node was before it became
 * the master again. The node is followed whether it answers or not: when it is dead too, the
 * monitor must judge it, not the long-gone master. Undefined: nothing to follow.
 */
export function journaledSuccessor(master: string, since: number, promotions: PromotionRecord[]): { node: string; why: string } | undefined {
  const sorted = [...promotions].sort((a, b) => a.endedAt.localeCompare(b.endedAt));
  let cur = master;
  let after = since;
  const via: PromotionRecord[] = [];
  for (;;) {
    const next = sorted.filter((p) => p.deadMaster === cur && p.promoted !== cur && Date.parse(p.endedAt) > after).at(-1);
    if (!next || via.length >= promotions.length) break;
    via.push(next);
    cur = next.promoted;
    after = Date.parse(next.endedAt);
  }
  if (via.length === 0) return undefined;
  return { node: cur, why: via.map((p) => `failover ${p.id} (ended ${p.endedAt}) promoted ${p.promoted} after ${p.deadMaster} died`).join('; ') };
}

// ---------------------------------------------------------------------------------------------
// Salvage: does the dead master's host answer SSH?

/**
 * Whether the dead master's host answers SSH, from the verdict's evidence; undefined when
 * it cannot be told (the executor then tries). The SSH check's own finding counts first. A
 * DeadMasterHost verdict reached before that check reported means the host answers neither
 * the manager nor the other hosts, and ssh to a live host answers within milliseconds: the
 * salvage fetch would only wait out its connect timeout while the address waits for it.
 */
export function sshReachable(verdict: VerdictKind, evidence: Evidence[]): boolean | undefined {
  const ssh = evidence.filter((e) => e.source === 'ssh');
  if (ssh.some((e) => e.points === 'host-down')) return false;
  if (ssh.some((e) => e.points === 'dead' || e.points === 'alive' || e.points === 'hung')) return true;
  if (ssh.length === 0 && verdict === 'DeadMasterHost') return false;
  return undefined;
}
