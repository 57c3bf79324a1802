/**
 * The cluster invariant every failover, switchover, rejoin and "must not fail over" test
 * ends with. It reads the real servers (through their local sockets, as root) and reports
 * every violation at once, naming the node and the value:
 *
 *   - exactly one reachable node is writable (read_only=0), the expected master; every other
 *     reachable node has read_only=1 and, where the server has it, super_read_only=1 (also a
 *     node the failover left out on purpose: only its role is checked);
 *   - every survivor replicates from the master: both threads running, no error, and it
 *     converges within a bound (GTID: its executed set contains the master's and has nothing
 *     the master lacks; MariaDB: its
 *     gtid_slave_pos reaches the master's gtid_binlog_pos; file/position: its executed
 *     coordinates in the master's binlog reach the master's binlog position);
 *   - every acknowledged id is on the master and on every survivor; no id exists that was
 *     never attempted;
 *   - the address (when the test has one) is on the master and nowhere else;
 *   - the failover's report (when given) matches what the servers hold: its new master is the
 *     master; of the ids only the dead master had (when the test knows them), as many are on
 *     the master as the report says it salvaged, and those missing are within what it says
 *     may be lost.
 */
import assert from 'node:assert/strict';
import { GtidSet } from '../../src/mysql/gtid';
import { MariaGtidPos } from '../../src/mysql/mariadb-gtid';
import type { LabCluster, LabNode } from '../lab';

export interface InvariantInput {
  lab: LabCluster;
  /** The node that must be the one writable master. */
  master: string;
  /** Nodes left out (the dead old master, a node the test stopped): not read at all. */
  absent?: string[];
  /**
   * Nodes the failover left out on purpose while they run (a dropped winner): read for their
   * role only — read-only like every node but the master, so still no second writable node —
   * not for replication, convergence, errant transactions or rows.
   */
  leftOut?: string[];
  /** The application's table (`schema.table`) with an integer `id` column. */
  table?: string;
  /** Ids the servers acknowledged to the application. */
  acked?: number[];
  /** Every id ever attempted is at most this (ids above it must not exist); a function is asked after the rows are read (a writer still running). */
  maxAttemptedId?: number | (() => number);
  /** Was this id ever attempted (written, acknowledged or not)? Ids it denies must not exist. */
  attempted?: (id: number) => boolean;
  /** Where the address is, as node names (e.g. the namespaces holding the floating IP). */
  addressHolders?: () => Promise<string[]>;
  /** The failover's report, whose figures are checked against the servers (see report below). */
  report?: InvariantReport;
  /**
   * Ids only the dead master had when it died (the test cut the replicas off before writing
   * them), each written in a transaction of its own: with `report`, how many of them the
   * master holds must be the report's salvage count, and those it lacks must be within the
   * report's possibly-lost counts.
   */
  onlyOnDeadMaster?: number[];
  /** How long survivors may take to converge (ms; default 30 s). */
  convergeMs?: number;
  /**
   * Survivors delayed on purpose (SOURCE_DELAY): their role, threads and source are checked,
   * not convergence or rows.
   */
  delayed?: string[];
}

/** The figures of a failover report the invariant checks. */
export interface InvariantReport {
  newMaster?: string | null;
  salvage?: { count: number };
  possiblyLost?: { count: number | null }[];
}

