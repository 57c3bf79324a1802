/**
 * Is this cluster fit to fail over? (pure)
 *
 * What `masterha_check_repl` did, for today's servers: from one topology
 * snapshot, the admin account's grants and the address mover's preflight, a
 * list of findings. Any finding of severity 'error' makes the cluster unfit:
 * `heir check` exits non-zero and prints every reason at once.
 */
import type { ClusterConfig } from '../config/schema';
import { errantGtids } from '../mysql/inspect';
import { APPLIER_KILL_GRANTS, grantFamily, grantStatements, HEIR_GRANTS, REPL_GRANTS, SALVAGE_GRANTS, type GrantItem } from '../mysql/privileges';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../mysql/types';

export type Severity = 'error' | 'warning';

export interface Finding {
  severity: Severity;
  /** Stable identifier, e.g. 'sql-thread-stopped', 'errant-gtids', 'missing-privileges'. */
  code: string;
  /** The node it is about, when it is about one. */
  node?: string;
  message: string;
  /** What the operator can do about it. */
  fix?: string;
}

/** SHOW GRANTS of heir's admin account on one node, or why it could not be read. */
export type GrantsObservation = { lines: string[] } | { error: string };

export interface CheckInput {
  cluster: ClusterConfig;
  snapshot: TopologySnapshot;
  /** By node name; nodes missing here are not checked for grants. */
  grants: Record<string, GrantsObservation>;
  /** By node name: does the replication account exist there (undefined: unknown). */
  replUser: Record<string, boolean | undefined>;
  /** The address mover's preflight, when it ran. */
  address?: { check: string; ok: boolean; severity: Severity; detail: string }[];
  /** Salvage's tools on this manager (failover.salvage.mysqlbinlog / .mysql), when salvage is on. */
  salvageTools?: { setting: 'mysqlbinlog' | 'mysql'; command: string; version?: string; error?: string; gtidStart?: { ok: boolean; detail: string } }[];
  /** Salvage's SSH access to each node's binlogs (any node may be the dead master one day); absent when salvage is off. */
  binlogAccess?: { node: string; ok: boolean; detail: string }[];
}

/**
 * Which signals detection can read from a replica to tell whether it still hears the
 * master (see monitor/sight.ts), and what that means when the master's host goes down.
 */
export interface Liveness {
  node: string;
  performanceSchema: boolean | null;
  heartbeatPeriodS: number | null;
  netTimeoutS: number | null;
  /** The signals heir can use, in words. */
  signals: string[];
  /** How soon this replica's own view can say the master is gone, in words. */
  detection: string;
}

/** A replica's liveness signals (pure). */
export function liveness(n: NodeSnapshot): Liveness {
  const ch = n.replication[0];
  const mysql = n.version?.flavor === 'mysql';
  const ps = n.performanceSchema ?? null;
  const period = ch?.heartbeatPeriodS ?? null;
  const net = n.netTimeoutS ?? null;
  const signals: string[] = [];
  if (ch) {
    signals.push(mysql ? 'received coordinates and Retrieved_Gtid_Set' : ch.mariadbUsingGtid !== 'No' ? 'received coordinates and Gtid_IO_Pos' : 'received coordinates');
    signals.push('heartbeat count');
    if (mysql && ps) signals.push('last heard (performance_schema: last heartbeat and last queued transaction)');
    if (mysql && ps === false) signals.push('no "last heard" time (performance_schema is OFF: only the heartbeat time is kept, and a busy master sends none)');
  }
  let detection: string;
  if (!ch) detection = 'not a replica';
  else if (period && period > 0) {
    const silent = Math.round(2 * period + 1);
    detection =
      `if the master's host goes down, this replica can say so after ${silent} s of silence (two heartbeat periods of ${period} s)` +
      (net ? `, its IO thread reconnects after ${net} s (net timeout)` : '');
  } else {
    detection = `heartbeats are off: this replica cannot tell a silent master from a dead one${net ? ` until its IO thread gives up after ${net} s` : ''}`;
  }
  return { node: n.name, performanceSchema: ps, heartbeatPeriodS: period, netTimeoutS: net, signals, detection };
}

/** A heartbeat period above this (s) makes a replica's own view of a downed host slow. */
export const SLOW_HEARTBEAT_S = 5;

