/**
 * How a replica sees its master, derived from the replica's snapshots (pure).
 *
 * The question is narrow: did anything arrive from the master after the manager's
 * first failed ping? Counters that move between reads taken after the failure, or
 * a "last heard" time after it, mean the master was alive and reachable from this
 * replica when the manager could not reach it.
 *
 * Silence (IO thread connected, nothing arriving) is the weak case: one read cannot show
 * it, and neither can absent or zero timestamps (MySQL with performance_schema off
 * reports none; MariaDB has none; a MySQL source sends no heartbeat while it is busy
 * writing). It is conclusive only when reads after the failure began saw nothing move
 * for two heartbeat periods.
 */
import type { NodeSnapshot, ReplicationChannel } from '../mysql/types';
import type { ManagerSight, PeerView, ReplicaSight } from './types';

/** Identity of the master, to find the replica's channel that points at it. */
export interface MasterRef {
  name: string;
  host: string;
  port: number;
  serverId?: number;
  /** Other names the master's address may go by (e.g. its ssh host, an IP). */
  aliases?: string[];
}

/** Replica IO errors that mean "could not reach / lost the source" (network, not a refusal). */
export const CONNECTION_IO_ERRNOS = new Set([
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR: can't connect
  2005, // CR_UNKNOWN_HOST
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST: lost connection during query
  2026, // CR_SSL_CONNECTION_ERROR
  2055, // CR_SERVER_LOST_EXTENDED
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED (net timeout)
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
]);

/** Rounding slack for "seconds ago" values (servers report whole seconds). */
const SECONDS_SLACK_MS = 1000;

function sameHost(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}

/** The replica's channel whose source is the master, if any. */
export function channelToMaster(replica: NodeSnapshot, master: MasterRef): ReplicationChannel | undefined {
  const names = [master.host, ...(master.aliases ?? [])];
  return replica.replication.find(
    (c) =>
      (master.serverId !== undefined && c.sourceServerId !== 0 && c.sourceServerId === master.serverId) ||
      (c.sourcePort === master.port && names.some((n) => sameHost(n, c.sourceHost))),
  );
}

/**
 * What a replica had received from its master at one read: the marks that move only when
 * something arrives (read coordinates, retrieved GTIDs, MariaDB's gtid_io_pos, the
 * heartbeat count). Plain data: the verdict carries them to the failover executor, which
 * compares them with its own reads after freezing the IO threads.
 */
export interface ReceivedMark {
  /** Read coordinates in the master's binlog, 'file:pos' ('' when none). */
  read: string;
  retrievedGtidSet: string;
  heartbeats: number | null;
  mariadbIoPos: string;
}

export function receivedMark(snap: NodeSnapshot, c: ReplicationChannel): ReceivedMark {
  return {
    read: c.read ? `${c.read.file}:${c.read.pos}` : '',
    retrievedGtidSet: c.retrievedGtidSet ?? '',
    heartbeats: c.heartbeatsReceived ?? null,
    mariadbIoPos: snap.mariadb?.ioPos ?? '',
  };
}

/** When the channel last heard from its source (ms since epoch, pessimistic), if reported. */
function heardAt(snap: NodeSnapshot, c: ReplicationChannel): number | null {
  if (c.lastHeardSecondsAgo === undefined || c.lastHeardSecondsAgo === null) return null;
  return snap.takenAt - c.lastHeardSecondsAgo * 1000 - SECONDS_SLACK_MS;
}

/** Something arrived on the channel between two marks (a, then b): what, or null. */
export function progressed(a: ReceivedMark, b: ReceivedMark): string | null {
  if (a.heartbeats !== null && b.heartbeats !== null && b.heartbeats > a.heartbeats) return `heartbeats ${a.heartbeats} → ${b.heartbeats}`;
  if (a.read !== b.read && b.read !== '') return `received up to ${b.read} (was ${a.read || 'none'})`;
  if (a.retrievedGtidSet !== b.retrievedGtidSet && b.retrievedGtidSet !== '') return 'retrieved GTID set grew';
  if (a.mariadbIoPos !== b.mariadbIoPos && b.mariadbIoPos !== '') return `gtid_io_pos ${a.mariadbIoPos} → ${b.mariadbIoPos}`;
  return null;
}

function ioSummary(c: ReplicationChannel): string {
  const err = c.lastIoErrno ? `, IO errno ${c.lastIoErrno} (${c.lastIoError.slice(0, 160)})` : '';
  return `IO ${c.ioState}${err}`;
}

