/**
 * The monitor's probes (I/O): pings of the master in four modes, the raw TCP greeting
 * probe, the SSH host check, secondary checks from other hosts, and small reads the
 * monitor needs (heartbeat periods, pid file). Each is bounded by a timeout and returns
 * plain observations (types.ts); none throws for an expected failure.
 */
import * as net from 'node:net';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { Conn, connOptions, classifyError, MysqlError, timeoutAfterIo } from '../mysql/conn';
import { sshExec, sshTarget, SshError } from '../ssh';
import { hostCheckCommand, parseHostCheck, parseProbe, probeCommand } from './host-script';
import type { HostCheck, PingClass, PingMode, PingObservation, SecondaryCheck, TcpProbe, TcpProbeResult } from './types';

// ---------------------------------------------------------------------------
// Error classification (pure).

const NO_ROUTE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const LOST = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'EPIPE', 'HEIR_CONN_CLOSED', 'CR_SERVER_LOST', 'CR_SERVER_GONE_ERROR']);
const TIMEOUT = new Set(['HEIR_QUERY_TIMEOUT', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ETIMEDOUT', 'HEIR_CONNECT_TIMEOUT', 'HEIR_PING_DEADLINE']);
/** Server errors that mean a write waited on a lock and gave up: writes are blocked, the server is not. */
const WRITE_BLOCKED_ERRNOS = new Set([
  1205, // ER_LOCK_WAIT_TIMEOUT (lock_wait_timeout / innodb_lock_wait_timeout)
  3024, // ER_QUERY_TIMEOUT (max_execution_time)
  1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
]);

export type PingPhase = 'connect' | 'query' | 'write';

/** What a failed ping's error says, given the phase it failed in. */
export function classifyPingError(err: unknown, phase: PingPhase): PingClass {
  const e = err as { code?: string; errno?: number } | undefined;
  const code = String(e?.code ?? '');
  const errno = typeof e?.errno === 'number' ? e.errno : undefined;
  if (phase === 'write' && errno !== undefined && WRITE_BLOCKED_ERRNOS.has(errno)) return 'write-timeout';
  const c = classifyError(err);
  if (c === 'shutting-down') return 'shutting-down';
  if (c === 'alive') return 'alive-error';
  if (code === 'ECONNREFUSED') return 'refused';
  if (NO_ROUTE.has(code)) return 'no-route';
  if (TIMEOUT.has(code)) return phase === 'connect' ? 'connect-timeout' : phase === 'write' ? 'write-timeout' : 'query-timeout';
  if (LOST.has(code)) return 'lost';
  return 'error';
}

function observation(mode: PingMode | 'reprobe', at: number, cls: PingClass, err?: unknown): PingObservation {
  const o: PingObservation = { at, mode, class: cls, latencyMs: Date.now() - at };
  if (err) {
    const e = err as { code?: string; errno?: number; message?: string; detail?: string };
    if (e.code) o.code = String(e.code);
    if (typeof e.errno === 'number') o.errno = e.errno;
    o.message = String(e instanceof MysqlError ? e.detail : (e.message ?? err)).slice(0, 300);
  }
  return o;
}

/**
 * Run fn with a hard deadline; on deadline, reject with code HEIR_PING_DEADLINE. The deadline
 * is decided after the event loop has read the sockets once more (timeoutAfterIo): a busy
 * manager does not take its own slowness for the master's.
 */
export function deadline<T>(ms: number, fn: () => Promise<T>, onLate: (v: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const cancel = timeoutAfterIo(ms, () => {
      if (done) return;
      done = true;
      reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'HEIR_PING_DEADLINE' }));
    });
    fn().then(
      (v) => {
        if (done) return onLate(v);
        done = true;
        cancel();
        resolve(v);
      },
      (e) => {
        if (done) return;
        done = true;
        cancel();
        reject(e);
      },
    );
  });
}

// ---------------------------------------------------------------------------
// Pinger: one per monitored master; keeps the persistent connection of ping/select/insert mode.

export interface PingerOptions {
  mode: PingMode;
  timeoutMs: number;
  /** schema.table for insert mode. */
  heartbeatTable: string;
  /** Identifies this manager in the heartbeat row. */
  managerId: string;
  /** The server ended the persistent ping connection between pings (ping, select and insert modes). */
  onConnectionLost?: () => void;
}

