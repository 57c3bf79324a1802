/**
 * The server-side building blocks of a failover, each one thin and named for
 * what it does to one server. The failover executor strings them together;
 * switchover reuses promote, repoint and verify (and catch-up, to bring a
 * target level). Each works through the connection's dialect (src/mysql).
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { MysqlError, type Conn } from '../mysql/conn';
import { compareCoords, coordsEqual } from '../mysql/coords';
import { GtidSet } from '../mysql/gtid';
import { readBinlogStatus, readChannels } from '../mysql/inspect';
import {
  changeSource,
  executedGtid,
  hasReceived,
  resetReplicaAll,
  setReadOnly,
  setSemiSync,
  startReplica,
  startReplicaIo,
  stopReplica,
  stopReplicaIo,
  verifyApplying,
  verifyReceiving,
  verifyReplicating,
  waitForGtid,
  waitRelayApplied,
} from '../mysql/ops';
import type { BinlogCoordinates, Flavor, ReplicationChannel } from '../mysql/types';
import { applierMoved, applierToCut, drainVerdict, type ApplierSample, type ApplierThread } from './drain';
import { sshExec, sshTarget } from '../ssh';
import { killMysqldCommand, parseKill, type KillResult } from '../monitor/host-script';

export type RepointPosition = { kind: 'gtid' } | { kind: 'file'; file: string; pos: number };

/**
 * Stop the IO thread (receiving) and leave the SQL thread applying. Returns whether it was
 * replicating. A SQL thread that must be running before the IO thread stops (see
 * applierFirst) is started first.
 */
export async function freezeReplica(c: Conn): Promise<{ wasReplica: boolean; ioWasRunning: boolean }> {
  const chs = await readChannels(c);
  if (chs.length === 0) return { wasReplica: false, ioWasRunning: false };
  const ioWasRunning = chs.some((ch) => ch.ioState !== 'No');
  if (chs.some((ch) => applierFirst(c.version.flavor, ch))) await c.exec(`${c.dialect.startReplica()} SQL_THREAD`);
  await stopReplicaIo(c);
  return { wasReplica: true, ioWasRunning };
}

/**
 * MariaDB with GTID positioning (MASTER_USE_GTID=slave_pos/current_pos) deletes a channel's
 * relay log when one of its threads is started while both are stopped, and the IO thread
 * then fetches again from gtid_slave_pos. A SQL thread stopped without an error (by hand)
 * must therefore be started while the IO thread still runs: stopped first, the drain's
 * START SLAVE SQL_THREAD would throw away everything received and not applied, which the
 * election has counted as the node's. Pure.
 */
export function applierFirst(flavor: Flavor, ch: ReplicationChannel): boolean {
  return flavor === 'mariadb' && ch.mariadbUsingGtid !== undefined && ch.mariadbUsingGtid !== 'No' && !ch.sqlRunning && ch.lastSqlErrno === 0 && ch.ioState !== 'No';
}

/** A drain given up: the node's applier is stuck (see drain.ts); the message says why. */
export class DrainStuck extends Error {}

/**
 * A catch-up whose source cannot serve what the winner lacks: the winner's receiver stopped
 * on an error from it (e.g. 1236, the source purged those transactions from its binlog)
 * before it had received them. Nothing more can arrive: waiting for the applier would only
 * cost apply_timeout_s.
 */
export class SourceCannotServe extends DrainStuck {}

/**
 * Wait until everything received is applied, for as long as the applier makes progress:
 * stuck (no progress for stallS, or maxS passed) throws DrainStuck; a SQL thread stopped with
 * relay log left throws as waitRelayApplied does. A SQL thread stopped without an error is
 * started first. Returns how long it took and the last progress seen.
 */
