/**
 * Topology inspection: read servers into plain snapshots (types.ts).
 *
 * readNode never throws. A server that cannot be connected to comes back as
 * reachable:false with the error (code, errno, message); classifyError() in
 * conn.ts tells whether that error still proves mysqld is up. A server that
 * answered but where a core statement failed (e.g. missing privilege for
 * SHOW REPLICA STATUS) comes back as reachable:true *with* error set and the
 * fields that could not be read left undefined: callers must not treat such a
 * snapshot as complete (e.g. an empty replication list is then unknown, not
 * "not a replica"). Optional extras (heartbeat times from performance_schema,
 * semi-sync variables) are left null/false when unavailable.
 *
 * Read coordinates on a GTID auto-position replica can trail the source's
 * binlog end right after the IO thread (re)connects: the source skips what the
 * replica already has, and the position is refreshed by the next event or
 * heartbeat. Compare GTIDs rather than coordinates on such replicas.
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { classifyError, Conn, connOptions, MysqlError } from './conn';
import { SEMI_SYNC_VAR_SETS, type Dialect } from './dialect';
import { GtidSet } from './gtid';
import { errantFromBinlogStates, gtidListText, MariaGtidPos, parseGtidList } from './mariadb-gtid';
import type { BinlogCoordinates, Flavor, NodeSnapshot, ReplicationChannel, SemiSyncState, TopologySnapshot } from './types';

type Row = Record<string, any>;

/** First present column among names (SHOW REPLICA STATUS vs SHOW SLAVE STATUS vocabulary). */
function col(row: Row, ...names: string[]): any {
  for (const n of names) if (row[n] !== undefined) return row[n];
  return undefined;
}