export interface CheckResult {
  cluster: string;
  /** True when no finding is an error. */
  fit: boolean;
  /** The node found to be the master, if exactly one is. */
  master?: string;
  /** Nodes that could be promoted now. */
  candidates: string[];
  findings: Finding[];
  /** Per replica: the liveness signals detection can use. */
  liveness: Liveness[];
}

function isReplica(n: NodeSnapshot): boolean {
  return n.replication.length > 0;
}

function channelLabel(ch: ReplicationChannel): string {
  return ch.channel ? `channel '${ch.channel}'` : 'the default channel';
}

/** Finds the master: the one reachable node that replicates from nobody. */
function findMaster(nodes: NodeSnapshot[], out: Finding[]): NodeSnapshot | undefined {
  const roots = nodes.filter((n) => n.reachable && !n.error && !isReplica(n));
  if (roots.length === 1) return roots[0];
  if (roots.length === 0) {
    out.push({
      severity: 'error',
      code: 'no-master',
      message: 'no master: every reachable node is a replica (or none could be read)',
      fix: 'find the node that should take writes and stop replication on it (RESET REPLICA ALL), or fail over',
    });
  } else {
    out.push({
      severity: 'error',
      code: 'several-masters',
      message: `more than one node replicates from nobody: ${roots.map((n) => n.name).join(', ')}`,
      fix: 'make all but one of them replicas of the master',
    });
  }
  return undefined;
}

/** Does this channel read from that node? By server id when known, else by address. */
function readsFrom(ch: ReplicationChannel, master: NodeSnapshot): boolean {
  if (ch.sourceServerId && master.serverId !== undefined) return ch.sourceServerId === master.serverId;
  return ch.sourceHost === master.host && ch.sourcePort === master.port;
}

// ---------- privileges ----------

interface ParsedGrant {
  privileges: Set<string>;
  /** '*.*' or 'schema.*' (unquoted, lower case schema). */
  on: string;
}

