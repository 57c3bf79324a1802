/**
 * The status of a cluster as the operator sees it (`heir status`, GET /clusters): plain
 * data built from a topology snapshot, the last verdict and the block state, and its
 * rendering as a terminal table. The same shape comes from the running daemon and from
 * `heir status` reading the servers itself when no daemon answers.
 */
import type { ClusterConfig } from '../config/schema';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { GtidSet } from '../mysql/gtid';
import { lagOf, nodeRole, type NodeRole } from './decide';
import type { HaClusterStatus } from '../ha/cluster-ha';

export interface NodeStatus {
  name: string;
  host: string;
  port: number;
  role: NodeRole;
  reachable: boolean;
  readOnly: boolean | null;
  superReadOnly: boolean | null;
  /** Replica_IO_Running of the (first) channel: Yes | No | Connecting; null when not a replica. */
  io: string | null;
  /** Replica_SQL_Running: Yes | No; null when not a replica. */
  sql: string | null;
  /** Node name (or host:port) it replicates from. */
  source: string | null;
  lagS: number | null;
  /** Executed GTID set (MySQL) / gtid_current_pos (MariaDB). */
  gtid: string | null;
  version: string | null;
  /** Last IO/SQL error or why the node could not be read. */
  error: string | null;
}

export interface ClusterStatus {
  name: string;
  master: string | null;
  /** Last reported detection verdict ('Healthy', 'DeadMaster', ...), or 'unknown'. */
  verdict: string;
  /** Automatic failover blocked until `heir ack`. */
  blocked: boolean;
  blockedReasons: string[];
  blockedUntil: string | null;
  /** Where the status came from: the daemon, or a direct read by the CLI. */
  source: 'daemon' | 'direct';
  /** Time of the snapshot the node rows come from (ISO), null when none yet. */
  snapshotAt: string | null;
  /** Operation the daemon runs on the cluster now (failover, switchover), null when none. */
  operation: string | null;
  verdictAt: string | null;
  verdictReason: string | null;
  /** The latest verdict's analysis: rule, its condition, the sources that confirmed it and the evidence; null before the first. */
  verdictDetail?: VerdictDetail | null;
  failoverAllowed: boolean;
  /** Monitor state: running, or why not. */
  monitor: string;
  address: AddressView;
  nodes: NodeStatus[];
  /** heir.ha: managers, the cluster's leader, its lease and every manager's view of the master; absent without heir.ha. */
  ha?: HaClusterStatus;
}

export interface VerdictDetail {
  verdict: string;
  from: string;
  master: string;
  rule: string;
  because: string;
  confirmedBy: string[];
  evidence: { source: string; subject: string; at: string; observation: string; points: string }[];
}

export interface AddressView {
  type: string;
  floatingIp: string | null;
  /** Node the address is on, as last seen (cloud read for eni/secondary-ip; the master for a script mover); null when unknown or none. */
  holder?: string | null;
  /** Instance holding the ENI or the secondary IP. */
  instanceId?: string | null;
  eniId?: string | null;
  /** Cloud state (InUse, Available, ...) or why it is unknown. */
  state?: string | null;
  detail?: string | null;
  /** When the holder was last read (ISO). */
  checkedAt?: string | null;
}

export function nodeStatus(s: NodeSnapshot, master: string | null, cluster: ClusterConfig): NodeStatus {
  const ch = s.replication[0];
  const src = ch ? (cluster.nodes.find((n) => n.host === ch.sourceHost && n.port === ch.sourcePort)?.name ?? `${ch.sourceHost}:${ch.sourcePort}`) : null;
  const chErr = ch ? [ch.lastIoErrno ? `IO ${ch.lastIoErrno}: ${ch.lastIoError}` : '', ch.lastSqlErrno ? `SQL ${ch.lastSqlErrno}: ${ch.lastSqlError}` : ''].filter(Boolean).join('; ') : '';
  return {
    name: s.name,
    host: s.host,
    port: s.port,
    role: nodeRole(s, master),
    reachable: s.reachable,
    readOnly: s.readOnly ?? null,
    superReadOnly: s.superReadOnly ?? null,
    io: ch ? ch.ioState : null,
    sql: ch ? (ch.sqlRunning ? 'Yes' : 'No') : null,
    source: src,
    lagS: lagOf(s),
    gtid: s.executedGtid ?? null,
    version: s.version?.raw ?? null,
    error: s.error ? s.error.message : chErr || null,
  };
}

export function addressOf(cluster: ClusterConfig): AddressView {
  const a = cluster.address;
  return { type: a.type, floatingIp: 'floating_ip' in a ? (a.floating_ip ?? null) : null };
}

