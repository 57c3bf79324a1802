/**
 * The SQL each server flavor and version speaks, as pure functions.
 *
 * Version boundaries (MySQL reference manual, MariaDB knowledge base):
 * - MySQL 8.0.22: SHOW REPLICA STATUS, START/STOP REPLICA, RESET REPLICA
 *   (SHOW SLAVE STATUS keeps the old column names; removed in 8.4).
 * - MySQL 8.0.23: CHANGE REPLICATION SOURCE TO ... SOURCE_* options,
 *   GET_SOURCE_PUBLIC_KEY.
 * - MySQL 8.0.26: SOURCE_POS_WAIT(), semisync_source/semisync_replica plugins
 *   with rpl_semi_sync_source_* / rpl_semi_sync_replica_* variables.
 * - MySQL 8.2.0: SHOW BINARY LOG STATUS (SHOW MASTER STATUS removed in 8.4).
 * - MariaDB 10.x/11.x: SHOW SLAVE STATUS, SHOW ALL SLAVES STATUS (multi-source),
 *   CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos|current_pos|no,
 *   MASTER_GTID_WAIT() (waits on gtid_slave_pos), MASTER_POS_WAIT(),
 *   SHOW BINLOG STATUS from 10.5.2, built-in semi-sync with
 *   rpl_semi_sync_master_* / rpl_semi_sync_slave_*; no super_read_only.
 */
import type { BinlogCoordinates, Flavor, ServerVersion } from './types';

export class VersionParseError extends Error {
  constructor(readonly version: string) {
    super(`cannot read a server version from @@version '${version}' (expected e.g. '8.4.3' or '10.11.6-MariaDB')`);
    this.name = 'VersionParseError';
  }
}

/** Reads flavor and version from @@version (and @@version_comment, which helps tell MariaDB apart). */
export function parseVersion(version: string, versionComment?: string): ServerVersion {
  const raw = String(version ?? '').trim();
  let text = raw;
  const mariadb = /mariadb/i.test(raw) || /mariadb/i.test(versionComment ?? '');
  // The replication/handshake form '5.5.5-10.11.6-MariaDB' carries a fake prefix.
  if (mariadb && /^5\.5\.5-\d+\.\d+/.test(text)) text = text.slice('5.5.5-'.length);
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) throw new VersionParseError(raw);
  return {
    flavor: mariadb ? 'mariadb' : 'mysql',
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: m[3] === undefined ? 0 : Number(m[3]),
    raw,
  };
}

/** True when v >= major.minor.patch (flavor not considered). */
export function atLeast(v: ServerVersion, major: number, minor = 0, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

export function formatVersion(v: ServerVersion): string {
  return `${v.flavor === 'mariadb' ? 'MariaDB' : 'MySQL'} ${v.major}.${v.minor}.${v.patch}`;
}

/**
 * A string literal. Backslash escapes are used, so the session must not run
 * with sql_mode NO_BACKSLASH_ESCAPES (Conn clears it for its own session).
 */
export function quoteString(s: string): string {
  let out = "'";
  for (const ch of String(s)) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case "'":
        out += "\\'";
        break;
      case '\0':
        out += '\\0';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\x1a':
        out += '\\Z';
        break;
      default:
        out += ch;
    }
  }
  return out + "'";
}

