/**
 * The server-side building blocks of a failover, each one thin and named for
 * what it does to one server. The failover executor strings them together;
 * switchover reuses promote, repoint and verify (and catch-up, to bring a
 * target level). Each works through the connection's dialect (src/mysql).
 */
import type { ClusterConfig, NodeConfig } from '../config/schema';
import type { Conn } from '../mysql/conn';
import { readBinlogStatus, readChannels } from '../mysql/inspect';
import {
  changeSource,
  resetReplicaAll,
  setReadOnly,
  setSemiSync,
  startReplica,
  stopReplica,
  stopReplicaIo,
  verifyReplicating,
  waitForGtid,
  waitRelayApplied,
} from '../mysql/ops';
import type { BinlogCoordinates, ReplicationChannel } from '../mysql/types';

export type RepointPosition = { kind: 'gtid' } | { kind: 'file'; file: string; pos: number };

/** Stop the IO thread (receiving) and leave the SQL thread applying. Returns whether it was replicating. */
export async function freezeReplica(c: Conn): Promise<{ wasReplica: boolean; ioWasRunning: boolean }> {
  const chs = await readChannels(c);
  if (chs.length === 0) return { wasReplica: false, ioWasRunning: false };
  const ioWasRunning = chs.some((ch) => ch.ioState !== 'No');
  await stopReplicaIo(c);
  return { wasReplica: true, ioWasRunning };
}

/**
 * Wait until everything received is applied. A SQL thread stopped without an
 * error is started first (nothing else would apply the relay log); the IO
 * thread stays stopped. false on timeout.
 */
export async function drainRelayLog(c: Conn, timeoutS: number): Promise<boolean> {
  const chs = await readChannels(c);
  if (chs.length === 0) return true;
  if (chs.some((ch) => !ch.sqlRunning && ch.lastSqlErrno === 0)) {
    await c.exec(`${c.dialect.startReplica()} SQL_THREAD`);
  }
  return waitRelayApplied(c, timeoutS);
}

/**
 * Replicate from `source` until `until` (GTID set / MariaDB position) is
 * executed, then stop. The caller has drained the relay log first: changing
 * the source discards it.
 */
export async function catchUpFrom(
  c: Conn,
  cluster: ClusterConfig,
  source: NodeConfig,
  until: string,
  timeoutS: number,
): Promise<boolean> {
  await stopReplica(c, timeoutS);
  await changeSource(c, sourceOptions(cluster, source, { kind: 'gtid' }));
  await startReplica(c);
  try {
    return await waitForGtid(c, until, timeoutS);
  } finally {
    await stopReplica(c, timeoutS);
  }
}

/**
 * Make the node a master: replication stopped and forgotten, writable. The
 * binlog position is read after replication stopped and before anything is
 * written, so file/position replicas that applied the same can start there.
 */
export async function promoteToMaster(c: Conn, o: { semiSync?: boolean; stopTimeoutS?: number } = {}): Promise<{ binlog?: BinlogCoordinates }> {
  // When the dead master's last transaction reached the relay log only in part and a
  // parallel applier had begun to schedule it, MySQL's STOP REPLICA waits up to 60 s for
  // the rest before it gives up: the caller bounds it (apply_timeout_s), not the query timeout.
  await stopReplica(c, o.stopTimeoutS).catch(async (e) => {
    // Not a replica any more (a rerun after a promotion): nothing to stop.
    if ((await readChannels(c)).length > 0) throw e;
  });
  const binlog = await readBinlogStatus(c);
  await resetReplicaAll(c);
  await setReadOnly(c, false);
  if (o.semiSync) await setSemiSync(c, 'source');
  return { binlog };
}

/** Point a replica at the new master and start it. */
export async function repointReplica(
  c: Conn,
  cluster: ClusterConfig,
  to: NodeConfig,
  position: RepointPosition,
  o: { semiSync?: boolean; readOnly?: boolean } = {},
): Promise<void> {
  // A replica with a relay-log backlog stops at a transaction boundary: bounded by apply_timeout_s, not the query timeout.
  await stopReplica(c, cluster.failover.apply_timeout_s);
  if (o.readOnly !== false) await setReadOnly(c, true);
  await changeSource(c, sourceOptions(cluster, to, position));
  if (o.semiSync) await setSemiSync(c, 'replica');
  await startReplica(c);
}

/** Both threads running (bounded); throws with the last replication error. */
export async function verifyReplica(c: Conn, timeoutS: number): Promise<ReplicationChannel> {
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
