/**
 * What the monitor observes and what it concludes, as plain data.
 *
 * The runtime (monitor.ts) gathers observations; the analysis (verdict.ts) turns them
 * into a named Verdict with its evidence; the state machine (state.ts) decides which
 * verdicts are events. Nothing in this file does I/O.
 */

/**
 * Independent sources of evidence about the master. 'managers': the other heir managers'
 * published views of the master (heir.ha only).
 */
export type Source = 'manager' | 'replicas' | 'ssh' | 'secondary' | 'managers';
export const SOURCES: readonly Source[] = ['manager', 'replicas', 'ssh', 'secondary', 'managers'];

export type PingMode = 'connect' | 'ping' | 'select' | 'insert';

/**
 * What one attempt to talk to the master with the MySQL protocol showed.
 * - ok: answered in time;
 * - alive-error: the server answered with an error that proves it alive (1040 too many
 *   connections, 1045 access denied, 1129 host blocked, 1290 read-only, ...);
 * - shutting-down: the server said it is going away (1053, ...);
 * - refused: TCP refused (the host's kernel answered: host up, nothing listening);
 * - no-route: host/network unreachable;
 * - connect-timeout: no usable connection within the timeout (TCP or handshake: the
 *   TCP probe tells which);
 * - query-timeout: connected, but the statement got no answer in time;
 * - write-timeout: insert mode: the heartbeat write (or its commit) got no answer in time;
 * - lost: the connection broke (reset, closed) mid-way;
 * - error: anything else (the message says what).
 */
export type PingClass =
  | 'ok'
  | 'alive-error'
  | 'shutting-down'
  | 'refused'
  | 'no-route'
  | 'connect-timeout'
  | 'query-timeout'
  | 'write-timeout'
  | 'lost'
  | 'error';

export interface PingObservation {
  /** ms since epoch when the attempt started. */
  at: number;
  /** The configured ping mode, or 'reprobe' for the fresh-connection SELECT 1 run during corroboration. */
  mode: PingMode | 'reprobe';
  class: PingClass;
  latencyMs: number;
  code?: string;
  errno?: number;
  message?: string;
}

/**
 * A raw TCP connect to the MySQL port that waits for the server's greeting packet
 * (no mysql2 involved): it tells "TCP accepted but silent" (a stopped or wedged mysqld)
 * from "refused" (nothing listening) and "unreachable" (host or path down).
 */
export type TcpProbeResult = 'greeting' | 'error-greeting' | 'silent' | 'refused' | 'unreachable';

export interface TcpProbe {
  at: number;
  /** Where the probe ran from: 'manager' or a node name (secondary check) or the master itself (ssh). */
  from: string;
  result: TcpProbeResult;
  /** error-greeting: the server's error number (e.g. 1040, 1129). */
  errno?: number;
  detail?: string;
  ms?: number;
}

/** Result of the SSH check of the master's host (one command on the host). */
export interface HostCheck {
  at: number;
  /** The command ran on the host (ssh connected, authenticated, host key matched). */
  ran: boolean;
  /** Why it did not run. `code` is the socket error code when there is one (ECONNREFUSED, ...). */
  sshError?: { kind: 'connect' | 'auth' | 'hostkey' | 'timeout' | 'command'; code?: string; message: string };
  /** mysqld's pid when one was found (pid file, or the process listening on the port). */
  pid?: number | null;
  /** /proc state letter of that process: R, S, D, T/t (stopped), Z (zombie); null when no process. */
  processState?: string | null;
  comm?: string | null;
  /** Something listens on the MySQL port in the host's network namespace. */
  listening?: boolean | null;
  /** TCP greeting probe from the host itself to the node's address. */
  local?: TcpProbeResult | null;
  /** Raw command output, for the evidence. */
  raw?: string;
}

/** MHA's secondary check: another host (a replica's) probes the master's port over SSH. */
export interface SecondaryCheck {
  at: number;
  /** Node whose host ran the probe. */
  from: string;
  ran: boolean;
  sshError?: { kind: string; code?: string; message: string };
  result?: TcpProbeResult;
  detail?: string;
}

/**
 * How one replica sees the master, derived from its snapshots (see sight.ts).
 * - hears: IO thread connected and something arrived from the master after the manager's
 *   first failed ping (counters progressed between two reads, or last heard since then);
 * - lost: IO thread disconnected (Connecting, or stopped with a connection error);
 * - silent: IO thread says connected (Yes) but nothing arrived since the failure began;
 * - stopped: IO thread stopped without error (stopped by an operator: says nothing);
 * - broken: IO thread stopped with a non-connection error (e.g. 1236): says nothing now;
 * - unreadable: the manager could not read the replica;
 * - elsewhere: the replica does not replicate from this master;
 * - stale: IO thread disconnected, but it was already so at the last check before the
 *   failure began (while the master answered): old news, says nothing about this failure.
 */
export type ReplicaSightStatus = 'hears' | 'lost' | 'silent' | 'stopped' | 'broken' | 'unreadable' | 'elsewhere' | 'stale';