export async function drainWatched(c: Conn, o: { stallS: number; maxS: number }): Promise<WatchedWait> {
  const chs = await readChannels(c);
  if (chs.length === 0) return { waitedMs: 0 };
  if (chs.some((ch) => !ch.sqlRunning && ch.lastSqlErrno === 0)) {
    await c.exec(`${c.dialect.startReplica()} SQL_THREAD`);
  }
  const watch = await ApplierWatch.start(c, o);
  const applied = await waitRelayApplied(c, watch.leftS(), { onPoll: () => watch.poll() });
  if (!applied) watch.expired();
  return watch.result();
}

/** How long a watched wait took, and the last progress of the applier seen during it. */
export interface WatchedWait {
  waitedMs: number;
  progress?: string;
}

/**
 * One node's applier watched during a wait, judged by drain.ts: poll() samples it (at most
 * every SAMPLE_MS) and throws DrainStuck once it is stuck; expired() throws it when the wait
 * ran out of its time (failover.drain_max_s).
 */
class ApplierWatch {
  private lastMovedAt: number | undefined;
  private progress: string | undefined;

  private constructor(
    private readonly c: Conn,
    private readonly o: { stallS: number; maxS: number },
    private readonly startedAt: number,
    private prev: ApplierSample,
  ) {}

  static async start(c: Conn, o: { stallS: number; maxS: number }): Promise<ApplierWatch> {
    const startedAt = Date.now();
    return new ApplierWatch(c, o, startedAt, await sampleApplier(c));
  }

  /** Seconds left until failover.drain_max_s. */
  leftS(): number {
    return Math.max(0, this.o.maxS - (Date.now() - this.startedAt) / 1000);
  }

  async poll(): Promise<void> {
    if (Date.now() - this.prev.at < SAMPLE_MS) return;
    const cur = await sampleApplier(this.c);
    const moved = applierMoved(this.prev, cur);
    if (moved) {
      this.lastMovedAt = cur.at;
      this.progress = moved;
    }
    this.prev = cur;
    this.judge(cur.at);
  }

  expired(): void {
    this.judge(Math.max(Date.now(), this.startedAt + this.o.maxS * 1000));
  }

  result(): WatchedWait {
    return { waitedMs: Date.now() - this.startedAt, ...(this.progress ? { progress: this.progress } : {}) };
  }

  private judge(now: number): void {
    const v = drainVerdict({ startedAt: this.startedAt, lastMovedAt: this.lastMovedAt, now, stallS: this.o.stallS, maxS: this.o.maxS });
    if (v.stuck) throw new DrainStuck(v.why);
  }
}

/** How often a draining applier is sampled for progress. */
const SAMPLE_MS = 500;

/** The applier's executed position and the rows its open transactions changed (see drain.ts). */
export async function sampleApplier(c: Conn): Promise<ApplierSample> {
  const [g] = await c.query<{ g: unknown }>(c.version.flavor === 'mariadb' ? 'SELECT @@global.gtid_slave_pos AS g' : 'SELECT @@global.gtid_executed AS g');
  const chs = await readChannels(c);
  const rows = await c.query<{ id: unknown; r: unknown }>(
    'SELECT trx_id AS id, trx_rows_modified AS r FROM information_schema.innodb_trx WHERE trx_rows_modified > 0 AND (trx_mysql_thread_id IS NULL OR trx_mysql_thread_id <> CONNECTION_ID())',
  );
  const executed = [String(g?.g ?? '').replace(/\s+/g, ''), ...chs.map((ch) => `${ch.channel}@${ch.exec ? `${ch.exec.file}:${ch.exec.pos}` : ''}`)].join(' ');
  return { at: Date.now(), executed, trx: Object.fromEntries(rows.map((r) => [String(r.id), Number(r.r)])) };
}

/**
 * Replicate from `source` until `until` (GTID set / MariaDB position) is executed, then
 * stop. The caller has drained the relay log first: changing the source discards it. Waited
 * for as long as this node's applier makes progress on what it fetches (a long transaction),
 * by drain.ts's rule: stuck (no progress for stallS, a SQL thread error, maxS passed) throws
 * DrainStuck; whole transactions applied until then stay.
 */
