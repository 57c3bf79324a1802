/**
 * Connections to MySQL/MariaDB servers: the only place that uses mysql2.
 *
 * Every call is bounded: connecting has connectTimeoutMs, every statement a
 * timeout (queryTimeoutMs unless given). A statement that times out destroys
 * the connection, because a hung server may still answer it later and the
 * protocol state is then unknown. Big numbers (GTID seqs, binlog positions)
 * come back as strings, never as rounded JS numbers. One statement per call
 * (multipleStatements off).
 */
import * as fs from 'node:fs';
import * as mysql from 'mysql2';
import type { z } from 'zod';
import type { ClusterConfig, NodeConfig, TlsConfig as TlsConfigSchema } from '../config/schema';
import { dialectFor, parseVersion, type Dialect } from './dialect';
import type { ServerVersion } from './types';

export type TlsConfig = z.infer<typeof TlsConfigSchema>;

export interface ConnOptions {
  /** Node name, for errors. */
  name: string;
  host: string;
  port: number;
  user: string;
  password: string;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  tls?: TlsConfig;
}

/** Statement text with password literals replaced, fit for errors and logs. */
export function redactSql(sql: string): string {
  const lit = `'(?:[^'\\\\]|\\\\.|'')*'|"(?:[^"\\\\]|\\\\.|"")*"`;
  return sql
    .replace(new RegExp(`(PASSWORD\\s*=?\\s*)(${lit})`, 'gi'), "$1'***'")
    .replace(new RegExp(`(IDENTIFIED\\s+(?:WITH\\s+\\S+\\s+)?(?:BY|AS)\\s+)(${lit})`, 'gi'), "$1'***'")
    .replace(new RegExp(`(PASSWORD\\s*\\(\\s*)(${lit})`, 'gi'), "$1'***'")
    .replace(new RegExp(`(SET\\s+PASSWORD\\b[^=]*=\\s*)(${lit})`, 'gi'), "$1'***'");
}

function shortSql(sql: string): string {
  const one = sql.replace(/\s+/g, ' ').trim();
  return one.length > 300 ? `${one.slice(0, 300)}...` : one;
}

export class MysqlError extends Error {
  /** Node name. */
  server: string;
  /** The statement, passwords redacted. */
  statement?: string;
  /** mysql2/server code ('ER_ACCESS_DENIED_ERROR', 'ECONNREFUSED', 'PROTOCOL_SEQUENCE_TIMEOUT', 'HEIR_...'). */
  code: string;
  /** Server error number, when the server answered with an error. */
  errno?: number;
  sqlState?: string;
  /** The connection is unusable after this error. */
  fatal: boolean;
  /** The server's (or driver's) own message, redacted. */
  detail: string;

  constructor(o: {
    server: string;
    code: string;
    message: string;
    statement?: string;
    errno?: number;
    sqlState?: string;
    fatal?: boolean;
    cause?: unknown;
  }) {
    const statement = o.statement !== undefined ? shortSql(redactSql(o.statement)) : undefined;
    const detail = redactSql(o.message);
    const num = o.errno !== undefined ? ` ${o.errno}` : '';
    super(`${o.server}: ${detail} [${o.code}${num}]${statement ? ` while running: ${statement}` : ''}`, { cause: o.cause });
    this.name = 'MysqlError';
    this.server = o.server;
    this.statement = statement;
    this.code = o.code;
    this.errno = o.errno;
    this.sqlState = o.sqlState;
    this.fatal = !!o.fatal;
    this.detail = detail;
  }
}

function wrapError(server: string, err: any, statement?: string): MysqlError {
  if (err instanceof MysqlError) return err;
  const errno = typeof err?.errno === 'number' ? err.errno : undefined;
  return new MysqlError({
    server,
    code: String(err?.code ?? 'UNKNOWN'),
    message: String(err?.sqlMessage ?? err?.message ?? err),
    statement,
    errno,
    sqlState: err?.sqlState || undefined,
    fatal: !!err?.fatal,
    cause: err,
  });
}

/**
 * What an error says about the server:
 * - 'alive': the server answered (it refused us, is overloaded, or rejected the
 *   statement) — mysqld is up and its network works.
 * - 'shutting-down': the server said it is going away (normal or forced shutdown).
 * - 'unreachable': no answer — refused/reset/timed out/lost connection/name lookup.
 * - 'unknown': anything else (e.g. a bug on our side).
 */
