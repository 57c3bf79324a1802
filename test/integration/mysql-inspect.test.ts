/**
 * src/mysql against real servers: MySQL 9.7 and MariaDB 10.11 three-node GTID
 * clusters, and a MySQL file/position cluster, from the lab.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type LabCluster } from '../lab';
import type { ClusterConfig } from '../../src/config/schema';
import { classifyError, Conn, connOptions, isAliveError, MysqlError } from '../../src/mysql/conn';
import { compareCoords } from '../../src/mysql/coords';
import { quoteString } from '../../src/mysql/dialect';
import { GtidSet } from '../../src/mysql/gtid';
import { errantGtids, readBinlogStatus, readNode, readTopology, receivedGtid } from '../../src/mysql/inspect';
import { MariaGtidPos } from '../../src/mysql/mariadb-gtid';
import * as ops from '../../src/mysql/ops';
import type { NodeSnapshot } from '../../src/mysql/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(100);
  }
}

function nodeCfg(cfg: ClusterConfig, name: string) {
  const n = cfg.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
}

async function withNode<T>(lab: LabCluster, name: string, fn: (c: Conn) => Promise<T>): Promise<T> {
  const cfg = lab.clusterConfig();
  const c = await Conn.open(connOptions(cfg, nodeCfg(cfg, name)));
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function snapshot(lab: LabCluster, name: string): Promise<NodeSnapshot> {
  const cfg = lab.clusterConfig();
  const s = await readNode(cfg, nodeCfg(cfg, name));
  assert.equal(s.error, undefined, `${name}: ${JSON.stringify(s.error)}`);
  return s;
}

/** A write on a read-only replica as root, optionally kept out of the binlog. */
async function localWrite(lab: LabCluster, name: string, statement: string, binlog: boolean): Promise<void> {
  const mysql = lab.flavor === 'mysql';
  const parts = [
    mysql ? 'SET GLOBAL super_read_only = 0' : 'SET GLOBAL read_only = 0',
    binlog ? 'SET SESSION sql_log_bin = 1' : 'SET SESSION sql_log_bin = 0',
    statement,
    'SET SESSION sql_log_bin = 1',
    mysql ? 'SET GLOBAL super_read_only = 1' : 'SET GLOBAL read_only = 1',
  ];
  await lab.sql(name, parts.join('; '));
}

function contains(flavor: 'mysql' | 'mariadb', have: string, want: string): boolean {
  return flavor === 'mysql' ? GtidSet.parse(have).contains(GtidSet.parse(want)) : MariaGtidPos.parse(have).contains(MariaGtidPos.parse(want));
}

let nextId = 1;