export function nodesStatus(snap: TopologySnapshot | null, master: string | null, cluster: ClusterConfig): NodeStatus[] {
  if (!snap) {
    return cluster.nodes.map((n) => ({
      name: n.name,
      host: n.host,
      port: n.port,
      role: n.name === master ? 'master' : 'replica',
      reachable: false,
      readOnly: null,
      superReadOnly: null,
      io: null,
      sql: null,
      source: null,
      lagS: null,
      gtid: null,
      version: null,
      error: 'not read yet',
    })) as NodeStatus[];
  }
  return snap.nodes.map((s) => nodeStatus(s, master, cluster));
}

// ---------------------------------------------------------------------------------------------
// Terminal rendering

/** A GTID set shortened for a table: "3E11FA47…:1-5712" per source, at most maxLen characters. */
export function shortGtid(text: string | null, maxLen = 40): string {
  if (text === null || text === undefined) return '-';
  let parts: string[];
  try {
    const s = GtidSet.parse(text).toString();
    parts = s === '' ? [] : s.split(',').map((p) => p.trim());
  } catch {
    parts = text.split(',').map((p) => p.trim());
  }
  if (parts.length === 0) return '(empty)';
  const short = parts.map((p) => {
    const m = /^([0-9a-fA-F]{8})[0-9a-fA-F-]{28}(:.*)$/.exec(p);
    if (!m) return p;
    const intervals = m[2]!.split(':').filter(Boolean);
    return `${m[1]}…:${intervals[intervals.length - 1]}`;
  });
  let out = short.join(',');
  if (out.length > maxLen) out = `${out.slice(0, maxLen - 1)}…`;
  return out;
}

export interface StatusRow {
  cluster: string;
  node: string;
  role: string;
  ro: string;
  threads: string;
  lag: string;
  gtid: string;
  verdict: string;
  blocked: string;
}

export function statusRows(list: ClusterStatus[]): StatusRow[] {
  const rows: StatusRow[] = [];
  for (const c of list) {
    c.nodes.forEach((n, i) => {
      rows.push({
        cluster: i === 0 ? c.name : '',
        node: n.name,
        role: n.role,
        ro: n.reachable ? (n.superReadOnly ? 'super' : n.readOnly ? 'yes' : n.readOnly === false ? 'no' : '?') : '-',
        threads: n.io !== null ? `${n.io}/${n.sql}` : '-',
        lag: n.lagS !== null ? `${n.lagS}s` : '-',
        gtid: shortGtid(n.gtid),
        verdict: i === 0 ? c.verdict + (c.operation ? ` (${c.operation} running)` : '') : '',
        blocked: i === 0 ? (c.blocked ? 'BLOCKED' : 'no') : '',
      });
    });
  }
  return rows;
}

function secondsAgo(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s ago`;
}

/** heir.ha of one cluster in words, one line each (pure; `now` for the ages of ISO times). */
export function haLines(ha: HaClusterStatus, now: number): string[] {
  const age = (iso: string | null) => (iso ? secondsAgo(Math.max(0, now - Date.parse(iso))) : '');
  const lines: string[] = [];
  const leader = ha.leader
    ? `leader ${ha.leader}${ha.leader === ha.manager ? ' (this manager)' : ''}${ha.leaderSince ? ` since ${ha.leaderSince} (${age(ha.leaderSince)})` : ''}` +
      (ha.leaseConfirmedMsAgo !== null ? `, lease last confirmed by etcd ${secondsAgo(ha.leaseConfirmedMsAgo)}` : '')
    : 'no leader known';
  lines.push(`ha: ${leader}; managers: ${ha.managers.join(', ')} (this one: ${ha.manager})`);
  if (ha.whyNot && ha.leader !== null && ha.leader !== ha.manager) {
    // A follower: nothing to say beyond who leads.
  } else if (ha.whyNot) lines.push(`ha: this manager may not act: ${ha.whyNot}`);
  const e = ha.etcd;
  lines.push(
    e.reachable
      ? `etcd: reachable (last answer ${age(e.lastOkAt)})`
      : `etcd: UNREACHABLE${e.lastErrorAt ? ` (last error ${age(e.lastErrorAt)}: ${e.lastError})` : ''}${e.lastOkAt ? `; last answer ${age(e.lastOkAt)}` : '; no answer yet'}`,
  );
  if (ha.views.length === 0) lines.push('views: none published yet');
  for (const v of ha.views) {
    const what = v.reachable ? `reaches ${v.master}` : `cannot reach ${v.master}${v.failingSince ? ` since ${v.failingSince}` : ''}`;
    const stale = v.ageMs > ha.viewMaxAgeMs ? ` (stale: older than ${(ha.viewMaxAgeMs / 1000).toFixed(1)} s, counts for nothing)` : '';
    lines.push(`view of ${v.manager}: ${what}, verdict ${v.verdict}, ${secondsAgo(v.ageMs)}${stale}`);
  }
  for (const m of ha.configMismatches ?? []) lines.push(`config MISMATCH: ${m.text}`);
  return lines;
}
