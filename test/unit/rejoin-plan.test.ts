import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../../src/mysql/types';
import { checkRejoinRequest, fileAnchorOf, planRejoin, type FileAnchor } from '../../src/failover/rejoin-plan';

/** Whom a returning node follows, and whether it may (rejoin-plan.ts), on plain snapshots. */

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U3 = '5a5a5a5a-71ca-11e1-9e33-c80aa9429562';

function node(name: string, o: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    name, host: '127.0.0.1', port: 3300, takenAt: 0, reachable: true,
    version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
    readOnly: true, gtidMode: 'ON', executedGtid: `${U1}:1-100`, replication: [], ...o,
  };
}

const channel = { channel: '', sourceHost: '127.0.0.1', sourcePort: 3302, ioState: 'Yes', sqlRunning: true, lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '', secondsBehind: 0, sourceServerId: 2, read: null, exec: null, retrievedGtidSet: '', gtidAutoPosition: true } as const;

/** db1 came back (fenced: read-only, replicating from no one); db2 is the master; db3 its replica. */
function topo(o: { db1?: Partial<NodeSnapshot>; db2?: Partial<NodeSnapshot>; db3?: Partial<NodeSnapshot> } = {}): TopologySnapshot {
  return {
    cluster: 'c1', takenAt: 0,
    nodes: [node('db1', o.db1), node('db2', { readOnly: false, ...o.db2 }), node('db3', { replication: [channel], ...o.db3 })],
  };
}

