import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dialectFor, parseVersion, quoteString, quoteIdent, atLeast, type ChangeSourceOptions } from '../../src/mysql/dialect';

const base: ChangeSourceOptions = { host: 'db2', port: 3306, user: 'repl', password: "p'a\\ss", position: { kind: 'gtid' } };

describe('parseVersion', () => {
  const cases: [string, string | undefined, string, number, number, number][] = [
    ['9.7.4', 'MySQL Community Server - GPL', 'mysql', 9, 7, 4],
    ['8.0.36-0ubuntu0.22.04.1', '(Ubuntu)', 'mysql', 8, 0, 36],
    ['8.0.36-28', 'Percona Server (GPL), Release 28', 'mysql', 8, 0, 36],
    ['5.7.44-log', undefined, 'mysql', 5, 7, 44],
    ['10.11.6-MariaDB-0+deb12u1-log', 'Debian 12', 'mariadb', 10, 11, 6],
    ['11.4.2-MariaDB', undefined, 'mariadb', 11, 4, 2],
    ['5.5.5-10.11.6-MariaDB', undefined, 'mariadb', 10, 11, 6],
    ['10.6.12', 'MariaDB Server', 'mariadb', 10, 6, 12],
  ];
  for (const [v, c, flavor, major, minor, patch] of cases) {
    it(`${v}`, () => assert.deepEqual(parseVersion(v, c), { flavor, major, minor, patch, raw: v }));
  }
  it('rejects garbage', () => assert.throws(() => parseVersion('banana'), /cannot read a server version from @@version 'banana'/));
  it('atLeast', () => {
    assert.equal(atLeast(parseVersion('8.0.22'), 8, 0, 22), true);
    assert.equal(atLeast(parseVersion('8.0.21'), 8, 0, 22), false);
    assert.equal(atLeast(parseVersion('9.0.0'), 8, 4), true);
  });
});

describe('quoting', () => {
  it('escapes quotes, backslashes and control characters', () => {
    assert.equal(quoteString("it's"), "'it\\'s'");
    assert.equal(quoteString('a\\b'), "'a\\\\b'");
    assert.equal(quoteString("x\n\r\0\x1a'"), "'x\\n\\r\\0\\Z\\''");
    assert.equal(quoteIdent('we`ird'), '`we``ird`');
  });
});

