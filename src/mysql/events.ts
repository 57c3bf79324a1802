/**
 * Reading binlog and relay log events over SQL (SHOW BINLOG EVENTS, SHOW
 * RELAYLOG EVENTS), a page at a time, for the file/position level-up. Needs
 * REPLICATION SLAVE (MySQL) / BINLOG MONITOR (MariaDB), which heir's grants have.
 */
import { opensTransaction, type EventRow } from '../failover/levelup';
import { Conn, MysqlError } from './conn';
import { binlogBase, binlogIndex } from './coords';
import { quoteString } from './dialect';

const PAGE = 5000;

function toRow(r: Record<string, unknown>): EventRow {
  return {
    logName: String(r.Log_name ?? ''),
    pos: Number(r.Pos ?? 0),
    type: String(r.Event_type ?? ''),
    serverId: Number(r.Server_id ?? 0),
    endLogPos: Number(r.End_log_pos ?? 0),
    info: String(r.Info ?? ''),
  };
}

/** Every event of one binlog or relay log file, read in pages (memory: the rows of one file). */
export async function readLogEvents(c: Conn, kind: 'binlog' | 'relay', file: string): Promise<EventRow[]> {
  const what = kind === 'binlog' ? 'BINLOG' : 'RELAYLOG';
  const out: EventRow[] = [];
  let from = 4;
  let skip = 0;
  for (;;) {
    const rows = await c.query(`SHOW ${what} EVENTS IN ${quoteString(file)} FROM ${from} LIMIT ${skip}, ${PAGE}`);
    const page = rows.map((r) => toRow(r as Record<string, unknown>));
    out.push(...page);
    if (page.length < PAGE) return out;
    // Resume at the last row read, skipping it (relay End_log_pos values are the source's).
    from = page[page.length - 1]!.pos;
    skip = 1;
  }
}

/** SHOW BINARY LOGS: the server's binlog files, oldest first. */
export async function listBinlogs(c: Conn): Promise<string[]> {
  const rows = await c.query('SHOW BINARY LOGS');
  return rows.map((r) => String((r as Record<string, unknown>).Log_name));
}

/**
 * The relay log files still on disk up to `current` (the channel's
 * Relay_Log_File), oldest first, going back at most `max` files. A purged file
 * ends the walk (SHOW RELAYLOG EVENTS then answers an error).
 */
export async function readRelayLogsBack(
  c: Conn,
  current: string,
  enough: (oldestFirst: EventRow[][]) => boolean,
  max = 64,
): Promise<EventRow[][]> {
  const idx = binlogIndex(current);
  const files: EventRow[][] = [];
  if (idx === undefined) return [await readLogEvents(c, 'relay', current)];
  const base = binlogBase(current);
  const width = current.length - base.length - 1;
  for (let i = idx; i >= 1 && idx - i < max; i--) {
    const name = `${base}.${String(i).padStart(width, '0')}`;
    try {
      files.unshift(await readLogEvents(c, 'relay', name));
    } catch (e) {
      if (i !== idx && e instanceof MysqlError && !e.fatal) break; // purged
      throw e;
    }
    if (enough(files)) break;
  }
  return files;
}

/**
 * Transactions the server wrote to its binlog from `from` to its end, read in pages: one GTID
 * (or Anonymous_Gtid) event opens each, DDL included, as the transactions a decoded binlog
 * shows end (see DecodedScan). A file purged since `from` is an error: the count would be short.
 */
export async function countTransactionsSince(c: Conn, from: { file: string; pos: number }): Promise<number> {
  const logs = await listBinlogs(c);
  const i = logs.indexOf(from.file);
  if (i < 0) throw new Error(`binlog ${from.file} is no longer on the server (files: ${logs.slice(0, 3).join(', ')}${logs.length > 3 ? ', …' : ''})`);
  let n = 0;
  for (const file of logs.slice(i)) {
    let at = file === from.file ? from.pos : 4;
    let skip = 0;
    for (;;) {
      const rows = await c.query(`SHOW BINLOG EVENTS IN ${quoteString(file)} FROM ${at} LIMIT ${skip}, ${PAGE}`);
      n += rows.filter((r) => opensTransaction(toRow(r as Record<string, unknown>).type)).length;
      if (rows.length < PAGE) break;
      at = toRow(rows[rows.length - 1] as Record<string, unknown>).pos;
      skip = 1;
    }
  }
  return n;
}