export type ErrorVerdict = 'alive' | 'shutting-down' | 'unreachable' | 'unknown';

/** Server error numbers that mean the server is stopping, not serving. */
const SHUTDOWN_ERRNOS = new Set([
  1053, // ER_SERVER_SHUTDOWN: Server shutdown in progress
  1077, // ER_NORMAL_SHUTDOWN
  1078, // ER_GOT_SIGNAL
  1079, // ER_SHUTDOWN_COMPLETE
  1080, // ER_FORCING_CLOSE
  1927, // ER_CONNECTION_KILLED (MariaDB), sent to clients at shutdown
]);

/** Client-side error numbers (2000-2999) / driver codes that mean we never reached a serving server. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT',
  'EADDRNOTAVAIL',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'HEIR_CONNECT_TIMEOUT',
  'HEIR_QUERY_TIMEOUT',
  'HEIR_CONN_CLOSED',
  'CR_CONNECTION_ERROR',
  'CR_CONN_HOST_ERROR',
  'CR_SERVER_GONE_ERROR',
  'CR_SERVER_LOST',
]);

/** Handshake-level answers: the server spoke the protocol, so it is up. */
const ALIVE_CODES = new Set(['HANDSHAKE_NO_SSL_SUPPORT', 'HANDSHAKE_SSL_ERROR', 'ER_NOT_SUPPORTED_AUTH_MODE', 'AUTH_SWITCH_PLUGIN_ERROR']);

export function classifyError(err: unknown): ErrorVerdict {
  const e = err as any;
  if (!e) return 'unknown';
  const errno: number | undefined = typeof e.errno === 'number' ? e.errno : undefined;
  const code: string = String(e.code ?? '');
  if (errno !== undefined && SHUTDOWN_ERRNOS.has(errno)) return 'shutting-down';
  if (code === 'ER_SERVER_SHUTDOWN' || code === 'ER_NORMAL_SHUTDOWN' || code === 'ER_CONNECTION_KILLED') return 'shutting-down';
  if (UNREACHABLE_CODES.has(code)) return 'unreachable';
  // Client-library error numbers (CR_*) are not answers from the server.
  if (errno !== undefined && errno >= 2000 && errno < 3000) return 'unreachable';
  if (ALIVE_CODES.has(code)) return 'alive';
  // Any other error number came from the server itself: 1040 too many
  // connections, 1045 access denied, 1129 host blocked, 1130 host not allowed,
  // 1203 / 1226 user limits, 1290 read-only, 3159 secure transport required, ...
  if (errno !== undefined && errno >= 1000) return 'alive';
  if (/^ER_/.test(code)) return 'alive';
  return 'unknown';
}

/**
 * True when the error proves mysqld is up and answering (e.g. 1040 too many
 * connections, 1045 access denied, 1129 host blocked, 1130 host not
 * privileged, 1203 user too many connections). A server that says it is
 * shutting down (1053) does not count: it is about to be gone.
 */
export function isAliveError(err: unknown): boolean {
  return classifyError(err) === 'alive';
}

/** True when the error means the server could not be reached or stopped answering. */
export function isUnreachableError(err: unknown): boolean {
  const v = classifyError(err);
  return v === 'unreachable' || v === 'shutting-down';
}

function readPem(v: string | undefined, what: string, server: string): string | undefined {
  if (v === undefined) return undefined;
  if (v.includes('-----BEGIN')) return v;
  try {
    return fs.readFileSync(v, 'utf8');
  } catch (e: any) {
    throw new MysqlError({ server, code: 'HEIR_TLS_FILE', message: `cannot read TLS ${what} file ${v}: ${e?.message ?? e}` });
  }
}

/**
 * The ssl objects handed to mysql2, one per distinct TLS setting (mode and PEM contents).
 * mysql2 caches its TLS secure context and its TLS sessions per ssl object (by identity): a
 * fresh object per connection would cost a secure context per connection (~40 KB of native
 * memory each, so ~40 MB for a daemon holding a ping connection to 1000 masters) and no
 * session resumption. PEM files are still read at every connection, so a replaced
 * certificate takes effect with the next connection (a new key, a new object).
 */