function gtidSuite(flavor: 'mysql' | 'mariadb') {
  describe(`${flavor} GTID cluster`, () => {
    let lab: LabCluster;
    const insert = (name = 'db1') => lab.sql(name, `INSERT INTO t.a (id, v) VALUES (${nextId++}, 'x')`);
    const masterExecuted = () => withNode(lab, 'db1', (c) => ops.executedGtid(c));

    before(async () => {
      lab = await startCluster({ flavor, name: `mysql-inspect-${flavor}` });
      await lab.sql('db1', 'CREATE DATABASE t');
      await lab.sql('db1', 'CREATE TABLE t.a (id INT PRIMARY KEY, v VARCHAR(20))');
      await lab.sql('db1', 'CREATE DATABASE IF NOT EXISTS heir');
      await lab.sql('db1', 'CREATE TABLE heir.probe (id INT AUTO_INCREMENT PRIMARY KEY)');
      await lab.sql('db1', "CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'");
      await lab.sql('db1', "GRANT INSERT, SELECT ON heir.* TO 'app'@'%'");
      await insert();
      const exec = await masterExecuted();
      for (const r of ['db2', 'db3']) {
        await until(`${r} to apply the setup`, () => withNode(lab, r, (c) => ops.waitForGtid(c, exec, 10)));
      }
    });
    after(async () => {
      await lab?.teardown();
    });

    it('snapshots master and replicas with every field', async () => {
      const topo = await readTopology(lab.clusterConfig());
      assert.equal(topo.cluster, `mysql-inspect-${flavor}`);
      assert.equal(topo.nodes.length, 3);
      const [m, r2, r3] = topo.nodes;
      for (const n of topo.nodes) {
        assert.equal(n.reachable, true, JSON.stringify(n.error));
        assert.equal(n.error, undefined);
        assert.equal(n.version?.flavor, flavor);
        assert.ok(n.takenAt > 0);
        assert.equal(n.logBin, true);
        assert.equal(n.logReplicaUpdates, true);
        assert.equal(n.gtidMode, 'ON');
        assert.ok(n.binlog && /\.\d+$/.test(n.binlog.file) && n.binlog.pos > 0, JSON.stringify(n.binlog));
        assert.deepEqual(n.semiSync, { sourceEnabled: false, sourceActive: false, replicaEnabled: false, replicaActive: false });
      }
      assert.equal(m.version?.major, flavor === 'mysql' ? 9 : 10);
      assert.deepEqual([m.serverId, r2.serverId, r3.serverId], [1, 2, 3]);
      assert.equal(m.readOnly, false);
      assert.deepEqual(m.replication, []);
      assert.equal(r2.readOnly, true);
      if (flavor === 'mysql') {
        assert.match(m.serverUuid ?? '', /^[0-9a-f-]{36}$/);
        assert.equal(m.superReadOnly, false);
        assert.equal(r2.superReadOnly, true);
        assert.match(m.executedGtid ?? '', new RegExp(`^${m.serverUuid}:1-\\d+$`));
      } else {
        assert.equal(m.serverUuid, undefined);
        assert.match(m.executedGtid ?? '', /^0-1-\d+$/);
        assert.equal(m.mariadb?.binlogPos, m.executedGtid);
        assert.equal(r2.mariadb?.slavePos, m.executedGtid);
        assert.equal(r2.mariadb?.ioPos, m.executedGtid);
      }
      for (const r of [r2, r3]) {
        assert.equal(r.executedGtid, m.executedGtid);
        assert.equal(r.replication.length, 1);
        const ch = r.replication[0];
        assert.equal(ch.channel, '');
        assert.equal(ch.sourceHost, m.host);
        assert.equal(ch.sourcePort, m.port);
        assert.equal(ch.ioState, 'Yes');
        assert.equal(ch.sqlRunning, true);
        assert.equal(ch.lastIoErrno, 0);
        assert.equal(ch.lastSqlErrno, 0);
        assert.equal(ch.sourceServerId, 1);
        assert.equal(ch.gtidAutoPosition, true);
        assert.ok(typeof ch.secondsBehind === 'number');
        // after a reconnect, coordinates catch up with the next event or heartbeat (1 s here)
        const caught = await until(`${r.name} coordinates to reach the master's`, async () => {
          const x = (await snapshot(lab, r.name)).replication[0];
          return compareCoords(x.read!, m.binlog!) === 0 && compareCoords(x.exec!, m.binlog!) === 0 && x;
        }, 10000);
        assert.deepEqual(caught.read, m.binlog);
        assert.match(ch.sqlThreadState ?? '', /has read all relay log/);
        assert.ok(typeof ch.heartbeatsReceived === 'number');
        if (flavor === 'mysql') {
          assert.equal(ch.retrievedGtidSet, m.executedGtid);
          assert.equal(ch.sourceUuid, m.serverUuid);
          assert.ok(typeof ch.lastHeardSecondsAgo === 'number' && ch.lastHeardSecondsAgo >= 0 && ch.lastHeardSecondsAgo < 30, String(ch.lastHeardSecondsAgo));
        } else {
          assert.equal(ch.retrievedGtidSet, '');
          assert.equal(ch.mariadbUsingGtid, 'Slave_Pos');
          assert.equal(ch.mariadbGtidIoPos, m.executedGtid);
        }
        assert.equal(receivedGtid(r), m.executedGtid);
        assert.equal(errantGtids(r, m), '');
      }
    });

    it('waits for GTIDs, positions and the relay log, bounded', async () => {
      await insert();
      const exec = await masterExecuted();
      const coords = await withNode(lab, 'db1', (c) => readBinlogStatus(c));
      assert.ok(coords);
      await withNode(lab, 'db2', async (c) => {
        assert.equal(await ops.waitForGtid(c, exec, 20), true);
        assert.equal(await ops.waitForPos(c, coords, 20), true);
        assert.equal(await ops.waitRelayApplied(c, 20), true);
        assert.equal(contains(flavor, await ops.executedGtid(c), exec), true);
        const never = flavor === 'mysql' ? `${exec.split(':')[0]}:1-999999999` : '0-1-999999999';
        const t0 = Date.now();
        assert.equal(await ops.waitForGtid(c, never, 1), false);
        assert.ok(Date.now() - t0 < 15000);
        assert.equal(await ops.waitForGtid(c, never, 0), false);
        assert.equal(await ops.waitForPos(c, { file: coords.file, pos: coords.pos + 100000000 }, 1), false);
      });
    });

    it('stops and starts replication; IO-only stop still applies what was received', async () => {
      await withNode(lab, 'db2', async (c) => {
        await ops.stopReplicaIo(c);
        let s = await snapshot(lab, 'db2');
        assert.equal(s.replication[0].ioState, 'No');
        assert.equal(s.replication[0].sqlRunning, true);
        await insert();
        const exec = await masterExecuted();
        assert.equal(await ops.waitRelayApplied(c, 20), true);
        s = await snapshot(lab, 'db2');
        assert.equal(contains(flavor, receivedGtid(s), exec), false, 'a stopped IO thread received nothing new');
        await ops.startReplica(c);
        const ch = await ops.verifyReplicating(c, 30);
        assert.equal(ch.ioState, 'Yes');
        assert.equal(await ops.waitForGtid(c, exec, 20), true);

        await ops.stopReplica(c);
        s = await snapshot(lab, 'db2');
        assert.equal(s.replication[0].ioState, 'No');
        assert.equal(s.replication[0].sqlRunning, false);
        await assert.rejects(ops.verifyReplicating(c, 1), (e: unknown) => e instanceof MysqlError && e.code === 'HEIR_REPLICATION_NOT_RUNNING' && /db2: /.test(e.message));
        await ops.startReplica(c);
        await ops.verifyReplicating(c, 30);
      });
    });

    it('reports a stopped SQL thread with its error', async () => {
      const id = nextId++;
      await localWrite(lab, 'db3', `INSERT INTO t.a (id, v) VALUES (${id}, 'local')`, false);
      await lab.sql('db1', `INSERT INTO t.a (id, v) VALUES (${id}, 'master')`);
      const s = await until('db3 SQL thread to stop', async () => {
        const x = await snapshot(lab, 'db3');
        return !x.replication[0].sqlRunning && x;
      });
      assert.equal(s.replication[0].lastSqlErrno, 1062);
      assert.match(s.replication[0].lastSqlError, /Duplicate|1062/i);
      await withNode(lab, 'db3', async (c) => {
        await assert.rejects(ops.verifyReplicating(c, 5), (e: unknown) => e instanceof MysqlError && e.code === 'HEIR_REPLICATION_SQL_ERROR' && /1062/.test(e.message));
        await assert.rejects(ops.waitRelayApplied(c, 5), (e: unknown) => e instanceof MysqlError && e.code === 'HEIR_SQL_THREAD_STOPPED' && /1062/.test(e.message));
        await localWrite(lab, 'db3', `DELETE FROM t.a WHERE id = ${id}`, false);
        await ops.startReplica(c);
        await ops.verifyReplicating(c, 30);
        assert.equal(await ops.waitForGtid(c, await masterExecuted(), 20), true);
      });
    });

    it('sets read-only in the right order and blocks writers', async () => {
      const cfg = lab.clusterConfig();
      const m = nodeCfg(cfg, 'db1');
      const app = await Conn.open({ ...connOptions(cfg, m), user: 'app', password: 'app-pw' });
      try {
        await withNode(lab, 'db1', async (c) => {
          await ops.setReadOnly(c, true);
          let s = await snapshot(lab, 'db1');
          assert.equal(s.readOnly, true);
          assert.equal(s.superReadOnly, flavor === 'mysql' ? true : undefined);
          const err = await app.query('INSERT INTO heir.probe VALUES ()').then(
            () => undefined,
            (e) => e,
          );
          assert.ok(err instanceof MysqlError, 'write must fail on a read-only master');
          assert.equal(err.errno, 1290);
          assert.equal(isAliveError(err), true);
          if (flavor === 'mysql') {
            // super_read_only stops the admin account too
            await assert.rejects(c.query('INSERT INTO heir.probe VALUES ()'), (e: unknown) => e instanceof MysqlError && e.errno === 1290);
          }
          await ops.setReadOnly(c, false);
          s = await snapshot(lab, 'db1');
          assert.equal(s.readOnly, false);
          if (flavor === 'mysql') assert.equal(s.superReadOnly, false);
          await app.query('INSERT INTO heir.probe VALUES ()');
        });
      } finally {
        await app.close();
      }
    });

    it('repoints a replica under another replica and back (password with quotes)', async () => {
      const cfg = lab.clusterConfig();
      const [m, r2] = [nodeCfg(cfg, 'db1'), nodeCfg(cfg, 'db2')];
      const pw = `it's "q" \\ x`;
      await lab.sql('db1', `CREATE USER 'repl2'@'%' IDENTIFIED BY ${quoteString(pw)}`);
      await lab.sql('db1', "GRANT REPLICATION SLAVE ON *.* TO 'repl2'@'%'");
      await withNode(lab, 'db3', async (c) => {
        // refused while running, without leaking the password
        if (flavor === 'mariadb') {
          const e = await ops
            .changeSource(c, { host: r2.host, port: r2.port, user: 'repl2', password: 'secret-never-shown', position: { kind: 'gtid' } })
            .then(
              () => undefined,
              (x) => x,
            );
          assert.ok(e instanceof MysqlError);
          assert.doesNotMatch(`${e.message} ${e.statement}`, /secret-never-shown/);
          assert.match(e.message, /^db3: /);
        }
        await ops.stopReplica(c);
        await ops.changeSource(c, {
          host: r2.host,
          port: r2.port,
          user: 'repl2',
          password: pw,
          position: { kind: 'gtid' },
          connectRetryS: 1,
          heartbeatPeriodS: 1,
        });
        await ops.startReplica(c);
        let ch = await ops.verifyReplicating(c, 30);
        assert.equal(ch.sourcePort, r2.port);
        await insert();
        assert.equal(await ops.waitForGtid(c, await masterExecuted(), 20), true);
        let s = await snapshot(lab, 'db3');
        assert.equal(s.replication[0].sourceServerId, 2);

        await ops.stopReplica(c);
        await ops.changeSource(c, { host: m.host, port: m.port, user: lab.repl.user, password: lab.repl.password, position: { kind: 'gtid' }, connectRetryS: 1 });
        await ops.startReplica(c);
        ch = await ops.verifyReplicating(c, 30);
        assert.equal(ch.sourcePort, m.port);
        await insert();
        assert.equal(await ops.waitForGtid(c, await masterExecuted(), 20), true);
        s = await snapshot(lab, 'db3');
        assert.equal(s.replication[0].sourceServerId, 1);
      });
    });

    it('switches semi-sync on and off where available', async () => {
      if (flavor === 'mysql') {
        // the plugins are not loaded in this lab: a clear error, no change
        await withNode(lab, 'db1', async (c) => {
          await assert.rejects(ops.setSemiSync(c, 'source'), (e: unknown) => e instanceof MysqlError && e.code === 'HEIR_SEMI_SYNC_UNAVAILABLE' && /semisync_source/.test(e.message));
          await ops.setSemiSync(c, 'off');
        });
        return;
      }
      await withNode(lab, 'db1', (c) => ops.setSemiSync(c, 'source'));
      await withNode(lab, 'db2', (c) => ops.setSemiSync(c, 'replica'));
      const r = await until('db2 semi-sync replica to be active', async () => {
        const s = await snapshot(lab, 'db2');
        return s.semiSync?.replicaActive && s;
      });
      assert.equal(r.semiSync?.replicaEnabled, true);
      assert.equal(r.semiSync?.sourceEnabled, false);
      const m = await snapshot(lab, 'db1');
      assert.equal(m.semiSync?.sourceEnabled, true);
      assert.equal(m.semiSync?.sourceActive, true);
      await withNode(lab, 'db2', (c) => ops.setSemiSync(c, 'off'));
      await withNode(lab, 'db1', (c) => ops.setSemiSync(c, 'off'));
      const off = await snapshot(lab, 'db2');
      assert.equal(off.semiSync?.replicaEnabled, false);
      await withNode(lab, 'db2', (c) => ops.verifyReplicating(c, 30));
    });

    it('classifies connection failures and bounds every call', async () => {
      const cfg = lab.clusterConfig();
      const db2 = nodeCfg(cfg, 'db2');
      // wrong password: the server answered, so it is alive
      const denied = await readNode({ ...cfg, mysql: { ...cfg.mysql, password: 'wrong' } }, db2);
      assert.equal(denied.reachable, false);
      assert.equal(denied.error?.errno, 1045);
      assert.equal(isAliveError(denied.error), true);
      // nobody listening
      const closed = await readNode(cfg, { ...db2, port: 1 });
      assert.equal(closed.reachable, false);
      assert.equal(closed.error?.code, 'ECONNREFUSED');
      assert.equal(classifyError(closed.error), 'unreachable');
      // a statement that outlives its timeout drops the connection
      await withNode(lab, 'db2', async (c) => {
        const e = await c.query('SELECT SLEEP(5)', undefined, 300).then(
          () => undefined,
          (x) => x,
        );
        assert.ok(e instanceof MysqlError);
        assert.equal(e.code, 'HEIR_QUERY_TIMEOUT');
        assert.equal(classifyError(e), 'unreachable');
        assert.equal(c.isClosed, true);
        await assert.rejects(c.query('SELECT 1'), (x: unknown) => x instanceof MysqlError && x.code === 'HEIR_CONN_CLOSED');
      });
      // An answer already in the socket wins over its timeout when this process was busy
      // past it (a manager watching thousands of clusters): the timeout is decided after the
      // sockets have been read once more.
      await withNode(lab, 'db2', async (c) => {
        const answer = c.query<{ one: string }>('SELECT 1 AS one', undefined, 50);
        const until = Date.now() + 300;
        while (Date.now() < until) {
          /* busy: six timeouts long, while the server answers */
        }
        const rows = await answer;
        assert.equal(String(rows[0]?.one), '1');
        assert.equal(c.isClosed, false);
      });
      // a frozen server: connect times out
      const quick = { ...cfg, mysql: { ...cfg.mysql, connect_timeout_ms: 500, query_timeout_ms: 500 } };
      lab.pause('db3');
      try {
        const frozen = await readNode(quick, nodeCfg(cfg, 'db3'));
        assert.equal(frozen.reachable, false);
        assert.equal(classifyError(frozen.error), 'unreachable', JSON.stringify(frozen.error));
      } finally {
        lab.resume('db3');
      }
      // TLS: MySQL serves TLS with its own certificate; MariaDB 10.11 here has none
      if (flavor === 'mysql') {
        const req = await readNode({ ...cfg, mysql: { ...cfg.mysql, tls: { mode: 'required' } } }, db2);
        assert.equal(req.reachable, true, JSON.stringify(req.error));
        const verify = await readNode({ ...cfg, mysql: { ...cfg.mysql, tls: { mode: 'verify-identity' } } }, db2);
        assert.equal(verify.reachable, false, 'a self-signed server certificate must not verify');
      } else {
        const req = await readNode({ ...cfg, mysql: { ...cfg.mysql, tls: { mode: 'required' } } }, db2);
        assert.equal(req.reachable, false);
        assert.equal(req.error?.code, 'HANDSHAKE_NO_SSL_SUPPORT');
        assert.equal(isAliveError(req.error), true);
      }
    });

    // Last: with gtid_strict_mode (MariaDB lab) the local write breaks later replication into db3.
    it('detects errant GTIDs written on a replica', async () => {
      const before = await snapshot(lab, 'db3');
      await localWrite(lab, 'db3', `INSERT INTO t.a (id, v) VALUES (${nextId++}, 'errant')`, true);
      const topo = await readTopology(lab.clusterConfig());
      const [m, r2, r3] = topo.nodes;
      assert.equal(errantGtids(r2, m), '');
      const errant = errantGtids(r3, m);
      if (flavor === 'mysql') {
        assert.equal(errant, `${before.serverUuid}:1`);
      } else {
        const mseq = MariaGtidPos.parse(m.mariadb!.binlogPos).get(0)!.seq;
        assert.equal(errant, `0-3-${mseq + 1n}`);
      }
      assert.notEqual(receivedGtid(r3), receivedGtid(m));
    });
  });
}

