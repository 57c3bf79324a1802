/**
 * Switchover preflight: may the master be moved to `target` right now?
 *
 * A pure function of what was read (topology snapshot, long transactions on the
 * master, the address mover's own checks, the cluster lock) and the config. It
 * never stops at the first problem: the operator gets every reason at once, each
 * naming the node and what to do about it.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../mysql/types';
import { errantGtids } from '../mysql/inspect';

/** A transaction or statement on the master that would hold the write pause open. */
export interface LongTransaction {
  /** Connection id (KILL-able). */
  connectionId: number;
  user: string;
  host: string;
  /** Seconds since the transaction started (innodb_trx) or the statement began (processlist). */
  seconds: number;
  /** 'transaction' (innodb_trx) or 'statement' (processlist). */
  kind: 'transaction' | 'statement';
  /** Rows it changed, when known. */
  rowsModified?: number;
  /** The statement it is running, shortened. */
  query?: string;
}

/** One check of the address mover's preflight, as the mover reports it. */
export interface AddressCheck {
  name: string;
  ok: boolean;
  /** 'warning': reported, never refuses. Default 'error'. */
  severity?: 'error' | 'warning';
  detail: string;
}

/** The cluster lock as seen before taking it. */
export interface LockState {
  free: boolean;
  /** Who holds it (operation, pid, host, since), when it is taken. */
  holder?: string;
}

export interface SwitchoverFacts {
  topology: TopologySnapshot;
  /** Long transactions/statements on the writable master; [] when none or not read. */
  longTransactions: LongTransaction[];
  /** Address mover kind and its preflight results. */
  address: { kind: string; checks: AddressCheck[] };
  lock: LockState;
}

export interface SwitchoverLimits {
  /** Target's Seconds_Behind_Source must be at most this. */
  maxLagS: number;
  /** Transactions/statements on the master older than this refuse the switchover. */
  maxTransactionS: number;
  /** Allow a `promotion: never` target (reported as a warning). */
  force: boolean;
}

export const DEFAULT_LIMITS: SwitchoverLimits = { maxLagS: 5, maxTransactionS: 5, force: false };

export type CheckId =
  | 'target-known'
  | 'reachable'
  | 'one-writable-master'
  | 'master-not-replicating'
  | 'target-not-master'
  | 'target-replicates-master'
  | 'target-threads'
  | 'target-errant-gtids'
  | 'target-lag'
  | 'target-promotion-rule'
  | 'target-binlog'
  | 'gtid-mode'
  | 'other-replicas'
  | 'versions'
  | 'long-transactions'
  | 'address'
  | 'lock';

export interface PreflightCheck {
  id: CheckId;
  ok: boolean;
  /** 'block' checks refuse the switchover when not ok; 'warn' ones are reported only. */
  severity: 'block' | 'warn';
  node?: string;
  detail: string;
  /** What the operator can do, when not ok. */
  fix?: string;
}

export interface Preflight {
  ok: boolean;
  cluster: string;
  /** The writable master found, when exactly one. */
  master?: string;
  target: string;
  checks: PreflightCheck[];
  /** Only the blocking failures, for a short message. */
  refusals: PreflightCheck[];
}