const sslShared = new Map<string, mysql.SslOptions>();
const SSL_SHARED_MAX = 64;

function shared(ssl: mysql.SslOptions & { verifyIdentity?: boolean }): mysql.SslOptions {
  const key = JSON.stringify([ssl.ca, ssl.cert, ssl.key, ssl.rejectUnauthorized, ssl.verifyIdentity]);
  const hit = sslShared.get(key);
  if (hit) return hit;
  if (sslShared.size >= SSL_SHARED_MAX) sslShared.delete(sslShared.keys().next().value!);
  sslShared.set(key, ssl);
  return ssl;
}

/** mysql2 ssl options for a TLS mode; undefined for disabled. Equal settings give the same object. */
export function sslOptions(tls: TlsConfig | undefined, server = '?'): mysql.SslOptions | undefined {
  const mode = tls?.mode ?? 'preferred';
  if (mode === 'disabled') return undefined;
  const ssl: mysql.SslOptions & { verifyIdentity?: boolean } = {};
  const ca = readPem(tls?.ca, 'ca', server);
  const cert = readPem(tls?.cert, 'cert', server);
  const key = readPem(tls?.key, 'key', server);
  if (ca) ssl.ca = ca;
  if (cert) ssl.cert = cert;
  if (key) ssl.key = key;
  if (mode === 'preferred' || mode === 'required') {
    ssl.rejectUnauthorized = false;
  } else {
    ssl.rejectUnauthorized = true;
    ssl.verifyIdentity = mode === 'verify-identity';
  }
  return shared(ssl);
}

type RawConn = mysql.Connection;

/**
 * mysql2's destroy() only half-closes the socket: towards a peer that is gone or hung (a
 * SIGSTOPped mysqld, a host down, an address moved away) it stays open for good, one more
 * leaked socket per failed ping and timer keeping a process alive. Destroy the socket too.
 */
function destroyHard(raw: RawConn): void {
  raw.destroy();
  const stream = (raw as unknown as { stream?: { destroyed?: boolean; destroy(): void } }).stream;
  if (stream && !stream.destroyed) stream.destroy();
}

/**
 * Calls fn once `ms` have passed and the event loop has then read the sockets once more
 * (setImmediate runs after the poll phase); returns a cancel function. libuv runs due timers
 * before it reads sockets, so when this process is busy past a deadline (thousands of
 * clusters, a loaded host) an answer that arrived in time would otherwise lose to the timer
 * waiting for it, and the manager would take its own slowness for the server's.
 */
export function timeoutAfterIo(ms: number, fn: () => void): () => void {
  let immediate: NodeJS.Immediate | null = null;
  const t = setTimeout(() => (immediate = setImmediate(fn)), ms);
  return () => {
    clearTimeout(t);
    if (immediate) clearImmediate(immediate);
  };
}

/**
 * What a connection keeps of its handshake once it is open, and lets go of here. Each is a
 * small Buffer (20 bytes of auth scramble, a TLS session ticket) that is a view into the
 * 64 KB socket read that brought it, so holding it holds all 64 KB: measured, 1000 ping
 * connections kept ~100 such reads (6.6 MB) through mysql2's auth plugin and ~140 (8.5 MB)
 * through the TLS sockets' connect options. Neither is read after the handshake: mysql2 calls
 * its auth plugin only during authentication (heir never changes user on a connection), and
 * Node reads the session option only when it starts the TLS handshake.
 */
function releaseHandshakeState(raw: RawConn): void {
  const r = raw as unknown as { _authPlugin?: unknown; stream?: object };
  r._authPlugin = undefined;
  const stream = r.stream as (Record<string | symbol, unknown> & { _tlsOptions?: { session?: unknown } }) | undefined;
  if (!stream || !stream._tlsOptions) return;
  stream._tlsOptions.session = undefined;
  for (const sym of Object.getOwnPropertySymbols(stream)) {
    const v = stream[sym] as { session?: unknown } | undefined;
    if (sym.description === 'connect-options' && v && typeof v === 'object') v.session = undefined;
  }
}