function num(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function onOff(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  const s = String(v).toUpperCase();
  return s === '1' || s === 'ON' || s === 'YES' || s === 'TRUE';
}

/** MySQL GTID set text, normalized when it parses (one line, merged intervals); '' for null. */
function normGtidSet(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  const g = GtidSet.tryParse(s);
  return g ? g.toString() : s.replace(/\s+/g, '');
}

function normMariaPos(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  const p = MariaGtidPos.tryParse(s);
  return p ? p.toString() : s.replace(/\s+/g, '');
}

function coords(file: unknown, pos: unknown): BinlogCoordinates | null {
  const f = file === null || file === undefined ? '' : String(file);
  const p = num(pos);
  if (!f || p === null) return null;
  return { file: f, pos: p };
}

/** One row of SHOW REPLICA STATUS / SHOW SLAVE STATUS / SHOW ALL SLAVES STATUS as a channel. Pure. */
export function parseReplicaStatusRow(row: Row, flavor: Flavor): ReplicationChannel {
  const io = String(col(row, 'Replica_IO_Running', 'Slave_IO_Running') ?? 'No');
  const ioState: ReplicationChannel['ioState'] = io === 'Yes' ? 'Yes' : io === 'No' ? 'No' : 'Connecting';
  const ch: ReplicationChannel = {
    channel: String(col(row, 'Channel_Name', 'Connection_name') ?? ''),
    sourceHost: String(col(row, 'Source_Host', 'Master_Host') ?? ''),
    sourcePort: num(col(row, 'Source_Port', 'Master_Port')) ?? 0,
    ioState,
    sqlRunning: String(col(row, 'Replica_SQL_Running', 'Slave_SQL_Running') ?? 'No') === 'Yes',
    lastIoErrno: num(row.Last_IO_Errno) ?? 0,
    lastIoError: String(row.Last_IO_Error ?? ''),
    lastSqlErrno: num(row.Last_SQL_Errno) ?? 0,
    lastSqlError: String(row.Last_SQL_Error ?? ''),
    secondsBehind: num(col(row, 'Seconds_Behind_Source', 'Seconds_Behind_Master')),
    sourceServerId: num(col(row, 'Source_Server_Id', 'Master_Server_Id')) ?? 0,
    read: coords(col(row, 'Source_Log_File', 'Master_Log_File'), col(row, 'Read_Source_Log_Pos', 'Read_Master_Log_Pos')),
    exec: coords(col(row, 'Relay_Source_Log_File', 'Relay_Master_Log_File'), col(row, 'Exec_Source_Log_Pos', 'Exec_Master_Log_Pos')),
    retrievedGtidSet: flavor === 'mysql' ? normGtidSet(row.Retrieved_Gtid_Set) : '',
    gtidAutoPosition: false,
    sqlThreadState: String(col(row, 'Replica_SQL_Running_State', 'Slave_SQL_Running_State') ?? ''),
    ioThreadState: String(col(row, 'Replica_IO_State', 'Slave_IO_State') ?? ''),
  };
  if (row.Relay_Log_File) ch.relayLogFile = String(row.Relay_Log_File);
  if (flavor === 'mysql') {
    ch.gtidAutoPosition = num(row.Auto_Position) === 1;
    ch.sourceUuid = String(col(row, 'Source_UUID', 'Master_UUID') ?? '');
  } else {
    const using = String(row.Using_Gtid ?? 'No');
    ch.mariadbUsingGtid = using === 'Current_Pos' ? 'Current_Pos' : using === 'Slave_Pos' ? 'Slave_Pos' : 'No';
    ch.gtidAutoPosition = ch.mariadbUsingGtid !== 'No';
    ch.mariadbGtidIoPos = normMariaPos(row.Gtid_IO_Pos);
    const hb = num(row.Slave_received_heartbeats);
    ch.heartbeatsReceived = hb;
    ch.heartbeatPeriodS = num(row.Slave_heartbeat_period);
    ch.lastHeardSecondsAgo = null;
  }
  return ch;
}

/** All replication channels of a server, via its dialect. */
export async function readChannels(c: Conn): Promise<ReplicationChannel[]> {
  const rows = await c.query(c.dialect.showAllReplicasStatus());
  const chs = rows.map((r) => parseReplicaStatusRow(r, c.version.flavor));
  if (c.version.flavor === 'mysql' && chs.some((ch) => ch.lastSqlErrno !== 0)) await addWorkerErrors(c, chs);
  return chs;
}

/**
 * With parallel appliers MySQL reports only "Coordinator stopped because there
 * were error(s) in the worker(s)" as Last_SQL_Error; the worker's own error
 * (e.g. the duplicate key) is in performance_schema. Put it in front.
 */
async function addWorkerErrors(c: Conn, chs: ReplicationChannel[]): Promise<void> {
  let rows: Row[];
  try {
    rows = await c.query(
      `SELECT CHANNEL_NAME AS channel, LAST_ERROR_NUMBER AS errno, LAST_ERROR_MESSAGE AS msg
         FROM performance_schema.replication_applier_status_by_worker
        WHERE LAST_ERROR_NUMBER <> 0 ORDER BY LAST_ERROR_TIMESTAMP DESC`,
    );
  } catch {
    return;
  }
  for (const ch of chs) {
    if (!ch.lastSqlErrno || !/Coordinator stopped/i.test(ch.lastSqlError)) continue;
    const w = rows.find((r) => String(r.channel ?? '') === ch.channel);
    if (!w) continue;
    ch.lastSqlErrno = num(w.errno) ?? ch.lastSqlErrno;
    ch.lastSqlError = `${String(w.msg ?? '')} (applier worker; ${ch.lastSqlError})`;
  }
}

/** SHOW BINARY LOG STATUS / SHOW MASTER STATUS; undefined when binlog is off. */
export async function readBinlogStatus(c: Conn): Promise<BinlogCoordinates | undefined> {
  const [row] = await c.query(c.dialect.showBinlogStatus());
  if (!row) return undefined;
  return coords(row.File, row.Position) ?? undefined;
}

/**
 * MySQL: per-channel heartbeat count and seconds since the replica last heard from its
 * source (server clock), from performance_schema.replication_connection_status.
 *
 * "Last heard" is the later of the last heartbeat and the last transaction queued. A
 * source sends heartbeats only while its binary log is idle, so under steady writes the
 * heartbeat timestamp stands still and only the queue timestamp moves. With
 * performance_schema=OFF (MySQL 9.7 seen here) the table still answers: heartbeats are
 * counted and timestamped, but the queue timestamps are NULL, so the last heartbeat is
 * all there is and dates from before the writes began. Then "last heard" is unknown,
 * not that heartbeat: a busy master would look silent (a manager-only partition became a
 * failover that way). The heartbeat count still moves while the source is idle.
 */
async function addMysqlHeartbeats(c: Conn, channels: ReplicationChannel[], snap: NodeSnapshot): Promise<void> {
  for (const ch of channels) {
    ch.heartbeatsReceived = null;
    ch.lastHeardSecondsAgo = null;
  }
  let rows: Row[];
  try {
    rows = await c.query(
      `SELECT s.CHANNEL_NAME AS channel, s.COUNT_RECEIVED_HEARTBEATS AS hb,
              UNIX_TIMESTAMP(NOW(6)) AS now_s,
              UNIX_TIMESTAMP(s.LAST_HEARTBEAT_TIMESTAMP) AS hb_s,
              UNIX_TIMESTAMP(s.LAST_QUEUED_TRANSACTION_END_QUEUE_TIMESTAMP) AS q_s,
              c.HEARTBEAT_INTERVAL AS period_s, @@global.performance_schema AS ps
         FROM performance_schema.replication_connection_status s
         LEFT JOIN performance_schema.replication_connection_configuration c ON c.CHANNEL_NAME = s.CHANNEL_NAME`,
    );
  } catch {
    return; // no access: leave unknown
  }
  for (const r of rows) {
    const ch = channels.find((x) => x.channel === String(r.channel ?? ''));
    if (!ch) continue;
    snap.performanceSchema = onOff(r.ps);
    ch.heartbeatsReceived = num(r.hb);
    ch.heartbeatPeriodS = num(r.period_s);
    if (!snap.performanceSchema) continue;
    const now = num(r.now_s);
    const last = Math.max(num(r.hb_s) ?? 0, num(r.q_s) ?? 0);
    ch.lastHeardSecondsAgo = now !== null && last > 0 ? Math.max(0, now - last) : null;
  }
}

/** Semi-sync state from whichever variable names the loaded plugin exposes; all false when none is loaded. */
export async function readSemiSync(c: Conn): Promise<SemiSyncState> {
  const state: SemiSyncState = { sourceEnabled: false, sourceActive: false, replicaEnabled: false, replicaActive: false };
  let vars: Row[] = [];
  let status: Row[] = [];
  try {
    vars = await c.query("SHOW GLOBAL VARIABLES LIKE 'rpl\\_semi\\_sync\\_%enabled'");
    status = await c.query("SHOW GLOBAL STATUS LIKE 'Rpl\\_semi\\_sync\\_%status'");
  } catch {
    return state;
  }
  const v = new Map(vars.map((r) => [String(r.Variable_name).toLowerCase(), r.Value]));
  const s = new Map(status.map((r) => [String(r.Variable_name).toLowerCase(), r.Value]));
  for (const names of SEMI_SYNC_VAR_SETS) {
    state.sourceEnabled ||= onOff(v.get(names.sourceEnabled.toLowerCase()));
    state.replicaEnabled ||= onOff(v.get(names.replicaEnabled.toLowerCase()));
    state.sourceActive ||= onOff(s.get(names.sourceStatus.toLowerCase()));
    state.replicaActive ||= onOff(s.get(names.replicaStatus.toLowerCase()));
  }
  return state;
}

function errorOf(e: unknown): { code: string; errno?: number; message: string } {
  if (e instanceof MysqlError) return { code: e.code, errno: e.errno, message: e.message };
  const any = e as any;
  return { code: String(any?.code ?? 'UNKNOWN'), errno: typeof any?.errno === 'number' ? any.errno : undefined, message: String(any?.message ?? e) };
}

async function readVariables(c: Conn, d: Dialect, snap: NodeSnapshot): Promise<void> {
  if (d.flavor === 'mysql') {
    const [r] = await c.query(
      `SELECT @@global.server_id AS server_id, @@global.server_uuid AS uuid, @@global.read_only AS ro,
              ${d.hasSuperReadOnly ? '@@global.super_read_only' : '0'} AS sro, @@global.log_bin AS log_bin,
              @@global.${d.logReplicaUpdatesVar} AS lru, @@global.gtid_mode AS gtid_mode, @@global.gtid_executed AS executed,
              @@global.performance_schema AS ps, @@global.${d.netTimeoutVar} AS net_timeout, @@global.relay_log_purge AS rlp`,
    );
    snap.relayLogPurge = onOff(r.rlp);
    snap.serverId = num(r.server_id) ?? undefined;
    snap.serverUuid = String(r.uuid ?? '').toLowerCase() || undefined;
    snap.readOnly = onOff(r.ro);
    snap.superReadOnly = onOff(r.sro);
    snap.logBin = onOff(r.log_bin);
    snap.logReplicaUpdates = onOff(r.lru);
    snap.gtidMode = String(r.gtid_mode ?? 'OFF');
    snap.executedGtid = normGtidSet(r.executed);
    snap.performanceSchema = onOff(r.ps);
    snap.netTimeoutS = num(r.net_timeout) ?? undefined;
  } else {
    const [r] = await c.query(
      `SELECT @@global.server_id AS server_id, @@global.read_only AS ro, @@global.log_bin AS log_bin,
              @@global.log_slave_updates AS lru, @@global.gtid_current_pos AS cur,
              @@global.gtid_binlog_pos AS bin, @@global.gtid_slave_pos AS slave, @@global.gtid_binlog_state AS state,
              @@global.performance_schema AS ps, @@global.slave_net_timeout AS net_timeout`,
    );
    snap.serverId = num(r.server_id) ?? undefined;
    snap.readOnly = onOff(r.ro);
    snap.logBin = onOff(r.log_bin);
    snap.logReplicaUpdates = onOff(r.lru);
    snap.executedGtid = normMariaPos(r.cur);
    snap.mariadb = { binlogPos: normMariaPos(r.bin), slavePos: normMariaPos(r.slave), binlogState: normMariaPos(r.state) };
    snap.performanceSchema = onOff(r.ps);
    snap.netTimeoutS = num(r.net_timeout) ?? undefined;
  }
}

/**
 * Reads one node. Never throws: unreachable → reachable:false + error;
 * a failed core statement → reachable:true + error (see the file comment).
 */
export async function readNode(cluster: ClusterConfig, node: NodeConfig): Promise<NodeSnapshot> {
  const snap: NodeSnapshot = { name: node.name, host: node.host, port: node.port, takenAt: Date.now(), reachable: false, replication: [] };
  let c: Conn;
  try {
    c = await Conn.open(connOptions(cluster, node));
  } catch (e) {
    snap.error = errorOf(e);
    return snap;
  }
  try {
    snap.reachable = true;
    snap.version = c.version;
    const d = c.dialect;
    let step = 'reading server variables';
    try {
      await readVariables(c, d, snap);
      step = `reading replication status (${d.showAllReplicasStatus()})`;
      snap.replication = await readChannels(c);
      if (d.flavor === 'mysql') {
        if (snap.replication.length) await addMysqlHeartbeats(c, snap.replication, snap);
      } else {
        const io = snap.replication.map((ch) => ch.mariadbGtidIoPos ?? '').filter(Boolean);
        if (snap.mariadb && io.length) {
          let max = MariaGtidPos.empty();
          for (const p of io) max = max.max(MariaGtidPos.tryParse(p) ?? MariaGtidPos.empty());
          snap.mariadb.ioPos = max.toString();
        }
        // MariaDB always assigns GTIDs; "ON" means they are in use for positioning.
        snap.gtidMode = snap.replication.length
          ? snap.replication.some((ch) => ch.gtidAutoPosition)
            ? 'ON'
            : 'OFF'
          : snap.mariadb?.binlogPos
            ? 'ON'
            : 'OFF';
      }
      if (snap.logBin) {
        step = `reading binlog status (${d.showBinlogStatus()})`;
        snap.binlog = await readBinlogStatus(c);
      }
      snap.semiSync = await readSemiSync(c);
    } catch (e) {
      const err = errorOf(e);
      snap.error = { ...err, message: `${err.message} (while ${step})` };
      // A lost connection midway means the server is not answering now.
      if (classifyError(e) === 'unreachable' || classifyError(e) === 'shutting-down') snap.reachable = false;
    }
  } finally {
    await c.close();
  }
  snap.takenAt = Date.now();
  return snap;
}

/** Reads every node of the cluster in parallel. */
export async function readTopology(cluster: ClusterConfig): Promise<TopologySnapshot> {
  const takenAt = Date.now();
  const nodes = await Promise.all(cluster.nodes.map((n) => readNode(cluster, n)));
  return { cluster: cluster.name, takenAt, nodes };
}

/**
 * Everything the node has, applied or only received:
 * MySQL: gtid_executed ∪ every channel's Retrieved_Gtid_Set;
 * MariaDB: per-domain max of gtid_current_pos and the received Gtid_IO_Pos.
 * '' when unknown.
 */
export function receivedGtid(n: NodeSnapshot): string {
  return withReceived(n.version?.flavor === 'mariadb' ? 'mariadb' : 'mysql', n.executedGtid ?? '', n.replication, n.mariadb?.ioPos);
}

/**
 * `executed` together with what `channels` received (pure): MySQL, the union with each
 * Retrieved_Gtid_Set; MariaDB, the per-domain max with each Gtid_IO_Pos (and `mariadbIoPos`).
 */
export function withReceived(flavor: Flavor, executed: string, channels: readonly ReplicationChannel[], mariadbIoPos?: string): string {
  if (flavor === 'mariadb') {
    let p = MariaGtidPos.tryParse(executed) ?? MariaGtidPos.empty();
    for (const s of [mariadbIoPos, ...channels.map((ch) => ch.mariadbGtidIoPos)]) {
      if (s) p = p.max(MariaGtidPos.tryParse(s) ?? MariaGtidPos.empty());
    }
    return p.toString();
  }
  let g = GtidSet.tryParse(executed) ?? GtidSet.empty();
  for (const ch of channels) if (ch.retrievedGtidSet) g = g.union(GtidSet.tryParse(ch.retrievedGtidSet) ?? GtidSet.empty());
  return g.toString();
}

/**
 * Transactions a replica has that the master does not ('' when none or unknown).
 *
 * MySQL: replica gtid_executed − master gtid_executed, leaving out GTIDs of the
 * master's own server_uuid: snapshots are read in parallel, so a replica read a
 * moment after the master may already hold the master's newest transactions.
 *
 * MariaDB: positions keep only the last GTID per domain, so the rule works on
 * those: an entry d-s-q of the replica's gtid_binlog_pos (what it wrote to its
 * own binlog, local writes included) is errant when s is not the master's
 * server_id and the master (max of its gtid_binlog_pos and gtid_current_pos)
 * either has no domain d, or is behind q in d, or has seq q in d from another
 * server (the same seq written twice: diverged histories). Entries carrying
 * the master's server_id are the master's own transactions (same race as
 * above). When both servers' gtid_binlog_state is known the rule works on it
 * instead (errantFromBinlogStates): a local write followed by replicated
 * transactions in the same domain is no longer visible in gtid_binlog_pos, but
 * its (domain, server_id) entry stays in the binlog state.
 */
export function errantGtids(replica: NodeSnapshot, master: NodeSnapshot): string {
  const flavor = replica.version?.flavor;
  if (!flavor || flavor !== master.version?.flavor) return '';
  if (flavor === 'mysql') {
    const r = GtidSet.tryParse(replica.executedGtid ?? '');
    const m = GtidSet.tryParse(master.executedGtid ?? '');
    if (!r || !m || replica.executedGtid === undefined || master.executedGtid === undefined) return '';
    let extra = r.subtract(m);
    if (master.serverUuid) extra = extra.onlyUuid(master.serverUuid, { exclude: true });
    return extra.toString();
  }
  // gtid_binlog_state (every server_id's last GTID): a local write stays visible after
  // replicated transactions follow it in the same domain.
  const rs = parseGtidList(replica.mariadb?.binlogState ?? '');
  const ms = parseGtidList(master.mariadb?.binlogState ?? '');
  if (replica.mariadb?.binlogState !== undefined && master.mariadb?.binlogState !== undefined && rs && ms && replica.serverId !== undefined) {
    if (replica.serverId === master.serverId) return '';
    return gtidListText(errantFromBinlogStates(rs, replica.serverId, [ms]));
  }
  const r = MariaGtidPos.tryParse(replica.mariadb?.binlogPos ?? '');
  if (!r || master.mariadb === undefined) return '';
  const m = (MariaGtidPos.tryParse(master.mariadb.binlogPos) ?? MariaGtidPos.empty()).max(
    MariaGtidPos.tryParse(master.executedGtid ?? '') ?? MariaGtidPos.empty(),
  );
  const errant = r.entries().filter((e) => {
    if (master.serverId !== undefined && e.server === master.serverId) return false;
    const mine = m.get(e.domain);
    if (!mine) return true;
    if (e.seq > mine.seq) return true;
    return e.seq === mine.seq && e.server !== mine.server;
  });
  return MariaGtidPos.of(errant).toString();
}
