/**
 * The SSH adapter: the only module that imports ssh2.
 *
 * A connection checks the host key against known_hosts (no "accept anything" mode exists)
 * and authenticates; each call runs one command or one SFTP read on it, in a channel of its
 * own, with a hard timeout. Connections are kept open for reuse for the target's
 * `keepOpenMs` after their last use (ssh.keep_open_s; 0: one connection per call, closed
 * after it), see pool.ts: every reuse re-reads known_hosts and checks the key the server
 * presented when the connection was opened, a connection that closed or failed is replaced,
 * and a reused connection that does not open a channel within connect_timeout_ms counts as
 * a host that does not answer. Errors are SshError with a kind the caller can act on.
 */
import { readFileSync, createWriteStream, existsSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
// Before ssh2: its native crypto binding must not load (see no-native-crypto.ts).
import './no-native-crypto';
import { Client, type ConnectConfig, type ClientChannel, type SFTPWrapper } from 'ssh2';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { checkHostKey, hostKeyAlgorithmsFor, parseKnownHosts, type HostKeyCheck } from './known-hosts';
import { ConnectionPool, type Lease, type PoolConnection } from './pool';

export interface SshTarget {
  /** Node name, for messages. */
  name: string;
  host: string;
  port: number;
  user: string;
  privateKeyPath?: string;
  knownHostsPath: string;
  connectTimeoutMs: number;
  commandTimeoutMs: number;
  /** Keep the connection open this long after its last use, for the next call (0 or absent: close it after the call). */
  keepOpenMs?: number;
}

export type SshErrorKind = 'connect' | 'auth' | 'hostkey' | 'timeout' | 'command';

export class SshError extends Error {
  readonly target: string;
  readonly kind: SshErrorKind;
  /** For kind 'hostkey': the fingerprint of the key the server presented. */
  readonly fingerprint?: string;
  /** Socket error code when the connection itself failed (ECONNREFUSED, EHOSTUNREACH, ...). */
  readonly code?: string;
  constructor(target: string, kind: SshErrorKind, message: string, o?: { fingerprint?: string; code?: string; cause?: unknown }) {
    super(message, o?.cause !== undefined ? { cause: o.cause } : undefined);
    this.name = 'SshError';
    this.target = target;
    this.kind = kind;
    if (o?.fingerprint) this.fingerprint = o.fingerprint;
    if (o?.code) this.code = o.code;
  }
}

/** The SSH target for a node: node-level overrides of the cluster's ssh settings. */
export function sshTarget(cluster: ClusterConfig, node: NodeConfig): SshTarget {
  const s = cluster.ssh;
  const t: SshTarget = {
    name: node.name,
    host: node.ssh?.host ?? node.host,
    port: node.ssh?.port ?? s.port,
    user: node.ssh?.user ?? s.user,
    knownHostsPath: s.known_hosts,
    connectTimeoutMs: s.connect_timeout_ms,
    commandTimeoutMs: s.command_timeout_ms,
    keepOpenMs: (s.keep_open_s ?? 0) * 1000,
  };
  if (s.private_key) t.privateKeyPath = s.private_key;
  return t;
}

function where(t: SshTarget): string {
  return `${t.name} (${t.user}@${t.host}:${t.port})`;
}

function loadKnownHosts(t: SshTarget) {
  let text: string;
  try {
    text = readFileSync(t.knownHostsPath, 'utf8');
  } catch (e) {
    throw new SshError(
      t.name,
      'hostkey',
      `ssh to ${where(t)}: cannot read known_hosts ${t.knownHostsPath}: ${(e as Error).message}; ` +
        `create it (e.g. ssh-keyscan -p ${t.port} ${t.host} >> ${t.knownHostsPath}, after checking the fingerprints)`,
      { cause: e },
    );
  }
  return parseKnownHosts(text).entries;
}

function hostKeyError(t: SshTarget, c: HostKeyCheck): SshError {
  const shown = `${c.keyType} ${c.fingerprint}`;
  let msg: string;
  switch (c.status) {
    case 'unknown':
      msg =
        `ssh to ${where(t)}: host key ${shown} is not in ${t.knownHostsPath}; ` +
        `verify the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) and add it ` +
        `(ssh-keyscan -p ${t.port} ${t.host} >> ${t.knownHostsPath})`;
      break;
    case 'mismatch':
      msg =
        `ssh to ${where(t)}: HOST KEY MISMATCH: server presented ${shown}, which differs from ` +
        `${t.knownHostsPath} line(s) ${c.knownLines.join(', ')}; the host was reinstalled or someone is intercepting; ` +
        `check the host, then replace its entry`;
      break;
    case 'revoked':
      msg = `ssh to ${where(t)}: host key ${shown} is marked @revoked in ${t.knownHostsPath} line ${c.line}`;
      break;
    default:
      msg = `ssh to ${where(t)}: host key check failed for ${shown}`;
  }
  return new SshError(t.name, 'hostkey', msg, { fingerprint: c.fingerprint });
}

/**
 * An open, host-key-verified, authenticated connection (internal). Its socket is ours, so that
 * an idle pooled connection does not keep the process alive (unref) while one in use does.
 */
class SshConnection implements PoolConnection {
  private isOpen = true;
  private closed = false;
  private readonly closeCbs: (() => void)[] = [];

  constructor(
    readonly client: Client,
    private readonly sock: Socket,
    /** The key the server presented at the handshake (checked against known_hosts again at every reuse). */
    readonly hostKey: Buffer,
  ) {
    // An error or a close while idle ends the connection; without a listener an error would be thrown.
    client.on('error', () => {
      this.isOpen = false;
    });
    client.on('close', () => {
      this.isOpen = false;
      if (this.closed) return;
      this.closed = true;
      for (const cb of this.closeCbs.splice(0)) cb();
    });
  }

  get open(): boolean {
    return this.isOpen;
  }

  end(): void {
    this.isOpen = false;
    end(this.client);
  }

  onClose(cb: () => void): void {
    if (this.closed) cb();
    else this.closeCbs.push(cb);
  }

  ref(): void {
    this.sock.ref();
  }

  unref(): void {
    this.sock.unref();
  }
}

async function connect(t: SshTarget): Promise<SshConnection> {
  const entries = loadKnownHosts(t);
  let privateKey: Buffer | undefined;
  if (t.privateKeyPath) {
    try {
      privateKey = readFileSync(t.privateKeyPath);
    } catch (e) {
      throw new SshError(t.name, 'auth', `ssh to ${where(t)}: cannot read private key ${t.privateKeyPath}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  let rejected: HostKeyCheck | null = null;
  let presented: Buffer | null = null;
  const sock = tcpConnect({ host: t.host, port: t.port });
  // Commands and their answers are small messages: no Nagle delay on them.
  sock.setNoDelay(true);
  const cfg: ConnectConfig = {
    sock,
    host: t.host,
    port: t.port,
    username: t.user,
    readyTimeout: t.connectTimeoutMs,
    keepaliveInterval: 0,
    hostVerifier: (key: Buffer) => {
      presented = Buffer.from(key);
      const c = checkHostKey(entries, t.host, t.port, key);
      if (c.status === 'match') return true;
      rejected = c;
      return false;
    },
  };
  const algos = hostKeyAlgorithmsFor(entries, t.host, t.port);
  if (algos) cfg.algorithms = { serverHostKey: algos as any };
  if (privateKey) cfg.privateKey = privateKey;
  else if (process.env.SSH_AUTH_SOCK) cfg.agent = process.env.SSH_AUTH_SOCK;

  const client = new Client();
  return new Promise<SshConnection>((resolve, reject) => {
    let done = false;
    // ssh2's readyTimeout covers the handshake; this guard also covers a TCP connect
    // that never completes (host unplugged) in every case.
    const guard = setTimeout(() => finish(new SshError(t.name, 'timeout', `ssh to ${where(t)}: no connection within ${t.connectTimeoutMs} ms`)), t.connectTimeoutMs + 250);
    const finish = (err: SshError | null) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      if (err) {
        client.removeAllListeners('ready');
        client.on('error', () => {});
        client.destroy();
        sock.destroy();
        reject(err);
      } else {
        resolve(new SshConnection(client, sock, presented!));
      }
    };
    client.once('ready', () => finish(null));
    client.on('error', (e: Error & { level?: string; code?: string }) => {
      if (done) return;
      if (rejected) return finish(hostKeyError(t, rejected));
      finish(classifyConnectError(t, e));
    });
    client.on('close', () => {
      if (!done) finish(rejected ? hostKeyError(t, rejected) : new SshError(t.name, 'connect', `ssh to ${where(t)}: connection closed during handshake`));
    });
    try {
      client.connect(cfg);
    } catch (e) {
      finish(new SshError(t.name, 'connect', `ssh to ${where(t)}: ${(e as Error).message}`, { cause: e }));
    }
  });
}

/** The process's open connections (ssh.keep_open_s). */
const pool = new ConnectionPool<SshConnection>();

function poolKey(t: SshTarget): string {
  return JSON.stringify([t.user, t.host, t.port, t.knownHostsPath, t.privateKeyPath ?? null]);
}

/** Reuse only a connection whose server key known_hosts still accepts, as a new connection would. */
function stillTrusted(t: SshTarget): (c: SshConnection) => boolean {
  return (c) => {
    try {
      return checkHostKey(loadKnownHosts(t), t.host, t.port, c.hostKey).status === 'match';
    } catch {
      return false; // unreadable now: the new connection reports why
    }
  };
}

function acquire(t: SshTarget): Promise<Lease<SshConnection>> {
  return pool.acquire(poolKey(t), t.keepOpenMs ?? 0, () => connect(t), stillTrusted(t));
}

/**
 * Open a connection to the target now, in the background, for the next call to use
 * (nothing happens with keepOpenMs 0, or when one is open or being opened). Errors are
 * left for that call to meet.
 */
export function sshWarm(t: SshTarget): void {
  pool.warm(poolKey(t), t.keepOpenMs ?? 0, () => connect(t));
}

/** Close every kept connection (the daemon at shutdown, tests). */
export function closeSshConnections(): void {
  pool.closeAll();
}

/** Kept connections now, and connections opened so far by this process (tests, figures). */
export function sshConnectionStats(): { open: number; opened: number } {
  return { open: pool.size, opened: pool.opened };
}

/**
 * A channel (a command or SFTP) on a connection to the target. A kept connection may have
 * died since its last use: a failure to open the channel on it is retried once on a new
 * connection (nothing ran yet), and a kept connection that does not answer within
 * connectTimeoutMs is closed and reported as a timeout, as a new connection to a host that
 * does not answer would be. On a new connection, `timeoutMs` bounds the channel's opening.
 */
async function openChannel<Ch>(
  t: SshTarget,
  what: string,
  timeoutMs: number,
  open: (client: Client, cb: (err: Error | undefined, ch: Ch) => void) => void,
  close: (ch: Ch) => void,
  /**
   * Called with the channel as soon as it opens, before anything else runs: a fast command's
   * exit status, output and close may arrive in the same read as the open's confirmation, and
   * an event emitted before its listener exists is lost.
   */
  setup: (ch: Ch) => void = () => {},
): Promise<{ lease: Lease<SshConnection>; ch: Ch }> {
  for (let attempt = 0; ; attempt++) {
    const lease = await acquire(t);
    const client = lease.conn.client;
    const r = await new Promise<{ ch: Ch } | { err: SshError; retry: boolean }>((resolve) => {
      let done = false;
      const finish = (x: { ch: Ch } | { err: SshError; retry: boolean }) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        client.removeListener('close', onClose);
        resolve(x);
      };
      const failed = (e: Error) =>
        finish({ err: new SshError(t.name, 'command', `ssh to ${where(t)}: cannot start ${what}: ${e.message}`, { cause: e }), retry: lease.reused });
      const onClose = () => failed(new Error('connection closed'));
      const wait = lease.reused ? Math.min(t.connectTimeoutMs, timeoutMs) : timeoutMs;
      const timer = setTimeout(
        () =>
          finish({
            err: lease.reused
              ? new SshError(t.name, 'timeout', `ssh to ${where(t)}: the open connection did not answer within ${wait} ms (starting ${what}); check that the host is up`)
              : new SshError(t.name, 'timeout', `ssh to ${where(t)}: ${what} did not start within ${wait} ms`),
            retry: false,
          }),
        wait,
      );
      client.on('close', onClose);
      if (!lease.conn.open) return failed(new Error('connection closed'));
      try {
        open(client, (e, ch) => {
          if (done) {
            if (ch) close(ch);
            return;
          }
          if (e) failed(e);
          else {
            setup(ch);
            finish({ ch });
          }
        });
      } catch (e) {
        failed(e as Error);
      }
    });
    if ('ch' in r) return { lease, ch: r.ch };
    lease.release(true);
    if (!r.retry || attempt >= 1) throw r.err;
  }
}

function classifyConnectError(t: SshTarget, e: Error & { level?: string; code?: string }): SshError {
  if (e.level === 'client-timeout' || /timed out/i.test(e.message)) {
    return new SshError(t.name, 'timeout', `ssh to ${where(t)}: handshake not completed within ${t.connectTimeoutMs} ms (${e.message})`, { cause: e });
  }
  if (e.level === 'client-authentication') {
    return new SshError(
      t.name,
      'auth',
      `ssh to ${where(t)}: authentication failed (${e.message}); check that the key ${t.privateKeyPath ?? '(agent)'} is in ${t.user}'s authorized_keys`,
      { cause: e },
    );
  }
  const code = e.code ? `${e.code}: ` : '';
  if (e.code === 'ETIMEDOUT') {
    return new SshError(t.name, 'timeout', `ssh to ${where(t)}: ${code}${e.message}; check that the host is up`, { cause: e, code: e.code });
  }
  return new SshError(t.name, 'connect', `ssh to ${where(t)}: ${code}${e.message}; check that the host is up and sshd listens on port ${t.port}`, {
    cause: e,
    ...(e.code ? { code: String(e.code) } : {}),
  });
}

function end(client: Client): void {
  client.on('error', () => {});
  try {
    client.end();
  } catch {
    /* already closed */
  }
  // end() waits for the peer; never leave a socket behind.
  setTimeout(() => client.destroy(), 200).unref();
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Run one command on the target (through the login user's shell). Resolves with the exit
 * code and output whatever the code; rejects with SshError on connect/auth/hostkey
 * failures, on timeout (the channel is closed and the connection dropped), or when the
 * command ended without an exit status (killed by a signal).
 */
export async function sshExec(t: SshTarget, command: string, o: { timeoutMs?: number; stdin?: Buffer } = {}): Promise<ExecResult> {
  const timeoutMs = o.timeoutMs ?? t.commandTimeoutMs;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let code: number | null = null;
  let signal: string | null = null;
  let chClosed = false;
  let onChClose: () => void = () => {
    chClosed = true;
  };
  const { lease, ch } = await openChannel<ClientChannel>(
    t,
    `command ${abbreviate(command)}`,
    timeoutMs,
    (client, cb) => client.exec(command, cb),
    (c) => c.close(),
    (c) => {
      c.on('data', (d: Buffer) => out.push(d));
      c.stderr.on('data', (d: Buffer) => err.push(d));
      c.on('exit', (x: number | null, sig?: string) => {
        code = x;
        signal = sig ?? null;
      });
      c.on('close', () => onChClose());
    },
  );
  const client = lease.conn.client;
  return new Promise<ExecResult>((resolve, reject) => {
    let done = false;
    const finish = (e: SshError | null, r?: ExecResult, broken = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      if (broken) {
        try {
          ch.close();
        } catch {
          /* ignore */
        }
      }
      lease.release(broken);
      if (e) reject(e);
      else resolve(r!);
    };
    const timer = setTimeout(() => {
      try {
        ch.signal('KILL');
      } catch {
        /* servers may not support signals; closing the channel is what counts */
      }
      finish(new SshError(t.name, 'timeout', `ssh to ${where(t)}: command did not finish within ${timeoutMs} ms: ${abbreviate(command)}`), undefined, true);
    }, timeoutMs);
    const onError = (e: Error) => finish(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection failed while running ${abbreviate(command)}: ${e.message}`, { cause: e }), undefined, true);
    const onClose = () => finish(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection closed while running ${abbreviate(command)}`), undefined, true);
    client.on('error', onError);
    client.on('close', onClose);
    onChClose = () => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === null) {
        finish(
          new SshError(t.name, 'command', `ssh to ${where(t)}: ${abbreviate(command)} ended without exit status${signal ? ` (signal ${signal})` : ''}; stderr: ${abbreviate(stderr)}`),
        );
      } else finish(null, { code, stdout, stderr });
    };
    if (chClosed) return onChClose();
    if (o.stdin) ch.end(o.stdin);
    else ch.end();
  });
}

function abbreviate(s: string, n = 200): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n) + '…' : one;
}

