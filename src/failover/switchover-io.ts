/**
 * Reads and writes the switchover needs beyond src/mysql's ops: long
 * transactions on the master, killing leftover application connections, the
 * probe write that ends the write pause, and MariaDB's slave position of a
 * former master. Each goes through a Conn (src/mysql is the only MySQL adapter).
 */
import type { Conn } from '../mysql/conn';
import type { LongTransaction } from './switchover-preflight';

interface ProcessRow {
  Id: number | string;
  User: string;
  Host: string;
  db: string | null;
  Command: string;
  Time: number | string | null;
  State: string | null;
  Info: string | null;
}

/** Connections that are not the application's: the server's own threads and replication. */
function isInternal(p: ProcessRow): boolean {
  const cmd = String(p.Command ?? '');
  return (
    p.User === 'system user' ||
    p.User === 'event_scheduler' ||
    cmd.startsWith('Binlog Dump') ||
    cmd === 'Daemon' ||
    cmd === 'Killed' ||
    cmd.startsWith('Slave_') ||
    cmd.startsWith('Replica')
  );
}

function short(q: string | null | undefined, n = 120): string | undefined {
  if (!q) return undefined;
  const s = q.replace(/\s+/g, ' ').trim();
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Transactions holding row locks or changes (information_schema.innodb_trx) and
 * statements other than reads running for at least a second (SHOW FULL PROCESSLIST)
 * on the master; `exclude` are the manager's own connection ids.
 */
export async function readLongTransactions(c: Conn, exclude: number[]): Promise<LongTransaction[]> {
  const [trx, procs] = await Promise.all([
    c.query<{ id: number | string; seconds: number | string; rows_modified: number | string; lock_structs: number | string; query: string | null }>(
      `SELECT trx_mysql_thread_id AS id, TIMESTAMPDIFF(SECOND, trx_started, NOW()) AS seconds,
              trx_rows_modified AS rows_modified, trx_lock_structs AS lock_structs, trx_query AS query
         FROM information_schema.innodb_trx`,
    ),
    c.query<ProcessRow>('SHOW FULL PROCESSLIST'),
  ]);
  const byId = new Map(procs.map((p) => [Number(p.Id), p]));
  const out: LongTransaction[] = [];
  const seen = new Set<number>();
  for (const t of trx) {
    const id = Number(t.id);
    if (exclude.includes(id)) continue;
    if (Number(t.rows_modified) === 0 && Number(t.lock_structs) === 0) continue;
    const p = byId.get(id);
    if (p && isInternal(p)) continue;
    seen.add(id);
    out.push({
      connectionId: id,
      user: p?.User ?? '?',
      host: p?.Host ?? '?',
      seconds: Number(t.seconds),
      kind: 'transaction',
      rowsModified: Number(t.rows_modified),
      query: short(t.query ?? p?.Info),
    });
  }
  for (const p of procs) {
    const id = Number(p.Id);
    if (seen.has(id) || exclude.includes(id) || isInternal(p)) continue;
    if (p.Command !== 'Query' || !p.Info || /^\s*(select|show|set|do)\b/i.test(p.Info)) continue;
    const secs = Number(p.Time ?? 0);
    if (secs < 1) continue;
    out.push({ connectionId: id, user: p.User, host: p.Host, seconds: secs, kind: 'statement', query: short(p.Info) });
  }
  return out;
}

/**
 * Kill every application connection on the (now read-only) old master, so the
 * application's pools reconnect (to the address, which will point at the new
 * master). Leaves the manager's own connections, heir's and the replication
 * account's sessions (`keepUsers`), replication and server threads.
 */
export async function killApplicationConnections(c: Conn, exclude: number[], keepUsers: string[] = []): Promise<{ killed: number[]; failed: string[] }> {
  const procs = await c.query<ProcessRow>('SHOW PROCESSLIST');
  const victims = procs.filter((p) => !exclude.includes(Number(p.Id)) && !isInternal(p) && !keepUsers.includes(p.User));
  const killed: number[] = [];
  const failed: string[] = [];
  await Promise.all(
    victims.map(async (p) => {
      try {
        await c.exec(`KILL CONNECTION ${Number(p.Id)}`);
        killed.push(Number(p.Id));
      } catch (e) {
        // Gone already (ER_NO_SUCH_THREAD) is fine; anything else is reported.
        if ((e as { errno?: number }).errno !== 1094) failed.push(`#${p.Id} ${p.User}: ${(e as Error).message}`);
      }
    }),
  );
  return { killed: killed.sort((a, b) => a - b), failed };
}

export async function connectionId(c: Conn): Promise<number> {
  const [r] = await c.query<{ id: number | string }>('SELECT CONNECTION_ID() AS id');
  return Number(r.id);
}

/** MariaDB: the old master's final position is its binary log position. */
export async function mariadbBinlogPos(c: Conn): Promise<string> {
  const [r] = await c.query<{ pos: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS pos');
  return r.pos;
}
