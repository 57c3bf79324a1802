/**
 * Open SSH connections kept for reuse. A connection costs a TCP connect, a key exchange and
 * an authentication (100–300 ms, more on a busy manager); a channel on an open connection
 * costs one round trip. The pool keeps at most one connection per target (user, host, port,
 * known_hosts, key) for `keepOpenMs` after its last use, carries up to `maxChannels`
 * commands on it at once, and holds at most `maxConnections` connections (the least
 * recently used idle one makes room; with none idle, the caller gets a connection of its own,
 * closed after use). Concurrent callers for a target share the connection being opened.
 *
 * Nothing here trusts a connection more than a new one: the caller's `trusted` check runs at
 * every reuse (the SSH adapter re-reads known_hosts and checks the key the server presented),
 * and a connection the caller reports broken, or that closes, leaves the pool. An idle
 * connection holds no reference on the event loop (a process with nothing else to do exits),
 * and closeAll() ends them all (the daemon at shutdown).
 */

export interface PoolConnection {
  /** False once the connection closed or failed. */
  readonly open: boolean;
  /** Close it (gracefully, then for good). */
  end(): void;
  /** Called once when the connection closes, whoever closed it. */
  onClose(cb: () => void): void;
  /** Whether it keeps the process alive (in use) or not (idle in the pool). */
  ref(): void;
  unref(): void;
}

export interface Lease<C extends PoolConnection> {
  conn: C;
  /** True when the connection had been opened before this call (a channel open on it may meet a connection that died meanwhile). */
  reused: boolean;
  /** Give it back; `broken` closes it and removes it from the pool. */
  release(broken?: boolean): void;
}

export interface PoolOptions {
  maxConnections?: number;
  maxChannels?: number;
}

interface Entry<C extends PoolConnection> {
  key: string;
  conn: C | null;
  opening: Promise<C> | null;
  inUse: number;
  keepOpenMs: number;
  lastUsed: number;
  idle: NodeJS.Timeout | null;
}

export class ConnectionPool<C extends PoolConnection> {
  readonly maxConnections: number;
  readonly maxChannels: number;
  private readonly entries = new Map<string, Entry<C>>();
  /** Connections opened since the pool was created (for tests and the daemon's figures). */
  opened = 0;

  constructor(o: PoolOptions = {}) {
    this.maxConnections = o.maxConnections ?? 200;
    // OpenSSH's MaxSessions defaults to 10 sessions per connection.
    this.maxChannels = o.maxChannels ?? 8;
  }

  /** Open connections (and connections being opened). */
  get size(): number {
    return this.entries.size;
  }

  /** Whether a connection for `key` is open or being opened. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * A connection for `key`: the pooled one when it is open, still trusted and not full; else a
   * new one (pooled when keepOpenMs > 0 and there is room, else the caller's own).
   */
  async acquire(key: string, keepOpenMs: number, open: () => Promise<C>, trusted: (c: C) => boolean = () => true): Promise<Lease<C>> {
    if (keepOpenMs <= 0) return this.ownConnection(open);
    let e = this.entries.get(key);
    if (e?.opening) {
      const opening = e.opening;
      await opening; // rejects as the open did: the same target, a moment ago
      e = this.entries.get(key);
    }
    if (e?.conn) {
      if (!e.conn.open || !trusted(e.conn)) {
        this.drop(e);
        e = undefined;
      } else if (e.inUse >= this.maxChannels) {
        return this.ownConnection(open);
      } else {
        return this.lease(e, true);
      }
    }
    if (!this.makeRoom()) return this.ownConnection(open);
    const entry: Entry<C> = { key, conn: null, opening: null, inUse: 0, keepOpenMs, lastUsed: Date.now(), idle: null };
    entry.opening = this.openInto(entry, open);
    this.entries.set(key, entry);
    await entry.opening;
    // Opened for this caller: a channel on it is the first, not a reuse.
    return this.lease(entry, false);
  }

  /** Open a connection for `key` now, in the background, unless one is open or opening. Failures are dropped. */
  warm(key: string, keepOpenMs: number, open: () => Promise<C>): void {
    if (keepOpenMs <= 0 || this.entries.has(key) || !this.makeRoom()) return;
    const entry: Entry<C> = { key, conn: null, opening: null, inUse: 0, keepOpenMs, lastUsed: Date.now(), idle: null };
    entry.opening = this.openInto(entry, open);
    this.entries.set(key, entry);
    entry.opening.then(
      () => this.idleIfUnused(entry),
      () => undefined,
    );
  }

  /** Close every pooled connection (in use ones too: their callers see the close). */
  closeAll(): void {
    for (const e of [...this.entries.values()]) this.drop(e);
  }

  private openInto(entry: Entry<C>, open: () => Promise<C>): Promise<C> {
    const p = open().then(
      (c) => {
        this.opened++;
        entry.opening = null;
        if (this.entries.get(entry.key) !== entry) {
          // Dropped (closeAll) while it was being opened.
          c.end();
          throw new Error('the SSH connection pool was closed while the connection was being opened');
        }
        entry.conn = c;
        c.onClose(() => {
          if (this.entries.get(entry.key) === entry && entry.conn === c) this.remove(entry);
        });
        return c;
      },
      (err) => {
        entry.opening = null;
        if (this.entries.get(entry.key) === entry) this.remove(entry);
        throw err;
      },
    );
    p.catch(() => undefined);
    return p;
  }

  private lease(e: Entry<C>, reused: boolean): Lease<C> {
    const c = e.conn!;
    e.inUse++;
    if (e.idle) {
      clearTimeout(e.idle);
      e.idle = null;
    }
    c.ref();
    let released = false;
    return {
      conn: c,
      reused,
      release: (broken = false) => {
        if (released) return;
        released = true;
        e.inUse--;
        e.lastUsed = Date.now();
        if (broken) {
          if (this.entries.get(e.key) === e && e.conn === c) this.drop(e);
          else c.end();
          return;
        }
        this.idleIfUnused(e);
      },
    };
  }

  private idleIfUnused(e: Entry<C>): void {
    if (e.inUse > 0 || !e.conn || this.entries.get(e.key) !== e) return;
    e.conn.unref();
    if (e.idle) clearTimeout(e.idle);
    e.idle = setTimeout(() => this.drop(e), e.keepOpenMs);
    e.idle.unref();
  }

  private async ownConnection(open: () => Promise<C>): Promise<Lease<C>> {
    const c = await open();
    this.opened++;
    let released = false;
    return {
      conn: c,
      reused: false,
      release: () => {
        if (released) return;
        released = true;
        c.end();
      },
    };
  }

  /** Room for one more connection: evicts the least recently used idle one when full. */
  private makeRoom(): boolean {
    if (this.entries.size < this.maxConnections) return true;
    let lru: Entry<C> | null = null;
    for (const e of this.entries.values()) if (e.conn && e.inUse === 0 && (!lru || e.lastUsed < lru.lastUsed)) lru = e;
    if (!lru) return false;
    this.drop(lru);
    return true;
  }

  private remove(e: Entry<C>): void {
    if (e.idle) clearTimeout(e.idle);
    e.idle = null;
    if (this.entries.get(e.key) === e) this.entries.delete(e.key);
  }

  private drop(e: Entry<C>): void {
    this.remove(e);
    const c = e.conn;
    e.conn = null;
    c?.end();
  }
}
