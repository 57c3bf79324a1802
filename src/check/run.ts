/**
 * `heir check`'s I/O: read the topology, the admin account's grants and the
 * replication account on every node, run the address mover's preflight, then
 * hand it all to the pure evaluate().
 */
import { probeBinlogAccess, takesGtidStart, toolVersion } from '../failover/salvage';
import type { ClusterConfig, GlobalSettings } from '../config/schema';
import { createMover } from '../eni';
import { Conn, connOptions } from '../mysql/conn';
import { readTopology } from '../mysql/inspect';
import type { Logger } from '../util/log';
import { evaluate, type CheckInput, type CheckResult, type GrantsObservation } from './evaluate';

export interface CheckOptions {
  log?: Logger;
  /** Skip the address mover's preflight (e.g. no cloud access from where the check runs). */
  skipAddress?: boolean;
}

export interface CheckRun extends CheckResult {
  snapshot: CheckInput['snapshot'];
}

async function readAccounts(cluster: ClusterConfig, reachable: Set<string>) {
  const grants: Record<string, GrantsObservation> = {};
  const replUser: Record<string, boolean | undefined> = {};
  await Promise.all(
    cluster.nodes
      .filter((n) => reachable.has(n.name))
      .map(async (n) => {
        let c: Conn | undefined;
        try {
          c = await Conn.open(connOptions(cluster, n));
          const rows = await c.query<Record<string, string>>('SHOW GRANTS FOR CURRENT_USER()');
          grants[n.name] = { lines: rows.map((r) => String(Object.values(r)[0])) };
          try {
            const users = await c.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM mysql.user WHERE user = ?', [cluster.mysql.replication_user]);
            replUser[n.name] = Number(users[0]?.n ?? 0) > 0;
          } catch {
            replUser[n.name] = undefined; // no SELECT on mysql.user: reported by the grants check
          }
        } catch (e) {
          grants[n.name] = { error: (e as Error).message };
        } finally {
          await c?.close().catch(() => undefined);
        }
      }),
  );
  return { grants, replUser };
}

export async function runCheck(cluster: ClusterConfig, global: GlobalSettings, o: CheckOptions = {}): Promise<CheckRun> {
  // Made first: a cloud mover loads the Alibaba Cloud SDK (about a second of blocking
  // require), which must not run while MySQL connections wait on their connect timeouts.
  const mover = o.skipAddress || cluster.address.type === 'none' ? undefined : createMover(cluster, global, { log: o.log });
  const snapshot = await readTopology(cluster);
  const reachable = new Set(snapshot.nodes.filter((n) => n.reachable).map((n) => n.name));
  const [{ grants, replUser }, address] = await Promise.all([
    readAccounts(cluster, reachable),
    mover
      ? mover.preflight(cluster).catch((e: Error) => [{ check: 'preflight', ok: false, severity: 'error' as const, detail: e.message }])
      : Promise.resolve(undefined),
  ]);
  const mariadb = snapshot.nodes.some((n) => n.version?.flavor === 'mariadb');
  const salvageTools = cluster.failover.salvage.enabled
    ? await Promise.all(
        (['mysqlbinlog', 'mysql'] as const).map(async (setting) => {
          const command = cluster.failover.salvage[setting];
          try {
            const version = await toolVersion(command);
            // Salvage by MariaDB GTID gives mariadb-binlog a GTID list as --start-position (10.8+).
            const gtidStart = setting === 'mysqlbinlog' && mariadb && /mariadb/i.test(version) ? await takesGtidStart(command) : undefined;
            return { setting, command, version, ...(gtidStart ? { gtidStart } : {}) };
          } catch (e) {
            return { setting, command, error: (e as Error).message };
          }
        }),
      )
    : undefined;
  // Salvage copies a dead master's binlogs over SSH: every node may be that master one day.
  const binlogAccess = cluster.failover.salvage.enabled
    ? await Promise.all(
        cluster.nodes.map(async (n) => {
          try {
            return { node: n.name, ok: true, detail: await probeBinlogAccess(cluster, n, Math.max(3000, cluster.ssh.connect_timeout_ms * 2)) };
          } catch (e) {
            return { node: n.name, ok: false, detail: (e as Error).message };
          }
        }),
      )
    : undefined;
  return { ...evaluate({ cluster, snapshot, grants, replUser, address, salvageTools, binlogAccess }), snapshot };
}
