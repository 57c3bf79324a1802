/**
 * Operations on one server, each through the connection's dialect. Used by
 * failover, switchover and the monitor. Every wait is bounded by its timeout
 * (plus the connection's query timeout for the round trip).
 */
import { Conn, MysqlError } from './conn';
import { coordsEqual, compareCoords } from './coords';
import { SEMI_SYNC_VAR_SETS, type ChangeSourceOptions } from './dialect';
import { GtidSet } from './gtid';
import { readChannels, withReceived } from './inspect';
import { MariaGtidPos } from './mariadb-gtid';
import type { BinlogCoordinates, ReplicationChannel } from './types';

export type { ChangeSourceOptions } from './dialect';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fail(c: Conn, code: string, message: string, statement?: string): MysqlError {
  return new MysqlError({ server: c.name, code, message, statement });
}

/** Query timeout for a server-side wait of timeoutS seconds. */
function waitBudgetMs(c: Conn, timeoutS: number): number {
  return Math.ceil(Math.max(1, Math.ceil(timeoutS)) * 1000) + c.options.queryTimeoutMs;
}

/**
 * on: read_only=1 then super_read_only=1 (MySQL); off: super_read_only=0 then
 * read_only=0. MariaDB has only read_only: holders of READ ONLY ADMIN (part of
 * SUPER in older releases) can still write, so fencing a MariaDB master also
 * relies on taking its address away. SET GLOBAL read_only=1 waits for running
 * writes and table locks; the query timeout bounds that wait.
 */
export async function setReadOnly(c: Conn, on: boolean): Promise<void> {
  for (const s of c.dialect.setReadOnly(on)) await c.exec(s);
}

/**
 * Fence a node that must not take writes: read-only (super_read_only where the server has
 * it) now, and persisted where the server can (so a restart comes back fenced). A failed
 * persist does not undo the fence: it is said in `persisted`.
 */
export async function fenceReadOnly(c: Conn): Promise<{ persisted: string }> {
  await setReadOnly(c, true);
  const persist = c.dialect.persistReadOnly();
  if (persist.length === 0) return { persisted: `not persisted (${c.version.raw} has no SET PERSIST: set read_only=ON in its my.cnf)` };
  try {
    for (const s of persist) await c.exec(s);
    return { persisted: 'persisted (SET PERSIST)' };
  } catch (e) {
    return { persisted: `not persisted: ${(e as Error).message}` };
  }
}

/**
 * Asks read_only first and fences only a writable node (one round trip when it is already
 * read-only): what a watch on an old master does on every connection it gets.
 */
export async function fenceIfWritable(c: Conn): Promise<{ fenced: false } | { fenced: true; persisted: string }> {
  const [r] = await c.query('SELECT @@global.read_only AS ro');
  if (Number(r?.ro) !== 0) return { fenced: false };
  return { fenced: true, ...(await fenceReadOnly(c)) };
}

export async function stopReplicaIo(c: Conn): Promise<void> {
  await c.exec(c.dialect.stopReplicaIo());
}

/**
 * STOP REPLICA waits for the applier to reach a transaction boundary (with
 * parallel workers, a gap-free point), which can take longer than a query
 * normally may on a replica with a backlog: give it its own bound.
 */
export async function stopReplica(c: Conn, timeoutS?: number): Promise<void> {
  await c.exec(c.dialect.stopReplica(), timeoutS === undefined ? undefined : Math.max(1, timeoutS) * 1000);
}

export async function startReplicaIo(c: Conn): Promise<void> {
  await c.exec(c.dialect.startReplicaIo());
}

export async function startReplica(c: Conn): Promise<void> {
  await c.exec(c.dialect.startReplica());
}

export async function resetReplicaAll(c: Conn): Promise<void> {
  await c.exec(c.dialect.resetReplicaAll());
}

/** CHANGE REPLICATION SOURCE / CHANGE MASTER. Replication must be stopped. The password never appears in errors. */
export async function changeSource(c: Conn, o: ChangeSourceOptions): Promise<void> {
  const sql = c.dialect.changeSource(o);
  try {
    await c.exec(sql);
  } catch (e) {
    if (!(e instanceof MysqlError)) throw e;
    let detail = e.detail;
    if (o.password.length >= 3) detail = detail.split(o.password).join('***');
    throw new MysqlError({
      server: e.server,
      code: e.code,
      errno: e.errno,
      sqlState: e.sqlState,
      fatal: e.fatal,
      message: `${detail} (repointing to ${o.host}:${o.port}; stop replication first and check the replication user)`,
      statement: sql,
    });
  }
}

