/** Status rows for `heir status` and the shared refresh period (pure). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shortGtid, statusRows, type ClusterStatus } from '../../src/daemon/status';
import { Scheduler, effectivePeriodMs, unwatchedRetryMs } from '../../src/daemon/scheduler';
import { apiBaseUrl } from '../../src/daemon/api';
import { secretsOf } from '../../src/daemon/daemon';
import { HeirConfig } from '../../src/config/schema';

test('GTID sets are shortened per source', () => {
  assert.equal(shortGtid(null), '-');
  assert.equal(shortGtid(''), '(empty)');
  assert.equal(shortGtid('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5712'), '3e11fa47…:1-5712');
  const two = shortGtid('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-9', 80);
  assert.equal(two, '3e11fa47…:1-5,4e11fa47…:1-9');
  assert.ok(shortGtid('3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1-9', 12).length <= 12);
  assert.equal(shortGtid('0-1-100'), '0-1-100'); // MariaDB position as is
});

test('one row per node, cluster facts on its first row', () => {
  const c: ClusterStatus = {
    name: 'app1',
    master: 'db2',
    verdict: 'Healthy',
    blocked: true,
    blockedReasons: ['recent failover'],
    blockedUntil: null,
    source: 'daemon',
    snapshotAt: null,
    operation: null,
    verdictAt: null,
    verdictReason: null,
    failoverAllowed: false,
    monitor: 'running',
    address: { type: 'none', floatingIp: null },
    nodes: [
      { name: 'db1', host: 'h', port: 1, role: 'unreachable', reachable: false, readOnly: null, superReadOnly: null, io: null, sql: null, source: null, lagS: null, gtid: null, version: null, error: 'refused' },
      { name: 'db2', host: 'h', port: 2, role: 'master', reachable: true, readOnly: false, superReadOnly: false, io: null, sql: null, source: null, lagS: null, gtid: '', version: '9.7', error: null },
      { name: 'db3', host: 'h', port: 3, role: 'replica', reachable: true, readOnly: true, superReadOnly: true, io: 'Yes', sql: 'Yes', source: 'db2', lagS: 3, gtid: '', version: '9.7', error: null },
    ],
  };
  const rows = statusRows([c]);
  assert.equal(rows.length, 3);
  assert.deepEqual(
    rows.map((r) => [r.cluster, r.node, r.role, r.ro, r.threads, r.lag, r.blocked]),
    [
      ['app1', 'db1', 'unreachable', '-', '-', '-', 'BLOCKED'],
      ['', 'db2', 'master', 'no', '-', '-', ''],
      ['', 'db3', 'replica', 'super', 'Yes/Yes', '3s', ''],
    ],
  );
});

test('refresh period stretches with the number of clusters to stay within the rate cap', () => {
  assert.equal(effectivePeriodMs(1, 10_000, 50), 10_000);
  assert.equal(effectivePeriodMs(500, 10_000, 50), 10_000);
  assert.equal(effectivePeriodMs(1000, 10_000, 50), 20_000);
  assert.equal(effectivePeriodMs(0, 10_000, 50), 10_000);
});

test('a cluster not watched yet is retried sooner than its period, backing off to 60 s', () => {
  // 5000 clusters at 10 reads/s: a 500 s period.
  assert.deepEqual([0, 1, 2, 3, 4, 9].map((a) => unwatchedRetryMs(a, 500_000, 0.5)), [5000, 10_000, 20_000, 40_000, 60_000, 60_000]);
  assert.equal(unwatchedRetryMs(0, 500_000, 0), 4000, '-20 % jitter');
  assert.equal(unwatchedRetryMs(0, 500_000, 0.999), 5998, '+20 % jitter');
  assert.equal(unwatchedRetryMs(3, 10_000, 0.5), 10_000, 'never later than the period');
});

test('retryIn brings a job forward and never pushes it back', async () => {
  const runs: string[] = [];
  const s = new Scheduler({ periodMs: 3_600_000, maxPerSecond: 100, maxConcurrent: 4, tickMs: 10 });
  s.add('late', async () => void runs.push('late'), 3_600_000);
  s.add('soon', async () => void runs.push('soon'), 20);
  s.retryIn('late', 50);
  s.retryIn('soon', 3_600_000);
  s.start();
  try {
    await new Promise((r) => setTimeout(r, 300));
  } finally {
    s.stop();
  }
  assert.deepEqual(runs.sort(), ['late', 'soon']);
});

test('the scheduler starts the longest overdue jobs first when more are due than its rate allows', async () => {
  const runs: string[] = [];
  // One start per tick; 'a' and 'b' come due again at once (retries), 'c' has waited longest.
  const s = new Scheduler({ periodMs: 3_600_000, maxPerSecond: 1, maxConcurrent: 4, tickMs: 20 });
  s.add('a', async () => { runs.push('a'); s.retryIn('a', 0); }, 0);
  s.add('b', async () => { runs.push('b'); s.retryIn('b', 0); }, 0);
  s.add('c', async () => void runs.push('c'), -1000);
  s.start();
  try {
    while (runs.length < 6) await new Promise((r) => setTimeout(r, 10));
  } finally {
    s.stop();
  }
  assert.equal(runs[0], 'c', `the longest overdue first: ${runs.join(' ')}`);
  assert.ok(runs.includes('b'), `no job starves behind one that keeps coming due: ${runs.join(' ')}`);
});

test('status asks a wildcard listener on loopback', () => {
  assert.equal(apiBaseUrl('127.0.0.1:7878'), 'http://127.0.0.1:7878');
  assert.equal(apiBaseUrl('0.0.0.0:7878'), 'http://127.0.0.1:7878');
  assert.equal(apiBaseUrl('[::1]:7878'), 'http://[::1]:7878');
});

test('every configured secret is scrubbed from API output', () => {
  const cfg = HeirConfig.parse({
    heir: { api: { token: 'tok-0123456789abcdef' } },
    clusters: [
      {
        name: 'a',
        mysql: { user: 'heir', password: 'mysql-secret', replication_user: 'repl', replication_password: 'repl-secret' },
        nodes: [
          { name: 'db1', host: 'h1' },
          { name: 'db2', host: 'h2' },
        ],
        webhooks: [{ type: 'generic', url: 'http://127.0.0.1:1/x', secret: 'hook-secret' }],
      },
    ],
  });
  assert.deepEqual(secretsOf(cfg).sort(), ['hook-secret', 'mysql-secret', 'repl-secret', 'tok-0123456789abcdef']);
});
