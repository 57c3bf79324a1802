/**
 * The probe write that ends a switchover's write pause: one row into the
 * heartbeat table (detection.heartbeat_table), the same table and row shape as
 * the monitor's insert ping (src/monitor/probes.ts), keyed by server, so
 * repeated probes never grow it.
 */
import * as os from 'node:os';
import type { Conn } from '../mysql/conn';

function split(table: string): [string, string] {
  const parts = table.split('.');
  if (parts.length !== 2 || !parts.every((p) => /^[A-Za-z0-9_]+$/.test(p))) {
    throw new Error(`heartbeat table "${table}" must be schema.table (letters, digits, _)`);
  }
  return [parts[0], parts[1]];
}

function quoted(table: string): string {
  return split(table).map((p) => `\`${p}\``).join('.');
}

/**
 * Create schema and table when missing (on the master, before the pause; it
 * replicates). Looked up first: CREATE ... IF NOT EXISTS is binary-logged even
 * when the table exists, and a transaction per switchover is noise.
 */
export async function ensureProbeTable(c: Conn, table: string): Promise<void> {
  const [schema, name] = split(table);
  const exists = await c.query('SELECT 1 AS x FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', [schema, name]);
  if (exists.length > 0) return;
  await c.exec(`CREATE DATABASE IF NOT EXISTS \`${schema}\``);
  await c.exec(
    `CREATE TABLE IF NOT EXISTS ${quoted(table)} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, manager VARCHAR(255) NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB`,
  );
}

const WHO = `switchover@${os.hostname()}`;

/** One acknowledged write on `c`'s server. Fails on a read-only server. */
export async function probeWrite(c: Conn, table: string): Promise<void> {
  await c.query(
    `INSERT INTO ${quoted(table)} (server_id, manager, ts) VALUES (@@server_id, ?, NOW(6)) ON DUPLICATE KEY UPDATE manager = ?, ts = NOW(6)`,
    [WHO, WHO],
  );
}