/** Run every check on the facts. Pure. */
export function preflight(
  facts: SwitchoverFacts,
  cluster: ClusterConfig,
  target: string,
  limits: SwitchoverLimits = DEFAULT_LIMITS,
): Preflight {
  const checks: PreflightCheck[] = [];
  const pass = (id: CheckId, detail: string, node?: string) => checks.push({ id, ok: true, severity: 'block', node, detail });
  const fail = (id: CheckId, detail: string, fix: string, node?: string) =>
    checks.push({ id, ok: false, severity: 'block', node, detail, fix });
  const warn = (id: CheckId, detail: string, fix: string, node?: string) =>
    checks.push({ id, ok: false, severity: 'warn', node, detail, fix });

  const targetCfg = cluster.nodes.find((n) => n.name === target);
  if (!targetCfg) {
    fail('target-known', `no node named "${target}" in cluster ${cluster.name}`, `use one of: ${cluster.nodes.map((n) => n.name).join(', ')}`);
  } else {
    pass('target-known', `${target} is ${targetCfg.host}:${targetCfg.port}`, target);
  }

  // Every configured node must answer: the switchover repoints all of them.
  const snaps = new Map<string, NodeSnapshot>();
  for (const n of facts.topology.nodes) snaps.set(n.name, n);
  for (const n of cluster.nodes) {
    const s = snaps.get(n.name);
    if (!s) fail('reachable', `${n.name} was not read`, 'run again; check the topology reader', n.name);
    else if (!s.reachable)
      fail('reachable', `${n.name} (${n.host}:${n.port}) unreachable: ${s.error?.code ?? ''} ${s.error?.message ?? ''}`.trim(),
        `bring ${n.name} back or remove it from the config before a switchover`, n.name);
    else pass('reachable', `${n.name} answers (${s.version?.raw ?? 'version unknown'})`, n.name);
  }

  const reachable = [...snaps.values()].filter((s) => s.reachable);
  const writable = reachable.filter((s) => s.readOnly === false);
  let master: NodeSnapshot | undefined;
  if (writable.length === 1) {
    master = writable[0];
    pass('one-writable-master', `${master.name} is the only writable node`, master.name);
  } else if (writable.length === 0) {
    fail('one-writable-master', 'no writable node: every reachable node has read_only=ON',
      'there is no master to switch from; use `heir failover` or make the master writable');
  } else {
    fail('one-writable-master', `${writable.length} writable nodes: ${writable.map((s) => s.name).join(', ')}`,
      'set read_only=ON on all but the real master, then run again');
  }

  if (master) {
    const running = master.replication.filter((c) => c.ioState !== 'No' || c.sqlRunning);
    if (running.length > 0)
      fail('master-not-replicating', `master ${master.name} itself replicates from ${running.map(chanSource).join(', ')}`,
        `circular or chained replication is not supported by switchover; stop replication on ${master.name}`, master.name);
    else pass('master-not-replicating', `${master.name} has no running replication channel`, master.name);
  }

  const t = targetCfg ? snaps.get(target) : undefined;
  if (targetCfg && master && master.name === target) {
    fail('target-not-master', `${target} is already the master`, 'nothing to do; choose another node with --to', target);
  } else if (targetCfg && t?.reachable && master) {
    pass('target-not-master', `${target} is not the master`, target);
    checkTarget(t, targetCfg, master, cluster, limits, checks);
  }

  // Other replicas are repointed; they should already follow the master.
  if (master) {
    for (const s of reachable) {
      if (s.name === master.name || s.name === target) continue;
      const ch = channelFrom(s, master, cluster);
      if (!ch) {
        warn('other-replicas', `${s.name} does not replicate from ${master.name} (${s.replication.map(chanSource).join(', ') || 'no channel'})`,
          `${s.name} will be pointed at ${target} anyway; check why it was not following ${master.name}`, s.name);
      } else if (ch.ioState !== 'Yes' || !ch.sqlRunning) {
        warn('other-replicas', `${s.name}: IO ${ch.ioState}, SQL ${ch.sqlRunning ? 'Yes' : 'No'}${ch.lastSqlError ? `: ${ch.lastSqlError}` : ''}${ch.lastIoError ? `: ${ch.lastIoError}` : ''}`,
          `fix replication on ${s.name}; its repoint to ${target} may fail`, s.name);
      } else {
        pass('other-replicas', `${s.name} replicates from ${master.name}`, s.name);
      }
    }
  }

  // Long writes on the master would hold the pause open (read_only waits for them).
  if (master) {
    const long = facts.longTransactions.filter((x) => x.seconds >= limits.maxTransactionS);
    if (long.length > 0) {
      fail('long-transactions',
        `${long.length} transaction(s) on ${master.name} running ≥ ${limits.maxTransactionS}s: ` +
          long.map((x) => `#${x.connectionId} ${x.user}@${x.host} ${x.kind} ${x.seconds}s${x.rowsModified ? ` ${x.rowsModified} rows` : ''}${x.query ? ` "${x.query}"` : ''}`).join('; '),
        `wait for them to finish or end them (KILL <id> on ${master.name}), or raise --max-trx`, master.name);
    } else {
      pass('long-transactions', `no transaction on ${master.name} older than ${limits.maxTransactionS}s`, master.name);
    }
  }

  const failedAddr = facts.address.checks.filter((c) => !c.ok && c.severity !== 'warning');
  for (const c of facts.address.checks.filter((c) => !c.ok && c.severity === 'warning'))
    warn('address', `address mover (${facts.address.kind}) ${c.name}: ${c.detail}`, 'check the address settings');
  if (failedAddr.length > 0) {
    for (const c of failedAddr)
      fail('address', `address mover (${facts.address.kind}) ${c.name}: ${c.detail}`, 'fix the address settings or cloud permissions, then run again');
  } else {
    pass('address', `address mover (${facts.address.kind}) ready${facts.address.checks.length ? `: ${facts.address.checks.map((c) => c.name).join(', ')}` : ''}`);
  }

  if (facts.lock.free) pass('lock', `no failover or switchover running on ${cluster.name}`);
  else fail('lock', `cluster ${cluster.name} is locked by ${facts.lock.holder ?? 'another operation'}`,
    'wait for it to finish; if it died, inspect and clear its journal in the state dir');

  const refusals = checks.filter((c) => !c.ok && c.severity === 'block');
  return { ok: refusals.length === 0, cluster: cluster.name, master: master?.name, target, checks, refusals };
}