/** Everything executed: MySQL @@gtid_executed, MariaDB @@gtid_current_pos; normalized. */
export async function executedGtid(c: Conn): Promise<string> {
  const v = c.dialect.executedGtidVar;
  const [r] = await c.query(`SELECT @@global.${v} AS g`);
  const s = String(r?.g ?? '');
  if (c.version.flavor === 'mariadb') return (MariaGtidPos.tryParse(s) ?? MariaGtidPos.empty()).toString();
  return (GtidSet.tryParse(s) ?? GtidSet.empty()).toString();
}

/** Whether `have` holds `want` (a MySQL GTID set, or a MariaDB position per domain). */
function holds(c: Conn, have: string, want: string): boolean {
  if (c.version.flavor === 'mariadb') return MariaGtidPos.parse(have).contains(MariaGtidPos.parse(want));
  return GtidSet.parse(have).contains(GtidSet.parse(want));
}

async function hasGtid(c: Conn, gtid: string): Promise<boolean> {
  return holds(c, await executedGtid(c), gtid);
}

/**
 * Waits until the server has executed gtid (MySQL set / MariaDB position).
 * true when reached, false on timeout. Returns at once when already there
 * (MariaDB's MASTER_GTID_WAIT only watches gtid_slave_pos, so a server's own
 * writes are checked against gtid_current_pos first). timeoutS <= 0 only checks.
 */
export async function waitForGtid(c: Conn, gtid: string, timeoutS: number): Promise<boolean> {
  if (gtid.trim() === '') return true;
  if (await hasGtid(c, gtid)) return true;
  if (!(timeoutS > 0)) return false;
  const sql = c.dialect.waitForGtid(gtid, timeoutS);
  const [r] = await c.query<{ r: unknown }>(sql, undefined, waitBudgetMs(c, timeoutS));
  const res = c.dialect.waitResult('gtid', r?.r);
  if (res === 'reached') return true;
  if (res === 'timeout') return false;
  throw fail(c, 'HEIR_WAIT_FAILED', `waiting for GTIDs returned ${String(r?.r)}; is GTID mode on?`, sql);
}

/**
 * Waits until the replica's SQL thread has executed up to coords of its
 * source's binlog. true when reached, false on timeout; throws when the
 * server cannot wait (SQL thread not running, no source configured).
 */
export async function waitForPos(c: Conn, coords: BinlogCoordinates, timeoutS: number): Promise<boolean> {
  if (!(timeoutS > 0)) {
    const ch = pickChannel(await readChannels(c));
    return !!ch?.exec && compareCoords(ch.exec, coords) >= 0;
  }
  const sql = c.dialect.waitForPos(coords, timeoutS);
  const [r] = await c.query<{ r: unknown }>(sql, undefined, waitBudgetMs(c, timeoutS));
  const res = c.dialect.waitResult('pos', r?.r);
  if (res === 'reached') return true;
  if (res === 'timeout') return false;
  throw fail(
    c,
    'HEIR_WAIT_FAILED',
    `waiting for ${coords.file}:${coords.pos} returned NULL: the SQL thread is not running or no source is configured`,
    sql,
  );
}

/** The default channel ('' name), else the only/first one. */
function pickChannel(chs: ReplicationChannel[]): ReplicationChannel | undefined {
  return chs.find((ch) => ch.channel === '') ?? chs[0];
}

const IDLE_RE = /has read all relay log/i;

/**
 * Why a channel whose SQL thread (or coordinator) has read all its relay log is still
 * applying, or undefined when what is left is at most one transaction that no one applies
 * (received only in part): more than one received transaction unapplied, a replication
 * thread waiting for a lock, or an applier transaction that changed rows since the last look.
 */