export interface ReplicaSight {
  name: string;
  at: number;
  status: ReplicaSightStatus;
  ioState?: 'Yes' | 'No' | 'Connecting';
  lastIoErrno?: number;
  lastIoError?: string;
  /** silent: how long nothing has arrived (ms), as far as the reads tell. */
  silentForMs?: number | null;
  /** The channel's heartbeat period (ms), when known. */
  heartbeatPeriodMs?: number | null;
  /** silent: whether the silence is long enough to mean the connection is dead (two heartbeats missed). */
  silenceConclusive?: boolean;
  /** What the replica had received from the master at its latest read (see sight.ts). */
  received?: { read: string; retrievedGtidSet: string; heartbeats: number | null; mariadbIoPos: string };
  /** Human summary, e.g. "IO Connecting, errno 2003 (Can't connect...)". */
  detail: string;
}

/** Another manager's published view of a cluster's master (heir.ha), as read from etcd. */
export interface PeerView {
  manager: string;
  master: string;
  /** Its last probe reached the master (mysqld answered, also with an error that proves it alive). */
  reachable: boolean;
  /** Its monitor's verdict at the time. */
  verdict: string;
  /** ms since epoch when the view was taken (the manager's clock). */
  at: number;
  /** Start of its current run of failed pings (ms since epoch), null when its last ping was answered. */
  failingSince: number | null;
}

/**
 * What another manager's view says about this failure (see managerSights in sight.ts):
 * - reaches: it reached the master after this manager's failure began;
 * - lost: it cannot reach the master (fresh view);
 * - earlier: it reached the master, but its latest view predates this failure: its next view
 *   is awaited (it has not spoken since the failure began);
 * - old-news: it had lost the master long before this manager did, while this manager still
 *   reached it (its own partition): says nothing about this failure;
 * - stale: the view is older than the freshness bound, or of another master: counts for nothing.
 */
export type ManagerSightStatus = 'reaches' | 'lost' | 'earlier' | 'old-news' | 'stale';

export interface ManagerSight {
  manager: string;
  status: ManagerSightStatus;
  /** When the view was taken (ms since epoch). */
  at: number;
  /** Age of the view at the analysis (ms). */
  ageMs: number;
  verdict: string;
  /** Human summary, e.g. "mgr-b reached db1 0.4 s ago (verdict Healthy)". */
  detail: string;
}

/** Everything known at one instant about the master of a cluster. */
export interface Observations {
  cluster: string;
  master: string;
  now: number;
  /** The latest regular ping. */
  ping: PingObservation;
  /** Start of the current run of failed pings (null when the last ping was ok). */
  firstFailureAt: number | null;
  /** Manager's raw TCP probe of the master's port, taken after the failure. */
  tcp?: TcpProbe | null;
  /** Manager's fresh connection + SELECT 1, taken after the failure. */
  reprobe?: PingObservation | null;
  replicas: ReplicaSight[];
  /**
   * Corroborating probes of the first round that have not reported yet (e.g. 'ssh',
   * 'read db2'). While any is pending, a dead verdict that is not yet confirmed is held
   * as Suspect rather than reported half-formed.
   */
  pending?: string[];
  /** SSH host check; null when ssh_check is off. */
  host?: HostCheck | null;
  secondary: SecondaryCheck[];
  /** The other managers' views of the master (heir.ha); absent or empty without it. */
  managers?: ManagerSight[];
}

export interface DetectionParams {
  /** Independent sources that must agree before failover (detection.min_sources). */
  minSources: number;
  /** How long a hung master must stay hung, and how long a failure with no corroboration either way lasts, before it counts as dead (ms). */
  suspectTimeoutMs: number;
}

export type VerdictKind =
  | 'Healthy'
  | 'Suspect'
  | 'UnreachableMaster'
  | 'AliveWithErrors'
  | 'MasterOverloaded'
  | 'CommitsBlocked'
  | 'HungMaster'
  | 'DeadMaster'
  | 'DeadMasterHost';

/** Verdicts that may lead to failover (when confirmed). */
export const DEAD_VERDICTS: readonly VerdictKind[] = ['DeadMaster', 'DeadMasterHost', 'HungMaster'];

/** What an observation says about the master. */
export type Pointing = 'alive' | 'dead' | 'hung' | 'host-down' | 'unknown';

export interface Evidence {
  source: Source;
  /** Node the observation was made from or about. */
  subject: string;
  at: number;
  observation: string;
  points: Pointing;
}

export interface Verdict {
  kind: VerdictKind;
  cluster: string;
  master: string;
  at: number;
  /** Id of the analysis row that produced the verdict (see RULES in verdict.ts). */
  rule: string;
  /** The row's condition in words. */
  because: string;
  evidence: Evidence[];
  /** Sources whose evidence agrees with this (dead) verdict. */
  confirmedBy: Source[];
  failoverAllowed: boolean;
  /** Why failover is or is not allowed. */
  reason: string;
  /** ms since the first failed ping (0 when healthy). */
  failingForMs: number;
  /** What each replica had received from the master at its latest read (for the executor's check that nothing arrives after the verdict). */
  received: Record<string, NonNullable<ReplicaSight['received']>>;
}

export type ReplicaFindingKind = 'Lagging' | 'ReplicationBroken' | 'ReplicationStopped' | 'ErrantGtids' | 'ReplicaUnreachable' | 'NotReplicatingFromMaster';

export interface ReplicaFinding {
  kind: ReplicaFindingKind;
  replica: string;
  detail: string;
}