gtidSuite('mysql');
gtidSuite('mariadb');

describe('mysql file/position cluster', () => {
  let lab: LabCluster;
  before(async () => {
    lab = await startCluster({ flavor: 'mysql', gtid: false, name: 'mysql-inspect-filepos' });
    await lab.sql('db1', 'CREATE DATABASE t');
    await lab.sql('db1', 'CREATE TABLE t.a (id INT PRIMARY KEY)');
  });
  after(async () => {
    await lab?.teardown();
  });

  it('reads coordinates, waits on positions and repoints by file/position', async () => {
    await lab.sql('db1', 'INSERT INTO t.a VALUES (1)');
    const mcoords = await withNode(lab, 'db1', (c) => readBinlogStatus(c));
    assert.ok(mcoords);
    for (const r of ['db2', 'db3']) {
      await withNode(lab, r, async (c) => {
        assert.equal(await ops.waitForPos(c, mcoords, 20), true);
        assert.equal(await ops.waitRelayApplied(c, 20), true);
      });
    }
    const topo = await readTopology(lab.clusterConfig());
    const [m, r2] = topo.nodes;
    assert.equal(m.gtidMode, 'OFF');
    assert.equal(m.executedGtid, '');
    const ch = r2.replication[0];
    assert.equal(ch.gtidAutoPosition, false);
    assert.equal(ch.retrievedGtidSet, '');
    assert.deepEqual(ch.read, mcoords);
    assert.deepEqual(ch.exec, mcoords);
    assert.equal(compareCoords(ch.read!, m.binlog!), 0);

    // db3 under db2, starting at db2's current end (both have applied everything)
    const cfg = lab.clusterConfig();
    const db2 = nodeCfg(cfg, 'db2');
    const r2coords = await withNode(lab, 'db2', (c) => readBinlogStatus(c));
    assert.ok(r2coords);
    await withNode(lab, 'db3', async (c) => {
      await ops.stopReplica(c);
      await ops.changeSource(c, {
        host: db2.host,
        port: db2.port,
        user: lab.repl.user,
        password: lab.repl.password,
        position: { kind: 'file', file: r2coords.file, pos: r2coords.pos },
      });
      await ops.startReplica(c);
      const ch3 = await ops.verifyReplicating(c, 30);
      assert.equal(ch3.sourcePort, db2.port);
      assert.equal(ch3.gtidAutoPosition, false);
    });
    await lab.sql('db1', 'INSERT INTO t.a VALUES (2)');
    await until('db3 to get the row through db2', async () => (await lab.sql('db3', 'SELECT id FROM t.a WHERE id = 2')).length === 1);
    const s3 = await snapshot(lab, 'db3');
    const r2now = await withNode(lab, 'db2', (c) => readBinlogStatus(c));
    assert.equal(s3.replication[0].sourceServerId, 2);
    await withNode(lab, 'db3', (c) => ops.waitRelayApplied(c, 20));
    const s3b = await snapshot(lab, 'db3');
    assert.deepEqual(s3b.replication[0].read, r2now);
  });
});