async function applierBusy(
  c: Conn,
  executed: GtidSet | MariaGtidPos,
  ch: ReplicationChannel,
  seen: { rows?: string },
): Promise<string | undefined> {
  if (executed instanceof GtidSet) {
    const left = GtidSet.tryParse(ch.retrievedGtidSet)?.subtract(executed).count() ?? 0n;
    if (left > 1n) return `${left} received transactions are not applied yet`;
  } else if (ch.mariadbGtidIoPos) {
    const io = MariaGtidPos.tryParse(ch.mariadbGtidIoPos);
    const left = io ? executed.distance(io) : 0n;
    if (left > 1n) return `${left} received transactions are not applied yet`;
  }
  const threads = (await c.query<Record<string, unknown>>('SHOW PROCESSLIST')).filter((p) => String(p.User ?? '') === 'system user');
  const locked = threads.find((p) => /lock/i.test(String(p.State ?? '')));
  if (locked) return `a replication thread waits: ${String(locked.State)}`;
  const ids = threads.map((p) => Number(p.Id)).filter((n) => Number.isInteger(n) && n > 0);
  if (ids.length === 0) return undefined;
  const trx = await c.query<{ id: unknown; st: unknown; r: unknown }>(
    `SELECT trx_id AS id, trx_state AS st, trx_rows_modified AS r FROM information_schema.innodb_trx WHERE trx_mysql_thread_id IN (${ids.join(',')}) ORDER BY trx_id`,
  );
  if (trx.some((t) => String(t.st) === 'LOCK WAIT')) return 'a replication thread waits for a row lock';
  // Open applier transactions with changes: judged on two looks (a partial one stands still).
  const rows = trx.filter((t) => Number(t.r) > 0).map((t) => `${String(t.id)}:${String(t.r)}`).join(',');
  const before = seen.rows;
  seen.rows = rows;
  if (rows === '') return undefined;
  if (before === undefined) return 'an applier transaction holds changes: looking again';
  return rows !== before ? 'an applier transaction is changing rows' : undefined;
}

/**
 * Waits until everything each channel received is applied. A channel counts
 * as applied when any of these holds:
 * - GTID: MySQL gtid_executed ⊇ Retrieved_Gtid_Set; MariaDB gtid_slave_pos ⊇ Gtid_IO_Pos;
 * - exec coordinates == read coordinates;
 * - the IO thread is not running, the SQL thread reports it has read all relay
 *   log, and exec coordinates did not move for 3 polls over at least 1 s
 *   (covers a transaction the IO thread received only in part, which is
 *   never applied).
 * true when applied, false on timeout. Throws when a channel's SQL thread is
 * stopped while something is unapplied (nothing would apply it). onPoll runs after each
 * poll that found something unapplied; what it throws ends the wait.
 */
export async function waitRelayApplied(c: Conn, timeoutS: number, o: { onPoll?: () => Promise<void> } = {}): Promise<boolean> {
  const deadline = Date.now() + Math.max(0, timeoutS) * 1000;
  const still = new Map<string, { exec: string; since: number; polls: number; rows?: string }>();
  let interval = 50;
  for (;;) {
    const chs = await readChannels(c);
    if (chs.length === 0) return true;
    let executed: GtidSet | MariaGtidPos;
    if (c.version.flavor === 'mariadb') {
      const [r] = await c.query('SELECT @@global.gtid_slave_pos AS g');
      executed = MariaGtidPos.tryParse(String(r?.g ?? '')) ?? MariaGtidPos.empty();
    } else {
      executed = GtidSet.tryParse(await executedGtid(c)) ?? GtidSet.empty();
    }
    const now = Date.now();
    let all = true;
    for (const ch of chs) {
      let done = false;
      if (executed instanceof GtidSet) {
        const retrieved = GtidSet.tryParse(ch.retrievedGtidSet);
        if (retrieved && !retrieved.isEmpty() && executed.contains(retrieved)) done = true;
      } else if (ch.mariadbGtidIoPos) {
        const io = MariaGtidPos.tryParse(ch.mariadbGtidIoPos);
        if (io && !io.isEmpty() && executed.contains(io)) done = true;
      }
      if (!done && coordsEqual(ch.exec, ch.read)) done = true;
      const key = ch.channel;
      const execText = ch.exec ? `${ch.exec.file}:${ch.exec.pos}` : '';
      const prev = still.get(key);
      if (!prev || prev.exec !== execText) still.set(key, { exec: execText, since: now, polls: 1 });
      else prev.polls++;
      if (!done && ch.ioState !== 'Yes' && IDLE_RE.test(ch.sqlThreadState ?? '')) {
        const s = still.get(key)!;
        if (s.polls >= 3 && now - s.since >= 1000) {
          // A parallel applier's coordinator says the same while its workers still apply (a
          // long transaction) or wait for a lock: only a lone partial transaction is left over.
          const busy = await applierBusy(c, executed, ch, s);
          if (!busy) done = true;
        }
      }
      if (!done && !ch.sqlRunning) {
        throw fail(
          c,
          'HEIR_SQL_THREAD_STOPPED',
          `channel '${ch.channel}': the SQL thread is stopped with relay log left to apply` +
            (ch.lastSqlErrno ? ` (last SQL error ${ch.lastSqlErrno}: ${ch.lastSqlError})` : '') +
            '; start it or fix the error',
        );
      }
      if (!done) all = false;
    }
    if (all) return true;
    if (Date.now() >= deadline) return false;
    await o.onPoll?.();
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
    interval = Math.min(250, interval * 2);
  }
}

