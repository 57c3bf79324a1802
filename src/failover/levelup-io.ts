/**
 * The level-up step's reads (I/O around the pure levelup.ts): the winner's
 * relay logs and binlog over SQL, read once for every survivor behind it.
 */
import type { Conn } from '../mysql/conn';
import { compareCoords, formatCoords } from '../mysql/coords';
import { listBinlogs, readLogEvents, readRelayLogsBack } from '../mysql/events';
import { readBinlogStatus } from '../mysql/inspect';
import type { BinlogCoordinates } from '../mysql/types';
import { lackingAfterReceived, locateLastTransactions, opensTransaction, originEvents, relayBegins, type EventRow } from './levelup';

export type LevelUpResult =
  | { node: string; ok: true; at: BinlogCoordinates; from: BinlogCoordinates; before?: BinlogCoordinates; count: number }
  | { node: string; ok: false; why: string };

export interface LevelUpInput {
  /** The winner, drained, IO thread stopped, not yet promoted. */
  winner: Conn;
  /** The winner's channel from the dead master: its relay log file and applied coordinates. */
  relayLogFile: string;
  winnerExec: BinlogCoordinates;
  /** The dead master's server_id (the origin of the transactions to count). */
  origin: number;
  /**
   * Each survivor behind the winner, with how far its receiver (stopped) read the dead
   * master's binlog; its applier may still be at work: it is not waited for.
   */
  behind: { node: string; received: BinlogCoordinates }[];
}

export async function locateLevelUp(i: LevelUpInput): Promise<LevelUpResult[]> {
  const c = i.winner;
  if (c.version.flavor === 'mysql') {
    // With a parallel applier that does not keep the source's commit order, the winner's
    // binlog tail need not be the source's tail in the same order: counting is unsafe.
    const [v] = await c.query('SELECT @@global.replica_parallel_workers AS w, @@global.replica_preserve_commit_order AS o').catch(async () =>
      c.query('SELECT @@global.slave_parallel_workers AS w, @@global.slave_preserve_commit_order AS o'),
    );
    if (Number(v?.w ?? 0) > 1 && Number(v?.o ?? 1) !== 1) {
      const why = `the winner's parallel applier does not preserve the source's commit order (replica_parallel_workers ${v.w}, replica_preserve_commit_order OFF)`;
      return i.behind.map((b) => ({ node: b.node, ok: false, why }));
    }
  }
  const earliest = i.behind.reduce<BinlogCoordinates | undefined>((m, b) => (!m || compareCoords(b.received, m) < 0 ? b.received : m), undefined);
  if (!earliest) return [];
  // Back far enough to see the last two transactions each survivor received begin (one of
  // them may have reached it only in part).
  const relay = await readRelayLogsBack(c, i.relayLogFile, (files) => {
    const at = relayBegins(files);
    if (!at || compareCoords(at, earliest) > 0) return false;
    // Two transactions at or before the earliest received position: where its transaction
    // began is in hand. Events out of order: reading further back would not mend that.
    const walk = originEvents(files, i.origin);
    return !walk.ok || walk.evs.filter((x) => x.opens && compareCoords(x.at, earliest) <= 0).length >= 2;
  });
  const counted = i.behind.map((b) => ({ b, n: lackingAfterReceived(relay, i.origin, b.received, i.winnerExec) }));
  const need = Math.max(0, ...counted.map((x) => (x.n.ok ? x.n.count : 0)));

  // The winner's binlog from the end back until it holds `need` transactions.
  const end = await readBinlogStatus(c);
  if (!end) return i.behind.map((b) => ({ node: b.node, ok: false, why: "the winner's binary log is off" }));
  const names = await listBinlogs(c);
  const binlog: EventRow[][] = [];
  let opened = 0;
  for (let k = names.length - 1; k >= 0 && opened < need; k--) {
    const rows = await readLogEvents(c, 'binlog', names[k]!);
    binlog.unshift(rows);
    opened += rows.filter((r) => opensTransaction(r.type)).length;
  }
  return counted.map(({ b, n }): LevelUpResult => {
    if (!n.ok) return { node: b.node, ok: false, why: n.why };
    const at = locateLastTransactions(binlog, i.origin, n.count, end);
    if (!at.ok) return { node: b.node, ok: false, why: `${n.count} transaction(s) after ${formatCoords(n.from)}: ${at.why}` };
    return { node: b.node, ok: true, at: at.at, from: n.from, ...(n.before ? { before: n.before } : {}), count: n.count };
  });
}