describe('mysql semi-sync cluster', () => {
  let lab: LabCluster;
  before(async () => {
    lab = await startCluster({ flavor: 'mysql', semiSync: true, name: 'mysql-inspect-semisync' });
  });
  after(async () => {
    await lab?.teardown();
  });

  it('reads and switches semi-sync with the source/replica plugins', async () => {
    await lab.sql('db1', 'CREATE DATABASE t');
    const m = await until('master semi-sync active', async () => {
      const s = await snapshot(lab, 'db1');
      return s.semiSync?.sourceActive && s;
    });
    assert.deepEqual(m.semiSync, { sourceEnabled: true, sourceActive: true, replicaEnabled: false, replicaActive: false });
    const r = await snapshot(lab, 'db2');
    assert.equal(r.semiSync?.replicaEnabled, true);
    assert.equal(r.semiSync?.replicaActive, true);
    await withNode(lab, 'db2', async (c) => {
      await ops.setSemiSync(c, 'off');
      await ops.verifyReplicating(c, 30);
    });
    const off = await until('db2 semi-sync replica off', async () => {
      const s = await snapshot(lab, 'db2');
      return !s.semiSync?.replicaActive && s;
    });
    assert.equal(off.semiSync?.replicaEnabled, false);
    await withNode(lab, 'db2', (c) => ops.setSemiSync(c, 'replica'));
    await until('db2 semi-sync replica active again', async () => (await snapshot(lab, 'db2')).semiSync?.replicaActive);
    // promote-style swap: db2 becomes a semi-sync source
    await withNode(lab, 'db2', (c) => ops.setSemiSync(c, 'source'));
    const sw = await snapshot(lab, 'db2');
    assert.equal(sw.semiSync?.sourceEnabled, true);
    assert.equal(sw.semiSync?.replicaEnabled, false);
  });
});