/**
 * Polls until the default channel's IO thread is 'Yes' and its SQL thread
 * runs; returns that channel. Throws at once when a thread stopped with an
 * error, and at timeout with the last IO/SQL errors.
 */
export async function verifyReplicating(c: Conn, timeoutS: number): Promise<ReplicationChannel> {
  const deadline = Date.now() + Math.max(0, timeoutS) * 1000;
  for (;;) {
    const ch = pickChannel(await readChannels(c));
    if (!ch) throw fail(c, 'HEIR_NOT_A_REPLICA', `no replication is configured (${c.dialect.showAllReplicasStatus()} is empty)`);
    if (ch.ioState === 'Yes' && ch.sqlRunning) return ch;
    const src = `${ch.sourceHost}:${ch.sourcePort}`;
    if (!ch.sqlRunning && ch.lastSqlErrno) {
      throw fail(c, 'HEIR_REPLICATION_SQL_ERROR', `replication from ${src}: SQL thread stopped with error ${ch.lastSqlErrno}: ${ch.lastSqlError}`);
    }
    if (ch.ioState === 'No' && ch.lastIoErrno) {
      throw fail(c, 'HEIR_REPLICATION_IO_ERROR', `replication from ${src}: IO thread stopped with error ${ch.lastIoErrno}: ${ch.lastIoError}`);
    }
    if (Date.now() >= deadline) {
      const io = ch.lastIoErrno ? ` (last IO error ${ch.lastIoErrno}: ${ch.lastIoError})` : '';
      const sq = ch.lastSqlErrno ? ` (last SQL error ${ch.lastSqlErrno}: ${ch.lastSqlError})` : '';
      throw fail(
        c,
        'HEIR_REPLICATION_NOT_RUNNING',
        `replication from ${src} is not running after ${timeoutS} s: IO thread ${ch.ioState}${io}, SQL thread ${ch.sqlRunning ? 'Yes' : 'No'}${sq}; ` +
          'check the source address, the replication user and START REPLICA',
      );
    }
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())));
  }
}

/** Whether what the replica executed and received (its relay log) holds `gtid` (GTID modes). */
export async function hasReceived(c: Conn, ch: ReplicationChannel, gtid: string): Promise<boolean> {
  return holds(c, withReceived(c.version.flavor, await executedGtid(c), [ch]), gtid);
}

/**
 * Both threads running, and then `reached` true, checked until timeoutS; throws with the
 * replication error when a thread stops, or `notReached` at the deadline.
 */
async function verifyUntil(c: Conn, timeoutS: number, reached: (ch: ReplicationChannel) => Promise<boolean>, notReached: () => MysqlError): Promise<ReplicationChannel> {
  const deadline = Date.now() + Math.max(0, timeoutS) * 1000;
  for (;;) {
    const ch = await verifyReplicating(c, Math.max(0, (deadline - Date.now()) / 1000));
    if (await reached(ch)) return ch;
    if (Date.now() >= deadline) throw notReached();
    await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
  }
}

/**
 * A repointed replica follows its new source once it has received what the source had
 * executed when the check began (GTID modes): both threads saying Yes right after START
 * REPLICA proves nothing, since the receiver may be refused a moment later (1236: the source
 * purged what it lacks). Receiving is fast even when the applier lags behind. Throws with
 * the replication error when a thread stops, or when it has not received that within timeoutS.
 */