describe('rejoin plan', () => {
  it('follows the one writable node that replicates from no one, when the node has nothing it lacks', () => {
    assert.deepEqual(planRejoin(topo(), 'db1'), { allowed: true, master: 'db2', extra: '', position: { kind: 'gtid' } });
    assert.deepEqual(planRejoin(topo({ db2: { executedGtid: `${U1}:1-120` } }), 'db1', 'db2'), { allowed: true, master: 'db2', extra: '', position: { kind: 'gtid' } });
    // The node itself writable (an old master back before any fence) is not a master to follow.
    assert.deepEqual(planRejoin(topo({ db1: { readOnly: false } }), 'db1'), { allowed: true, master: 'db2', extra: '', position: { kind: 'gtid' } });
  });

  it('refuses, for good, a node with transactions the master lacks, and names them', () => {
    const p = planRejoin(topo({ db1: { executedGtid: `${U1}:1-100,${U3}:1-2` } }), 'db1');
    assert.ok(!p.allowed);
    assert.equal(p.master, 'db2');
    assert.equal(p.extra, `${U3}:1-2`);
    assert.equal(p.transient, false);
    assert.match(p.summary, /db1 has transactions the master db2 lacks: 5a5a5a5a-71ca-11e1-9e33-c80aa9429562:1-2/);
  });

  it('refuses, for good, without GTIDs (MySQL) and across flavors', () => {
    const off = planRejoin(topo({ db1: { gtidMode: 'OFF' } }), 'db1');
    assert.ok(!off.allowed && !off.transient && /GTID mode is off/.test(off.summary));
    const maria = { flavor: 'mariadb', major: 10, minor: 11, patch: 9, raw: '10.11.9-MariaDB' } as const;
    const mixed = planRejoin(topo({ db1: { version: maria } }), 'db1');
    assert.ok(!mixed.allowed && !mixed.transient && /db1 is mariadb, the master mysql/.test(mixed.summary));
  });

  it('MariaDB: the node\'s own writes the master\'s binlog state lacks are refused', () => {
    const maria = { flavor: 'mariadb', major: 10, minor: 11, patch: 9, raw: '10.11.9-MariaDB' } as const;
    const m = (serverId: number, binlogState: string): Partial<NodeSnapshot> => ({ version: maria, serverId, gtidMode: undefined, executedGtid: binlogState, mariadb: { binlogPos: binlogState, slavePos: '', binlogState } });
    assert.deepEqual(planRejoin(topo({ db1: m(1, '0-1-100'), db2: m(2, '0-1-100,0-2-150'), db3: m(3, '0-1-100,0-2-150') }), 'db1'), { allowed: true, master: 'db2', extra: '', position: { kind: 'gtid' } });
    const p = planRejoin(topo({ db1: m(1, '0-1-103'), db2: m(2, '0-1-100,0-2-150'), db3: m(3, '0-1-100,0-2-150') }), 'db1');
    assert.ok(!p.allowed && !p.transient && p.extra !== '', JSON.stringify(p));
  });

  it('waits (transient) while there is no single master, not the expected one, or a side does not answer', () => {
    const none = planRejoin(topo({ db2: { readOnly: true } }), 'db1');
    assert.ok(!none.allowed && none.transient && none.master === null && /no writable master found among the other nodes/.test(none.summary));
    const two = planRejoin(topo({ db3: { readOnly: false, replication: [] } }), 'db1');
    assert.ok(!two.allowed && two.transient && /more than one writable master: db2, db3/.test(two.summary));
    const other = planRejoin(topo(), 'db1', 'db3');
    assert.deepEqual(other, { allowed: false, master: 'db2', extra: '', transient: true, summary: 'the writable master is db2, not db3; db1 is left as it is' });
    const down = planRejoin(topo({ db1: { reachable: false } }), 'db1');
    assert.ok(!down.allowed && down.transient && /db1 does not answer: start it first/.test(down.summary));
  });

  it('refuses a request for a node the cluster lacks, or for the master itself, before reading anything', () => {
    const cluster = ClusterConfig.parse({
      name: 'c1',
      mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
      nodes: ['db1', 'db2'].map((n, i) => ({ name: n, host: '127.0.0.1', port: 3301 + i })),
    });
    assert.equal(checkRejoinRequest(cluster, 'db9'), 'cluster c1 has no node db9 (nodes: db1, db2)');
    assert.equal(checkRejoinRequest(cluster, 'db1', 'db1'), 'db1 is the master: it follows no one');
    assert.equal(checkRejoinRequest(cluster, 'db1', 'db2'), undefined);
  });

  describe('file/position (MySQL without GTIDs): only where the newest failover left its new master', () => {
    const cluster = ClusterConfig.parse({
      name: 'c1',
      mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
      nodes: ['db1', 'db2', 'db3'].map((n, i) => ({ name: n, host: `10.0.0.${i + 1}`, port: 3306 })),
    });
    const report = (o: Record<string, unknown> = {}, data: Record<string, unknown> = {}) => ({
      id: 'f1', deadMaster: 'db1', newMaster: 'db2',
      steps: [{ name: 'promote', outcome: 'ok', data: { binlog: { file: 'binlog.000002', pos: 157 }, fromDead: { file: 'binlog.000007', pos: 5000 }, ...data } }],
      ...o,
    });
    const anchor = fileAnchorOf(report(), cluster) as FileAnchor;
    const off = { gtidMode: 'OFF', executedGtid: '' } as const;
    // db3 left out by the failover, still pointed at the dead master db1.
    const fromDead = (exec: number, o: { sqlRunning?: boolean; lastSqlErrno?: number; lastSqlError?: string; read?: number } = {}): ReplicationChannel => ({
      ...channel, sqlRunning: o.sqlRunning ?? true, lastSqlErrno: o.lastSqlErrno ?? 0, lastSqlError: o.lastSqlError ?? '',
      sourceHost: '10.0.0.1', sourcePort: 3306, sourceServerId: 1, gtidAutoPosition: false,
      read: { file: 'binlog.000007', pos: o.read ?? 5000 }, exec: { file: 'binlog.000007', pos: exec },
    });
    const plan = (ch: ReplicationChannel, a: FileAnchor | string = anchor) =>
      planRejoin(topo({ db1: { ...off, reachable: false }, db2: off, db3: { ...off, replication: [ch] } }), 'db3', undefined, a);

    it('reads the anchor from the newest report: a failover whose promote step recorded both coordinates', () => {
      assert.deepEqual(anchor, { report: 'f1', newMaster: 'db2', deadMaster: { name: 'db1', host: '10.0.0.1', port: 3306 }, fromDead: { file: 'binlog.000007', pos: 5000 }, binlog: { file: 'binlog.000002', pos: 157 } });
      assert.equal(fileAnchorOf(undefined, cluster), 'no failover report found');
      assert.match(fileAnchorOf({ id: 's1', from: 'db1', to: 'db2', steps: [] }, cluster) as string, /^the newest operation \(s1\) is not a failover/);
      assert.match(fileAnchorOf(report({ newMaster: null }), cluster) as string, /promoted no one/);
      assert.match(fileAnchorOf(report({}, { fromDead: null }), cluster) as string, /does not record where db2 stood/);
      assert.match(fileAnchorOf(report({ deadMaster: 'db9' }), cluster) as string, /db9 is not in the cluster's configuration/);
    });

    it('applied exactly what the new master took: resumes at its binlog position at promotion', () => {
      assert.deepEqual(plan(fromDead(5000)), { allowed: true, master: 'db2', extra: '', position: { kind: 'file', file: 'binlog.000002', pos: 157 } });
    });

    it('still applying towards it: transient; stopped, or stopped on an error: refused with what to do', () => {
      const applying = plan(fromDead(4000));
      assert.ok(!applying.allowed && applying.transient && /still applying its relay log \(at binlog.000007:4000\); db2 resumes it at binlog.000002:157 once it has applied db1's binlog to binlog.000007:5000/.test(applying.summary), JSON.stringify(applying));
      const stopped = plan(fromDead(4000, { sqlRunning: false }));
      assert.ok(!stopped.allowed && !stopped.transient && /SQL thread is stopped at binlog.000007:4000: START REPLICA/.test(stopped.summary), JSON.stringify(stopped));
      const error = plan(fromDead(4000, { sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry' }));
      assert.ok(!error.allowed && !error.transient && /stopped on error 1062 \(Duplicate entry\): fix it and START REPLICA/.test(error.summary), JSON.stringify(error));
    });

    it('read less, applied more, not from the dead master, or another master: refused, nothing placed by guess', () => {
      const behind = plan(fromDead(4000, { read: 4000 }));
      assert.ok(!behind.allowed && !behind.transient && /read db1's binlog only to binlog.000007:4000, short of binlog.000007:5000 .* rebuild it/.test(behind.summary), JSON.stringify(behind));
      const beyond = plan(fromDead(6000, { read: 6000 }));
      assert.ok(!beyond.allowed && /applied db1's binlog to binlog.000007:6000, beyond binlog.000007:5000 that db2 took: it has transactions the master lacks/.test(beyond.summary), JSON.stringify(beyond));
      const other = plan({ ...fromDead(5000), sourceHost: '10.0.0.9', sourceServerId: 9 });
      assert.ok(!other.allowed && /does not replicate from db1, the master failover f1 replaced/.test(other.summary), JSON.stringify(other));
      const newer = plan(fromDead(5000), { ...anchor, newMaster: 'db3' });
      assert.ok(!newer.allowed && /the newest failover \(f1\) promoted db3, not db2/.test(newer.summary), JSON.stringify(newer));
      const old = planRejoin(topo({ db1: off, db2: off, db3: { ...off, replication: [fromDead(5000)] } }), 'db1', undefined, anchor);
      assert.ok(!old.allowed && /db1 is the master failover f1 replaced: .* rebuild it from the master$/.test(old.summary), JSON.stringify(old));
      const none = plan(fromDead(5000), 'the newest operation (s1) is not a failover');
      assert.ok(!none.allowed && /GTID mode is off and the newest operation \(s1\) is not a failover: nothing places db3 in db2's binlog; repoint it by hand or rebuild it/.test(none.summary), JSON.stringify(none));
    });

    it('located behind the new master by what it received (level-up), left out on an SQL error: resumes at the located position once its applier stands where the count began', () => {
      // db3 read db1's binlog to 4500 (less than the 5000 db2 took); the failover located it:
      // applied to at least 4200 and short of 4400 (the next transaction's opening), it resumes at binlog.000002:100.
      const located = fileAnchorOf(
        report({}, { levelAt: { db3: { at: { file: 'binlog.000002', pos: 100 }, from: { file: 'binlog.000007', pos: 4200 }, before: { file: 'binlog.000007', pos: 4400 }, received: { file: 'binlog.000007', pos: 4500 }, count: 3 } } }),
        cluster,
      ) as FileAnchor;
      assert.deepEqual(located.levelAt?.db3?.at, { file: 'binlog.000002', pos: 100 });
      const at = (exec: number, o: Parameters<typeof fromDead>[1] = {}) => plan(fromDead(exec, { read: 4500, ...o }), located);
      assert.deepEqual(at(4300), { allowed: true, master: 'db2', extra: '', position: { kind: 'file', file: 'binlog.000002', pos: 100 } });
      const error = at(4000, { sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry' });
      assert.ok(!error.allowed && !error.transient && /stopped on error 1062 \(Duplicate entry\): fix it and START REPLICA; db2 resumes it at binlog.000002:100 \(failover f1 located it there\)/.test(error.summary), JSON.stringify(error));
      const applying = at(4000);
      assert.ok(!applying.allowed && applying.transient && /still applying its relay log \(at binlog.000007:4000\)/.test(applying.summary), JSON.stringify(applying));
      const stopped = at(4000, { sqlRunning: false });
      assert.ok(!stopped.allowed && !stopped.transient && /SQL thread is stopped at binlog.000007:4000: START REPLICA/.test(stopped.summary), JSON.stringify(stopped));
      const beyond = at(4400);
      assert.ok(!beyond.allowed && /beyond where failover f1 located it \(at or after binlog.000007:4200 and before binlog.000007:4400\)/.test(beyond.summary), JSON.stringify(beyond));
      const readMore = plan(fromDead(4300, { read: 4600 }), located);
      assert.ok(!readMore.allowed && /has read db1's binlog to binlog.000007:4600, not binlog.000007:4500 as when failover f1 located it/.test(readMore.summary), JSON.stringify(readMore));
    });
  });
});