/**
 * MySQL 9.7 with performance_schema=OFF (set on purpose) and a 1 s heartbeat: the server
 * still counts and timestamps heartbeats but keeps no queued-transaction time, and a busy
 * source sends no heartbeat. heir must then report "last heard" as unknown (never the
 * stale heartbeat) while the received position keeps moving.
 */
describe('MySQL 9.7 with performance_schema OFF', () => {
  let lab: LabCluster;
  let cfg: ClusterConfig;
  before(async () => {
    lab = await startCluster({ flavor: 'mysql', nodes: 2, settings: { performanceSchema: false, shortTimeouts: true } });
    cfg = lab.clusterConfig();
    await lab.sql('db1', 'CREATE DATABASE ps_off');
    await lab.sql('db1', 'CREATE TABLE ps_off.t (id INT PRIMARY KEY AUTO_INCREMENT)');
  });
  after(async () => {
    await lab?.teardown();
  });

  it('heartbeats are counted while idle; under writes "last heard" is unknown and the received position moves', async () => {
    const idle = await until('heartbeats while idle', async () => {
      const s = await readNode(cfg, nodeCfg(cfg, 'db2'));
      return (s.replication[0]?.heartbeatsReceived ?? 0) >= 2 ? s : undefined;
    });
    assert.equal(idle.performanceSchema, false);
    assert.equal(idle.netTimeoutS, 5);
    assert.equal(idle.replication[0]!.heartbeatPeriodS, 1);
    assert.equal(idle.replication[0]!.lastHeardSecondsAgo, null, 'no last-heard time without performance_schema');
    const [raw] = await lab.sql('db2', 'SELECT UNIX_TIMESTAMP(LAST_HEARTBEAT_TIMESTAMP) AS h, UNIX_TIMESTAMP(LAST_QUEUED_TRANSACTION_END_QUEUE_TIMESTAMP) AS q FROM performance_schema.replication_connection_status');
    assert.ok(Number(raw.h) > 0, `the server does keep the last heartbeat time (${raw.h})`);
    assert.ok(!(Number(raw.q) > 0), `but no queued-transaction time (${raw.q})`);
    let stop = false;
    const writer = (async () => {
      while (!stop) {
        await lab.sql('db1', 'INSERT INTO ps_off.t () VALUES ()');
        await sleep(50);
      }
    })();
    try {
      await sleep(3000);
      const a = await readNode(cfg, nodeCfg(cfg, 'db2'));
      await sleep(1000);
      const b = await readNode(cfg, nodeCfg(cfg, 'db2'));
      assert.equal(b.replication[0]!.lastHeardSecondsAgo, null);
      assert.ok(compareCoords(b.replication[0]!.read!, a.replication[0]!.read!) > 0, 'the received position moves under writes');
      assert.equal(b.replication[0]!.heartbeatsReceived, a.replication[0]!.heartbeatsReceived, 'a busy source sends no heartbeats');
    } finally {
      stop = true;
      await writer;
    }
  });

  it('a statement that times out on a hung server leaves no open socket behind', async () => {
    const tcp = () => process.getActiveResourcesInfo().filter((x) => x === 'TCPSocketWrap').length;
    const before = tcp();
    const c = await Conn.open({ ...connOptions(cfg, nodeCfg(cfg, 'db2')), queryTimeoutMs: 300 });
    lab.pause('db2');
    try {
      await assert.rejects(c.query('SELECT 1'), /HEIR_QUERY_TIMEOUT/);
      await sleep(200);
      // mysql2's destroy() alone half-closes the socket, which then stays open towards a
      // hung peer for good (one leaked socket per timed-out ping in a daemon).
      assert.equal(tcp(), before, 'the socket to the hung server is closed');
    } finally {
      lab.resume('db2');
      c.destroy();
    }
  });
});