/** Parses SHOW GRANTS lines (MySQL and MariaDB). Role grants and proxy grants are ignored. */
export function parseGrants(lines: string[]): ParsedGrant[] {
  const out: ParsedGrant[] = [];
  for (const line of lines) {
    const m = /^GRANT\s+(.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE)\s+)?(\S+)\s+TO\s/i.exec(line.trim());
    if (!m) continue;
    const privs = new Set(
      m[1]
        .replace(/\([^)]*\)/g, '') // column lists
        .split(',')
        .map((p) => p.trim().toUpperCase().replace(/\s+/g, ' '))
        .filter(Boolean),
    );
    out.push({ privileges: privs, on: m[2].replace(/`/g, '').toLowerCase() });
  }
  return out;
}

/** Names under which a server may show the same privilege. */
const ALIASES: Record<string, string[]> = {
  'REPLICATION CLIENT': ['BINLOG MONITOR'],
  'BINLOG MONITOR': ['REPLICATION CLIENT'],
  'REPLICATION SLAVE': ['REPLICATION REPLICA'],
  'SLAVE MONITOR': ['REPLICA MONITOR'],
};

function held(grants: ParsedGrant[], privilege: string, on: string): boolean {
  const names = [privilege, ...(ALIASES[privilege] ?? [])];
  return grants.some(
    (g) => (g.on === '*.*' || g.on === on) && (g.privileges.has('ALL PRIVILEGES') || g.privileges.has('ALL') || names.some((n) => g.privileges.has(n))),
  );
}

/** The required grant items that are not (wholly) held, with only the missing privileges left in each. */
export function missingGrants(lines: string[], required: GrantItem[], schema: string): GrantItem[] {
  const grants = parseGrants(lines);
  const missing: GrantItem[] = [];
  for (const item of required) {
    const on = item.on.replace('{schema}', schema).toLowerCase();
    const lacking = item.privileges.filter((p) => !held(grants, p, on));
    if (lacking.length) missing.push({ ...item, privileges: lacking });
  }
  return missing;
}

// ---------- the checks ----------

export function evaluate(input: CheckInput): CheckResult {
  const { cluster, snapshot } = input;
  const f: Finding[] = [];
  const nodes = snapshot.nodes;
  const configOf = (name: string) => cluster.nodes.find((n) => n.name === name);

  // Salvage runs mysqlbinlog and the mysql client on this manager: they must run, and speak
  // the cluster's flavor (MySQL's mysqlbinlog cannot read MariaDB's GTID events).
  const mariadb = nodes.some((n) => n.version?.flavor === 'mariadb');
  for (const t of input.salvageTools ?? []) {
    const setting = `failover.salvage.${t.setting}`;
    if (t.error) {
      f.push({
        severity: 'error',
        code: 'salvage-tool',
        message: `${setting} (${t.command}) does not run on this manager: ${t.error}; salvage would fail and what only the dead master had would be lost`,
        fix: `install it (${mariadb ? 'mariadb-client' : 'mysql-client'}) or set ${setting} to its path`,
      });
    } else if (t.version && /mariadb/i.test(t.version) !== mariadb) {
      f.push({
        severity: t.setting === 'mysqlbinlog' ? 'error' : 'warning',
        code: 'salvage-tool',
        message: `${setting} is ${/mariadb/i.test(t.version) ? "MariaDB's" : "MySQL's"} (${t.version}) but the cluster runs ${mariadb ? 'MariaDB' : 'MySQL'}`,
        fix: `set ${setting} to ${mariadb ? (t.setting === 'mysqlbinlog' ? 'mariadb-binlog' : 'mariadb') : t.setting} of the cluster's flavor`,
      });
    } else if (mariadb && t.gtidStart && !t.gtidStart.ok) {
      f.push({
        severity: 'error',
        code: 'salvage-tool',
        message: `${setting} (${t.command}): ${t.gtidStart.detail}; salvage by MariaDB GTID starts there, so it would fail and what only the dead master had would be lost`,
        fix: `install mariadb-binlog 10.8 or newer (mariadb-client) on this manager, or set ${setting} to one`,
      });
    }
  }

  for (const a of input.binlogAccess ?? []) {
    if (a.ok) continue;
    f.push({
      severity: 'warning',
      code: 'salvage-ssh',
      node: a.node,
      message: `salvage cannot read ${a.node}'s binlogs over SSH: ${a.detail}; if ${a.node} dies as the master with its host up, what only it had is lost`,
      fix: `give the ssh user (ssh.user) key access to ${a.node}'s host and read access to its binlog directory, or set binlog_dir for ${a.node}`,
    });
  }

  // Every node must answer: an unreadable node is a node heir cannot fence, elect or repoint.
  for (const n of nodes) {
    if (!n.reachable) {
      f.push({
        severity: 'error',
        code: 'unreachable',
        node: n.name,
        message: `${n.name} (${n.host}:${n.port}) cannot be reached: ${n.error?.message ?? 'no answer'}`,
        fix: 'check that mysqld runs, the address and port in the config, and the network from this manager',
      });
    } else if (n.error) {
      f.push({
        severity: 'error',
        code: 'unreadable',
        node: n.name,
        message: `${n.name} answered but could not be read completely: ${n.error.message}`,
        fix: 'usually a missing privilege: see the grants findings',
      });
    }
  }
  const live = nodes.filter((n) => n.reachable && !n.error);

  // One flavor per cluster: heir speaks one dialect per server, but replication between flavors is not promotable.
  const flavors = new Set(live.map((n) => n.version?.flavor).filter(Boolean));
  if (flavors.size > 1) {
    f.push({ severity: 'error', code: 'mixed-flavors', message: 'the cluster mixes MySQL and MariaDB servers; heir does not fail over between flavors' });
  }

  // Identity: replication breaks in confusing ways with duplicate ids.
  const byId = new Map<string, string[]>();
  for (const n of live) {
    for (const key of [n.serverId !== undefined ? `server_id ${n.serverId}` : '', n.serverUuid ? `server_uuid ${n.serverUuid}` : '']) {
      if (!key) continue;
      byId.set(key, [...(byId.get(key) ?? []), n.name]);
    }
  }
  for (const [key, names] of byId) {
    if (names.length > 1) {
      f.push({ severity: 'error', code: 'duplicate-id', message: `${names.join(', ')} share ${key}`, fix: 'give every server its own server_id (and a fresh auto.cnf for server_uuid)' });
    }
  }

  const master = findMaster(nodes, f);

  // Exactly one writable node, and it is the master.
  const writable = live.filter((n) => n.readOnly === false);
  if (writable.length > 1) {
    f.push({
      severity: 'error',
      code: 'several-writable',
      message: `${writable.length} writable nodes: ${writable.map((n) => n.name).join(', ')}; only the master may take writes`,
      fix: 'SET GLOBAL super_read_only=ON on every replica (and super_read_only=ON in its my.cnf)',
    });
  }
  if (master && master.readOnly) {
    f.push({ severity: 'error', code: 'master-read-only', node: master.name, message: `the master ${master.name} is read-only`, fix: 'if it is the master, SET GLOBAL super_read_only=OFF, read_only=OFF on it' });
  }

  // The replicas' own view of the master: how fast it can say a downed host is gone.
  const signals = live.filter((n) => isReplica(n)).map(liveness);
  for (const l of signals) {
    if (l.heartbeatPeriodS === null || (l.heartbeatPeriodS > 0 && l.heartbeatPeriodS <= SLOW_HEARTBEAT_S)) continue; // unknown, or fast enough
    const flavorOf = live.find((n) => n.name === l.node)?.version?.flavor;
    f.push({
      severity: 'warning',
      code: 'slow-heartbeat',
      node: l.node,
      message: `${l.node}: ${l.detection}`,
      fix:
        flavorOf === 'mariadb'
          ? 'STOP SLAVE; CHANGE MASTER TO MASTER_HEARTBEAT_PERIOD=1; START SLAVE (heir sets it on every replica it repoints)'
          : 'STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_HEARTBEAT_PERIOD=1; START REPLICA (heir sets it on every replica it repoints)',
    });
  }

  const maxLag = cluster.failover.max_lag_s;
  const errantBlocks = cluster.failover.errant_gtids === 'block';
  const candidates: string[] = [];

  for (const n of live) {
    if (master && n.name === master.name) continue;
    const cfg = configOf(n.name);
    let healthy = true;
    const bad = (x: Finding) => {
      healthy = false;
      f.push(x);
    };

    if (n.replication.length === 0) {
      bad({ severity: 'error', code: 'not-replicating', node: n.name, message: `${n.name} is not a replica`, fix: `point it at the master with heir's replication user` });
      continue;
    }
    if (n.replication.length > 1) {
      bad({
        severity: 'error',
        code: 'multi-source',
        node: n.name,
        message: `${n.name} is a multi-source replica (${n.replication.map((c) => c.channel || "''").join(', ')}); heir manages single-source clusters`,
        fix: 'remove the extra channels, or leave this node out of the cluster',
      });
      continue;
    }
    const ch = n.replication[0];
    if (master && !readsFrom(ch, master)) {
      const via = live.find((x) => readsFrom(ch, x));
      bad({
        severity: 'error',
        code: 'wrong-source',
        node: n.name,
        message: `${n.name} replicates from ${via ? via.name : `${ch.sourceHost}:${ch.sourcePort}`}, not from the master ${master.name}`,
        fix: `repoint it: CHANGE REPLICATION SOURCE TO SOURCE_HOST='${master.host}', SOURCE_PORT=${master.port} (MariaDB: CHANGE MASTER TO ...)`,
      });
    }
    // A stopped IO thread, or an SQL thread stopped without an error, is a finding but does
    // not make the replica unpromotable: a failover's planner elects on what it received and
    // starts its applier. An SQL thread stopped on an error does (the planner gates it).
    if (ch.ioState !== 'Yes') {
      f.push({
        severity: 'error',
        code: 'io-thread-not-running',
        node: n.name,
        message: `${n.name}: replication IO thread is ${ch.ioState === 'No' ? 'stopped' : 'connecting'} on ${channelLabel(ch)}${ch.lastIoErrno ? ` (error ${ch.lastIoErrno}: ${ch.lastIoError})` : ''}`,
        fix: ch.lastIoErrno ? 'fix the cause, then START REPLICA' : 'START REPLICA IO_THREAD',
      });
    }
    if (!ch.sqlRunning) {
      (ch.lastSqlErrno ? bad : (x: Finding) => f.push(x))({
        severity: 'error',
        code: 'sql-thread-stopped',
        node: n.name,
        message: `${n.name}: replication SQL thread is stopped on ${channelLabel(ch)}${ch.lastSqlErrno ? ` (error ${ch.lastSqlErrno}: ${ch.lastSqlError})` : ''}`,
        fix: ch.lastSqlErrno ? 'fix the cause of the error, then START REPLICA SQL_THREAD' : 'START REPLICA SQL_THREAD',
      });
    }
    if (ch.secondsBehind !== null && ch.secondsBehind > maxLag) {
      bad({
        severity: 'warning',
        code: 'lagging',
        node: n.name,
        message: `${n.name} is ${ch.secondsBehind}s behind (failover.max_lag_s ${maxLag}): it would be gated as a candidate`,
      });
    }
    if (master) {
      const errant = errantGtids(n, master);
      if (errant) {
        // With errant_gtids: warn the planner still promotes the node, so it stays a candidate.
        (errantBlocks ? bad : (x: Finding) => f.push(x))({
          severity: errantBlocks ? 'error' : 'warning',
          code: 'errant-gtids',
          node: n.name,
          message: `${n.name} has errant transactions the master lacks: ${errant}`,
          fix: 'inspect them (mysqlbinlog on the replica); apply them on the master or inject empty transactions there, or rebuild the replica',
        });
      }
    }
    if (n.version?.flavor === 'mysql' && n.gtidMode === 'ON' && !ch.gtidAutoPosition) {
      f.push({ severity: 'warning', code: 'no-auto-position', node: n.name, message: `${n.name} uses GTIDs but not auto-position`, fix: 'CHANGE REPLICATION SOURCE TO SOURCE_AUTO_POSITION=1' });
    }
    if (n.version?.flavor === 'mariadb' && ch.mariadbUsingGtid === 'No') {
      f.push({ severity: 'warning', code: 'no-gtid', node: n.name, message: `${n.name} replicates by file/position (Using_Gtid: No)`, fix: 'CHANGE MASTER TO MASTER_USE_GTID=slave_pos' });
    }
    if (n.version?.flavor === 'mysql' ? n.superReadOnly === false : n.readOnly === false) {
      f.push({
        severity: 'warning',
        code: 'replica-writable',
        node: n.name,
        message: `${n.name} is a replica without ${n.version?.flavor === 'mysql' ? 'super_read_only' : 'read_only'}`,
        fix: `SET GLOBAL ${n.version?.flavor === 'mysql' ? 'super_read_only' : 'read_only'}=ON, and the same in my.cnf so a restart comes back fenced`,
      });
    }

    // Promotability: what the planner would gate, said in advance.
    if (n.logBin === false) {
      f.push({ severity: 'warning', code: 'binlog-off', node: n.name, message: `${n.name} has no binary log: it cannot be promoted` });
      healthy = false;
    } else if (n.logReplicaUpdates === false) {
      f.push({ severity: 'warning', code: 'log-replica-updates-off', node: n.name, message: `${n.name} has log_replica_updates off: other replicas cannot catch up from it` });
    }
    if (master?.version && n.version && (n.version.major < master.version.major || (n.version.major === master.version.major && n.version.minor < master.version.minor))) {
      f.push({ severity: 'warning', code: 'older-than-master', node: n.name, message: `${n.name} runs ${n.version.raw}, older than the master's ${master.version.raw}` });
    }
    if (cfg?.promotion === 'never') healthy = false;
    if (healthy) candidates.push(n.name);
  }

  // GTID mode: one mode across the cluster.
  const modes = new Set(live.filter((n) => n.version?.flavor === 'mysql').map((n) => n.gtidMode));
  if (modes.size > 1) {
    f.push({ severity: 'error', code: 'mixed-gtid-mode', message: `gtid_mode differs between nodes (${[...modes].join(', ')})`, fix: 'set gtid_mode=ON and enforce_gtid_consistency=ON everywhere' });
  } else if (modes.has('OFF') || modes.has('OFF_PERMISSIVE') || modes.has('ON_PERMISSIVE')) {
    f.push({ severity: 'warning', code: 'gtid-off', message: 'GTIDs are not on: failover works by binlog coordinates, with less safety' });
    // Without GTIDs, a survivor behind the winner is located in the winner's binlog from the
    // winner's relay log; relay_log_purge deletes each relay log once applied.
    const purging = live.filter((n) => n !== master && n.version?.flavor === 'mysql' && n.relayLogPurge === true).map((n) => n.name);
    if (purging.length) {
      f.push({
        severity: 'warning',
        code: 'relay-log-purge',
        message: `${purging.join(', ')}: relay_log_purge is ON; without GTIDs a replica behind the new master is brought level from the new master's relay log, which this deletes once applied (a replica it no longer reaches back to is left out)`,
        fix: 'SET PERSIST relay_log_purge=OFF on every replica and purge relay logs on a schedule (as MHA also requires)',
      });
    }
  }

  if (master && candidates.length === 0) {
    f.push({ severity: 'error', code: 'no-candidate', message: 'no replica could be promoted if the master died now', fix: 'see the findings above; a promotable replica replicates without error, has binlog on and is not promotion: never' });
  }

  // Semi-sync wanted but not available.
  if (cluster.failover.semi_sync) {
    for (const n of live) {
      const s = n.semiSync;
      if (s && !s.sourceEnabled && !s.replicaEnabled) {
        f.push({ severity: 'warning', code: 'semi-sync-off', node: n.name, message: `${n.name}: failover.semi_sync is on but semi-sync is not enabled here (plugins loaded?)` });
      }
    }
  }

  // The admin account: what heir needs, with the statement to run.
  const schema = cluster.detection.heartbeat_table.split('.')[0];
  const account = `'${cluster.mysql.user}'@'<manager-host>'`;
  for (const n of live) {
    const g = input.grants[n.name];
    if (!g || !n.version) continue;
    if ('error' in g) {
      f.push({ severity: 'error', code: 'grants-unreadable', node: n.name, message: `${n.name}: SHOW GRANTS failed: ${g.error}` });
      continue;
    }
    const fam = grantFamily(n.version.flavor, n.version.major, n.version.minor);
    const required = cluster.failover.salvage.enabled ? [...HEIR_GRANTS[fam], ...SALVAGE_GRANTS[fam]] : HEIR_GRANTS[fam];
    const missing = missingGrants(g.lines, required, schema);
    if (missing.length) {
      f.push({
        severity: 'error',
        code: 'missing-privileges',
        node: n.name,
        message: `${n.name}: ${cluster.mysql.user} lacks ${missing.flatMap((m) => m.privileges.map((p) => `${p} ON ${m.on.replace('{schema}', schema)}`)).join(', ')}`,
        fix: grantStatements(missing, account, schema).join(';\n') + ';',
      });
    }
    const killMissing = missingGrants(g.lines, APPLIER_KILL_GRANTS[fam], schema);
    if (killMissing.length) {
      f.push({
        severity: 'warning',
        code: 'applier-kill-privilege',
        node: n.name,
        message: `${n.name}: ${cluster.mysql.user} lacks ${killMissing.flatMap((m) => m.privileges).join(', ')}: when the master dies in the middle of sending a transaction, this node's STOP REPLICA will wait 60 s for the rest instead of heir stopping its applier at once`,
        fix: grantStatements(killMissing, account, schema).join(';\n') + ';',
      });
    }
  }

  // The replication account: needed on the master now, and on every candidate after a failover.
  for (const n of live) {
    const present = input.replUser[n.name];
    if (present !== false) continue;
    const isMaster = master?.name === n.name;
    f.push({
      severity: isMaster ? 'error' : 'warning',
      code: 'replication-user-missing',
      node: n.name,
      message: `${n.name}: replication user '${cluster.mysql.replication_user}' does not exist${isMaster ? '' : ' (needed if this node becomes master)'}`,
      fix: `CREATE USER '${cluster.mysql.replication_user}'@'%' IDENTIFIED BY '...'; ${grantStatements(REPL_GRANTS, `'${cluster.mysql.replication_user}'@'%'`).join('; ')}; (on the master: it replicates)`,
    });
  }

  for (const a of input.address ?? []) {
    if (a.ok) continue;
    f.push({ severity: a.severity, code: `address:${a.check}`, message: `address (${cluster.address.type}): ${a.detail}` });
  }

  return {
    cluster: cluster.name,
    fit: !f.some((x) => x.severity === 'error'),
    master: master?.name,
    candidates,
    findings: f,
    liveness: signals,
  };
}