function connectOnce(o: ConnOptions, ssl: mysql.SslOptions | undefined): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const raw = mysql.createConnection({
      host: o.host,
      port: o.port,
      user: o.user,
      password: o.password,
      // No timer of mysql2's own (0 disables it): the guard below is the only one, so the
      // deadline is decided after the sockets have been read once more (timeoutAfterIo).
      connectTimeout: 0,
      ssl,
      multipleStatements: false,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      decimalNumbers: false,
      charset: 'utf8mb4_general_ci',
      // heir uses the text protocol only. mysql2 preallocates its prepared-statement cache
      // (default 16000 entries: ~512 KB per connection), which a daemon holding a
      // connection per monitored master cannot afford.
      maxPreparedStatements: 1,
    });
    // Without a listener, a late 'error' would crash the process.
    raw.on('error', () => undefined);
    // TCP, TLS and authentication together, bounded by one timer.
    const cancel = timeoutAfterIo(o.connectTimeoutMs, () => {
      if (settled) return;
      settled = true;
      destroyHard(raw);
      reject(
        new MysqlError({
          server: o.name,
          code: 'HEIR_CONNECT_TIMEOUT',
          message: `no answer from ${o.host}:${o.port} within ${o.connectTimeoutMs} ms (connect)`,
          fatal: true,
        }),
      );
    });
    raw.connect((err) => {
      cancel();
      if (settled) return;
      settled = true;
      if (err) {
        destroyHard(raw);
        reject(err);
      } else {
        releaseHandshakeState(raw);
        resolve(raw);
      }
    });
  });
}

export class Conn {
  readonly name: string;
  private closed = false;
  /** This side is closing it (close/destroy): onLost callbacks stay quiet. */
  private closing = false;
  private _version: ServerVersion = { flavor: 'mysql', major: 0, minor: 0, patch: 0, raw: '' };
  private _dialect: Dialect = dialectFor(this._version);

  private constructor(
    private readonly raw: RawConn,
    readonly options: ConnOptions,
  ) {
    this.name = options.name;
    raw.on('end', () => (this.closed = true));
    raw.on('error', () => (this.closed = true));
  }

  /**
   * Called once when the server ends the connection or the socket fails (a killed mysqld's
   * kernel closes it at once), not when this side closes it.
   */
  onLost(cb: () => void): void {
    let fired = false;
    const fire = () => {
      if (fired || this.closing) return;
      fired = true;
      cb();
    };
    this.raw.on('end', fire);
    this.raw.on('error', fire);
  }

  /** Flavor and version, read when the connection was opened. */
  get version(): ServerVersion {
    return this._version;
  }

  /** SQL for this server's flavor and version. */
  get dialect(): Dialect {
    return this._dialect;
  }

  /** Connects (bounded by connectTimeoutMs), reads the version, picks the dialect. */
  static async open(o: ConnOptions): Promise<Conn> {
    const mode = o.tls?.mode ?? 'preferred';
    let raw: RawConn;
    try {
      try {
        raw = await connectOnce(o, sslOptions(o.tls, o.name));
      } catch (e: any) {
        // 'preferred' falls back to plain TCP when the server has no TLS.
        if (mode === 'preferred' && e?.code === 'HANDSHAKE_NO_SSL_SUPPORT') raw = await connectOnce(o, undefined);
        else throw e;
      }
    } catch (e) {
      const err = wrapError(o.name, e);
      err.fatal = true;
      throw err;
    }
    const conn = new Conn(raw, o);
    try {
      const [row] = await conn.query<{ version: string; comment: string | null; sql_mode: string | null }>(
        'SELECT @@version AS version, @@version_comment AS comment, @@session.sql_mode AS sql_mode',
      );
      conn._version = parseVersion(row.version, row.comment ?? undefined);
      conn._dialect = dialectFor(conn._version);
      // Our string literals use backslash escapes; make sure this session honours them.
      const modes = String(row.sql_mode ?? '').split(',').filter(Boolean);
      if (modes.includes('NO_BACKSLASH_ESCAPES')) {
        const keep = modes.filter((m) => m !== 'NO_BACKSLASH_ESCAPES').join(',');
        await conn.exec(`SET SESSION sql_mode = '${keep}'`);
      }
      return conn;
    } catch (e) {
      destroyHard(raw);
      throw wrapError(o.name, e);
    }
  }

