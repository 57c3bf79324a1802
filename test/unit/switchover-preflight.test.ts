import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../../src/mysql/types';
import { preflight, formatPreflight, type CheckId, type SwitchoverFacts } from '../../src/failover/switchover-preflight';
import { planSwitchover, formatPlan } from '../../src/failover/switchover-plan';

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U2 = '4e11fa47-71ca-11e1-9e33-c80aa9429562';

function cluster(extra: Partial<Record<string, unknown>> = {}, promo: Record<string, string> = {}): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
    nodes: ['db1', 'db2', 'db3'].map((n, i) => ({ name: n, host: '127.0.0.1', port: 3301 + i, promotion: promo[n] ?? 'neutral' })),
    ...extra,
  });
}

function chan(port: number, o: Partial<ReplicationChannel> = {}): ReplicationChannel {
  return {
    channel: '', sourceHost: '127.0.0.1', sourcePort: port, ioState: 'Yes', sqlRunning: true,
    lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '', secondsBehind: 0, sourceServerId: 1,
    read: null, exec: null, retrievedGtidSet: '', gtidAutoPosition: true, ...o,
  };
}

function node(name: string, port: number, o: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    name, host: '127.0.0.1', port, takenAt: 0, reachable: true,
    version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
    serverId: port - 3300, serverUuid: U1, readOnly: true, superReadOnly: true, logBin: true, logReplicaUpdates: true,
    gtidMode: 'ON', executedGtid: `${U1}:1-100`, replication: [chan(3301)], ...o,
  };
}

function healthy(): TopologySnapshot {
  return {
    cluster: 'c1', takenAt: 0,
    nodes: [
      node('db1', 3301, { readOnly: false, superReadOnly: false, replication: [] }),
      node('db2', 3302),
      node('db3', 3303),
    ],
  };
}

function facts(mut: (f: SwitchoverFacts) => void = () => {}): SwitchoverFacts {
  const f: SwitchoverFacts = { topology: healthy(), longTransactions: [], address: { kind: 'none', checks: [] }, lock: { free: true } };
  mut(f);
  return f;
}

function setNode(f: SwitchoverFacts, name: string, o: Partial<NodeSnapshot>): void {
  const i = f.topology.nodes.findIndex((n) => n.name === name);
  f.topology.nodes[i] = { ...f.topology.nodes[i], ...o };
}

const limits = { maxLagS: 5, maxTransactionS: 5, force: false };

