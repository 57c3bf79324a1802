/**
 * The SSH adapter: the only module that imports ssh2.
 *
 * Every call opens its own connection, checks the host key against known_hosts (no
 * "accept anything" mode exists), runs one command or one SFTP read with a hard timeout,
 * and closes the connection. Errors are SshError with a kind the caller can act on.
 */
import { readFileSync, createWriteStream, existsSync } from 'node:fs';
import { Client, type ConnectConfig, type ClientChannel, type SFTPWrapper } from 'ssh2';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { checkHostKey, hostKeyAlgorithmsFor, parseKnownHosts, type HostKeyCheck } from './known-hosts';

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

/** An open, host-key-verified, authenticated connection (internal). */
async function connect(t: SshTarget): Promise<Client> {
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
  const cfg: ConnectConfig = {
    host: t.host,
    port: t.port,
    username: t.user,
    readyTimeout: t.connectTimeoutMs,
    keepaliveInterval: 0,
    hostVerifier: (key: Buffer) => {
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
  return new Promise<Client>((resolve, reject) => {
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
        reject(err);
      } else {
        resolve(client);
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
  const client = await connect(t);
  return new Promise<ExecResult>((resolve, reject) => {
    let done = false;
    let channel: ClientChannel | null = null;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const finish = (e: SshError | null, r?: ExecResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (channel) {
        try {
          channel.close();
        } catch {
          /* ignore */
        }
      }
      end(client);
      if (e) reject(e);
      else resolve(r!);
    };
    const timer = setTimeout(() => {
      if (channel) {
        try {
          channel.signal('KILL');
        } catch {
          /* servers may not support signals; closing the channel is what counts */
        }
      }
      finish(new SshError(t.name, 'timeout', `ssh to ${where(t)}: command did not finish within ${timeoutMs} ms: ${abbreviate(command)}`));
    }, timeoutMs);
    client.on('error', (e: Error) => finish(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection failed while running ${abbreviate(command)}: ${e.message}`, { cause: e })));
    client.on('close', () => finish(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection closed while running ${abbreviate(command)}`)));
    client.exec(command, (e, ch) => {
      if (e) return finish(new SshError(t.name, 'command', `ssh to ${where(t)}: cannot start command ${abbreviate(command)}: ${e.message}`, { cause: e }));
      channel = ch;
      let code: number | null = null;
      let signal: string | null = null;
      ch.on('data', (d: Buffer) => out.push(d));
      ch.stderr.on('data', (d: Buffer) => err.push(d));
      ch.on('exit', (c: number | null, sig?: string) => {
        code = c;
        signal = sig ?? null;
      });
      ch.on('close', () => {
        const stdout = Buffer.concat(out).toString('utf8');
        const stderr = Buffer.concat(err).toString('utf8');
        if (code === null) {
          finish(
            new SshError(t.name, 'command', `ssh to ${where(t)}: ${abbreviate(command)} ended without exit status${signal ? ` (signal ${signal})` : ''}; stderr: ${abbreviate(stderr)}`),
          );
        } else finish(null, { code, stdout, stderr });
      });
      if (o.stdin) ch.end(o.stdin);
      else ch.end();
    });
  });
}

function abbreviate(s: string, n = 200): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? one.slice(0, n) + '…' : one;
}

/** Run fn with an SFTP session on a fresh connection, bounded by timeoutMs. */
async function withSftp<T>(t: SshTarget, what: string, timeoutMs: number, fn: (sftp: SFTPWrapper, onAbort: (cb: () => void) => void) => Promise<T>): Promise<T> {
  const client = await connect(t);
  const aborters: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((e, s) => (e ? reject(new SshError(t.name, 'command', `ssh to ${where(t)}: cannot start SFTP for ${what}: ${e.message}`, { cause: e })) : resolve(s))),
    );
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        for (const a of aborters) a();
        reject(new SshError(t.name, 'timeout', `ssh to ${where(t)}: ${what} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    const closed = new Promise<never>((_, reject) => {
      client.on('close', () => reject(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection closed during ${what}`)));
      client.on('error', (e: Error) => reject(new SshError(t.name, 'connect', `ssh to ${where(t)}: connection failed during ${what}: ${e.message}`, { cause: e })));
    });
    closed.catch(() => {});
    return await Promise.race([fn(sftp, (cb) => aborters.push(cb)), timeout, closed]);
  } finally {
    if (timer) clearTimeout(timer);
    end(client);
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