export async function catchUpFrom(
  c: Conn,
  cluster: ClusterConfig,
  source: NodeConfig,
  until: string,
  o: { stallS: number; maxS: number },
): Promise<WatchedWait> {
  // Drained and its receiver stopped: a relay log ending inside a transaction shows here.
  const [before] = await readChannels(c);
  if (await switchReceiver(c, cluster, source)) await startReplicaIo(c);
  else {
    await stopReplica(c, o.stallS);
    await changeSource(c, sourceOptions(cluster, source, { kind: 'gtid' }));
    await startReplica(c);
  }
  try {
    const watch = await ApplierWatch.start(c, o);
    for (;;) {
      const left = watch.leftS();
      if (await waitForGtid(c, until, Math.min(1, left))) return watch.result();
      if (left <= 1) watch.expired();
      const ch = (await readChannels(c))[0];
      if (ch && !ch.sqlRunning && ch.lastSqlErrno) {
        throw new DrainStuck(`its SQL thread stopped with error ${ch.lastSqlErrno}: ${ch.lastSqlError}`);
      }
      if (ch && ch.ioState === 'No' && ch.lastIoErrno && !(await hasReceived(c, ch, until))) {
        throw new SourceCannotServe(`its IO thread from ${source.name} stopped with error ${ch.lastIoErrno}: ${ch.lastIoError}`);
      }
      try {
        await watch.poll();
      } catch (e) {
        // Say why nothing arrives when the receiver cannot fetch from the source.
        if (e instanceof DrainStuck && ch?.lastIoErrno) throw new DrainStuck(`${e.message}; its IO thread from ${source.name}: error ${ch.lastIoErrno}: ${ch.lastIoError}`);
        throw e;
      }
    }
  } catch (e) {
    // The source's stream never began, so nothing discarded a partial transaction at the end
    // of the relay log: the applier still holds that group and the STOP below would wait 60 s
    // for its rest. Cut it once the applier waits for nothing else.
    if (e instanceof SourceCannotServe && before && partialTail(before)) {
      const cut = await cutPartialTail(c, Math.min(10, o.stallS), { before });
      if (cut) e.message = `${e.message}; ${cut.detail}`;
    }
    throw e;
  } finally {
    await stopReplica(c, o.stallS);
  }
}

/**
 * File/position: replicate from `source`'s binlog from `at` (where the first transaction this
 * node lacks begins) until it has applied up to `end` (the source's binlog end, the source
 * frozen and drained), then stop. Waited for by drain.ts's rule, as catchUpFrom.
 */
export async function catchUpFromCoords(
  c: Conn,
  cluster: ClusterConfig,
  source: NodeConfig,
  at: BinlogCoordinates,
  end: BinlogCoordinates,
  o: { stallS: number; maxS: number },
): Promise<WatchedWait & { tail?: string }> {
  // A relay log ending inside a transaction its dead source never finished sending would hold
  // this STOP for 60 s; the change of source discards that relay log, `at` follows what was applied.
  const tail = (await cutPartialTail(c, Math.min(10, o.stallS)))?.detail;
  await stopReplica(c, o.stallS);
  await changeSource(c, sourceOptions(cluster, source, { kind: 'file', file: at.file, pos: at.pos }));
  await startReplica(c);
  try {
    const watch = await ApplierWatch.start(c, o);
    for (;;) {
      const ch = (await readChannels(c)).find((x) => x.sourceHost === source.host && x.sourcePort === source.port);
      if (ch?.exec && compareCoords(ch.exec, end) >= 0) return { ...watch.result(), ...(tail ? { tail } : {}) };
      const left = watch.leftS();
      if (left <= 0) watch.expired();
      if (ch && !ch.sqlRunning && ch.lastSqlErrno) throw new DrainStuck(`its SQL thread stopped with error ${ch.lastSqlErrno}: ${ch.lastSqlError}`);
      try {
        await watch.poll();
      } catch (e) {
        if (e instanceof DrainStuck && ch?.lastIoErrno) throw new DrainStuck(`${e.message}; its IO thread from ${source.name}: error ${ch.lastIoErrno}: ${ch.lastIoError}`);
        throw e;
      }
      await new Promise((r) => setTimeout(r, Math.min(100, Math.max(10, left * 1000))));
    }
  } finally {
    await stopReplica(c, o.stallS);
  }
}