describe('MySQL 5.7 / 8.0 before 8.0.22', () => {
  const d = dialectFor(parseVersion('8.0.21'));
  const d57 = dialectFor(parseVersion('5.7.44-log'));
  it('uses SLAVE/MASTER words', () => {
    assert.equal(d.showReplicaStatus(), 'SHOW SLAVE STATUS');
    assert.equal(d.showAllReplicasStatus(), 'SHOW SLAVE STATUS');
    assert.equal(d.showBinlogStatus(), 'SHOW MASTER STATUS');
    assert.equal(d.stopReplica(), 'STOP SLAVE');
    assert.equal(d.stopReplicaIo(), 'STOP SLAVE IO_THREAD');
    assert.equal(d.stopReplicaSql(), 'STOP SLAVE SQL_THREAD');
    assert.equal(d.startReplica(), 'START SLAVE');
    assert.equal(d.resetReplicaAll(), 'RESET SLAVE ALL');
    assert.equal(d.statusTerms, 'master');
    assert.equal(d.logReplicaUpdatesVar, 'log_slave_updates');
  });
  it('CHANGE MASTER TO with auto-position and escaped password', () => {
    assert.equal(
      d.changeSource({ ...base, connectRetryS: 1, retryCount: 86400, heartbeatPeriodS: 0.5 }),
      "CHANGE MASTER TO MASTER_HOST = 'db2', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'a\\\\ss', " +
        'MASTER_AUTO_POSITION = 1, MASTER_CONNECT_RETRY = 1, MASTER_RETRY_COUNT = 86400, MASTER_HEARTBEAT_PERIOD = 0.5, GET_MASTER_PUBLIC_KEY = 1',
    );
    assert.doesNotMatch(d57.changeSource(base), /PUBLIC_KEY/);
  });
  it('file/position', () => {
    assert.match(
      d.changeSource({ ...base, position: { kind: 'file', file: 'binlog.000003', pos: 157 }, getPublicKey: false, ssl: true }),
      /MASTER_AUTO_POSITION = 0, MASTER_LOG_FILE = 'binlog.000003', MASTER_LOG_POS = 157, MASTER_SSL = 1, GET_MASTER_PUBLIC_KEY = 0$/,
    );
  });
  it('waits', () => {
    assert.equal(d.waitForPos({ file: 'binlog.000003', pos: 157 }, 2.5), "SELECT MASTER_POS_WAIT('binlog.000003', 157, 3) AS r");
    assert.equal(d.waitForGtid('u:1-5', 10), "SELECT WAIT_FOR_EXECUTED_GTID_SET('u:1-5', 10) AS r");
    assert.throws(() => d.waitForGtid('u:1', 0), /positive/);
    assert.equal(d.waitResult('gtid', '0'), 'reached');
    assert.equal(d.waitResult('gtid', 1), 'timeout');
    assert.equal(d.waitResult('gtid', null), 'error');
    assert.equal(d.waitResult('pos', '3'), 'reached');
    assert.equal(d.waitResult('pos', '-1'), 'timeout');
    assert.equal(d.waitResult('pos', null), 'error');
  });
  it('semi-sync names and read-only order', () => {
    assert.equal(d.semiSyncVars().sourceEnabled, 'rpl_semi_sync_master_enabled');
    assert.equal(d.semiSyncVars().replicaStatus, 'Rpl_semi_sync_slave_status');
    assert.deepEqual(d.setReadOnly(true), ['SET GLOBAL read_only = 1', 'SET GLOBAL super_read_only = 1']);
    assert.deepEqual(d.setReadOnly(false), ['SET GLOBAL super_read_only = 0', 'SET GLOBAL read_only = 0']);
  });
});

describe('MySQL 8.0.22 – 8.3', () => {
  it('8.0.22: REPLICA words, still CHANGE MASTER and MASTER_POS_WAIT', () => {
    const d = dialectFor(parseVersion('8.0.22'));
    assert.equal(d.showReplicaStatus(), 'SHOW REPLICA STATUS');
    assert.equal(d.startReplica(), 'START REPLICA');
    assert.equal(d.resetReplicaAll(), 'RESET REPLICA ALL');
    assert.match(d.changeSource(base), /^CHANGE MASTER TO MASTER_HOST/);
    assert.match(d.waitForPos({ file: 'b.1', pos: 4 }, 1), /^SELECT MASTER_POS_WAIT/);
    assert.equal(d.statusTerms, 'source');
  });
  it('8.0.26+: CHANGE REPLICATION SOURCE, SOURCE_POS_WAIT, new semi-sync names; SHOW MASTER STATUS until 8.2', () => {
    const d = dialectFor(parseVersion('8.0.36'));
    assert.match(d.changeSource(base), /^CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'db2', SOURCE_PORT = 3306, .*SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1$/);
    assert.match(d.waitForPos({ file: 'b.1', pos: 4 }, 1), /^SELECT SOURCE_POS_WAIT\('b.1', 4, 1\) AS r$/);
    assert.equal(d.showBinlogStatus(), 'SHOW MASTER STATUS');
    assert.equal(d.semiSyncVars().sourceEnabled, 'rpl_semi_sync_source_enabled');
    assert.equal(d.logReplicaUpdatesVar, 'log_replica_updates');
    assert.equal(dialectFor(parseVersion('8.3.0')).showBinlogStatus(), 'SHOW BINARY LOG STATUS');
  });
});