/** Run fn with an SFTP session on a connection to the target, bounded by timeoutMs. */
async function withSftp<T>(t: SshTarget, what: string, timeoutMs: number, fn: (sftp: SFTPWrapper, onAbort: (cb: () => void) => void) => Promise<T>): Promise<T> {
  const started = Date.now();
  const { lease, ch: sftp } = await openChannel<SFTPWrapper>(
    t,
    `SFTP for ${what}`,
    timeoutMs,
    (client, cb) => client.sftp(cb),
    (s) => s.end(),
  );
  const client = lease.conn.client;
  const aborters: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let broken = false;
  let onClose: (() => void) | undefined;
  let onError: ((e: Error) => void) | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        broken = true;
        for (const a of aborters) a();
        reject(new SshError(t.name, 'timeout', `ssh to ${where(t)}: ${what} did not finish within ${timeoutMs} ms`));
      }, Math.max(1, timeoutMs - (Date.now() - started)));
    });
    const closed = new Promise<never>((_, reject) => {
      onClose = () => {
        broken = true;
        reject(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection closed during ${what}`));
      };
      onError = (e: Error) => {
        broken = true;
        reject(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection failed during ${what}: ${e.message}`, { cause: e }));
      };
      client.on('close', onClose);
      client.on('error', onError);
    });
    closed.catch(() => {});
    return await Promise.race([fn(sftp, (cb) => aborters.push(cb)), timeout, closed]);
  } finally {
    if (timer) clearTimeout(timer);
    if (onClose) client.removeListener('close', onClose);
    if (onError) client.removeListener('error', onError);
    try {
      sftp.end();
    } catch {
      /* already closed */
    }
    lease.release(broken);
  }
}