/**
 * Make the node a master: replication stopped and forgotten, writable. The
 * binlog position is read after replication stopped and before anything is
 * written, so file/position replicas that applied the same can start there.
 */
export async function promoteToMaster(
  c: Conn,
  o: { semiSync?: boolean; stopTimeoutS?: number; at?: (point: 'stopped' | 'binlog' | 'reset' | 'writable', data?: { binlog?: BinlogCoordinates }) => void | Promise<void> } = {},
): Promise<{ binlog?: BinlogCoordinates }> {
  // When the dead master's last transaction reached the relay log only in part and a
  // parallel applier had begun to schedule it, MySQL's STOP REPLICA waits up to 60 s for
  // the rest before it gives up: the caller bounds it (apply_timeout_s), not the query timeout.
  await stopReplica(c, o.stopTimeoutS).catch(async (e) => {
    // Not a replica any more (a rerun after a promotion): nothing to stop.
    if ((await readChannels(c)).length > 0) throw e;
  });
  await o.at?.('stopped');
  const binlog = await readBinlogStatus(c);
  await o.at?.('binlog', { binlog });
  await resetReplicaAll(c);
  await o.at?.('reset');
  await setReadOnly(c, false);
  await o.at?.('writable');
  if (o.semiSync) await setSemiSync(c, 'source');
  return { binlog };
}

/**
 * After a drain, the relay log ends inside a transaction its source never finished sending:
 * the applier has run everything whole, yet its executed coordinates stop short of what was
 * read. MySQL's multi-threaded applier has begun that group, and STOP REPLICA then waits 60 s
 * for the rest before it gives up with error 1756.
 */
export function partialTail(ch: ReplicationChannel): boolean {
  return ch.ioState === 'No' && ch.sqlRunning && !!ch.read && !!ch.exec && !coordsEqual(ch.read, ch.exec);
}

/**
 * MySQL with GTID auto-positioning: point the receiver (IO thread) at `to` and leave the
 * applier running. The relay log is kept; a partial transaction at its end is discarded by
 * the applier when the new source's stream begins, and `to` sends it whole if it has it:
 * no STOP of the applier, so no 60 s stall. false when the server needs the full stop
 * (MariaDB, file/position, more than one channel, applier not running, statement refused).
 */
export async function switchReceiver(c: Conn, cluster: ClusterConfig, to: NodeConfig): Promise<boolean> {
  if (c.version.flavor !== 'mysql') return false;
  const chs = await readChannels(c);
  if (chs.length !== 1 || !chs[0].gtidAutoPosition || !chs[0].sqlRunning) return false;
  if (chs[0].ioState !== 'No') await stopReplicaIo(c);
  try {
    await changeSource(c, { ...sourceOptions(cluster, to, { kind: 'gtid' }), receiverOnly: true });
  } catch (e) {
    if (e instanceof MysqlError && e.errno !== undefined) return false; // refused: the caller stops the applier
    throw e;
  }
  return true;
}

/**
 * Before the winner's STOP REPLICA: when its relay log ends in a partial transaction, let
 * the receiver connect to another survivor holding nothing the winner lacks until
 * the new stream has begun and everything is applied, so the partial group is discarded and
 * the STOP is immediate. Returns whether it was released and what was done, or undefined
 * when there was no partial tail.
 */
