/**
 * The SSH connection pool's rules on stand-in connections: reuse, one open shared by
 * concurrent callers, a closed or untrusted connection replaced, a broken one dropped,
 * the channel and connection bounds, the idle close, closeAll, and the event-loop references.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionPool, type PoolConnection } from '../../src/ssh/pool';

class FakeConn implements PoolConnection {
  static made = 0;
  readonly id = ++FakeConn.made;
  open = true;
  ended = false;
  referenced = true;
  private cbs: (() => void)[] = [];
  end(): void {
    this.ended = true;
    this.close();
  }
  /** The peer closes it. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    for (const cb of this.cbs.splice(0)) cb();
  }
  onClose(cb: () => void): void {
    if (!this.open) cb();
    else this.cbs.push(cb);
  }
  ref(): void {
    this.referenced = true;
  }
  unref(): void {
    this.referenced = false;
  }
}

const opener = () => {
  const made: FakeConn[] = [];
  const open = async () => {
    const c = new FakeConn();
    made.push(c);
    return c;
  };
  return { made, open };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a released connection is reused for the same key, not for another', async () => {
  const pool = new ConnectionPool<FakeConn>();
  const o = opener();
  const a = await pool.acquire('k1', 30000, o.open);
  assert.equal(a.reused, false);
  a.release();
  const b = await pool.acquire('k1', 30000, o.open);
  assert.equal(b.conn, a.conn);
  assert.equal(b.reused, true);
  const c = await pool.acquire('k2', 30000, o.open);
  assert.notEqual(c.conn, a.conn);
  b.release();
  c.release();
  assert.equal(o.made.length, 2);
  assert.equal(pool.size, 2);
  pool.closeAll();
  assert.equal(pool.size, 0);
  assert.ok(o.made.every((x) => x.ended));
});

test('keepOpenMs 0: a connection of its own, closed at release, never pooled', async () => {
  const pool = new ConnectionPool<FakeConn>();
  const o = opener();
  const a = await pool.acquire('k', 0, o.open);
  a.release();
  assert.equal(a.conn.ended, true);
  assert.equal(pool.size, 0);
  const b = await pool.acquire('k', 0, o.open);
  assert.notEqual(b.conn, a.conn);
  b.release();
});

test('concurrent callers share the connection being opened; a failed open fails them all and is not kept', async () => {
  const pool = new ConnectionPool<FakeConn>();
  let opens = 0;
  let fail = true;
  const open = async () => {
    opens++;
    await sleep(20);
    if (fail) throw new Error('connect refused');
    return new FakeConn();
  };
  const rs = await Promise.allSettled([pool.acquire('k', 30000, open), pool.acquire('k', 30000, open)]);
  assert.equal(opens, 1);
  assert.ok(rs.every((r) => r.status === 'rejected' && /refused/.test(String(r.reason))));
  assert.equal(pool.size, 0);
  fail = false;
  const [a, b] = await Promise.all([pool.acquire('k', 30000, open), pool.acquire('k', 30000, open)]);
  assert.equal(opens, 2);
  assert.equal(a.conn, b.conn);
  a.release();
  b.release();
  pool.closeAll();
});

test('a connection that closed, or that the trust check rejects, is replaced by a new one', async () => {
  const pool = new ConnectionPool<FakeConn>();
  const o = opener();
  const a = await pool.acquire('k', 30000, o.open);
  a.release();
  a.conn.close(); // the server went away while idle
  assert.equal(pool.size, 0);
  const b = await pool.acquire('k', 30000, o.open);
  assert.notEqual(b.conn, a.conn);
  b.release();
  let trusted = false;
  const c = await pool.acquire('k', 30000, o.open, () => trusted);
  assert.notEqual(c.conn, b.conn, 'the untrusted connection is not reused');
  assert.equal(b.conn.ended, true, 'and it is closed');
  c.release();
  trusted = true;
  const d = await pool.acquire('k', 30000, o.open, () => trusted);
  assert.equal(d.conn, c.conn);
  d.release();
  pool.closeAll();
});

test('release(broken) closes the connection and the next caller gets a new one', async () => {
  const pool = new ConnectionPool<FakeConn>();
  const o = opener();
  const a = await pool.acquire('k', 30000, o.open);
  a.release(true);
  assert.equal(a.conn.ended, true);
  assert.equal(pool.size, 0);
  const b = await pool.acquire('k', 30000, o.open);
  assert.notEqual(b.conn, a.conn);
  b.release();
  pool.closeAll();
});

test('at most maxChannels callers on one connection; beyond, a connection of their own', async () => {
  const pool = new ConnectionPool<FakeConn>({ maxChannels: 2 });
  const o = opener();
  const a = await pool.acquire('k', 30000, o.open);
  const b = await pool.acquire('k', 30000, o.open);
  const c = await pool.acquire('k', 30000, o.open);
  assert.equal(a.conn, b.conn);
  assert.notEqual(c.conn, a.conn);
  c.release();
  assert.equal(c.conn.ended, true, 'the overflow connection is closed after use');
  assert.equal(a.conn.ended, false);
  a.release();
  b.release();
  assert.equal(pool.size, 1);
  pool.closeAll();
});

test('at most maxConnections: the least recently used idle one makes room; with none idle, no pooling', async () => {
  const pool = new ConnectionPool<FakeConn>({ maxConnections: 2 });
  const o = opener();
  const a = await pool.acquire('a', 30000, o.open);
  a.release();
  await sleep(5);
  const b = await pool.acquire('b', 30000, o.open);
  b.release();
  const c = await pool.acquire('c', 30000, o.open);
  assert.equal(a.conn.ended, true, 'a, idle longest, was closed for c');
  assert.equal(b.conn.ended, false);
  assert.equal(pool.size, 2);
  const b2 = await pool.acquire('b', 30000, o.open);
  const d = await pool.acquire('d', 30000, o.open); // b and c both busy: d is not pooled
  assert.equal(pool.size, 2);
  assert.equal(pool.has('d'), false);
  d.release();
  assert.equal(d.conn.ended, true);
  b2.release();
  c.release();
  pool.closeAll();
});

test('idle: unreferenced while idle, referenced in use, closed after keepOpenMs', async () => {
  const pool = new ConnectionPool<FakeConn>();
  const o = opener();
  const a = await pool.acquire('k', 60, o.open);
  assert.equal(a.conn.referenced, true);
  a.release();
  assert.equal(a.conn.referenced, false);
  await sleep(30);
  const b = await pool.acquire('k', 60, o.open); // in use again: the idle timer restarts after it
  assert.equal(b.conn, a.conn);
  assert.equal(b.conn.referenced, true);
  await sleep(80);
  assert.equal(b.conn.ended, false, 'not closed while in use');
  b.release();
  await sleep(100);
  assert.equal(b.conn.ended, true);
  assert.equal(pool.size, 0);
});

test('warm opens in the background once; a failed warm is forgotten', async () => {
  const pool = new ConnectionPool<FakeConn>();
  const o = opener();
  pool.warm('k', 30000, o.open);
  pool.warm('k', 30000, o.open);
  const a = await pool.acquire('k', 30000, o.open);
  assert.equal(o.made.length, 1);
  assert.equal(a.conn, o.made[0]);
  a.release();
  pool.warm('bad', 30000, async () => {
    throw new Error('no route');
  });
  await sleep(5);
  assert.equal(pool.has('bad'), false);
  pool.closeAll();
  assert.equal(o.made[0]!.ended, true);
});

test('closeAll while a connection is being opened: it is closed when it arrives', async () => {
  const pool = new ConnectionPool<FakeConn>();
  let made: FakeConn | null = null;
  const p = pool.acquire('k', 30000, async () => {
    await sleep(20);
    return (made = new FakeConn());
  });
  pool.closeAll();
  await assert.rejects(p, /pool was closed/);
  assert.equal(made!.ended, true);
  assert.equal(pool.size, 0);
});