  /**
   * Runs one statement and returns its rows ([] for statements without a
   * result set). Bounded by timeoutMs (default queryTimeoutMs); on timeout the
   * connection is destroyed and a MysqlError with code HEIR_QUERY_TIMEOUT is thrown.
   */
  query<T = Record<string, any>>(sql: string, params?: unknown[], timeoutMs?: number): Promise<T[]> {
    const limit = timeoutMs ?? this.options.queryTimeoutMs;
    if (this.closed) return Promise.reject(this.closedError(sql));
    return new Promise<T[]>((resolve, reject) => {
      let settled = false;
      const timedOut = () => {
        if (settled) return;
        settled = true;
        this.destroy();
        reject(
          new MysqlError({
            server: this.name,
            code: 'HEIR_QUERY_TIMEOUT',
            message: `no answer within ${limit} ms; connection dropped`,
            statement: sql,
            fatal: true,
          }),
        );
      };
      // One timer, not mysql2's query timeout beside it: mysql2's would fire in the same
      // timers phase and win over an answer already in the socket (see timeoutAfterIo).
      const cancel = timeoutAfterIo(limit, timedOut);
      this.raw.query({ sql, values: params }, (err: any, result: any) => {
        if (settled) return;
        settled = true;
        cancel();
        if (err) {
          if (err.fatal) this.closed = true;
          reject(wrapError(this.name, err, sql));
          return;
        }
        resolve(Array.isArray(result) ? (result as T[]) : []);
      });
    });
  }

  /**
   * COM_PING (what `mysqladmin ping` sends): the server's connection thread answers OK
   * without parsing or executing anything. Bounded by timeoutMs like query(); on timeout the
   * connection is destroyed and a MysqlError with code HEIR_QUERY_TIMEOUT is thrown.
   */
  ping(timeoutMs?: number): Promise<void> {
    const limit = timeoutMs ?? this.options.queryTimeoutMs;
    if (this.closed) return Promise.reject(this.closedError('COM_PING'));
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      // mysql2's ping has no timeout of its own: this timer is the only one.
      const cancel = timeoutAfterIo(limit, () => {
        if (settled) return;
        settled = true;
        this.destroy();
        reject(new MysqlError({ server: this.name, code: 'HEIR_QUERY_TIMEOUT', message: `no answer to COM_PING within ${limit} ms; connection dropped`, statement: 'COM_PING', fatal: true }));
      });
      this.raw.ping((err: any) => {
        if (settled) return;
        settled = true;
        cancel();
        if (err) {
          if (err.fatal) this.closed = true;
          reject(wrapError(this.name, err, 'COM_PING'));
          return;
        }
        resolve();
      });
    });
  }

  private closedError(statement: string): MysqlError {
    return new MysqlError({ server: this.name, code: 'HEIR_CONN_CLOSED', message: 'connection is closed', statement, fatal: true });
  }

  /** Runs one statement for its effect. */
  async exec(sql: string, timeoutMs?: number): Promise<void> {
    await this.query(sql, undefined, timeoutMs);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Polite close (COM_QUIT), falling back to destroy after a short while. */
  close(): Promise<void> {
    this.closing = true;
    if (this.closed) {
      destroyHard(this.raw);
      return Promise.resolve();
    }
    this.closed = true;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        destroyHard(this.raw);
        resolve();
      }, 1000);
      this.raw.end(() => {
        clearTimeout(t);
        destroyHard(this.raw);
        resolve();
      });
    });
  }

  /** Drops the socket at once. */
  destroy(): void {
    this.closing = true;
    this.closed = true;
    destroyHard(this.raw);
  }
}

/** Connection options for a node of a cluster (heir's admin account). */
export function connOptions(cluster: ClusterConfig, node: NodeConfig, o: { timeoutMs?: number } = {}): ConnOptions {
  return {
    name: node.name,
    host: node.host,
    port: node.port,
    user: cluster.mysql.user,
    password: cluster.mysql.password,
    connectTimeoutMs: o.timeoutMs ?? cluster.mysql.connect_timeout_ms,
    queryTimeoutMs: o.timeoutMs ?? cluster.mysql.query_timeout_ms,
    tls: cluster.mysql.tls,
  };
}

/** Opens a connection, runs fn, and always closes it. */
export async function withConn<T>(o: ConnOptions, fn: (c: Conn) => Promise<T>): Promise<T> {
  const c = await Conn.open(o);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
