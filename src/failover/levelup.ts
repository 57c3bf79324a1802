/**
 * Bringing a file/position survivor level with the winner (pure).
 *
 * Without GTIDs a survivor B that read less of the dead master's binlog than
 * the winner W cannot simply be repointed at W's position at promotion: it
 * would miss the transactions between what it holds once its relay log is
 * applied (cB) and where W stopped (cW). Those transactions are in W's own
 * binlog (log_replica_updates), at W's coordinates, not the dead master's. Two
 * facts locate them:
 *
 *  - W's relay log keeps the dead master's coordinates: every event's
 *    End_log_pos there is the position in the dead master's binlog, and Rotate
 *    events name its file. B's receiver is stopped: from where it stopped
 *    reading, W's relay log tells which transactions B holds whole (its applier
 *    will commit them, however slowly) and which it lacks (including one it
 *    received only in part). Counting those whose GTID (or Anonymous_Gtid)
 *    event ends after cB and not after cW gives N; B's applier must stop
 *    between the last one it holds and the first it lacks, which the repoint
 *    checks.
 *  - W applied the dead master's transactions in order and wrote each to its
 *    binlog (server_id kept): the last N transactions from that server_id in
 *    W's binlog are those, and the first of them is where B resumes.
 *
 * Both inputs are SHOW RELAYLOG EVENTS / SHOW BINLOG EVENTS rows; the I/O that
 * reads them is levelup-io.ts. Every "cannot" comes back as a reason.
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

/** Events that frame a binlog file (its header, its end, a switch to the next) rather than belong to a transaction. */
const FRAME_EVENTS = new Set(['Format_desc', 'Previous_gtids', 'Rotate', 'Stop', 'Gtid_list', 'Binlog_checkpoint', 'Start_encryption']);

/** One of the source's events inside a transaction, at its coordinates in the source's binlog. */
export interface OriginEvent {
  at: BinlogCoordinates;
  /** It opens a transaction (a GTID event). */
  opens: boolean;
}

/**
 * The events of `origin` (the source's server_id) inside transactions in relay log files
 * (oldest first), each at its end coordinates in the source's binlog: a Rotate event names
 * the source's file, an event's end_log_pos its position there. Frame events are left out.
 * Not in the source's order (a relay log mixing two sources' files): an error (pure).
 */
export function originEvents(files: EventRow[][], origin: number): { ok: true; evs: OriginEvent[] } | { ok: false; why: string } {
  let sourceFile: string | undefined;
  const evs: OriginEvent[] = [];
  for (const rows of files) {
    for (const r of rows) {
      if (r.type === 'Rotate') {
        sourceFile = parseRotate(r.info)?.file ?? sourceFile;
        continue;
      }
      if (r.serverId !== origin || sourceFile === undefined || r.endLogPos === 0 || FRAME_EVENTS.has(r.type)) continue;
      const at = { file: sourceFile, pos: r.endLogPos };
      const prev = evs.at(-1);
      if (prev && compareCoords(at, prev.at) <= 0) {
        return { ok: false, why: `its events are not in the source's order (${at.file}:${at.pos} after ${prev.at.file}:${prev.at.pos})` };
      }
      evs.push({ at, opens: opensTransaction(r.type) });
    }
  }
  return { ok: true, evs };
}

export type Lacking =
  | {
      ok: true;
      /** Transactions the survivor lacks, up to `until`. */
      count: number;
      /** Its applied coordinates, once its relay log is applied, are at or after this ... */
      from: BinlogCoordinates;
      /** ... and before this (the first lacking transaction's opening event; none: no bound). */
      before?: BinlogCoordinates;
    }
  | { ok: false; why: string };

/**
 * A survivor whose receiver stopped at `received` of the dead master's binlog, its applier
 * perhaps still at work (or held by a lock): which transactions of the winner's relay log
 * (`files`, oldest first) it lacks once it has applied every whole transaction it received.
 * Its relay log may end inside a transaction (the source died while sending it): that one
 * is lacking too, since its applier never commits it. The count is of transactions whose
 * opening event ends after `from` and not after `until`; `from` and `before` bound where its
 * applied coordinates must stand once its relay log is applied, for the count to hold (the
 * caller checks that before it repoints the survivor).
 */
export function lackingAfterReceived(files: EventRow[][], origin: number, received: BinlogCoordinates, until: BinlogCoordinates): Lacking {
  const coveredFrom = relayBegins(files);
  if (!coveredFrom) return { ok: false, why: 'the relay log names no position in the source binlog (no Rotate event)' };
  if (compareCoords(coveredFrom, received) > 0) {
    return {
      ok: false,
      why: `the relay log begins at ${coveredFrom.file}:${coveredFrom.pos} of the dead master's binlog, after ${received.file}:${received.pos} (older relay logs were purged once applied)`,
    };
  }
  const walk = originEvents(files, origin);
  if (!walk.ok) return walk;
  const evs = walk.evs;
  // e: the last event the survivor received; whether the transaction it belongs to is whole
  // (the next event opens a transaction, or is in the next binlog file: a transaction never
  // spans two) or was received in part.
  let e = -1;
  while (e + 1 < evs.length && compareCoords(evs[e + 1]!.at, received) <= 0) e++;
  const next = evs[e + 1];
  const whole = e < 0 || !next || next.opens || next.at.file !== evs[e]!.at.file;
  const openings = evs.map((x, i) => (x.opens ? i : -1)).filter((i) => i >= 0);
  const upTo = openings.filter((i) => i <= e);
  let from: BinlogCoordinates;
  let firstLacking: number | undefined;
  if (whole) {
    from = upTo.length ? evs[upTo.at(-1)!]!.at : coveredFrom;
    firstLacking = openings.find((i) => i > e);
  } else {
    if (upTo.length === 0) {
      return { ok: false, why: `its relay log ends inside a transaction whose beginning the winner's relay log no longer shows (it received up to ${received.file}:${received.pos})` };
    }
    firstLacking = upTo.at(-1)!;
    from = upTo.length > 1 ? evs[upTo.at(-2)!]!.at : coveredFrom;
  }
  const before = firstLacking === undefined ? undefined : evs[firstLacking]!.at;
  const count = openings.filter((i) => compareCoords(evs[i]!.at, from) > 0 && compareCoords(evs[i]!.at, until) <= 0).length;
  return { ok: true, count, from, ...(before ? { before } : {}) };
}

/** Applied coordinates `exec` lie where lackingAfterReceived said they must (pure). */
export function withinLacking(exec: BinlogCoordinates, l: { from: BinlogCoordinates; before?: BinlogCoordinates }): boolean {
  return compareCoords(exec, l.from) >= 0 && (!l.before || compareCoords(exec, l.before) < 0);
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