function checkTarget(t: NodeSnapshot, cfg: NodeConfig, master: NodeSnapshot, cluster: ClusterConfig,
  limits: SwitchoverLimits, checks: PreflightCheck[]): void {
  const n = t.name;
  const push = (c: Omit<PreflightCheck, 'node'>) => checks.push({ ...c, node: n });

  const ch = channelFrom(t, master, cluster);
  if (t.replication.length === 0) {
    push({ id: 'target-replicates-master', ok: false, severity: 'block', detail: `${n} is not a replica (no replication channel)`,
      fix: `point ${n} at ${master.name} first, or choose a replica of ${master.name}` });
    return;
  }
  if (t.replication.length > 1) {
    push({ id: 'target-replicates-master', ok: false, severity: 'block',
      detail: `${n} has ${t.replication.length} replication channels (${t.replication.map(chanSource).join(', ')}); multi-source is not switched over`,
      fix: 'choose a single-source replica' });
    return;
  }
  if (!ch) {
    push({ id: 'target-replicates-master', ok: false, severity: 'block',
      detail: `${n} replicates from ${chanSource(t.replication[0])}, not from the master ${master.name} (${master.host}:${master.port})`,
      fix: `point ${n} at ${master.name}, or choose a direct replica of it` });
    return;
  }
  push({ id: 'target-replicates-master', ok: true, severity: 'block', detail: `${n} replicates from ${master.name}` });

  if (ch.ioState === 'Yes' && ch.sqlRunning) {
    push({ id: 'target-threads', ok: true, severity: 'block', detail: 'IO and SQL threads running' });
  } else {
    const why = [ch.lastIoError && `IO error ${ch.lastIoErrno}: ${ch.lastIoError}`, ch.lastSqlError && `SQL error ${ch.lastSqlErrno}: ${ch.lastSqlError}`]
      .filter(Boolean).join('; ');
    push({ id: 'target-threads', ok: false, severity: 'block',
      detail: `IO thread ${ch.ioState}, SQL thread ${ch.sqlRunning ? 'Yes' : 'No'}${why ? ` (${why})` : ''}`,
      fix: `fix the error and START REPLICA on ${n}` });
  }

  let errant = '';
  try {
    errant = errantGtids(t, master);
  } catch (e) {
    push({ id: 'target-errant-gtids', ok: false, severity: 'block', detail: `cannot compare GTIDs of ${n} and ${master.name}: ${(e as Error).message}`,
      fix: 'check gtid_executed on both servers' });
    errant = '';
  }
  if (errant) {
    push({ id: 'target-errant-gtids', ok: false, severity: 'block', detail: `${n} has transactions ${master.name} never had: ${errant}`,
      fix: `inspect them; if harmless, inject empty transactions for them on ${master.name}, or choose another node` });
  } else if (!checks.some((c) => c.id === 'target-errant-gtids')) {
    push({ id: 'target-errant-gtids', ok: true, severity: 'block', detail: 'no errant GTIDs' });
  }

  if (ch.secondsBehind === null) {
    push({ id: 'target-lag', ok: false, severity: 'block', detail: 'lag unknown (Seconds_Behind_Source is NULL)', fix: `start replication on ${n} and let it catch up` });
  } else if (ch.secondsBehind > limits.maxLagS) {
    push({ id: 'target-lag', ok: false, severity: 'block', detail: `${ch.secondsBehind}s behind ${master.name}, limit ${limits.maxLagS}s`,
      fix: `wait for ${n} to catch up, or raise --max-lag` });
  } else {
    push({ id: 'target-lag', ok: true, severity: 'block', detail: `${ch.secondsBehind}s behind (limit ${limits.maxLagS}s)` });
  }

  if (cfg.promotion === 'never') {
    if (limits.force)
      push({ id: 'target-promotion-rule', ok: false, severity: 'warn', detail: `${n} has promotion: never; overridden by --force`, fix: 'none' });
    else
      push({ id: 'target-promotion-rule', ok: false, severity: 'block', detail: `${n} has promotion: never in the config`,
        fix: 'choose another node, change its promotion rule, or pass --force' });
  } else {
    push({ id: 'target-promotion-rule', ok: true, severity: 'block', detail: `promotion: ${cfg.promotion}` });
  }

  if (t.logBin === false) {
    push({ id: 'target-binlog', ok: false, severity: 'block', detail: 'binary log is off: no one could replicate from it', fix: `enable log_bin on ${n}` });
  } else if (t.logReplicaUpdates === false) {
    push({ id: 'target-binlog', ok: false, severity: 'block', detail: 'log_replica_updates is off: replicas behind it could not get what it replicated',
      fix: `enable log_replica_updates (log_slave_updates) on ${n}` });
  } else {
    push({ id: 'target-binlog', ok: true, severity: 'block', detail: 'log_bin and log_replica_updates on' });
  }

  const flavor = t.version?.flavor ?? master.version?.flavor;
  if (flavor === 'mysql') {
    const off = [master, t].filter((s) => s.gtidMode !== 'ON');
    if (off.length || !ch.gtidAutoPosition)
      push({ id: 'gtid-mode', ok: false, severity: 'block',
        detail: off.length ? `gtid_mode is ${off.map((s) => `${s.gtidMode ?? 'unknown'} on ${s.name}`).join(', ')}` : `${n} does not use GTID auto-position`,
        fix: 'switchover needs GTID replication (gtid_mode=ON, SOURCE_AUTO_POSITION=1)' });
    else push({ id: 'gtid-mode', ok: true, severity: 'block', detail: 'GTID auto-position' });
  } else if (flavor === 'mariadb') {
    if (ch.mariadbUsingGtid === 'No')
      push({ id: 'gtid-mode', ok: false, severity: 'block', detail: `${n} replicates by file/position (Using_Gtid: No)`,
        fix: `CHANGE MASTER TO MASTER_USE_GTID=slave_pos on ${n}` });
    else push({ id: 'gtid-mode', ok: true, severity: 'block', detail: `MariaDB GTID (${ch.mariadbUsingGtid ?? 'Slave_Pos'})` });
  }

  if (t.version && master.version) {
    const targetOlder = cmpVersion(master.version, t.version) > 0;
    if (t.version.flavor !== master.version.flavor)
      push({ id: 'versions', ok: false, severity: 'block', detail: `${n} is ${t.version.flavor}, ${master.name} is ${master.version.flavor}`,
        fix: 'switch over only between servers of one flavor' });
    else if (targetOlder)
      push({ id: 'versions', ok: false, severity: 'warn', detail: `${n} (${t.version.raw}) is older than ${master.name} (${master.version.raw}); fine for the switch, but replicas newer than their source is the supported way`,
        fix: 'upgrade replicas first, then switch to an upgraded one' });
    else push({ id: 'versions', ok: true, severity: 'block', detail: `${t.version.raw}` });
  }
}