export async function releasePartialTail(
  c: Conn,
  cluster: ClusterConfig,
  candidates: { node: NodeConfig; executed: string }[],
  timeoutS: number,
): Promise<{ released: boolean; detail: string } | undefined> {
  const chs = await readChannels(c);
  if (chs.length !== 1 || !partialTail(chs[0])) return undefined;
  const tail = `relay log ends inside a transaction (applied to ${chs[0].exec!.file}:${chs[0].exec!.pos}, read to ${chs[0].read!.file}:${chs[0].read!.pos})`;
  const notReleased = (why: string) => ({ released: false, detail: `${tail}; ${why}` });
  const mine = GtidSet.tryParse(await executedGtid(c));
  const via = candidates.find((v) => {
    const theirs = GtidSet.tryParse(v.executed);
    return mine && theirs && mine.contains(theirs);
  });
  if (!via) return notReleased('no survivor holding only what this node has to release it through: STOP REPLICA may wait for it');
  if (!(await switchReceiver(c, cluster, via.node))) return notReleased('the server refused a receiver-only change');
  await startReplicaIo(c);
  const deadline = Date.now() + Math.max(1, timeoutS) * 1000;
  try {
    for (;;) {
      const ch = (await readChannels(c))[0];
      if (ch && ch.ioState === 'Yes' && ch.read && coordsEqual(ch.read, ch.exec)) break;
      if (ch && ch.lastIoErrno) return notReleased(`the receiver could not connect to ${via.node.name}: ${ch.lastIoError}`);
      if (Date.now() > deadline) return notReleased(`${via.node.name}'s stream did not begin within ${timeoutS} s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await stopReplicaIo(c).catch(() => undefined);
  }
  return { released: true, detail: `${tail}: released through ${via.node.name} (the partial transaction was discarded)` };
}

/**
 * MySQL: the relay log ends inside a transaction its source never finished sending
 * (partialTail). A multi-threaded applier has begun that group, and STOP REPLICA would wait
 * 60 s for the rest before giving up. When every whole transaction is committed and the
 * applier waits only for that group (applierToCut), KILL its coordinator: the applier stops
 * at once, the incomplete group is rolled back (error 1756 in the channel's status, cleared by
 * the next START or RESET) and the executed coordinates stay where they were. The applier
 * threads hold SYSTEM_USER: heir's account needs it too (SUPER on 5.7), else the KILL is
 * refused and the caller's STOP REPLICA waits as before. Looks for up to waitS for the applier
 * to reach that state. undefined when there is no partial tail (or not MySQL).
 */
export async function cutPartialTail(c: Conn, waitS: number, o: { before?: ReplicationChannel } = {}): Promise<{ cut: boolean; detail: string } | undefined> {
  if (c.version.flavor !== 'mysql') return undefined;
  let chs = await readChannels(c);
  if (chs.length !== 1 || !chs[0].sqlRunning) return undefined;
  if (chs[0].ioState !== 'No') {
    await stopReplicaIo(c);
    chs = await readChannels(c);
  }
  // `before`: the channel as read before its receiver was pointed elsewhere (its read
  // coordinates then name the new source's binlog, no longer where the relay log ends).
  const ch = o.before ?? chs[0];
  if (chs.length !== 1 || !partialTail(ch)) return undefined;
  const tail = `relay log ends inside a transaction (applied to ${ch.exec!.file}:${ch.exec!.pos}, read to ${ch.read!.file}:${ch.read!.pos})`;
  const deadline = Date.now() + Math.max(0, waitS) * 1000;
  let id: number | undefined;
  for (;;) {
    const threads = await c.query<ApplierThread>("SELECT ID AS id, STATE AS state FROM information_schema.PROCESSLIST WHERE USER = 'system user'");
    id = applierToCut(threads.map((t) => ({ id: Number(t.id), state: t.state })));
    if (id !== undefined || Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (id === undefined) return { cut: false, detail: `${tail}; the applier was still working, so STOP REPLICA may wait for the rest` };
  try {
    await c.exec(`KILL ${id}`);
  } catch (e) {
    if (e instanceof MysqlError && e.errno === 1095) {
      return { cut: false, detail: `${tail}; KILL of the applier refused (grant SYSTEM_USER to heir's account), so STOP REPLICA waits up to 60 s for the rest` };
    }
    if (e instanceof MysqlError && e.errno === 1094) return { cut: false, detail: `${tail}; the applier had already stopped` };
    throw e;
  }
  const stopBy = Date.now() + 10000;
  for (;;) {
    const now = (await readChannels(c))[0];
    if (!now || !now.sqlRunning) {
      const moved = now?.exec && !coordsEqual(now.exec, ch.exec) ? `; executed coordinates moved to ${now.exec.file}:${now.exec.pos}` : '';
      return { cut: true, detail: `${tail}: the applier was stopped at once (KILL), the incomplete transaction rolled back${moved}` };
    }
    if (Date.now() > stopBy) return { cut: false, detail: `${tail}; the applier did not stop within 10 s of its KILL` };
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Point a replica at the new master and start it. */
export async function repointReplica(
  c: Conn,
  cluster: ClusterConfig,
  to: NodeConfig,
  position: RepointPosition,
  o: { semiSync?: boolean; readOnly?: boolean } = {},
): Promise<void> {
  if (position.kind === 'gtid' && (await switchReceiver(c, cluster, to))) {
    // The applier never stops: its backlog is applied and the new master sends the rest.
    if (o.readOnly !== false) await setReadOnly(c, true);
    if (o.semiSync) await setSemiSync(c, 'replica');
    await startReplicaIo(c);
    return;
  }
  // An incomplete transaction at the end of the relay log would hold STOP REPLICA for 60 s
  // (the relay log is discarded by the repoint, the new master sends the transaction whole).
  await cutPartialTail(c, 1);
  // A replica with a relay-log backlog stops at a transaction boundary: bounded by apply_timeout_s, not the query timeout.
  await stopReplica(c, cluster.failover.apply_timeout_s);
  if (o.readOnly !== false) await setReadOnly(c, true);
  await changeSource(c, sourceOptions(cluster, to, position));
  if (o.semiSync) await setSemiSync(c, 'replica');
  await startReplica(c);
}

/**
 * Both threads running (bounded); throws with the last replication error. `receives` (GTID
 * modes): it must also have received this GTID set from its new source (see verifyReceiving).
 * `applies`: the replica's SQL thread had stopped on an error before the failover, so it must
 * have executed it (see verifyApplying).
 */
export async function verifyReplica(c: Conn, timeoutS: number, o: { applies?: string; receives?: string } = {}): Promise<ReplicationChannel> {
  if (o.applies !== undefined) return verifyApplying(c, o.applies, timeoutS);
  if (o.receives !== undefined) return verifyReceiving(c, o.receives, timeoutS);
  return verifyReplicating(c, timeoutS);
}

export function sourceOptions(cluster: ClusterConfig, to: NodeConfig, position: RepointPosition) {
  return {
    host: to.host,
    port: to.port,
    user: cluster.mysql.replication_user,
    password: cluster.mysql.replication_password,
    position,
    connectRetryS: 1,
    heartbeatPeriodS: 1,
  };
}

/**
 * Kill -9 the mysqld listening on the node's port, over SSH to its host (the fence of a master
 * that does not answer SQL: see failover.kill_unresponsive_master). Throws when SSH fails or
 * the host's answer cannot be read.
 */
export async function killMysqldOverSsh(cluster: ClusterConfig, node: NodeConfig, waitMs = 3000): Promise<KillResult> {
  const t = sshTarget(cluster, node);
  const r = await sshExec(t, killMysqldCommand({ port: node.port, waitMs }), { timeoutMs: Math.max(t.commandTimeoutMs, waitMs + 2000) });
  const k = parseKill(r.stdout);
  if (!k) throw new Error(`unexpected answer from ${node.name}'s host: ${(r.stdout + r.stderr).trim().slice(0, 200)}`);
  return k;
}