describe('switchover preflight', () => {
  it('passes a healthy cluster and names the master', () => {
    const p = preflight(facts(), cluster(), 'db2', limits);
    assert.equal(p.ok, true, formatPreflight(p).join('\n'));
    assert.equal(p.master, 'db1');
    assert.deepEqual(p.refusals, []);
    const plan = planSwitchover(p, cluster(), 'mysql', { timeoutS: 10, heartbeatTable: 'heir.heartbeat' });
    assert.equal(plan.from, 'db1');
    assert.deepEqual(plan.others, ['db3']);
    assert.ok(formatPlan(plan).some((l) => l.includes('super_read_only')));
  });

  // Each row: a fault, and the check(s) that must refuse (and only those).
  const cases: { name: string; target?: string; f: SwitchoverFacts; cfg?: ClusterConfig; expect: CheckId[]; lim?: typeof limits }[] = [
    { name: 'unknown target', target: 'db9', f: facts(), expect: ['target-known'] },
    { name: 'unreachable replica', f: facts((f) => setNode(f, 'db3', { reachable: false, error: { code: 'ECONNREFUSED', message: 'refused' } })), expect: ['reachable'] },
    { name: 'two writable nodes', f: facts((f) => setNode(f, 'db3', { readOnly: false })), expect: ['one-writable-master'] },
    { name: 'no writable node', f: facts((f) => setNode(f, 'db1', { readOnly: true })), expect: ['one-writable-master'] },
    { name: 'target is the master', target: 'db1', f: facts(), expect: ['target-not-master'] },
    { name: 'target stopped SQL thread', f: facts((f) => setNode(f, 'db2', { replication: [chan(3301, { sqlRunning: false, secondsBehind: null })] })), expect: ['target-threads', 'target-lag'] },
    { name: 'target IO error', f: facts((f) => setNode(f, 'db2', { replication: [chan(3301, { ioState: 'Connecting', lastIoErrno: 2003, lastIoError: 'cannot connect' })] })), expect: ['target-threads'] },
    { name: 'target errant GTID', f: facts((f) => setNode(f, 'db2', { executedGtid: `${U1}:1-100,\n${U2}:1-3` })), expect: ['target-errant-gtids'] },
    { name: 'target lags', f: facts((f) => setNode(f, 'db2', { replication: [chan(3301, { secondsBehind: 42 })] })), expect: ['target-lag'] },
    { name: 'lag at the limit passes', f: facts((f) => setNode(f, 'db2', { replication: [chan(3301, { secondsBehind: 5 })] })), expect: [] },
    { name: 'target is not a replica', f: facts((f) => setNode(f, 'db2', { replication: [] })), expect: ['target-replicates-master'] },
    { name: 'target replicates from db3', f: facts((f) => setNode(f, 'db2', { replication: [chan(3303, { sourceServerId: 3 })] })), expect: ['target-replicates-master'] },
    { name: 'target multi-source', f: facts((f) => setNode(f, 'db2', { replication: [chan(3301), chan(3303, { channel: 'x', sourceServerId: 3 })] })), expect: ['target-replicates-master'] },
    { name: 'target promotion never', cfg: cluster({}, { db2: 'never' }), f: facts(), expect: ['target-promotion-rule'] },
    { name: 'target promotion never with --force', cfg: cluster({}, { db2: 'never' }), f: facts(), expect: [], lim: { ...limits, force: true } },
    { name: 'target binlog off', f: facts((f) => setNode(f, 'db2', { logBin: false })), expect: ['target-binlog'] },
    { name: 'target log_replica_updates off', f: facts((f) => setNode(f, 'db2', { logReplicaUpdates: false })), expect: ['target-binlog'] },
    { name: 'gtid off', f: facts((f) => setNode(f, 'db2', { gtidMode: 'OFF', replication: [chan(3301, { gtidAutoPosition: false })] })), expect: ['gtid-mode'] },
    { name: 'master replicates from someone', f: facts((f) => setNode(f, 'db1', { replication: [chan(3303)] })), expect: ['master-not-replicating'] },
    {
      name: 'long transaction on master',
      f: facts((f) => (f.longTransactions = [{ connectionId: 7, user: 'app', host: 'x', seconds: 30, kind: 'transaction', rowsModified: 3 }])),
      expect: ['long-transactions'],
    },
    {
      name: 'short transaction on master passes',
      f: facts((f) => (f.longTransactions = [{ connectionId: 7, user: 'app', host: 'x', seconds: 1, kind: 'transaction', rowsModified: 3 }])),
      expect: [],
    },
    { name: 'address preflight fails', f: facts((f) => (f.address = { kind: 'eni', checks: [{ name: 'eni-exists', ok: false, detail: 'InvalidEniId.NotFound' }] })), expect: ['address'] },
    { name: 'address warning only', f: facts((f) => (f.address = { kind: 'eni', checks: [{ name: 'zone', ok: false, severity: 'warning', detail: 'zones differ' }] })), expect: [] },
    { name: 'lock held', f: facts((f) => (f.lock = { free: false, holder: 'failover by pid 12' })), expect: ['lock'] },
    {
      name: 'every fault at once',
      f: facts((f) => {
        setNode(f, 'db2', { executedGtid: `${U1}:1-100,${U2}:5`, replication: [chan(3301, { sqlRunning: false, secondsBehind: null })] });
        f.lock = { free: false, holder: 'x' };
        f.longTransactions = [{ connectionId: 9, user: 'app', host: 'h', seconds: 60, kind: 'statement', query: 'UPDATE t SET a=1' }];
      }),
      expect: ['target-threads', 'target-errant-gtids', 'target-lag', 'long-transactions', 'lock'],
    },
  ];

  for (const c of cases) {
    it(`refuses exactly on: ${c.name}`, () => {
      const p = preflight(c.f, c.cfg ?? cluster(), c.target ?? 'db2', c.lim ?? limits);
      const got = [...new Set(p.refusals.map((r) => r.id))].sort();
      assert.deepEqual(got, [...c.expect].sort(), formatPreflight(p).join('\n'));
      assert.equal(p.ok, c.expect.length === 0);
      for (const r of p.refusals) assert.ok(r.fix && r.fix.length > 0, `refusal ${r.id} says what to do`);
    });
  }

  it('warns (not refuses) about a broken other replica', () => {
    const p = preflight(facts((f) => setNode(f, 'db3', { replication: [chan(3301, { sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'dup' })] })), cluster(), 'db2', limits);
    assert.equal(p.ok, true);
    const w = p.checks.find((c) => c.id === 'other-replicas' && c.node === 'db3');
    assert.equal(w?.ok, false);
    assert.equal(w?.severity, 'warn');
    assert.match(w!.detail, /dup/);
  });

  it('MariaDB: errant domain-server-seq on the target refuses', () => {
    const maria = (n: NodeSnapshot, pos: string): NodeSnapshot => ({
      ...n, version: { flavor: 'mariadb', major: 10, minor: 11, patch: 6, raw: '10.11.6-MariaDB' }, serverUuid: undefined,
      gtidMode: 'ON', executedGtid: pos, mariadb: { binlogPos: pos, slavePos: pos },
      replication: n.replication.map((c) => ({ ...c, gtidAutoPosition: true, mariadbUsingGtid: 'Slave_Pos' as const })),
    });
    const f = facts((f) => {
      f.topology.nodes = [maria(f.topology.nodes[0], '0-1-100'), maria(f.topology.nodes[1], '0-1-100'), maria(f.topology.nodes[2], '0-1-100')];
    });
    assert.equal(preflight(f, cluster(), 'db2', limits).ok, true, formatPreflight(preflight(f, cluster(), 'db2', limits)).join('\n'));
    f.topology.nodes[1] = { ...f.topology.nodes[1], executedGtid: '0-1-100,1-2-5', mariadb: { binlogPos: '0-1-100,1-2-5', slavePos: '0-1-100' } };
    const p = preflight(f, cluster(), 'db2', limits);
    assert.deepEqual(p.refusals.map((r) => r.id), ['target-errant-gtids'], formatPreflight(p).join('\n'));
  });
});