export function verifyReceiving(c: Conn, gtid: string, timeoutS: number): Promise<ReplicationChannel> {
  return verifyUntil(
    c,
    timeoutS,
    (ch) => hasReceived(c, ch, gtid),
    () => fail(c, 'HEIR_REPLICATION_NOT_RECEIVING', `${timeoutS} s after the repoint it has still not received what its source had executed (${gtid})`),
  );
}

/**
 * A replica whose SQL thread had stopped on an error before it was repointed: both threads
 * running proves nothing, since its applier retries the failing transaction a moment later
 * and stops on it again. It is verified once it has executed `gtid` (the new master's
 * executed set when the check began, which holds that transaction). Throws with the
 * replication error when its SQL thread stops again, or when it has not got there within
 * timeoutS.
 */
export function verifyApplying(c: Conn, gtid: string, timeoutS: number): Promise<ReplicationChannel> {
  return verifyUntil(
    c,
    timeoutS,
    () => hasGtid(c, gtid),
    () =>
      fail(
        c,
        'HEIR_REPLICATION_NOT_APPLYING',
        `its SQL thread had stopped on an error before the failover, and ${timeoutS} s after the repoint it has still not executed what the new master had (${gtid}): ` +
          'look at its applier (SHOW REPLICA STATUS, performance_schema.replication_applier_status_by_worker)',
      ),
  );
}

/**
 * Semi-sync role: 'source' enables the source side (and disables the replica
 * side), 'replica' the reverse, 'off' both. Uses whichever variable names the
 * loaded plugin has (rpl_semi_sync_source_* or rpl_semi_sync_master_*). The
 * replica side takes effect when the IO thread reconnects, so a running IO
 * thread is restarted when that side changes. Throws when the needed plugin is
 * not loaded.
 */
export async function setSemiSync(c: Conn, role: 'source' | 'replica' | 'off'): Promise<void> {
  const rows = await c.query("SHOW GLOBAL VARIABLES LIKE 'rpl\\_semi\\_sync\\_%enabled'");
  const vars = new Map(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value).toUpperCase()]));
  const sourceVar = SEMI_SYNC_VAR_SETS.map((s) => s.sourceEnabled).find((n) => vars.has(n));
  const replicaVar = SEMI_SYNC_VAR_SETS.map((s) => s.replicaEnabled).find((n) => vars.has(n));
  const mysql = c.version.flavor === 'mysql';
  if (role === 'source' && !sourceVar) {
    throw fail(
      c,
      'HEIR_SEMI_SYNC_UNAVAILABLE',
      mysql
        ? "semi-sync source plugin is not loaded: add plugin-load-add=semisync_source.so to my.cnf or run INSTALL PLUGIN rpl_semi_sync_source SONAME 'semisync_source.so'"
        : 'semi-sync master variables are missing on this MariaDB server',
    );
  }
  if (role === 'replica' && !replicaVar) {
    throw fail(
      c,
      'HEIR_SEMI_SYNC_UNAVAILABLE',
      mysql
        ? "semi-sync replica plugin is not loaded: add plugin-load-add=semisync_replica.so to my.cnf or run INSTALL PLUGIN rpl_semi_sync_replica SONAME 'semisync_replica.so'"
        : 'semi-sync slave variables are missing on this MariaDB server',
    );
  }
  const wantSource = role === 'source';
  const wantReplica = role === 'replica';
  if (sourceVar && (vars.get(sourceVar) === 'ON') !== wantSource) await c.exec(`SET GLOBAL ${sourceVar} = ${wantSource ? 1 : 0}`);
  let replicaChanged = false;
  if (replicaVar && (vars.get(replicaVar) === 'ON') !== wantReplica) {
    await c.exec(`SET GLOBAL ${replicaVar} = ${wantReplica ? 1 : 0}`);
    replicaChanged = true;
  }
  if (replicaChanged) {
    const ch = pickChannel(await readChannels(c));
    if (ch && ch.ioState !== 'No') {
      await c.exec(c.dialect.stopReplicaIo());
      await c.exec(c.dialect.startReplicaIo());
    }
  }
}