function sftpError(t: SshTarget, what: string, e: Error & { code?: number | string }): SshError {
  const hint = e.code === 2 ? ' (no such file)' : e.code === 3 ? ' (permission denied)' : '';
  return new SshError(t.name, 'command', `ssh to ${where(t)}: ${what} failed${hint}: ${e.message}`, { cause: e });
}

/** Size and modification time of a remote file (SFTP stat). */
export async function sshStat(t: SshTarget, path: string, o: { timeoutMs?: number } = {}): Promise<{ size: number; mtimeMs: number }> {
  const what = `stat ${path}`;
  return withSftp(t, what, o.timeoutMs ?? t.commandTimeoutMs, (sftp) =>
    new Promise((resolve, reject) =>
      sftp.stat(path, (e, st) => (e ? reject(sftpError(t, what, e)) : resolve({ size: st.size, mtimeMs: st.mtime * 1000 }))),
    ),
  );
}

/** Read a remote file (from byte `offset`, default 0, to its end) into memory over SFTP. */
export async function sshReadFile(t: SshTarget, path: string, o: { timeoutMs?: number; offset?: number } = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await sshStreamFile(t, path, (c) => void chunks.push(c), o);
  return Buffer.concat(chunks);
}

/**
 * Stream a remote file (from byte `offset` to its end) over SFTP, chunk by chunk, for
 * files too big to hold in memory (binlogs). Resolves with the number of bytes read.
 */
