/** Reload: which clusters start, stop, restart or stay untouched (pure). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeirConfig } from '../../src/config/schema';
import { canonicalJson, deepEqual, describeDiff, diffConfigs } from '../../src/daemon/config-diff';

function cluster(name: string, extra: Record<string, unknown> = {}) {
  return {
    name,
    mysql: { user: 'heir', password: 'pw', replication_user: 'repl', replication_password: 'rpw' },
    nodes: [
      { name: 'db1', host: '10.0.0.1' },
      { name: 'db2', host: '10.0.0.2' },
    ],
    ...extra,
  };
}

function cfg(clusters: unknown[], heir: Record<string, unknown> = {}): HeirConfig {
  return HeirConfig.parse({ heir, clusters });
}

test('identical configurations: nothing to do', () => {
  const a = cfg([cluster('a'), cluster('b')]);
  const b = cfg([cluster('b'), cluster('a')]);
  const d = diffConfigs(a, b);
  assert.equal(d.same, true);
  assert.deepEqual(d.unchanged.sort(), ['a', 'b']);
  assert.equal(describeDiff(d), 'configuration unchanged');
});

test('key order and defaults written out do not count as a change', () => {
  const a = cfg([cluster('a')]);
  const b = cfg([{ ...cluster('a'), detection: { interval_ms: 1000, ping_type: 'ping' } }]);
  assert.equal(diffConfigs(a, b).same, true);
  assert.equal(canonicalJson({ x: 1, y: { b: 2, a: 1 } }), canonicalJson({ y: { a: 1, b: 2 }, x: 1 }));
  assert.equal(deepEqual({ a: undefined, b: 1 }, { b: 1 }), true);
  assert.equal(deepEqual([1, 2], [2, 1]), false);
});

test('added, removed and changed clusters; the others untouched', () => {
  const a = cfg([cluster('keep'), cluster('gone'), cluster('tuned')]);
  const b = cfg([cluster('keep'), cluster('tuned', { detection: { interval_ms: 500 } }), cluster('new')]);
  const d = diffConfigs(a, b);
  assert.deepEqual(d.added, ['new']);
  assert.deepEqual(d.removed, ['gone']);
  assert.deepEqual(d.changed, [{ name: 'tuned', keys: ['detection'] }]);
  assert.deepEqual(d.unchanged, ['keep']);
  assert.equal(d.same, false);
  assert.match(describeDiff(d), /added new; removed gone; restarted tuned \(detection\); 1 cluster\(s\) unchanged/);
});

test('a changed node, password or webhook restarts that cluster', () => {
  const base = cfg([cluster('a'), cluster('b')]);
  const nodes = cfg([cluster('a', { nodes: [{ name: 'db1', host: '10.0.0.1' }, { name: 'db2', host: '10.0.0.3' }] }), cluster('b')]);
  assert.deepEqual(diffConfigs(base, nodes).changed, [{ name: 'a', keys: ['nodes'] }]);
  const pw = cfg([cluster('a'), { ...cluster('b'), mysql: { user: 'heir', password: 'new', replication_user: 'repl', replication_password: 'rpw' } }]);
  assert.deepEqual(diffConfigs(base, pw).changed, [{ name: 'b', keys: ['mysql'] }]);
  const hook = cfg([cluster('a', { webhooks: [{ type: 'generic', url: 'http://127.0.0.1:9/x' }] }), cluster('b')]);
  assert.deepEqual(diffConfigs(base, hook).changed, [{ name: 'a', keys: ['webhooks'] }]);
});

test('state_dir or cloud settings restart every cluster; API and log level do not', () => {
  const a = cfg([cluster('a'), cluster('b')]);
  const sd = diffConfigs(a, cfg([cluster('a'), cluster('b')], { state_dir: '/srv/heir' }));
  assert.deepEqual(sd.changed.map((c) => c.name).sort(), ['a', 'b']);
  assert.ok(sd.changed.every((c) => c.keys.includes('heir.state_dir')));
  const api = diffConfigs(a, cfg([cluster('a'), cluster('b')], { api: { listen: '127.0.0.1:9999', token: 'x'.repeat(32) }, log_level: 'debug' }));
  assert.deepEqual(api.changed, []);
  assert.equal(api.apiChanged, true);
  assert.equal(api.logLevelChanged, true);
  assert.equal(api.same, false);
});
