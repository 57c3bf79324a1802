/** Prometheus metrics: names, labels and values in the text exposition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeirMetrics } from '../../src/daemon/metrics';

function line(text: string, series: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${series} `));
  return l === undefined ? undefined : Number(l.slice(series.length + 1));
}

test('exposition has every metric with cluster/node labels', async () => {
  const m = new HeirMetrics({ defaultMetrics: false });
  m.clusterConfigured('app1', ['db1', 'db2', 'db3']);
  m.nodeProbe('app1', 'db1', true, 0.004);
  m.nodeProbe('app1', 'db2', false);
  m.replicationLag('app1', 'db3', 2);
  m.master('app1', 'db1', ['db1', 'db2', 'db3']);
  m.verdict('app1', 'healthy');
  m.blocked('app1', false);
  m.failover('app1', 'success', 7.5);
  m.switchover('app1', 'success', 3.2, 0.8);
  m.addressMove('app1', 'fence', 'success');
  m.addressMove('app1', 'attach', 'failure');
  m.webhookDelivery('app1', 'dingtalk', 'delivered');
  m.webhookDelivery('app1', 'slack', 'failed');
  const text = await m.metrics();
  assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);

  for (const name of [
    'heir_node_up', 'heir_node_master', 'heir_cluster_verdict', 'heir_cluster_blocked', 'heir_replication_lag_seconds',
    'heir_ping_latency_seconds', 'heir_failovers_total', 'heir_failover_duration_seconds', 'heir_switchovers_total',
    'heir_switchover_duration_seconds', 'heir_switchover_pause_seconds', 'heir_address_moves_total', 'heir_webhook_deliveries_total',
  ]) {
    assert.match(text, new RegExp(`^# TYPE ${name} (gauge|counter|histogram)$`, 'm'), name);
  }
  assert.equal(line(text, 'heir_node_up{cluster="app1",node="db1"}'), 1);
  assert.equal(line(text, 'heir_node_up{cluster="app1",node="db2"}'), 0);
  assert.equal(line(text, 'heir_node_master{cluster="app1",node="db1"}'), 1);
  assert.equal(line(text, 'heir_node_master{cluster="app1",node="db3"}'), 0);
  assert.equal(line(text, 'heir_replication_lag_seconds{cluster="app1",node="db3"}'), 2);
  assert.equal(line(text, 'heir_ping_latency_seconds_count{cluster="app1",node="db1"}'), 1);
  assert.equal(line(text, 'heir_ping_latency_seconds_bucket{le="0.005",cluster="app1",node="db1"}'), 1);
  assert.equal(line(text, 'heir_ping_latency_seconds_bucket{le="0.0025",cluster="app1",node="db1"}'), 0);
  assert.equal(line(text, 'heir_cluster_verdict{cluster="app1",verdict="healthy"}'), 1);
  assert.equal(line(text, 'heir_failovers_total{cluster="app1",result="success"}'), 1);
  assert.equal(line(text, 'heir_failovers_total{cluster="app1",result="failure"}'), 0, 'initialized at zero');
  assert.equal(line(text, 'heir_failover_duration_seconds_sum{cluster="app1",result="success"}'), 7.5);
  assert.equal(line(text, 'heir_switchovers_total{cluster="app1",result="success"}'), 1);
  assert.equal(line(text, 'heir_switchover_pause_seconds_sum{cluster="app1"}'), 0.8);
  assert.equal(line(text, 'heir_address_moves_total{cluster="app1",step="attach",result="failure"}'), 1);
  assert.equal(line(text, 'heir_address_moves_total{cluster="app1",step="fence",result="failure"}'), 0);
  assert.equal(line(text, 'heir_webhook_deliveries_total{cluster="app1",type="slack",result="failed"}'), 1);
});

test('verdict keeps one series per cluster; lag disappears when unknown', async () => {
  const m = new HeirMetrics({ defaultMetrics: false });
  m.verdict('app1', 'healthy');
  m.verdict('app1', 'master-dead');
  m.replicationLag('app1', 'db2', 5);
  m.replicationLag('app1', 'db2', null);
  const text = await m.metrics();
  assert.equal(line(text, 'heir_cluster_verdict{cluster="app1",verdict="master-dead"}'), 1);
  assert.ok(!text.includes('verdict="healthy"'));
  assert.ok(!text.includes('heir_replication_lag_seconds{'));
});

test('forgetCluster and node removal drop exactly that cluster/node', async () => {
  const m = new HeirMetrics({ defaultMetrics: false });
  m.clusterConfigured('app1', ['db1', 'db2']);
  m.clusterConfigured('app2', ['db4', 'db5']);
  for (const [c, n] of [['app1', 'db1'], ['app1', 'db2'], ['app2', 'db4']] as const) m.nodeProbe(c, n, true, 0.01);
  m.verdict('app1', 'healthy');
  m.blocked('app1', true);
  m.clusterConfigured('app1', ['db1']); // db2 removed on reload; blocked state kept
  let text = await m.metrics();
  assert.ok(!text.includes('node="db2"'));
  assert.equal(line(text, 'heir_node_up{cluster="app1",node="db1"}'), 1);
  assert.equal(line(text, 'heir_cluster_blocked{cluster="app1"}'), 1);
  m.forgetCluster('app1');
  text = await m.metrics();
  assert.ok(!text.includes('cluster="app1"'));
  assert.equal(line(text, 'heir_node_up{cluster="app2",node="db4"}'), 1);
  assert.equal(line(text, 'heir_failovers_total{cluster="app2",result="success"}'), 0);
});

test('default process metrics are prefixed and separate registries do not collide', async () => {
  const a = new HeirMetrics();
  const b = new HeirMetrics();
  a.nodeProbe('x', 'n', true, 0.001);
  const text = await a.metrics();
  assert.match(text, /^heir_process_resident_memory_bytes \d+/m);
  assert.ok(!(await b.metrics()).includes('cluster="x"'));
});
