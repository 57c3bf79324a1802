import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../../src/mysql/types';
import { planFailover } from '../../src/failover/plan';
import { possiblyLost, type LostFacts } from '../../src/failover/lost';
import type { SalvageReport } from '../../src/failover/report';

const M = '11111111-1111-1111-1111-111111111111'; // dead master db1
const UUID: Record<string, string> = { db2: '22222222-2222-2222-2222-222222222222', db3: '33333333-3333-3333-3333-333333333333' };

function channel(o: Partial<ReplicationChannel> = {}): ReplicationChannel {
  return {
    channel: '', sourceHost: '10.0.0.1', sourcePort: 3306, ioState: 'No', sqlRunning: true, lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '',
    secondsBehind: null, sourceServerId: 1, read: { file: 'binlog.000003', pos: 1000 }, exec: { file: 'binlog.000003', pos: 1000 }, retrievedGtidSet: '', gtidAutoPosition: true, ...o,
  };
}

function node(name: string, executed: string, ch: Partial<ReplicationChannel> = {}, replicating = true): NodeSnapshot {
  const n = Number(name.replace(/\D/g, ''));
  return {
    name, host: `10.0.0.${n}`, port: 3306, takenAt: 1000, reachable: true, version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
    serverId: n, serverUuid: UUID[name], readOnly: true, superReadOnly: true, logBin: true, logReplicaUpdates: true, gtidMode: 'ON', executedGtid: executed,
    replication: replicating ? [channel(ch)] : [],
  };
}

const dead: NodeSnapshot = { name: 'db1', host: '10.0.0.1', port: 3306, takenAt: 1000, reachable: false, error: { code: 'ECONNREFUSED', message: 'refused' }, replication: [] };
const cluster = ClusterConfig.parse({
  name: 'c1',
  mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
  nodes: [{ name: 'db1', host: '10.0.0.1' }, { name: 'db2', host: '10.0.0.2' }, { name: 'db3', host: '10.0.0.3' }],
});
const topo = (nodes: NodeSnapshot[]): TopologySnapshot => ({ cluster: 'c1', takenAt: 1000, nodes: [dead, ...nodes] });

/** db2 applied up to 100 and is elected; db3 has up to 90. */
const frozen = topo([node('db2', `${M}:1-100`), node('db3', `${M}:1-90`)]);
const plan = planFailover(frozen, cluster, 'db1');
const notSalvaged: SalvageReport = { attempted: false, why: 'failover.salvage.enabled is false', files: [], gtids: '', count: 0 };
const salvaged: SalvageReport = { attempted: true, why: 'applied 5 transaction(s)', files: ['binlog.000003'], gtids: `${M}:101-105`, count: 5 };

function facts(o: Partial<LostFacts> = {}): LostFacts {
  return {
    plan, dead: cluster.nodes[0]!, frozen, salvage: notSalvaged, dropped: new Map(), winnerExec: () => undefined,
    // db2 promoted: its replication reset.
    final: topo([node('db2', `${M}:1-100`, {}, false), node('db3', `${M}:1-100`)]),
    ...o,
  };
}

describe('what may be missing on the new master (possiblyLost)', () => {
  it('the plan elected db2', () => {
    assert.equal(plan.winner, 'db2');
  });

  it('not salvaged: what the monitor last saw on the master and the new master lacks, counted', () => {
    const last = { ...node('db1', `${M}:1-105`, {}, false), takenAt: Date.UTC(2026, 11, 3, 10) };
    const lost = possiblyLost(facts({ lastKnownMaster: last }));
    assert.equal(lost.length, 1, JSON.stringify(lost));
    assert.equal(lost[0]!.count, 5);
    assert.equal(lost[0]!.transactions, `${M}:101-105`);
    assert.match(lost[0]!.why, /^the dead master's binlogs were not salvaged \(failover\.salvage\.enabled is false\)\. The master had these when the monitor last read it \(2026-12-03T10:00:00\.000Z\)/);
  });

  it('not salvaged and no last read of the master: an uncounted loss, said so', () => {
    const lost = possiblyLost(facts());
    assert.deepEqual(lost.map((l) => l.count), [null]);
    assert.match(lost[0]!.why, /without a last known GTID set of the master it cannot be counted/);
  });

  it('salvaged: nothing, unless a dropped node received what the new master lacks', () => {
    assert.deepEqual(possiblyLost(facts({ salvage: salvaged })), []);
    const frozen3 = topo([node('db2', `${M}:1-100`), node('db3', `${M}:1-90`, { retrievedGtidSet: `${M}:1-110` })]);
    const lost = possiblyLost(facts({ salvage: salvaged, frozen: frozen3, dropped: new Map([['db3', 'its relay log was not applied: stuck']]) }));
    assert.equal(lost.length, 1, JSON.stringify(lost));
    assert.deepEqual([lost[0]!.count, lost[0]!.transactions], [10, `${M}:101-110`]);
    assert.match(lost[0]!.why, /^received by db3, which was dropped \(its relay log was not applied: stuck\), and the new master lacks them$/);
  });

  it('a purged binlog the survivors needed: its gap is reported even when the rest was salvaged', () => {
    const gap = { count: 3, transactions: `${M}:96-98`, purged: 'binlog.000002' };
    const lost = possiblyLost(facts({ salvage: salvaged, salvageGap: gap }));
    assert.deepEqual(lost.map((l) => [l.count, l.transactions]), [[3, `${M}:96-98`]]);
    assert.match(lost[0]!.why, /had purged binlog\.000002/);
  });
});