export async function sshStreamFile(
  t: SshTarget,
  path: string,
  onChunk: (chunk: Buffer) => void,
  o: { timeoutMs?: number; offset?: number } = {},
): Promise<number> {
  const offset = o.offset ?? 0;
  const what = `read ${path}${offset ? ` from offset ${offset}` : ''}`;
  return withSftp(t, what, o.timeoutMs ?? t.commandTimeoutMs, (sftp, onAbort) =>
    new Promise<number>((resolve, reject) => {
      let bytes = 0;
      const rs = sftp.createReadStream(path, { start: offset });
      onAbort(() => rs.destroy());
      rs.on('data', (c: Buffer) => {
        bytes += c.length;
        onChunk(c);
      });
      rs.on('error', (e: Error) => reject(sftpError(t, what, e)));
      rs.on('end', () => resolve(bytes));
    }),
  );
}

/**
 * Copy a remote file to a local path over SFTP. With `offset`, bytes from `offset` on are
 * written at the same position of the local file (resuming a partial copy). Resolves with
 * the number of bytes copied.
 */
export async function sshCopyFile(
  t: SshTarget,
  remotePath: string,
  localPath: string,
  o: { timeoutMs?: number; offset?: number } = {},
): Promise<number> {
  const offset = o.offset ?? 0;
  const ws = createWriteStream(localPath, { flags: offset > 0 && existsSync(localPath) ? 'r+' : 'w', start: offset });
  const wsError = new Promise<never>((_, reject) => ws.on('error', (e) => reject(e)));
  wsError.catch(() => {});
  try {
    const bytes = await Promise.race([
      sshStreamFile(t, remotePath, (c) => {
        ws.write(c);
      }, o),
      wsError,
    ]);
    await new Promise<void>((resolve, reject) => ws.end((e?: Error | null) => (e ? reject(e) : resolve())));
    return bytes;
  } catch (e) {
    ws.destroy();
    throw e;
  }
}
