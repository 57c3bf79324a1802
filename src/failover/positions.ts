/**
 * Replication positions as the failover planner compares them (pure).
 *
 * A survivor's *received* position is what it could hand on once its relay log
 * is applied: MySQL executed ∪ retrieved GTIDs; MariaDB the per-domain maximum
 * of gtid_io_pos, gtid_slave_pos and gtid_current_pos; without GTIDs, the read
 * coordinates in the dead master's binlog. Positions of one mode are compared
 * by containment: GTID sets can be incomparable (each has something the other
 * lacks), coordinates never are.
 */
import { GtidSet } from '../mysql/gtid';
import { MariaGtidPos } from '../mysql/mariadb-gtid';
import { compareCoords, formatCoords } from '../mysql/coords';
import type { BinlogCoordinates, NodeSnapshot, ReplicationChannel } from '../mysql/types';

/** How the cluster identifies transactions for this failover. */
export type PositionMode = 'mysql-gtid' | 'mariadb-gtid' | 'file';

export type Position =
  | { mode: 'mysql-gtid'; set: GtidSet }
  | { mode: 'mariadb-gtid'; pos: MariaGtidPos }
  /** null: the node never read from the dead master (no coordinates). */
  | { mode: 'file'; coords: BinlogCoordinates | null };

export function emptyPosition(mode: PositionMode): Position {
  if (mode === 'mysql-gtid') return { mode, set: GtidSet.empty() };
  if (mode === 'mariadb-gtid') return { mode, pos: MariaGtidPos.empty() };
  return { mode, coords: null };
}

/** a has every transaction b has. */
export function contains(a: Position, b: Position): boolean {
  if (a.mode === 'mysql-gtid' && b.mode === 'mysql-gtid') return a.set.contains(b.set);
  if (a.mode === 'mariadb-gtid' && b.mode === 'mariadb-gtid') return a.pos.contains(b.pos);
  if (a.mode === 'file' && b.mode === 'file') {
    if (!b.coords) return true;
    if (!a.coords) return false;
    return compareCoords(a.coords, b.coords) >= 0;
  }
  throw new Error(`cannot compare a ${a.mode} position with a ${b.mode} position`);
}

export function equal(a: Position, b: Position): boolean {
  return contains(a, b) && contains(b, a);
}

/** Neither contains the other: each has transactions the other lacks. */
export function incomparable(a: Position, b: Position): boolean {
  return !contains(a, b) && !contains(b, a);
}

/** Everything a or b has (file mode: the later coordinates). */
export function union(a: Position, b: Position): Position {
  if (a.mode === 'mysql-gtid' && b.mode === 'mysql-gtid') return { mode: a.mode, set: a.set.union(b.set) };
  if (a.mode === 'mariadb-gtid' && b.mode === 'mariadb-gtid') return { mode: a.mode, pos: a.pos.max(b.pos) };
  if (a.mode === 'file' && b.mode === 'file') return contains(a, b) ? a : b;
  throw new Error(`cannot join a ${a.mode} position with a ${b.mode} position`);
}

export function unionAll(mode: PositionMode, ps: Position[]): Position {
  return ps.reduce((acc, p) => union(acc, p), emptyPosition(mode));
}

/** What `of` has that `base` lacks, as text ('' when nothing). */
export function missing(base: Position, of: Position): string {
  if (base.mode === 'mysql-gtid' && of.mode === 'mysql-gtid') return of.set.subtract(base.set).toString();
  if (base.mode === 'mariadb-gtid' && of.mode === 'mariadb-gtid') {
    return base.pos
      .behind(of.pos)
      .map((b) => `domain ${b.domain} seq ${b.from + 1n}-${b.to}`)
      .join(', ');
  }
  if (base.mode === 'file' && of.mode === 'file') {
    if (contains(base, of)) return '';
    return `${formatCoords(base.coords)} .. ${formatCoords(of.coords)}`;
  }
  throw new Error(`cannot compare a ${base.mode} position with a ${of.mode} position`);
}

/** Number of transactions `of` has that `base` lacks; undefined when not countable (file mode). */
export function missingCount(base: Position, of: Position): bigint | undefined {
  if (base.mode === 'mysql-gtid' && of.mode === 'mysql-gtid') return of.set.subtract(base.set).count();
  if (base.mode === 'mariadb-gtid' && of.mode === 'mariadb-gtid') return base.pos.distance(of.pos);
  return undefined;
}

export function describe(p: Position): string {
  if (p.mode === 'mysql-gtid') return p.set.toString() || '(empty)';
  if (p.mode === 'mariadb-gtid') return p.pos.toString() || '(empty)';
  return formatCoords(p.coords);
}

