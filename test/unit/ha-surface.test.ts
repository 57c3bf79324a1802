/**
 * heir.ha's operator surface on plain data: the lines `heir status` prints (leader, lease,
 * managers, etcd, every manager's view with its age) and the /metrics series (leadership,
 * etcd health, views' age), which exist only with heir.ha.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { haLines } from '../../src/daemon/status';
import { HeirMetrics } from '../../src/daemon/metrics';
import type { HaClusterStatus } from '../../src/ha/cluster-ha';

const NOW = Date.parse('2026-12-04T12:00:10.000Z');

function ha(o: Partial<HaClusterStatus> = {}): HaClusterStatus {
  return {
    manager: 'mgr-a',
    leader: 'mgr-a',
    leaderSince: '2026-12-04T12:00:00.000Z',
    leaseConfirmedMsAgo: 400,
    whyNot: null,
    managers: ['mgr-a', 'mgr-b'],
    views: [
      { manager: 'mgr-a', cluster: 'c1', master: 'db1', reachable: true, verdict: 'Healthy', at: '2026-12-04T12:00:09.200Z', ageMs: 800 },
      { manager: 'mgr-b', cluster: 'c1', master: 'db1', reachable: false, verdict: 'Suspect', at: '2026-12-04T12:00:03.000Z', failingSince: '2026-12-04T12:00:02.500Z', ageMs: 7000 },
    ],
    viewMaxAgeMs: 5000,
    etcd: { reachable: true, lastOkAt: '2026-12-04T12:00:09.500Z', lastErrorAt: '2026-12-04T11:59:00.000Z', lastError: 'deadline exceeded' },
    configMismatches: [],
    ...o,
  };
}

test('status lines: leader with its lease, managers, etcd, each view with its age (stale said so)', () => {
  assert.deepEqual(haLines(ha(), NOW), [
    'ha: leader mgr-a (this manager) since 2026-12-04T12:00:00.000Z (10.0 s ago), lease last confirmed by etcd 0.4 s ago; managers: mgr-a, mgr-b (this one: mgr-a)',
    'etcd: reachable (last answer 0.5 s ago)',
    'view of mgr-a: reaches db1, verdict Healthy, 0.8 s ago',
    'view of mgr-b: cannot reach db1 since 2026-12-04T12:00:02.500Z, verdict Suspect, 7.0 s ago (stale: older than 5.0 s, counts for nothing)',
  ]);
});

test('status lines: a follower names the leader; no leader and etcd down say why this manager may not act', () => {
  const follower = haLines(ha({ leader: 'mgr-b', leaseConfirmedMsAgo: null, whyNot: 'mgr-a is not the leader of cluster c1 (mgr-b is)', views: [] }), NOW);
  assert.equal(follower[0], 'ha: leader mgr-b since 2026-12-04T12:00:00.000Z (10.0 s ago); managers: mgr-a, mgr-b (this one: mgr-a)');
  assert.ok(!follower.some((l) => /may not act/.test(l)));
  assert.equal(follower.at(-1), 'views: none published yet');
  const down = haLines(
    ha({ leader: null, leaderSince: null, leaseConfirmedMsAgo: null, whyNot: 'leadership of cluster c1 unknown: etcd unavailable: deadline exceeded', etcd: { reachable: false, lastOkAt: '2026-12-04T12:00:01.000Z', lastErrorAt: '2026-12-04T12:00:09.000Z', lastError: 'deadline exceeded' } }),
    NOW,
  );
  assert.match(down[0]!, /^ha: no leader known; managers: /);
  assert.equal(down[1], 'ha: this manager may not act: leadership of cluster c1 unknown: etcd unavailable: deadline exceeded');
  assert.equal(down[2], 'etcd: UNREACHABLE (last error 1.0 s ago: deadline exceeded); last answer 9.0 s ago');
});

test('status lines: the leader names each manager whose configuration of the cluster differs or lacks it', () => {
  const text = "manager mgr-b's configuration of cluster c1 differs from mgr-a's (nodes): the manager that leads next would act on another configuration";
  const lines = haLines(ha({ configMismatches: [{ manager: 'mgr-b', kind: 'differs', parts: ['nodes'], text }] }), NOW);
  assert.equal(lines.at(-1), `config MISMATCH: ${text}`);
});

function line(text: string, series: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${series} `));
  return l === undefined ? undefined : Number(l.slice(series.length + 1));
}

test('metrics: leadership, lease, views and etcd health with heir.ha; none of them without', async () => {
  const without = new HeirMetrics({ defaultMetrics: false });
  without.clusterConfigured('c1', ['db1']);
  assert.ok(!(await without.metrics()).includes('heir_ha_'));

  const m = new HeirMetrics({ defaultMetrics: false });
  let clusters = [{ cluster: 'c1', ha: ha() }, { cluster: 'c2', ha: ha({ leader: 'mgr-b', leaseConfirmedMsAgo: null }) }];
  m.enableHa(() => clusters);
  const text = await m.metrics();
  assert.equal(line(text, 'heir_ha_leader{cluster="c1",manager="mgr-a"}'), 1);
  assert.equal(line(text, 'heir_ha_leader{cluster="c1",manager="mgr-b"}'), 0);
  assert.equal(line(text, 'heir_ha_leader{cluster="c2",manager="mgr-a"}'), 0);
  assert.equal(line(text, 'heir_ha_leader{cluster="c2",manager="mgr-b"}'), 1);
  assert.equal(line(text, 'heir_ha_lease_confirmed_age_seconds{cluster="c1"}'), 0.4);
  assert.equal(line(text, 'heir_ha_lease_confirmed_age_seconds{cluster="c2"}'), undefined);
  assert.equal(line(text, 'heir_ha_view_age_seconds{cluster="c1",manager="mgr-b"}'), 7);
  assert.equal(line(text, 'heir_ha_view_reachable{cluster="c1",manager="mgr-b"}'), 0);
  assert.equal(line(text, 'heir_ha_view_reachable{cluster="c1",manager="mgr-a"}'), 1);
  assert.equal(line(text, 'heir_ha_view_max_age_seconds{cluster="c1"}'), 5);
  assert.equal(line(text, 'heir_ha_etcd_up'), 1);
  assert.ok((line(text, 'heir_ha_etcd_last_error_age_seconds') ?? 0) > 60);
  // A cluster gone from the configuration is gone from the series at the next scrape.
  clusters = [clusters[0]!];
  assert.ok(!(await m.metrics()).includes('cluster="c2"'));
});