describe('MySQL 8.4 / 9.x', () => {
  for (const v of ['8.4.3', '9.7.4']) {
    it(v, () => {
      const d = dialectFor(parseVersion(v));
      assert.equal(d.showReplicaStatus(), 'SHOW REPLICA STATUS');
      assert.equal(d.showBinlogStatus(), 'SHOW BINARY LOG STATUS');
      assert.equal(d.stopReplicaIo(), 'STOP REPLICA IO_THREAD');
      assert.equal(
        d.changeSource({ ...base, position: { kind: 'file', file: 'binlog.000002', pos: 4 } }),
        "CHANGE REPLICATION SOURCE TO SOURCE_HOST = 'db2', SOURCE_PORT = 3306, SOURCE_USER = 'repl', SOURCE_PASSWORD = 'p\\'a\\\\ss', " +
          "SOURCE_AUTO_POSITION = 0, SOURCE_LOG_FILE = 'binlog.000002', SOURCE_LOG_POS = 4, GET_SOURCE_PUBLIC_KEY = 1",
      );
      assert.equal(d.semiSyncVars().replicaEnabled, 'rpl_semi_sync_replica_enabled');
      assert.equal(d.executedGtidVar, 'gtid_executed');
      assert.equal(d.hasSuperReadOnly, true);
    });
  }
  it('rejects bad numbers instead of emitting them', () => {
    const d = dialectFor(parseVersion('9.7.4'));
    assert.throws(() => d.changeSource({ ...base, port: 0 }), /port must be an integer/);
    assert.throws(() => d.changeSource({ ...base, position: { kind: 'file', file: 'b.1', pos: 1.5 } }), /binlog position/);
    assert.throws(() => d.changeSource({ ...base, heartbeatPeriodS: NaN }), /heartbeatPeriodS/);
  });
});

describe('MariaDB 10.x / 11.x', () => {
  const d = dialectFor(parseVersion('10.11.6-MariaDB-0+deb12u1-log'));
  it('statements', () => {
    assert.equal(d.flavor, 'mariadb');
    assert.equal(d.showReplicaStatus(), 'SHOW SLAVE STATUS');
    assert.equal(d.showAllReplicasStatus(), 'SHOW ALL SLAVES STATUS');
    assert.equal(d.showBinlogStatus(), 'SHOW BINLOG STATUS');
    assert.equal(dialectFor(parseVersion('10.4.30-MariaDB')).showBinlogStatus(), 'SHOW MASTER STATUS');
    assert.equal(d.stopReplica(), 'STOP SLAVE');
    assert.equal(d.resetReplicaAll(), 'RESET SLAVE ALL');
    assert.equal(d.executedGtidVar, 'gtid_current_pos');
    assert.equal(d.hasSuperReadOnly, false);
    assert.deepEqual(d.setReadOnly(true), ['SET GLOBAL read_only = 1']);
  });
  it('CHANGE MASTER with MASTER_USE_GTID', () => {
    assert.equal(
      d.changeSource({ ...base, retryCount: 5, getPublicKey: true, heartbeatPeriodS: 1 }),
      "CHANGE MASTER TO MASTER_HOST = 'db2', MASTER_PORT = 3306, MASTER_USER = 'repl', MASTER_PASSWORD = 'p\\'a\\\\ss', MASTER_USE_GTID = slave_pos, MASTER_HEARTBEAT_PERIOD = 1",
    );
    assert.match(d.changeSource({ ...base, mariadbUseGtid: 'current_pos' }), /MASTER_USE_GTID = current_pos$/);
    assert.match(
      d.changeSource({ ...base, position: { kind: 'file', file: 'mariadb-bin.000002', pos: 342 } }),
      /MASTER_LOG_FILE = 'mariadb-bin.000002', MASTER_LOG_POS = 342, MASTER_USE_GTID = no$/,
    );
  });
  it('waits and semi-sync', () => {
    assert.equal(d.waitForGtid('0-1-5', 3), "SELECT MASTER_GTID_WAIT('0-1-5', 3) AS r");
    assert.equal(d.waitForPos({ file: 'm.1', pos: 5 }, 3), "SELECT MASTER_POS_WAIT('m.1', 5, 3) AS r");
    assert.equal(d.waitResult('gtid', '0'), 'reached');
    assert.equal(d.waitResult('gtid', '-1'), 'timeout');
    assert.deepEqual(d.semiSyncVars(), {
      sourceEnabled: 'rpl_semi_sync_master_enabled',
      replicaEnabled: 'rpl_semi_sync_slave_enabled',
      sourceStatus: 'Rpl_semi_sync_master_status',
      replicaStatus: 'Rpl_semi_sync_slave_status',
    });
  });
});
