/**
 * Is a draining node's applier getting anywhere? Pure: two samples of its applier go in,
 * what moved (or nothing) comes out; the time since the last movement and since the drain
 * began give the verdict.
 *
 * A DBA waits for an applier that works through a long transaction: losing acknowledged rows
 * is worse than a longer outage. A stuck one (held by a lock, a hung disk) would hold the
 * failover, with the address already detached, forever: it gets failover.apply_timeout_s
 * without any movement, and failover.drain_max_s in all.
 *
 * Movement is either of:
 *  - the executed position (GTID set, MariaDB gtid_slave_pos, executed coordinates) changed:
 *    a transaction was committed;
 *  - an open transaction of the applier changed more rows (information_schema.innodb_trx,
 *    trx_rows_modified): a long transaction is being applied. On a read-only replica only
 *    replication threads change rows. A transaction rolled back and retried (lock wait
 *    timeout) comes back under a new id with the same rows: that is not movement.
 */

/** One look at a node's applier. */
export interface ApplierSample {
  /** ms since epoch. */
  at: number;
  /** The executed position as text (GTIDs and each channel's executed coordinates). */
  executed: string;
  /** Open transactions that changed rows: InnoDB transaction id → rows changed so far. */
  trx: Record<string, number>;
}

/** What moved between two samples of the same node, in words; undefined when nothing did. */
export function applierMoved(prev: ApplierSample, cur: ApplierSample): string | undefined {
  if (prev.executed !== cur.executed) return 'its executed position moved';
  for (const [id, rows] of Object.entries(cur.trx)) {
    const before = prev.trx[id];
    if (before !== undefined && rows > before) return `its open transaction ${id} changed ${rows - before} more row(s)`;
  }
  return undefined;
}

export type DrainVerdict = { stuck: false } | { stuck: true; why: string };

/**
 * Keep waiting, or give up on this node: no movement for stallS (since the drain began, or
 * since the last movement), or drainMaxS passed since the drain began.
 */
export function drainVerdict(o: { startedAt: number; lastMovedAt: number | undefined; now: number; stallS: number; maxS: number }): DrainVerdict {
  const since = o.lastMovedAt ?? o.startedAt;
  if (o.now - o.startedAt >= o.maxS * 1000) {
    const moved = o.lastMovedAt !== undefined ? `still applying (last progress ${secs(o.now - o.lastMovedAt)} ago)` : 'no progress';
    return { stuck: true, why: `${moved} after failover.drain_max_s ${o.maxS}s` };
  }
  if (o.now - since >= o.stallS * 1000) {
    const what = o.lastMovedAt !== undefined ? `no progress for ${secs(o.now - since)} (it had progressed before)` : `no progress for ${secs(o.now - since)}`;
    return { stuck: true, why: `${what}: its applier did not move within failover.apply_timeout_s ${o.stallS}s` };
  }
  return { stuck: false };
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** One replication applier thread as the process list shows it (user 'system user'). */
export interface ApplierThread {
  id: number;
  state: string | null;
}

/**
 * The applier thread to KILL so that an incomplete transaction at the end of the relay log is
 * rolled back at once, or undefined when that is not (yet) safe. Safe only when every whole
 * transaction is committed and the only work left is the group that never completed: the
 * coordinator (the one SQL thread) has read all the relay log and every other applier thread
 * (a worker) waits for it. A worker still applying, or any thread in another state (a second
 * channel, group replication), means no: STOP REPLICA then decides as usual.
 */
export function applierToCut(threads: ApplierThread[]): number | undefined {
  const idle = (t: ApplierThread) => /has read all relay log/i.test(t.state ?? '');
  const coordinators = threads.filter(idle);
  if (coordinators.length !== 1) return undefined;
  const others = threads.filter((t) => t !== coordinators[0]);
  return others.every((t) => /^Waiting for an event from Coordinator$/i.test(t.state ?? '')) ? coordinators[0].id : undefined;
}