/** A quoted identifier (`name`, backticks doubled). */
export function quoteIdent(s: string): string {
  if (s.includes('\0')) throw new Error(`identifier ${JSON.stringify(s)} contains a NUL character`);
  return '`' + s.replace(/`/g, '``') + '`';
}

function intArg(name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER): string {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${v}`);
  }
  return String(v);
}

function numArg(name: string, v: number, min: number): string {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
    throw new RangeError(`${name} must be a number >= ${min}, got ${v}`);
  }
  return String(v);
}

/** Server-side wait functions take whole seconds here; 0 would mean "wait forever" for some of them. */
function waitSeconds(timeoutS: number): string {
  if (typeof timeoutS !== 'number' || !Number.isFinite(timeoutS) || timeoutS <= 0) {
    throw new RangeError(`wait timeout must be a positive number of seconds, got ${timeoutS}`);
  }
  return String(Math.max(1, Math.ceil(timeoutS)));
}

export interface ChangeSourceOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  position: { kind: 'gtid' } | { kind: 'file'; file: string; pos: number };
  connectRetryS?: number;
  /** MySQL only (MariaDB sets master_retry_count as a server option). */
  retryCount?: number;
  heartbeatPeriodS?: number;
  /** MySQL 8.0+: fetch the source's RSA key for caching_sha2_password over plain TCP. Default true on MySQL 8.0.4+. */
  getPublicKey?: boolean;
  ssl?: boolean;
  /**
   * MariaDB GTID mode for position.kind 'gtid' (default slave_pos). Use
   * current_pos for a former master whose own writes are only in gtid_binlog_pos.
   */
  mariadbUseGtid?: 'slave_pos' | 'current_pos';
  /**
   * MySQL: change only the receiver's connection (host, port, credentials, retry,
   * heartbeat) on a channel already using GTID auto-positioning, so the statement is
   * accepted while the applier runs (the receiver must be stopped).
   */
  receiverOnly?: boolean;
}

export interface SemiSyncVarNames {
  sourceEnabled: string;
  replicaEnabled: string;
  sourceStatus: string;
  replicaStatus: string;
}

/** Meaning of a server-side wait function's result. */
export type WaitResult = 'reached' | 'timeout' | 'error';

export interface Dialect {
  flavor: Flavor;
  version: ServerVersion;
  /** Status of the default replication channel/connection. */
  showReplicaStatus(): string;
  /** Status of every channel (MySQL: same statement, one row per channel; MariaDB: SHOW ALL SLAVES STATUS). */
  showAllReplicasStatus(): string;
  showBinlogStatus(): string;
  stopReplica(): string;
  stopReplicaIo(): string;
  stopReplicaSql(): string;
  startReplica(): string;
  startReplicaIo(): string;
  resetReplicaAll(): string;
  changeSource(o: ChangeSourceOptions): string;
  /** SELECT ... AS r: MySQL WAIT_FOR_EXECUTED_GTID_SET, MariaDB MASTER_GTID_WAIT (on gtid_slave_pos). */
  waitForGtid(gtid: string, timeoutS: number): string;
  /** SELECT ... AS r: SOURCE_POS_WAIT / MASTER_POS_WAIT. */
  waitForPos(c: BinlogCoordinates, timeoutS: number): string;
  /** Interprets the `r` column of waitForGtid / waitForPos. */
  waitResult(kind: 'gtid' | 'pos', value: unknown): WaitResult;
  /** The variable names this version uses by default (the loaded plugin decides on MySQL 8.0.26–8.3). */
  semiSyncVars(): SemiSyncVarNames;
  /** Statements that make the server read-only (on) or writable (off), in the order to run them. */
  setReadOnly(on: boolean): string[];
  /**
   * Statements that keep read-only across a restart (MySQL 8.0+: SET PERSIST into
   * mysqld-auto.cnf); [] when the server cannot (MariaDB, MySQL 5.7: my.cnf only).
   */
  persistReadOnly(): string[];
  /** Global variable holding everything executed: gtid_executed / gtid_current_pos. */
  executedGtidVar: string;
  /** log_replica_updates (MySQL 8.0.26+) or log_slave_updates. */
  logReplicaUpdatesVar: string;
  /** How long a silent IO thread waits before reconnecting: replica_net_timeout or slave_net_timeout. */
  netTimeoutVar: string;
  /** Whether the server has super_read_only. */
  hasSuperReadOnly: boolean;
  /** Column-name vocabulary of showAllReplicasStatus(): 'source' (Replica_IO_Running...) or 'master' (Slave_IO_Running...). */
  statusTerms: 'source' | 'master';
}

const SEMI_SYNC_NEW: SemiSyncVarNames = {
  sourceEnabled: 'rpl_semi_sync_source_enabled',
  replicaEnabled: 'rpl_semi_sync_replica_enabled',
  sourceStatus: 'Rpl_semi_sync_source_status',
  replicaStatus: 'Rpl_semi_sync_replica_status',
};
const SEMI_SYNC_OLD: SemiSyncVarNames = {
  sourceEnabled: 'rpl_semi_sync_master_enabled',
  replicaEnabled: 'rpl_semi_sync_slave_enabled',
  sourceStatus: 'Rpl_semi_sync_master_status',
  replicaStatus: 'Rpl_semi_sync_slave_status',
};

/** Both naming schemes, for reading whatever the loaded plugin exposes. */
export const SEMI_SYNC_VAR_SETS: readonly SemiSyncVarNames[] = [SEMI_SYNC_NEW, SEMI_SYNC_OLD];

function toNum(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : Number(String(v));
  return Number.isFinite(n) ? n : null;
}

class MysqlDialect implements Dialect {
  readonly flavor = 'mysql' as const;
  readonly replicaWords: boolean; // 8.0.22
  readonly changeSourceWords: boolean; // 8.0.23
  readonly sourcePosWait: boolean; // 8.0.26
  readonly binaryLogStatus: boolean; // 8.2.0
  readonly executedGtidVar = 'gtid_executed';
  readonly logReplicaUpdatesVar: string;
  readonly netTimeoutVar: string;
  readonly hasSuperReadOnly: boolean;
  readonly statusTerms: 'source' | 'master';

  constructor(readonly version: ServerVersion) {
    this.replicaWords = atLeast(version, 8, 0, 22);
    this.changeSourceWords = atLeast(version, 8, 0, 23);
    this.sourcePosWait = atLeast(version, 8, 0, 26);
    this.binaryLogStatus = atLeast(version, 8, 2, 0);
    this.logReplicaUpdatesVar = atLeast(version, 8, 0, 26) ? 'log_replica_updates' : 'log_slave_updates';
    this.netTimeoutVar = atLeast(version, 8, 0, 26) ? 'replica_net_timeout' : 'slave_net_timeout';
    this.hasSuperReadOnly = atLeast(version, 5, 7, 8);
    this.statusTerms = this.replicaWords ? 'source' : 'master';
  }

  private get R(): string {
    return this.replicaWords ? 'REPLICA' : 'SLAVE';
  }

  showReplicaStatus(): string {
    return `SHOW ${this.R} STATUS`;
  }
  showAllReplicasStatus(): string {
    return this.showReplicaStatus();
  }
  showBinlogStatus(): string {
    return this.binaryLogStatus ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS';
  }
  stopReplica(): string {
    return `STOP ${this.R}`;
  }
  stopReplicaIo(): string {
    return `STOP ${this.R} IO_THREAD`;
  }
  stopReplicaSql(): string {
    return `STOP ${this.R} SQL_THREAD`;
  }
  startReplica(): string {
    return `START ${this.R}`;
  }
  startReplicaIo(): string {
    return `START ${this.R} IO_THREAD`;
  }
  resetReplicaAll(): string {
    return `RESET ${this.R} ALL`;
  }

  changeSource(o: ChangeSourceOptions): string {
    const P = this.changeSourceWords ? 'SOURCE' : 'MASTER';
    const parts: string[] = [
      `${P}_HOST = ${quoteString(o.host)}`,
      `${P}_PORT = ${intArg('port', o.port, 1, 65535)}`,
      `${P}_USER = ${quoteString(o.user)}`,
      `${P}_PASSWORD = ${quoteString(o.password)}`,
    ];
    if (o.receiverOnly) {
      if (o.position.kind !== 'gtid') throw new Error('changeSource: receiverOnly needs GTID auto-positioning');
    } else if (o.position.kind === 'gtid') {
      parts.push(`${P}_AUTO_POSITION = 1`);
    } else {
      parts.push(
        `${P}_AUTO_POSITION = 0`,
        `${P}_LOG_FILE = ${quoteString(o.position.file)}`,
        `${P}_LOG_POS = ${intArg('binlog position', o.position.pos, 4)}`,
      );
    }
    if (o.connectRetryS !== undefined) parts.push(`${P}_CONNECT_RETRY = ${intArg('connectRetryS', o.connectRetryS, 1)}`);
    if (o.retryCount !== undefined) parts.push(`${P}_RETRY_COUNT = ${intArg('retryCount', o.retryCount, 0)}`);
    if (o.heartbeatPeriodS !== undefined) parts.push(`${P}_HEARTBEAT_PERIOD = ${numArg('heartbeatPeriodS', o.heartbeatPeriodS, 0)}`);
    if (o.ssl !== undefined) parts.push(`${P}_SSL = ${o.ssl ? 1 : 0}`);
    const getKey = o.getPublicKey ?? true;
    if (atLeast(this.version, 8, 0, 4) && (o.getPublicKey !== undefined || getKey)) {
      parts.push(`GET_${P}_PUBLIC_KEY = ${getKey ? 1 : 0}`);
    }
    const head = this.changeSourceWords ? 'CHANGE REPLICATION SOURCE TO' : 'CHANGE MASTER TO';
    return `${head} ${parts.join(', ')}`;
  }

  waitForGtid(gtid: string, timeoutS: number): string {
    return `SELECT WAIT_FOR_EXECUTED_GTID_SET(${quoteString(gtid)}, ${waitSeconds(timeoutS)}) AS r`;
  }
  waitForPos(c: BinlogCoordinates, timeoutS: number): string {
    const fn = this.sourcePosWait ? 'SOURCE_POS_WAIT' : 'MASTER_POS_WAIT';
    return `SELECT ${fn}(${quoteString(c.file)}, ${intArg('binlog position', c.pos, 0)}, ${waitSeconds(timeoutS)}) AS r`;
  }
  waitResult(kind: 'gtid' | 'pos', value: unknown): WaitResult {
    const n = toNum(value);
    if (kind === 'gtid') return n === 0 ? 'reached' : n === 1 ? 'timeout' : 'error';
    if (n === null) return 'error';
    return n === -1 ? 'timeout' : n >= 0 ? 'reached' : 'error';
  }
  semiSyncVars(): SemiSyncVarNames {
    return atLeast(this.version, 8, 0, 26) ? { ...SEMI_SYNC_NEW } : { ...SEMI_SYNC_OLD };
  }
  setReadOnly(on: boolean): string[] {
    if (!this.hasSuperReadOnly) return [`SET GLOBAL read_only = ${on ? 1 : 0}`];
    // Turning on: read_only first (it waits for running writes), then super_read_only.
    // Turning off: super_read_only first (it cannot be on while read_only is off).
    return on
      ? ['SET GLOBAL read_only = 1', 'SET GLOBAL super_read_only = 1']
      : ['SET GLOBAL super_read_only = 0', 'SET GLOBAL read_only = 0'];
  }

  persistReadOnly(): string[] {
    if (!atLeast(this.version, 8, 0, 0)) return [];
    return ['SET PERSIST read_only = 1', 'SET PERSIST super_read_only = 1'];
  }
}

class MariaDialect implements Dialect {
  readonly flavor = 'mariadb' as const;
  readonly executedGtidVar = 'gtid_current_pos';
  readonly logReplicaUpdatesVar = 'log_slave_updates';
  readonly netTimeoutVar = 'slave_net_timeout';
  readonly hasSuperReadOnly = false;
  readonly statusTerms = 'master' as const;

  constructor(readonly version: ServerVersion) {}

  showReplicaStatus(): string {
    return 'SHOW SLAVE STATUS';
  }
  showAllReplicasStatus(): string {
    return 'SHOW ALL SLAVES STATUS';
  }
  showBinlogStatus(): string {
    return atLeast(this.version, 10, 5, 2) ? 'SHOW BINLOG STATUS' : 'SHOW MASTER STATUS';
  }
  stopReplica(): string {
    return 'STOP SLAVE';
  }
  stopReplicaIo(): string {
    return 'STOP SLAVE IO_THREAD';
  }
  stopReplicaSql(): string {
    return 'STOP SLAVE SQL_THREAD';
  }
  startReplica(): string {
    return 'START SLAVE';
  }
  startReplicaIo(): string {
    return 'START SLAVE IO_THREAD';
  }
  resetReplicaAll(): string {
    return 'RESET SLAVE ALL';
  }
  changeSource(o: ChangeSourceOptions): string {
    const parts: string[] = [
      `MASTER_HOST = ${quoteString(o.host)}`,
      `MASTER_PORT = ${intArg('port', o.port, 1, 65535)}`,
      `MASTER_USER = ${quoteString(o.user)}`,
      `MASTER_PASSWORD = ${quoteString(o.password)}`,
    ];
    if (o.position.kind === 'gtid') {
      parts.push(`MASTER_USE_GTID = ${o.mariadbUseGtid ?? 'slave_pos'}`);
    } else {
      parts.push(
        `MASTER_LOG_FILE = ${quoteString(o.position.file)}`,
        `MASTER_LOG_POS = ${intArg('binlog position', o.position.pos, 4)}`,
        'MASTER_USE_GTID = no',
      );
    }
    if (o.connectRetryS !== undefined) parts.push(`MASTER_CONNECT_RETRY = ${intArg('connectRetryS', o.connectRetryS, 1)}`);
    if (o.heartbeatPeriodS !== undefined) parts.push(`MASTER_HEARTBEAT_PERIOD = ${numArg('heartbeatPeriodS', o.heartbeatPeriodS, 0)}`);
    if (o.ssl !== undefined) parts.push(`MASTER_SSL = ${o.ssl ? 1 : 0}`);
    return `CHANGE MASTER TO ${parts.join(', ')}`;
  }
  waitForGtid(gtid: string, timeoutS: number): string {
    return `SELECT MASTER_GTID_WAIT(${quoteString(gtid)}, ${waitSeconds(timeoutS)}) AS r`;
  }
  waitForPos(c: BinlogCoordinates, timeoutS: number): string {
    return `SELECT MASTER_POS_WAIT(${quoteString(c.file)}, ${intArg('binlog position', c.pos, 0)}, ${waitSeconds(timeoutS)}) AS r`;
  }
  waitResult(kind: 'gtid' | 'pos', value: unknown): WaitResult {
    const n = toNum(value);
    if (n === null) return 'error';
    if (kind === 'gtid') return n === 0 ? 'reached' : n === -1 ? 'timeout' : 'error';
    return n === -1 ? 'timeout' : n >= 0 ? 'reached' : 'error';
  }
  semiSyncVars(): SemiSyncVarNames {
    return { ...SEMI_SYNC_OLD };
  }
  setReadOnly(on: boolean): string[] {
    // MariaDB has no super_read_only: holders of READ ONLY ADMIN (a part of
    // SUPER in older releases) and replication threads still write while
    // read_only is on. Fencing therefore also relies on removing the address.
    return [`SET GLOBAL read_only = ${on ? 1 : 0}`];
  }

  persistReadOnly(): string[] {
    return [];
  }
}

export function dialectFor(v: ServerVersion): Dialect {
  return v.flavor === 'mariadb' ? new MariaDialect(v) : new MysqlDialect(v);
}
