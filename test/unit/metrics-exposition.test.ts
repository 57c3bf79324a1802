/** Prometheus metrics: names, labels and values in the text exposition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { HeirMetrics, processMetrics } from '../../src/daemon/metrics';
import { corroborationBudget, type Release } from '../../src/monitor/budget';
import { gitHead, heirRevision } from '../../src/cli/version';
import { startEcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../ecs-emulator/fixture';

const ROOT = path.resolve(__dirname, '..', '..', '..');

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

test("Node's default metrics under their usual names, collected once per process; heir_build_info", async () => {
  const a = new HeirMetrics();
  const b = new HeirMetrics();
  a.nodeProbe('x', 'n', true, 0.001);
  const text = await a.metrics();
  // The names stock Node.js dashboards query.
  for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_gc_duration_seconds', 'nodejs_version_info']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  assert.ok(!/^heir_(process|nodejs)_/m.test(text), 'no heir_ prefix on the default metrics');
  assert.equal(text.match(/^# TYPE process_resident_memory_bytes /gm)?.length, 1);
  // One process-wide registry, whatever the number of HeirMetrics: its collectors run once.
  assert.equal(processMetrics(), processMetrics());
  const textB = await b.metrics();
  assert.ok(!textB.includes('cluster="x"'), 'per-daemon series stay apart');
  assert.match(textB, /^process_resident_memory_bytes \d+/m);
  const info = text.split('\n').find((l) => l.startsWith('heir_build_info{'));
  assert.ok(info, 'heir_build_info');
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const git = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
  assert.equal(git.status, 0, 'the tests run from a git checkout');
  assert.equal(info, `heir_build_info{version="${pkg.version}",revision="${git.stdout.trim()}",nodejs_version="${process.version}"} 1`);
  assert.equal(heirRevision(), git.stdout.trim());
});

test('gitHead: detached, loose ref, packed ref, worktree; null outside a checkout', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-githead-'));
  try {
    const sha = (c: string) => c.repeat(40);
    const repo = path.join(dir, 'repo');
    const git = path.join(repo, '.git');
    fs.mkdirSync(path.join(git, 'refs', 'heads'), { recursive: true });
    assert.equal(gitHead(path.join(dir, 'nothing')), null);
    fs.writeFileSync(path.join(git, 'HEAD'), `${sha('a')}\n`);
    assert.equal(gitHead(repo), sha('a'));
    fs.writeFileSync(path.join(git, 'HEAD'), 'ref: refs/heads/main\n');
    assert.equal(gitHead(repo), null, 'a ref that does not exist yet (no commit)');
    fs.writeFileSync(path.join(git, 'packed-refs'), `# pack-refs with: peeled fully-peeled sorted\n${sha('b')} refs/heads/main\n${sha('c')} refs/heads/mainline\n`);
    assert.equal(gitHead(repo), sha('b'));
    fs.writeFileSync(path.join(git, 'refs', 'heads', 'main'), `${sha('d')}\n`);
    assert.equal(gitHead(repo), sha('d'), 'a loose ref wins over the packed one');
    // A worktree: .git is a file naming its git dir, whose commondir holds the refs.
    const wtGit = path.join(git, 'worktrees', 'wt');
    fs.mkdirSync(wtGit, { recursive: true });
    fs.writeFileSync(path.join(wtGit, 'HEAD'), 'ref: refs/heads/mainline\n');
    fs.writeFileSync(path.join(wtGit, 'commondir'), '../..\n');
    const wt = path.join(dir, 'wt');
    fs.mkdirSync(wt);
    fs.writeFileSync(path.join(wt, '.git'), `gitdir: ${wtGit}\n`);
    assert.equal(gitHead(wt), sha('c'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('Alibaba Cloud API calls through the SDK adapter are counted and timed by action and outcome', async () => {
  const emu = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }), keys: [{ id: 'LTAIgood', secret: 'good-secret' }] });
  const restore = useCredentials(emu, 'env');
  try {
    const m = new HeirMetrics();
    const series = (action: string, outcome: string) => `{action="${action}",outcome="${outcome}"}`;
    const before = await m.metrics();
    const count = (text: string, name: string, labels: string) => line(text, `${name}${labels}`) ?? 0;
    const { EcsApi } = await import('../../src/eni/ecs-api');
    const api = new EcsApi(cloudFor(emu) as ConstructorParameters<typeof EcsApi>[0]);
    await api.describeEni('eni-floating');
    await api.describeEni('eni-floating');
    await assert.rejects(api.attach('eni-floating', 'i-nowhere'), { name: 'EcsApiError' });
    const after = await m.metrics();
    const ok = series('DescribeNetworkInterfaces', 'success');
    const bad = series('AttachNetworkInterface', 'api');
    assert.equal(count(after, 'heir_cloud_api_requests_total', ok) - count(before, 'heir_cloud_api_requests_total', ok), 2);
    assert.equal(count(after, 'heir_cloud_api_requests_total', bad) - count(before, 'heir_cloud_api_requests_total', bad), 1);
    assert.equal(count(after, 'heir_cloud_api_request_duration_seconds_count', ok) - count(before, 'heir_cloud_api_request_duration_seconds_count', ok), 2);
    const sum = count(after, 'heir_cloud_api_request_duration_seconds_sum', ok) - count(before, 'heir_cloud_api_request_duration_seconds_sum', ok);
    assert.ok(sum > 0 && sum < 30, `two calls took ${sum} s`);
    assert.match(after, /^heir_cloud_api_request_duration_seconds_bucket\{le="\+Inf",action="AttachNetworkInterface",outcome="api"\} \d+$/m);
  } finally {
    restore();
    await emu.close();
  }
});

test('heir_corroboration_probes: running and queued slots of the process-wide budget, and its size', async () => {
  const m = new HeirMetrics();
  const value = (text: string, state: string) => Number(new RegExp(`^heir_corroboration_probes\\{state="${state}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
  const before = await m.metrics();
  assert.match(before, new RegExp(`^heir_corroboration_probes_max ${corroborationBudget.max}$`, 'm'));
  const held: Release[] = [];
  for (let i = 0; i < corroborationBudget.max; i++) held.push(await corroborationBudget.acquire());
  const waiting = corroborationBudget.acquire();
  try {
    const text = await m.metrics();
    assert.equal(value(text, 'running'), corroborationBudget.max);
    assert.equal(value(text, 'queued'), 1);
  } finally {
    for (const r of held) r();
    (await waiting)();
  }
  const after = await m.metrics();
  assert.equal(value(after, 'running'), 0);
  assert.equal(value(after, 'queued'), 0);
});