/**
 * A replica as the monitor last saw it while the master answered (a health check, before
 * any failure): whether its IO thread was connected to the master, and its lag.
 */
export interface HealthyView {
  at: number;
  connected: boolean;
  lagS: number | null;
  /** Consecutive checks (up to this one) that found the IO thread not connected. */
  disconnectedChecks: number;
  /**
   * Not connected because its IO thread was stopped without an error (by an operator): it was
   * not trying to reach the master, so a failure to connect seen later comes from a restart
   * after this check, and is news.
   */
  stoppedCleanly?: boolean;
}

/**
 * Derive the replica's view of the master.
 * @param reads this replica's snapshots, oldest first; only reads taken at or after
 *   `firstFailureAt` count as evidence about the failure (earlier ones are ignored).
 * @param firstFailureAt start of the manager's current run of failed pings (null: no failure;
 *   then every read counts, and "hears" means the channel is connected and moving).
 * @param heartbeatPeriodMs the channel's heartbeat period, when known.
 */
export function replicaSight(
  name: string,
  reads: NodeSnapshot[],
  master: MasterRef,
  firstFailureAt: number | null,
  heartbeatPeriodMs?: number | null,
  before?: HealthyView | null,
): ReplicaSight {
  const since = firstFailureAt ?? -Infinity;
  const relevant = reads.filter((r) => r.takenAt >= since);
  const last = relevant[relevant.length - 1];
  if (!last) {
    return { name, at: firstFailureAt ?? 0, status: 'unreadable', detail: 'not read since the failure began' };
  }
  if (!last.reachable) {
    return { name, at: last.takenAt, status: 'unreadable', detail: `cannot read replica: ${last.error?.message ?? 'unreachable'}` };
  }
  const ch = channelToMaster(last, master);
  if (!ch) {
    const srcs = last.replication.map((c) => `${c.sourceHost}:${c.sourcePort}`).join(', ') || 'none';
    return { name, at: last.takenAt, status: 'elsewhere', detail: `no replication channel from ${master.name} (sources: ${srcs})` };
  }
  const base = {
    name,
    at: last.takenAt,
    ioState: ch.ioState,
    lastIoErrno: ch.lastIoErrno,
    lastIoError: ch.lastIoError,
    heartbeatPeriodMs: heartbeatPeriodMs ?? null,
    received: receivedMark(last, ch),
  };
  // Failing to connect already while the master still answered the manager: that loss is
  // older than this failure and proves nothing about it (a replica that gave up a week ago).
  // A replica that was only stopped by an operator then, and now cannot connect, was
  // started since: its failure is as new as the master's.
  const stale = (what: string): ReplicaSight | undefined =>
    before && !before.connected && !before.stoppedCleanly && firstFailureAt !== null && before.at < firstFailureAt
      ? { ...base, status: 'stale', detail: `${ioSummary(ch)}: ${what}, but it was already not connected at the last check before the failure began (${new Date(before.at).toISOString()}): old news, not evidence` }
      : undefined;
  if (ch.ioState === 'Connecting') {
    return stale(`not connected to ${master.name}`) ?? { ...base, status: 'lost', detail: `${ioSummary(ch)}: not connected to ${master.name}` };
  }
  if (ch.ioState === 'No') {
    if (ch.lastIoErrno === 0) return { ...base, status: 'stopped', detail: `${ioSummary(ch)}: replication stopped without error (by an operator)` };
    if (CONNECTION_IO_ERRNOS.has(ch.lastIoErrno)) {
      return stale(`gave up connecting to ${master.name}`) ?? { ...base, status: 'lost', detail: `${ioSummary(ch)}: gave up connecting to ${master.name}` };
    }
    return { ...base, status: 'broken', detail: `${ioSummary(ch)}: IO thread stopped by an error that says nothing about the master being down` };
  }
  // IO thread connected ('Yes'): did anything arrive after the failure began? Every read
  // taken since then counts: a move between the first of them and any later one means the
  // master sent something while the manager could not reach it.
  const after = firstFailureAt === null ? relevant.slice(-2) : relevant;
  const withCh = after
    .filter((r) => r.reachable)
    .map((r) => ({ snap: r, ch: channelToMaster(r, master) }))
    .filter((x): x is { snap: NodeSnapshot; ch: ReplicationChannel } => !!x.ch)
    .map((x) => ({ ...x, mark: receivedMark(x.snap, x.ch) }));
  const first = withCh[0];
  if (first && withCh.length >= 2) {
    for (const later of withCh.slice(1)) {
      const moved = progressed(first.mark, later.mark);
      if (moved) return { ...base, status: 'hears', detail: `${ioSummary(ch)}; ${moved} between reads ${later.snap.takenAt - first.snap.takenAt} ms apart` };
    }
  }
  const heard = heardAt(last, ch);
  if (heard !== null && firstFailureAt !== null && heard > firstFailureAt) {
    return { ...base, status: 'hears', detail: `${ioSummary(ch)}; last heard from ${master.name} ${ch.lastHeardSecondsAgo} s ago, after the failure began` };
  }
  if (firstFailureAt === null) {
    return { ...base, status: 'hears', detail: `${ioSummary(ch)} (no failure under way)` };
  }
  // Silence. It is never concluded from one read: only from reads after the failure began
  // in which nothing moved, spanning two heartbeat periods, or from the server's own
  // "last heard" when it keeps one (MySQL with performance_schema on; see inspect.ts).
  const quiet = withCh.length;
  const spanMs = first ? last.takenAt - first.snap.takenAt : 0;
  let silentForMs: number | null = quiet >= 2 ? spanMs : null;
  if (ch.lastHeardSecondsAgo !== undefined && ch.lastHeardSecondsAgo !== null) silentForMs = Math.max(silentForMs ?? 0, Math.round(ch.lastHeardSecondsAgo * 1000));
  const conclusive = quiet >= 2 && heartbeatPeriodMs != null && heartbeatPeriodMs > 0 && silentForMs !== null && silentForMs > 2 * heartbeatPeriodMs + SECONDS_SLACK_MS;
  const hb = heartbeatPeriodMs != null ? `heartbeat period ${heartbeatPeriodMs} ms` : 'heartbeat period unknown';
  return {
    ...base,
    status: 'silent',
    silentForMs,
    silenceConclusive: conclusive,
    detail:
      `${ioSummary(ch)} but nothing arrived since the failure began` +
      (silentForMs !== null ? ` (silent ${silentForMs} ms over ${quiet} read(s), ${hb})` : ` (${quiet} read(s), ${hb})`) +
      (conclusive ? ': two heartbeats missed, connection is dead' : ''),
  };
}