export class Pinger {
  private conn: Conn | null = null;
  private tableReady = false;
  private closed = false;

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly node: NodeConfig,
    private readonly o: PingerOptions,
  ) {}

  get target(): string {
    return this.node.name;
  }

  private opts() {
    return connOptions(this.cluster, this.node, { timeoutMs: this.o.timeoutMs });
  }

  /** One ping, bounded by timeoutMs as a whole. Never throws. */
  async ping(): Promise<PingObservation> {
    const at = Date.now();
    let phase: PingPhase = 'connect';
    try {
      await deadline(
        this.o.timeoutMs,
        async () => {
          if (this.o.mode === 'connect') {
            const c = await Conn.open(this.opts());
            try {
              phase = 'query';
              await c.query('SELECT 1', undefined, this.o.timeoutMs);
            } finally {
              c.destroy();
            }
            return;
          }
          if (!this.conn || this.conn.isClosed) {
            this.conn = null;
            this.tableReady = false;
            const c = await Conn.open(this.opts());
            if (this.closed) {
              c.destroy();
              return;
            }
            this.conn = c;
            // The server closing this connection between pings (a killed mysqld's kernel does
            // at once) is news worth a ping now rather than at the next interval.
            c.onLost(() => {
              if (!this.closed && this.conn === c) this.o.onConnectionLost?.();
            });
          }
          const c = this.conn;
          phase = 'query';
          if (this.o.mode === 'ping') {
            await c.ping(this.o.timeoutMs);
            return;
          }
          if (this.o.mode === 'select') {
            await c.query('SELECT 1', undefined, this.o.timeoutMs);
            return;
          }
          if (!this.tableReady) {
            await this.prepareHeartbeat(c);
            this.tableReady = true;
          }
          phase = 'write';
          await c.query(
            `INSERT INTO ${this.table()} (server_id, manager, ts) VALUES (@@server_id, ?, NOW(6)) ON DUPLICATE KEY UPDATE manager = ?, ts = NOW(6)`,
            [this.o.managerId, this.o.managerId],
            this.o.timeoutMs,
          );
        },
        (late) => void late,
      );
      return observation(this.o.mode, at, 'ok');
    } catch (e) {
      // The connection's state is unknown after any failure: start afresh next time.
      this.drop();
      return observation(this.o.mode, at, classifyPingError(e, phase), e);
    }
  }

  private table(): string {
    return this.o.heartbeatTable
      .split('.')
      .map((p) => '`' + p + '`')
      .join('.');
  }

  /**
   * Create the heartbeat table when missing, and bound this session's lock waits so a
   * blocked write ends by itself soon after the ping gave up on it (no piling up of
   * waiting server threads while commits are blocked).
   */
  private async prepareHeartbeat(c: Conn): Promise<void> {
    const waitS = Math.max(1, Math.ceil(this.o.timeoutMs / 1000));
    await c.exec(`SET SESSION lock_wait_timeout = ${waitS}`, this.o.timeoutMs);
    await c.exec(`SET SESSION innodb_lock_wait_timeout = ${waitS}`, this.o.timeoutMs);
    const [schema] = this.o.heartbeatTable.split('.');
    const exists = await c.query('SELECT 1 AS x FROM information_schema.tables WHERE table_schema = ? AND table_name = ?', this.o.heartbeatTable.split('.'), this.o.timeoutMs);
    if (exists.length > 0) return;
    await c.exec(`CREATE DATABASE IF NOT EXISTS \`${schema}\``, this.o.timeoutMs);
    await c.exec(
      `CREATE TABLE IF NOT EXISTS ${this.table()} (server_id INT UNSIGNED NOT NULL PRIMARY KEY, manager VARCHAR(255) NOT NULL, ts DATETIME(6) NOT NULL) ENGINE=InnoDB`,
      this.o.timeoutMs,
    );
  }

  private drop(): void {
    if (this.conn) this.conn.destroy();
    this.conn = null;
    this.tableReady = false;
  }

  close(): void {
    this.closed = true;
    this.drop();
  }
}

/** A fresh connection + SELECT 1, bounded by timeoutMs: the manager's second opinion. */
export async function reprobe(cluster: ClusterConfig, node: NodeConfig, timeoutMs: number): Promise<PingObservation> {
  const at = Date.now();
  let phase: PingPhase = 'connect';
  try {
    await deadline(
      timeoutMs,
      async () => {
        const c = await Conn.open(connOptions(cluster, node, { timeoutMs }));
        try {
          phase = 'query';
          await c.query('SELECT 1', undefined, timeoutMs);
        } finally {
          c.destroy();
        }
      },
      () => undefined,
    );
    return observation('reprobe', at, 'ok');
  } catch (e) {
    return observation('reprobe', at, classifyPingError(e, phase), e);
  }
}

// ---------------------------------------------------------------------------
// Raw TCP greeting probe from the manager.

/** Classify the first bytes a MySQL server sends (pure). */
export function classifyGreeting(bytes: Buffer): { result: TcpProbeResult; errno?: number; detail?: string } {
  if (bytes.length < 5) return { result: 'silent' };
  const first = bytes[4]!;
  if (first === 0xff) {
    const errno = bytes.length >= 7 ? bytes.readUInt16LE(5) : undefined;
    // Error packet: 0xff, errno (2), then '#'+sqlstate (6) in protocol 4.1, then the message.
    let msg = bytes.subarray(7).toString('utf8');
    if (msg.startsWith('#')) msg = msg.slice(6);
    return { result: 'error-greeting', ...(errno !== undefined ? { errno } : {}), detail: msg.slice(0, 200) };
  }
  if (first === 0x0a) {
    const end = bytes.indexOf(0, 5);
    const version = end > 5 ? bytes.subarray(5, end).toString('latin1') : '';
    return { result: 'greeting', detail: version ? `server version ${version}` : 'protocol 10 greeting' };
  }
  return { result: 'greeting', detail: `unexpected first byte 0x${first.toString(16)}` };
}