/** The report's figures against the servers' rows: every mismatch, in words. */
export function reportViolations(master: string, r: InvariantReport, onlyOnDeadMaster: number[] | undefined, onMaster: Set<number> | undefined): string[] {
  const bad: string[] = [];
  if (r.newMaster != null && r.newMaster !== master) bad.push(`the report names ${r.newMaster} the new master, the servers ${master}`);
  if (onlyOnDeadMaster && onMaster) {
    const got = onlyOnDeadMaster.filter((id) => onMaster.has(id)).length;
    if (r.salvage && r.salvage.count !== got) bad.push(`the report says ${r.salvage.count} transaction(s) salvaged; ${master} holds ${got} of the ${onlyOnDeadMaster.length} only the dead master had`);
    const missing = onlyOnDeadMaster.length - got;
    const declared = (r.possiblyLost ?? []).reduce((a, x) => a + (x.count ?? Infinity), 0);
    if (missing > declared) bad.push(`${missing} of the ${onlyOnDeadMaster.length} ids only the dead master had are not on ${master}; the report says ${declared} may be lost`);
  }
  return bad;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface NodeState {
  name: string;
  ro: boolean;
  sro: boolean | null;
  executed: string;
  binlogPos: string;
  binlog: { file: string; pos: number } | null;
  channels: Record<string, any>[];
}

async function readState(lab: LabCluster, n: LabNode): Promise<NodeState> {
  const mysql = lab.flavor === 'mysql';
  const [v] = await lab.sql(
    n,
    mysql
      ? 'SELECT @@global.read_only AS ro, @@global.super_read_only AS sro, @@global.gtid_executed AS ex, @@global.gtid_mode AS gm'
      : 'SELECT @@global.read_only AS ro, @@global.gtid_slave_pos AS ex, @@global.gtid_binlog_pos AS bp',
  );
  const channels = await lab.sql(n, mysql ? 'SHOW REPLICA STATUS' : 'SHOW ALL SLAVES STATUS');
  const [b] = await lab.sql(n, mysql ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
  return {
    name: n.name,
    ro: Number(v.ro) === 1,
    sro: mysql ? Number(v.sro) === 1 : null,
    executed: String(v.ex ?? '').replace(/\s+/g, ''),
    binlogPos: String(v.bp ?? ''),
    binlog: b ? { file: String(b.File), pos: Number(b.Position) } : null,
    channels,
  };
}

const col = (r: Record<string, any>, a: string, b: string) => r[a] ?? r[b];

/** Whether `s` has everything master `m` has, in the lab's positioning mode. */
function converged(lab: LabCluster, m: NodeState, s: NodeState): boolean {
  const ch = s.channels[0];
  if (lab.flavor === 'mysql') {
    const gtid = GtidSet.tryParse(m.executed);
    if (gtid && !gtid.isEmpty()) return (GtidSet.tryParse(s.executed) ?? GtidSet.empty()).contains(gtid);
    if (!ch || !m.binlog) return false;
    return col(ch, 'Relay_Source_Log_File', 'Relay_Master_Log_File') === m.binlog.file && Number(col(ch, 'Exec_Source_Log_Pos', 'Exec_Master_Log_Pos')) >= m.binlog.pos;
  }
  const usingGtid = ch && String(ch.Using_Gtid ?? 'No') !== 'No';
  if (usingGtid) return MariaGtidPos.parse(s.executed).contains(MariaGtidPos.parse(m.binlogPos));
  if (!ch || !m.binlog) return false;
  return ch.Relay_Master_Log_File === m.binlog.file && Number(ch.Exec_Master_Log_Pos) >= m.binlog.pos;
}

async function ids(lab: LabCluster, n: string, table: string): Promise<Set<number>> {
  const rows = await lab.sql(n, `SELECT id FROM ${table}`);
  return new Set(rows.map((r) => Number(r.id)));
}

/** Roles, replication threads and sources, convergence: every violation, in words. */
function roleViolations(lab: LabCluster, master: LabNode, states: Map<string, NodeState>, delayed: Set<string>, leftOut: Set<string>): string[] {
  const bad: string[] = [];
  const m = states.get(master.name);
  const writable = [...states.values()].filter((s) => !s.ro).map((s) => s.name);
  if (writable.length !== 1 || writable[0] !== master.name) bad.push(`writable nodes: ${writable.join(', ') || 'none'} (exactly ${master.name} expected)`);
  for (const s of states.values()) {
    if (s.name === master.name) {
      if (s.channels.length) bad.push(`${s.name} (master) still has replication configured from ${col(s.channels[0]!, 'Source_Host', 'Master_Host')}`);
      continue;
    }
    if (!s.ro) bad.push(`${s.name}: read_only=0 (a survivor must be read-only)`);
    if (s.sro === false) bad.push(`${s.name}: super_read_only=0 (a survivor must be super_read_only)`);
    if (leftOut.has(s.name)) continue;
    const ch = s.channels[0];
    if (!ch) {
      bad.push(`${s.name}: not replicating (no channel)`);
      continue;
    }
    const src = `${col(ch, 'Source_Host', 'Master_Host')}:${col(ch, 'Source_Port', 'Master_Port')}`;
    if (src !== `${master.host}:${master.port}`) bad.push(`${s.name}: replicates from ${src}, not from ${master.name} (${master.host}:${master.port})`);
    const io = col(ch, 'Replica_IO_Running', 'Slave_IO_Running');
    const sqlRunning = col(ch, 'Replica_SQL_Running', 'Slave_SQL_Running');
    if (io !== 'Yes' || sqlRunning !== 'Yes') {
      bad.push(`${s.name}: IO ${io}, SQL ${sqlRunning} (IO error ${ch.Last_IO_Errno}: ${ch.Last_IO_Error}; SQL error ${ch.Last_SQL_Errno}: ${ch.Last_SQL_Error})`);
    }
    if (m && !delayed.has(s.name) && !converged(lab, m, s)) {
      bad.push(`${s.name}: has not converged with ${master.name} within the bound (has ${s.executed || '?'}, master ${lab.flavor === 'mysql' ? m.executed : m.binlogPos})`);
    }
  }
  return bad;
}

/** Checks the invariant; throws one AssertionError listing every violation. */
export async function assertInvariant(i: InvariantInput): Promise<void> {
  const { lab } = i;
  const bad: string[] = [];
  const absent = new Set(i.absent ?? []);
  const delayed = new Set(i.delayed ?? []);
  const leftOut = new Set(i.leftOut ?? []);
  const nodes = lab.nodes.filter((n) => !absent.has(n.name));
  const master = lab.nodes.find((n) => n.name === i.master);
  if (!master) throw new Error(`invariant: no node named ${i.master}`);
  const deadline = Date.now() + (i.convergeMs ?? 30_000);

  // Roles, threads and convergence: re-read until nothing is wrong or the bound passes (a
  // replica just started is Connecting for a moment), then judge the last reading.
  let states: Map<string, NodeState> = new Map();
  let found: string[] = [];
  for (;;) {
    states = new Map();
    found = [];
    for (const n of nodes) {
      try {
        states.set(n.name, await readState(lab, n));
      } catch (e) {
        found.push(`${n.name}: cannot be read (${(e as Error).message})`);
      }
    }
    found.push(...roleViolations(lab, master, states, delayed, leftOut));
    if (found.length === 0 || Date.now() > deadline) break;
    await sleep(200);
  }
  bad.push(...found);
  const m = states.get(master.name);

  // No survivor has transactions the master lacks (MySQL GTIDs; the master is read again
  // after the survivors, so what it committed meanwhile is not taken for errant).
  if (lab.flavor === 'mysql' && m && GtidSet.tryParse(m.executed) && !GtidSet.tryParse(m.executed)!.isEmpty()) {
    const again = await readState(lab, master).catch(() => undefined);
    const mset = GtidSet.tryParse(again?.executed ?? m.executed) ?? GtidSet.empty();
    for (const s of states.values()) {
      if (s.name === master.name || leftOut.has(s.name)) continue;
      const extra = (GtidSet.tryParse(s.executed) ?? GtidSet.empty()).subtract(mset);
      if (!extra.isEmpty()) bad.push(`${s.name}: has transactions the master lacks (errant): ${extra.toString()}`);
    }
  }

  // Rows: every acknowledged id on every reachable node, no id that was never attempted.
  if (i.table && i.acked) {
    for (const n of nodes) {
      if (!states.has(n.name) || delayed.has(n.name) || leftOut.has(n.name)) continue;
      let have: Set<number>;
      const until = Date.now() + 10_000;
      for (;;) {
        have = await ids(lab, n.name, i.table);
        if (i.acked.every((id) => have.has(id)) || Date.now() > until) break;
        await sleep(200);
      }
      const missing = i.acked.filter((id) => !have.has(id));
      if (missing.length) bad.push(`${n.name}: ${missing.length} acknowledged id(s) missing (${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''})`);
      const max = typeof i.maxAttemptedId === 'function' ? i.maxAttemptedId() : i.maxAttemptedId;
      const phantom = [...have].filter((id) => (max !== undefined && id > max) || (i.attempted !== undefined && !i.attempted(id)));
      if (phantom.length) bad.push(`${n.name}: ids never attempted exist (${phantom.slice(0, 10).join(', ')}${phantom.length > 10 ? ', …' : ''})`);
    }
  }

  if (i.report) {
    const onMaster = i.onlyOnDeadMaster && i.table && states.has(master.name) ? await ids(lab, master.name, i.table) : undefined;
    bad.push(...reportViolations(master.name, i.report, i.onlyOnDeadMaster, onMaster));
  }

  if (i.addressHolders) {
    const holders = await i.addressHolders();
    if (holders.length !== 1 || holders[0] !== master.name) bad.push(`address on ${holders.join(', ') || 'no node'} (on ${master.name} only expected)`);
  }

  assert.deepEqual(bad, [], `cluster invariant (master ${master.name}):\n  ${bad.join('\n  ')}`);
}