/** The text a server understands for this position (GTID set / GTID list / file:pos). */
export function positionText(p: Position): string {
  if (p.mode === 'mysql-gtid') return p.set.toString();
  if (p.mode === 'mariadb-gtid') return p.pos.toString();
  return formatCoords(p.coords);
}

export function parsePosition(mode: PositionMode, text: string): Position {
  if (mode === 'mysql-gtid') return { mode, set: GtidSet.parse(text) };
  if (mode === 'mariadb-gtid') return { mode, pos: MariaGtidPos.parse(text) };
  const m = /^(.+):(\d+)$/.exec(text.trim());
  return { mode, coords: m ? { file: m[1], pos: Number(m[2]) } : null };
}

// ---------------------------------------------------------------------------
// Reading positions out of a snapshot

/** The node's channel that replicates from the given server (by host:port or server id), if any. */
export function channelFrom(n: NodeSnapshot, source: { host: string; port: number; serverId?: number }): ReplicationChannel | undefined {
  return n.replication.find(
    (c) =>
      (c.sourceHost === source.host && c.sourcePort === source.port) ||
      (source.serverId !== undefined && source.serverId > 0 && c.sourceServerId === source.serverId),
  );
}

/**
 * The mode a failover of these survivors must use: MySQL GTID when every one
 * has gtid_mode=ON, MariaDB GTID when every one is MariaDB with a known GTID
 * position, otherwise file/position.
 */
export function positionMode(survivors: NodeSnapshot[]): PositionMode {
  const known = survivors.filter((n) => n.reachable && n.version);
  if (known.length === 0) return 'file';
  if (known.every((n) => n.version!.flavor === 'mysql' && (n.gtidMode ?? '').toUpperCase() === 'ON')) return 'mysql-gtid';
  if (
    known.every(
      (n) =>
        n.version!.flavor === 'mariadb' &&
        !!(n.mariadb?.slavePos || n.mariadb?.ioPos || n.executedGtid || n.mariadb?.binlogPos),
    )
  ) {
    return 'mariadb-gtid';
  }
  return 'file';
}

/** What the node has executed (applied), in the given mode. */
export function executedPosition(mode: PositionMode, n: NodeSnapshot, deadMaster?: DeadMasterRef): Position {
  if (mode === 'mysql-gtid') return { mode, set: GtidSet.parse(n.executedGtid ?? '') };
  if (mode === 'mariadb-gtid') {
    let pos = MariaGtidPos.parse(n.mariadb?.slavePos ?? '');
    pos = pos.max(MariaGtidPos.parse(n.executedGtid ?? ''));
    return { mode, pos };
  }
  const ch = deadMaster ? channelFrom(n, deadMaster) : n.replication[0];
  return { mode, coords: ch?.exec ?? null };
}

export interface DeadMasterRef {
  host: string;
  port: number;
  serverId?: number;
}

/**
 * MariaDB with GTID positioning: when both replication threads are stopped, the next
 * START SLAVE (even SQL_THREAD alone) deletes the relay log and fetches again from
 * gtid_slave_pos. What such a node received and did not apply cannot be applied: it
 * counts as not received (pure).
 */
export function mariadbRelayLogDiscarded(n: NodeSnapshot): boolean {
  const gtid = n.replication.filter((c) => c.mariadbUsingGtid !== undefined && c.mariadbUsingGtid !== 'No');
  return gtid.length > 0 && gtid.every((c) => c.ioState === 'No' && !c.sqlRunning);
}

/** What the node received (executed ∪ relay log), in the given mode. */
export function receivedPosition(mode: PositionMode, n: NodeSnapshot, deadMaster?: DeadMasterRef): Position {
  if (mode === 'mysql-gtid') {
    let set = GtidSet.parse(n.executedGtid ?? '');
    for (const c of n.replication) set = set.union(GtidSet.parse(c.retrievedGtidSet ?? ''));
    return { mode, set };
  }
  if (mode === 'mariadb-gtid') {
    let pos = MariaGtidPos.parse(n.mariadb?.slavePos ?? '').max(MariaGtidPos.parse(n.executedGtid ?? ''));
    if (n.mariadb?.ioPos && !mariadbRelayLogDiscarded(n)) pos = pos.max(MariaGtidPos.parse(n.mariadb.ioPos));
    return { mode, pos };
  }
  const ch = deadMaster ? channelFrom(n, deadMaster) : n.replication[0];
  return { mode, coords: ch?.read ?? null };
}