/**
 * The other managers' views of the master (heir.ha), judged for the analysis (pure).
 *
 * A view counts only while fresh (taken at most maxAgeMs ago, of this master). One that
 * reaches the master speaks about this failure only when taken after it began; an older one
 * is awaited ('earlier'). One that cannot reach it counts, unless that manager had lost the
 * master more than maxAgeMs before this one did (its own partition: 'old-news'). Times are
 * the managers' wall clocks (kept in step by NTP; the bound is seconds, not milliseconds).
 */
export function managerSights(
  views: readonly PeerView[],
  input: { self: string; master: string; now: number; firstFailureAt: number | null; maxAgeMs: number },
): ManagerSight[] {
  const out: ManagerSight[] = [];
  for (const v of views) {
    if (v.manager === input.self) continue;
    const ageMs = Math.max(0, input.now - v.at);
    const age = `${(ageMs / 1000).toFixed(1)} s ago`;
    const base = { manager: v.manager, at: v.at, ageMs, verdict: v.verdict };
    if (v.master !== input.master) {
      out.push({ ...base, status: 'stale', detail: `${v.manager}'s view is of ${v.master}, not ${input.master} (${age})` });
      continue;
    }
    if (!Number.isFinite(v.at) || ageMs > input.maxAgeMs) {
      out.push({ ...base, status: 'stale', detail: `${v.manager}'s view of ${v.master} is stale (${age}, more than ${input.maxAgeMs} ms): counts for nothing` });
      continue;
    }
    const f = input.firstFailureAt;
    if (v.reachable) {
      if (f !== null && v.at < f) {
        out.push({ ...base, status: 'earlier', detail: `${v.manager} reached ${v.master} ${age}, before this failure began; its next view is awaited` });
      } else {
        out.push({ ...base, status: 'reaches', detail: `${v.manager} reaches ${v.master} (view ${age}, verdict ${v.verdict})` });
      }
      continue;
    }
    if (f !== null && v.failingSince !== null && v.failingSince < f - input.maxAgeMs) {
      const ahead = ((f - v.failingSince) / 1000).toFixed(1);
      out.push({ ...base, status: 'old-news', detail: `${v.manager} had lost ${v.master} ${ahead} s before this manager did (its own partition; view ${age})` });
      continue;
    }
    out.push({ ...base, status: 'lost', detail: `${v.manager} cannot reach ${v.master} either (view ${age}, verdict ${v.verdict})` });
  }
  return out.sort((a, b) => a.manager.localeCompare(b.manager));
}