export function tcpProbe(host: string, port: number, timeoutMs: number, from = 'manager'): Promise<TcpProbe> {
  const at = Date.now();
  return new Promise<TcpProbe>((resolve) => {
    let connected = false;
    let done = false;
    let buf = Buffer.alloc(0);
    const sock = net.connect({ host, port });
    const finish = (result: TcpProbeResult, extra: { errno?: number; detail?: string } = {}) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ at, from, result, ...extra, ms: Date.now() - at });
    };
    const timer = setTimeout(() => finish(connected ? 'silent' : 'unreachable', { detail: connected ? 'TCP accepted, no greeting' : 'no TCP connection' }), timeoutMs);
    sock.on('connect', () => (connected = true));
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      // Wait for the whole first packet (or enough of it for the error/version text).
      const need = buf.length >= 4 ? Math.min(4 + buf.readUIntLE(0, 3), 128) : 5;
      if (buf.length >= need) greeted();
    });
    const greeted = () => {
      const g = classifyGreeting(buf);
      finish(g.result, { ...(g.errno !== undefined ? { errno: g.errno } : {}), ...(g.detail ? { detail: g.detail } : {}) });
    };
    sock.on('end', () => {
      if (buf.length >= 5) greeted();
      else finish('refused', { detail: 'connection closed without a greeting' });
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') return finish('refused', { detail: 'ECONNREFUSED' });
      if (connected) return finish('refused', { detail: `closed: ${e.code ?? e.message}` });
      finish('unreachable', { detail: e.code ?? e.message });
    });
  });
}

// ---------------------------------------------------------------------------
// SSH checks.

function sshErrorOf(e: unknown): NonNullable<HostCheck['sshError']> {
  if (e instanceof SshError) return { kind: e.kind, ...(e.code ? { code: e.code } : {}), message: e.message };
  return { kind: 'command', message: String((e as Error)?.message ?? e) };
}

/** SSH to the master's host: mysqld's process state, listening port, local greeting probe. */
export async function hostCheck(cluster: ClusterConfig, node: NodeConfig, o: { pidFile?: string | null; probeTimeoutMs: number }): Promise<HostCheck> {
  const at = Date.now();
  const t = sshTarget(cluster, node);
  const cmd = hostCheckCommand({ address: node.host, port: node.port, pidFile: o.pidFile ?? null, probeTimeoutMs: o.probeTimeoutMs });
  try {
    const r = await sshExec(t, cmd, { timeoutMs: t.commandTimeoutMs });
    const p = parseHostCheck(r.stdout);
    return {
      at,
      ran: true,
      pid: p.pid,
      processState: p.processState,
      comm: p.comm,
      listening: p.listening,
      local: p.local,
      raw: r.stdout.trim().split('\n').join('; ').slice(0, 400),
    };
  } catch (e) {
    return { at, ran: false, sshError: sshErrorOf(e) };
  }
}

/** SSH to another node's host and probe the master's port from there. */
export async function secondaryCheck(cluster: ClusterConfig, from: NodeConfig, master: NodeConfig, probeTimeoutMs: number): Promise<SecondaryCheck> {
  const at = Date.now();
  try {
    const r = await sshExec(sshTarget(cluster, from), probeCommand(master.host, master.port, probeTimeoutMs));
    const p = parseProbe(r.stdout);
    if (!p.result) return { at, from: from.name, ran: false, sshError: { kind: 'command', message: `unexpected output: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 200)}` } };
    return { at, from: from.name, ran: true, result: p.result, ...(p.bytes ? { detail: `first bytes ${p.bytes}` } : {}) };
  } catch (e) {
    return { at, from: from.name, ran: false, sshError: sshErrorOf(e) };
  }
}

// ---------------------------------------------------------------------------
// Small reads.

/** @@pid_file of the master (read while it is healthy, for the host check). */
export async function readPidFile(cluster: ClusterConfig, node: NodeConfig): Promise<string | null> {
  let c: Conn | null = null;
  try {
    c = await Conn.open(connOptions(cluster, node));
    const [r] = await c.query<{ pf: string | null; dd: string | null }>('SELECT @@global.pid_file AS pf, @@global.datadir AS dd');
    if (!r?.pf) return null;
    const pf = String(r.pf);
    if (pf.startsWith('/')) return pf;
    return r.dd ? `${String(r.dd).replace(/\/$/, '')}/${pf}` : null;
  } catch {
    return null;
  } finally {
    c?.destroy();
  }
}
