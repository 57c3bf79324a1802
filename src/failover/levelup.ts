/**
 * Bringing a file/position survivor level with the winner (pure).
 *
 * Without GTIDs a survivor B that read less of the dead master's binlog than
 * the winner W cannot simply be repointed at W's position at promotion: it
 * would miss the transactions between where it stopped (cB) and where W
 * stopped (cW). Those transactions are in W's own binlog (log_replica_updates),
 * at W's coordinates, not the dead master's. Two facts locate them:
 *
 *  - W's relay log keeps the dead master's coordinates: every event's
 *    End_log_pos there is the position in the dead master's binlog, and Rotate
 *    events name its file. Counting the transactions whose GTID (or
 *    Anonymous_Gtid) event ends after cB and not after cW gives N.
 *  - W applied the dead master's transactions in order and wrote each to its
 *    binlog (server_id kept): the last N transactions from that server_id in
 *    W's binlog are those, and the first of them is where B resumes.
 *
 * Both inputs are SHOW RELAYLOG EVENTS / SHOW BINLOG EVENTS rows; the I/O that
 * reads them lives in the executor. Every "cannot" comes back as a reason.
 */
import { compareCoords } from '../mysql/coords';
import type { BinlogCoordinates } from '../mysql/types';

/** One row of SHOW BINLOG EVENTS / SHOW RELAYLOG EVENTS. */
export interface EventRow {
  logName: string;
  pos: number;
  type: string;
  serverId: number;
  endLogPos: number;
  info: string;
}

/** Events that open a transaction in the binlog (one per transaction, DDL included). */
export function opensTransaction(type: string): boolean {
  return type === 'Gtid' || type === 'Anonymous_Gtid' || type === 'Gtid_log_event' || type === 'Anonymous_Gtid_log_event';
}

/** `binlog.000002;pos=4` → the coordinates a Rotate event announces. */
export function parseRotate(info: string): BinlogCoordinates | null {
  const m = /^\s*([^;\s]+);pos=(\d+)/.exec(info);
  return m ? { file: m[1]!, pos: Number(m[2]) } : null;
}

/** Where in the source's binlog a relay log begins: the first Rotate of its oldest file says where the receiver started. */
export function relayBegins(files: EventRow[][]): BinlogCoordinates | undefined {
  for (const rows of files) {
    for (const r of rows) {
      const at = r.type === 'Rotate' ? parseRotate(r.info) : null;
      if (at) return at;
    }
  }
  return undefined;
}

export type Counted = { ok: true; count: number; coveredFrom: BinlogCoordinates } | { ok: false; why: string };

/**
 * Transactions of `origin` (the dead master's server_id) in a relay log whose
 * opening event ends after `from` and not after `until` (both transaction
 * boundaries in the dead master's binlog). `files` are the relay log files in
 * order, oldest first; the relay log must reach back to `from` at least.
 */
export function countRelayTransactions(files: EventRow[][], origin: number, from: BinlogCoordinates, until: BinlogCoordinates): Counted {
  let sourceFile: string | undefined;
  let count = 0;
  for (const rows of files) {
    for (const r of rows) {
      if (r.type === 'Rotate') {
        sourceFile = parseRotate(r.info)?.file ?? sourceFile;
        continue;
      }
      if (r.serverId !== origin || !opensTransaction(r.type) || sourceFile === undefined) continue;
      const at = { file: sourceFile, pos: r.endLogPos };
      if (compareCoords(at, from) > 0 && compareCoords(at, until) <= 0) count++;
    }
  }
  const coveredFrom = relayBegins(files);
  if (!coveredFrom) return { ok: false, why: 'the relay log names no position in the source binlog (no Rotate event)' };
  if (compareCoords(coveredFrom, from) > 0) {
    return {
      ok: false,
      why: `the relay log begins at ${coveredFrom.file}:${coveredFrom.pos} of the dead master's binlog, after ${from.file}:${from.pos} (older relay logs were purged once applied)`,
    };
  }
  return { ok: true, count, coveredFrom };
}

export type Located = { ok: true; at: BinlogCoordinates } | { ok: false; why: string };

/**
 * Where the last `n` transactions of `origin` begin in a binlog (`files` oldest
 * first, each with its rows in order; `end` is the binlog's end, returned for
 * n = 0). Not found when the files hold fewer than n such transactions, or when
 * a transaction of another server_id sits among the last n (then "the last n
 * of the dead master's" is not a contiguous tail and the count cannot be trusted).
 */
export function locateLastTransactions(files: EventRow[][], origin: number, n: number, end: BinlogCoordinates): Located {
  if (n === 0) return { ok: true, at: end };
  const starts: { at: BinlogCoordinates; serverId: number }[] = [];
  for (const rows of files) {
    for (const r of rows) if (opensTransaction(r.type)) starts.push({ at: { file: r.logName, pos: r.pos }, serverId: r.serverId });
  }
  const tail = starts.slice(-n);
  if (tail.length < n) return { ok: false, why: `its binlog holds ${tail.length} transaction(s), fewer than the ${n} to find` };
  const other = tail.find((s) => s.serverId !== origin);
  if (other) {
    return { ok: false, why: `a transaction from server_id ${other.serverId} (not the dead master's ${origin}) is among its last ${n} at ${other.at.file}:${other.at.pos}` };
  }
  return { ok: true, at: tail[0]!.at };
}