function cmpVersion(a: { major: number; minor: number; patch: number }, b: { major: number; minor: number; patch: number }): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

function chanSource(c: ReplicationChannel): string {
  return `${c.sourceHost}:${c.sourcePort}${c.channel ? ` (channel ${c.channel})` : ''}`;
}

/** The channel of `s` that replicates from `master`, matched by address or server id. */
export function channelFrom(s: NodeSnapshot, master: NodeSnapshot, cluster: ClusterConfig): ReplicationChannel | undefined {
  const mcfg = cluster.nodes.find((n) => n.name === master.name);
  const hosts = new Set([master.host, mcfg?.host].filter(Boolean) as string[]);
  const port = mcfg?.port ?? master.port;
  return s.replication.find(
    (c) =>
      (hosts.has(c.sourceHost) && c.sourcePort === port) ||
      (master.serverId !== undefined && c.sourceServerId !== 0 && c.sourceServerId === master.serverId && c.sourcePort === port),
  );
}

/** One line per check, for terminals. */
export function formatPreflight(p: Preflight): string[] {
  return p.checks.map((c) => {
    const mark = c.ok ? 'ok  ' : c.severity === 'block' ? 'FAIL' : 'warn';
    return `  ${mark} ${c.id.padEnd(24)} ${c.detail}${!c.ok && c.fix ? `\n       → ${c.fix}` : ''}`;
  });
}
