/**
 * heir.ha: the digest of a cluster's configuration each manager publishes, and the leader's
 * comparison of the others' with its own (pure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import { clusterDigest, configMismatches, describeMismatch, differingParts } from '../../src/ha/config-digest';

function cluster(o: Record<string, unknown> = {}): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'secret-one', replication_user: 'repl', replication_password: 'y' },
    nodes: [
      { name: 'db1', host: '10.0.0.1' },
      { name: 'db2', host: '10.0.0.2' },
    ],
    ...o,
  });
}

test('digest: the same configuration gives the same digest; secrets and key order do not count', () => {
  const a = clusterDigest(cluster());
  assert.match(a, /^nodes=[0-9a-f]{10} address=[0-9a-f]{10} detection=[0-9a-f]{10} failover=[0-9a-f]{10}$/);
  assert.equal(clusterDigest(cluster({ mysql: { replication_password: 'y', password: 'another', user: 'heir', replication_user: 'repl' } })), a);
  assert.ok(!a.includes('secret-one'));
});

test('digest: a node that differs changes the nodes part only; a detection setting the detection part only', () => {
  const a = clusterDigest(cluster());
  const b = clusterDigest(cluster({ nodes: [{ name: 'db1', host: '10.0.0.1' }, { name: 'db2', host: '10.0.0.9' }] }));
  assert.deepEqual(differingParts(a, b), ['nodes']);
  const c = clusterDigest(cluster({ detection: { interval_ms: 2000 } }));
  assert.deepEqual(differingParts(a, c), ['detection']);
});

test('comparison: a manager without the cluster is missing, one with another node differs, the same and older records are not reported', () => {
  const own = clusterDigest(cluster());
  const other = clusterDigest(cluster({ nodes: [{ name: 'db1', host: '10.0.0.1' }, { name: 'db3', host: '10.0.0.3' }] }));
  const got = configMismatches('c1', 'mgr-a', own, [
    { manager: 'mgr-a', clusters: { c1: own } },
    { manager: 'mgr-d', clusters: { c2: own } },
    { manager: 'mgr-b', clusters: { c1: other } },
    { manager: 'mgr-c', clusters: { c1: own } },
    { manager: 'mgr-e' },
  ]);
  assert.deepEqual(got, [
    { manager: 'mgr-b', kind: 'differs', parts: ['nodes'] },
    { manager: 'mgr-d', kind: 'missing', parts: [] },
  ]);
  assert.match(describeMismatch('c1', 'mgr-a', got[1]!), /^cluster c1 is not in manager mgr-d's configuration \(it is in mgr-a's\): mgr-d does not watch it and never campaigns for it/);
  assert.match(describeMismatch('c1', 'mgr-a', got[0]!), /^manager mgr-b's configuration of cluster c1 differs from mgr-a's \(nodes\)/);
});
