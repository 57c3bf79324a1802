/** A replica's view of its master, and replica health findings, from plain snapshots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replicaSight, channelToMaster, type MasterRef } from '../../src/monitor/sight';
import { replicaFindings } from '../../src/monitor/findings';
import { secondaryProbeTimeoutMs, slowMarkMs } from '../../src/monitor/monitor';
import type { NodeSnapshot, ReplicationChannel } from '../../src/mysql/types';

const T0 = 1_700_000_000_000;
const master: MasterRef = { name: 'db1', host: '10.77.0.11', port: 3306, serverId: 1 };

function chan(o: Partial<ReplicationChannel> = {}): ReplicationChannel {
  return {
    channel: '',
    sourceHost: '10.77.0.11',
    sourcePort: 3306,
    ioState: 'Yes',
    sqlRunning: true,
    lastIoErrno: 0,
    lastIoError: '',
    lastSqlErrno: 0,
    lastSqlError: '',
    secondsBehind: 0,
    sourceServerId: 1,
    read: { file: 'binlog.000002', pos: 1000 },
    exec: { file: 'binlog.000002', pos: 1000 },
    retrievedGtidSet: 'u1:1-10',
    gtidAutoPosition: true,
    heartbeatsReceived: 10,
    lastHeardSecondsAgo: null,
    ...o,
  };
}

function snap(at: number, ch: Partial<ReplicationChannel> | null, o: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return { name: 'db2', host: '10.77.0.12', port: 3306, takenAt: at, reachable: true, replication: ch ? [chan(ch)] : [], ...o };
}

test('IO Connecting is lost, with its errno', () => {
  const s = replicaSight('db2', [snap(T0 + 100, { ioState: 'Connecting', lastIoErrno: 2003, lastIoError: "Can't connect" })], master, T0);
  assert.equal(s.status, 'lost');
  assert.equal(s.lastIoErrno, 2003);
});

test('disconnected already at the last check before the failure (master answering): stale, not lost', () => {
  const before = { at: T0 - 3000, connected: false, lagS: null, disconnectedChecks: 4 };
  const c = replicaSight('db2', [snap(T0 + 100, { ioState: 'Connecting', lastIoErrno: 1045, lastIoError: 'Access denied' })], master, T0, null, before);
  assert.equal(c.status, 'stale');
  assert.match(c.detail, /already not connected at the last check before the failure began/);
  assert.equal(replicaSight('db2', [snap(T0 + 100, { ioState: 'No', lastIoErrno: 2003 })], master, T0, null, before).status, 'stale');
  // Connected at that check: a loss now is news.
  const fresh = { ...before, connected: true, disconnectedChecks: 0 };
  assert.equal(replicaSight('db2', [snap(T0 + 100, { ioState: 'Connecting', lastIoErrno: 2003 })], master, T0, null, fresh).status, 'lost');
  // Stopped by an operator at that check (IO No, no error), failing to connect now: it was
  // started since, and its failure is news.
  const stopped = { ...before, stoppedCleanly: true };
  assert.equal(replicaSight('db2', [snap(T0 + 100, { ioState: 'Connecting', lastIoErrno: 2003 })], master, T0, null, stopped).status, 'lost');
  assert.equal(replicaSight('db2', [snap(T0 + 100, { ioState: 'No', lastIoErrno: 2003 })], master, T0, null, stopped).status, 'lost');
  // A check taken after the failure began says nothing about before it.
  assert.equal(replicaSight('db2', [snap(T0 + 100, { ioState: 'Connecting', lastIoErrno: 2003 })], master, T0, null, { ...before, at: T0 + 50 }).status, 'lost');
});

test('IO No with errno 0 is stopped by an operator; with a connection errno it is lost; with 1236 broken', () => {
  assert.equal(replicaSight('db2', [snap(T0 + 1, { ioState: 'No', sqlRunning: false })], master, T0).status, 'stopped');
  assert.equal(replicaSight('db2', [snap(T0 + 1, { ioState: 'No', lastIoErrno: 2003 })], master, T0).status, 'lost');
  assert.equal(replicaSight('db2', [snap(T0 + 1, { ioState: 'No', lastIoErrno: 1236 })], master, T0).status, 'broken');
});

test('heartbeat counter progressing between two reads after the failure: hears', () => {
  const s = replicaSight('db2', [snap(T0 + 100, { heartbeatsReceived: 10 }), snap(T0 + 1200, { heartbeatsReceived: 11 })], master, T0);
  assert.equal(s.status, 'hears');
  assert.match(s.detail, /heartbeats 10 → 11/);
});

test('received coordinates or GTIDs moving between reads: hears', () => {
  const a = snap(T0 + 100, { heartbeatsReceived: null, read: { file: 'b.1', pos: 10 } });
  const b = snap(T0 + 900, { heartbeatsReceived: null, read: { file: 'b.1', pos: 99 } });
  assert.equal(replicaSight('db2', [a, b], master, T0).status, 'hears');
  const c = snap(T0 + 100, { heartbeatsReceived: null, retrievedGtidSet: 'u1:1-10' });
  const d = snap(T0 + 900, { heartbeatsReceived: null, retrievedGtidSet: 'u1:1-11' });
  assert.equal(replicaSight('db2', [c, d], master, T0).status, 'hears');
});

test('MariaDB: gtid_io_pos moving between reads: hears', () => {
  const a = snap(T0 + 100, { heartbeatsReceived: null, read: null, retrievedGtidSet: '' }, { mariadb: { binlogPos: '', slavePos: '0-1-5', ioPos: '0-1-5' } });
  const b = snap(T0 + 900, { heartbeatsReceived: null, read: null, retrievedGtidSet: '' }, { mariadb: { binlogPos: '', slavePos: '0-1-5', ioPos: '0-1-6' } });
  assert.equal(replicaSight('db2', [a, b], master, T0).status, 'hears');
});

test('a read from before the failure does not count as progress after it', () => {
  const before = snap(T0 - 500, { heartbeatsReceived: 9 });
  const after = snap(T0 + 1000, { heartbeatsReceived: 10 });
  const s = replicaSight('db2', [before, after], master, T0);
  assert.equal(s.status, 'silent');
});

test('last heard after the failure began (with rounding slack): hears; before: silent', () => {
  assert.equal(replicaSight('db2', [snap(T0 + 3000, { heartbeatsReceived: null, lastHeardSecondsAgo: 1 })], master, T0).status, 'hears');
  // 1.5 s after the failure, "1 s ago" may have been up to 2 s ago: not proof.
  assert.equal(replicaSight('db2', [snap(T0 + 1500, { heartbeatsReceived: null, lastHeardSecondsAgo: 1 })], master, T0).status, 'silent');
});

test('IO Yes and no progress: silent; conclusive only with a known heartbeat period and two periods missed', () => {
  const reads = [snap(T0 + 100, { lastHeardSecondsAgo: 4 }), snap(T0 + 1100, { lastHeardSecondsAgo: 5 })];
  const unknown = replicaSight('db2', reads, master, T0);
  assert.equal(unknown.status, 'silent');
  assert.equal(unknown.silenceConclusive, false);
  assert.equal(unknown.silentForMs, 5000);
  const known = replicaSight('db2', reads, master, T0, 1000);
  assert.equal(known.silenceConclusive, true);
  const longPeriod = replicaSight('db2', reads, master, T0, 30_000);
  assert.equal(longPeriod.silenceConclusive, false);
  // without lastHeard, silence is measured between the two reads
  const noHeard = replicaSight('db2', [snap(T0 + 100, {}), snap(T0 + 2100, {})], master, T0, 200);
  assert.equal(noHeard.silentForMs, 2000);
  assert.equal(noHeard.silenceConclusive, true);
});

test('silence is never concluded from one read, however old the last heartbeat', () => {
  // MySQL with performance_schema off under steady writes: the last heartbeat dates from
  // before the writes began (a busy source sends none); one read showed "silent 7.5 s".
  const one = replicaSight('db2', [snap(T0 + 1500, { heartbeatsReceived: 0, lastHeardSecondsAgo: 7.5 })], master, T0, 1000);
  assert.equal(one.status, 'silent');
  assert.equal(one.silenceConclusive, false);
  assert.match(one.detail, /1 read/);
});

test('a move between the first read after the failure and any later one: hears', () => {
  const a = snap(T0 + 100, { heartbeatsReceived: 0, read: { file: 'b.1', pos: 10 } });
  const b = snap(T0 + 1100, { heartbeatsReceived: 0, read: { file: 'b.1', pos: 99 } });
  const c = snap(T0 + 2100, { heartbeatsReceived: 0, read: { file: 'b.1', pos: 99 } });
  const s = replicaSight('db2', [a, b, c], master, T0, 200);
  assert.equal(s.status, 'hears');
  assert.match(s.detail, /received up to b\.1:99/);
});

test('performance_schema off, busy source: counters stand still but the received position moves: hears', () => {
  const reads = [0, 1, 2].map((i) => snap(T0 + 100 + i * 1000, { heartbeatsReceived: 0, lastHeardSecondsAgo: null, read: { file: 'b.1', pos: 1000 + i * 5000 }, retrievedGtidSet: `u1:1-${10 + i * 20}` }));
  assert.equal(replicaSight('db2', reads, master, T0, 1000).status, 'hears');
});

test('silence over reads: conclusive only once they span two heartbeat periods (plus slack)', () => {
  const quiet = (ms: number) => snap(T0 + 100 + ms, { heartbeatsReceived: 3, lastHeardSecondsAgo: null });
  const short = replicaSight('db2', [quiet(0), quiet(1000), quiet(2000)], master, T0, 1000);
  assert.equal(short.status, 'silent');
  assert.equal(short.silentForMs, 2000);
  assert.equal(short.silenceConclusive, false);
  const long = replicaSight('db2', [quiet(0), quiet(2000), quiet(3500)], master, T0, 1000);
  assert.equal(long.silenceConclusive, true);
  // Stock settings: a 30 s heartbeat needs over a minute of reads.
  assert.equal(replicaSight('db2', [quiet(0), quiet(2000), quiet(3500)], master, T0, 30_000).silenceConclusive, false);
});

test('unreadable replica, and a replica of another source', () => {
  assert.equal(replicaSight('db2', [snap(T0 + 1, null, { reachable: false, error: { code: 'ETIMEDOUT', message: 'timeout' } })], master, T0).status, 'unreadable');
  assert.equal(replicaSight('db2', [], master, T0).status, 'unreadable');
  const other = snap(T0 + 1, { sourceHost: '10.77.0.13', sourceServerId: 3 });
  assert.equal(replicaSight('db2', [other], master, T0).status, 'elsewhere');
});

test('channel matched by server id even when the replica names the master differently', () => {
  const s = snap(T0, { sourceHost: 'db1.internal', sourceServerId: 1 });
  assert.ok(channelToMaster(s, master));
  const byAlias = snap(T0, { sourceHost: 'DB1', sourceServerId: 0 });
  assert.ok(channelToMaster(byAlias, { ...master, aliases: ['db1'] }));
  assert.equal(channelToMaster(byAlias, master), undefined);
});

test('findings: lagging, broken SQL, stopped by hand, errant, unreachable, elsewhere', () => {
  const replicas: NodeSnapshot[] = [
    { ...snap(T0, { secondsBehind: 400 }), name: 'lag' },
    { ...snap(T0, { sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry' }), name: 'sqlbroken' },
    { ...snap(T0, { ioState: 'No', sqlRunning: false }), name: 'stopped' },
    { ...snap(T0, { ioState: 'Connecting', lastIoErrno: 1045, lastIoError: 'Access denied' }), name: 'iobroken' },
    { ...snap(T0, {}), name: 'errant' },
    { ...snap(T0, null, { reachable: false, error: { code: 'ECONNREFUSED', message: 'refused' } }), name: 'down' },
    { ...snap(T0, { sourceHost: '10.77.0.99', sourceServerId: 9 }), name: 'other' },
    { ...snap(T0, {}), name: 'fine' },
  ];
  const f = replicaFindings(replicas, master, { lagWarnS: 300, errant: { errant: 'u9:1-3' } });
  const got = f.map((x) => `${x.replica}:${x.kind}`).sort();
  assert.deepEqual(got, [
    'down:ReplicaUnreachable',
    'errant:ErrantGtids',
    'iobroken:ReplicationBroken',
    'lag:Lagging',
    'other:NotReplicatingFromMaster',
    'sqlbroken:ReplicationBroken',
    'stopped:ReplicationStopped',
  ]);
});

test('slowMarkMs: an unanswered ping starts corroboration after 50 ms on a fast LAN, three times the recent median otherwise, never past half the timeout', () => {
  assert.equal(slowMarkMs([], 500), 50);
  assert.equal(slowMarkMs([1, 2, 1], 500), 50);
  assert.equal(slowMarkMs([1, 400, 3], 500), 50, 'one slow answer does not move it');
  assert.equal(slowMarkMs([60, 80, 70, 2], 500), 180);
  assert.equal(slowMarkMs([400, 300], 500), 250);
  assert.equal(slowMarkMs([1], 60), 30);
});

test('secondary checks wait half the ping timeout for the port, at least 200 ms', () => {
  assert.equal(secondaryProbeTimeoutMs(500), 250);
  assert.equal(secondaryProbeTimeoutMs(1000), 500);
  assert.equal(secondaryProbeTimeoutMs(100), 200);
});
