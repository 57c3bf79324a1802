import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, TopologySnapshot } from '../../src/mysql/types';
import { checkRejoinRequest, planRejoin } from '../../src/failover/rejoin-plan';

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
    assert.deepEqual(planRejoin(topo(), 'db1'), { allowed: true, master: 'db2', extra: '' });
    assert.deepEqual(planRejoin(topo({ db2: { executedGtid: `${U1}:1-120` } }), 'db1', 'db2'), { allowed: true, master: 'db2', extra: '' });
    // The node itself writable (an old master back before any fence) is not a master to follow.
    assert.deepEqual(planRejoin(topo({ db1: { readOnly: false } }), 'db1'), { allowed: true, master: 'db2', extra: '' });
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
    assert.deepEqual(planRejoin(topo({ db1: m(1, '0-1-100'), db2: m(2, '0-1-100,0-2-150'), db3: m(3, '0-1-100,0-2-150') }), 'db1'), { allowed: true, master: 'db2', extra: '' });
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
});
