import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errantGtids, parseReplicaStatusRow, receivedGtid } from '../../src/mysql/inspect';
import type { NodeSnapshot, ReplicationChannel } from '../../src/mysql/types';

const M = '11111111-1111-1111-1111-111111111111';
const R = '22222222-2222-2222-2222-222222222222';

function snap(o: Partial<NodeSnapshot>): NodeSnapshot {
  return { name: 'n', host: 'h', port: 1, takenAt: 0, reachable: true, replication: [], ...o };
}
const mysqlV = { flavor: 'mysql' as const, major: 9, minor: 7, patch: 4, raw: '9.7.4' };
const mariaV = { flavor: 'mariadb' as const, major: 10, minor: 11, patch: 6, raw: '10.11.6-MariaDB' };

function chan(o: Partial<ReplicationChannel>): ReplicationChannel {
  return {
    channel: '', sourceHost: 'h', sourcePort: 1, ioState: 'Yes', sqlRunning: true, lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0,
    lastSqlError: '', secondsBehind: 0, sourceServerId: 1, read: null, exec: null, retrievedGtidSet: '', gtidAutoPosition: true, ...o,
  };
}

describe('parseReplicaStatusRow', () => {
  it('reads SHOW REPLICA STATUS (MySQL 8.0.22+ vocabulary)', () => {
    const ch = parseReplicaStatusRow(
      {
        Replica_IO_State: 'Waiting for source to send event', Source_Host: '10.0.0.1', Source_Port: 3306, Source_Log_File: 'binlog.000002',
        Read_Source_Log_Pos: '1234', Relay_Source_Log_File: 'binlog.000001', Exec_Source_Log_Pos: '999', Replica_IO_Running: 'Connecting',
        Replica_SQL_Running: 'Yes', Last_IO_Errno: 2003, Last_IO_Error: "can't connect", Last_SQL_Errno: 0, Last_SQL_Error: '',
        Seconds_Behind_Source: null, Source_Server_Id: 7, Source_UUID: M, Retrieved_Gtid_Set: `${M}:1-5,\n${M}:6`,
        Auto_Position: 1, Channel_Name: 'ch1', Replica_SQL_Running_State: 'Replica has read all relay log; waiting for more updates',
      },
      'mysql',
    );
    assert.deepEqual(ch, {
      channel: 'ch1', sourceHost: '10.0.0.1', sourcePort: 3306, ioState: 'Connecting', sqlRunning: true, lastIoErrno: 2003,
      lastIoError: "can't connect", lastSqlErrno: 0, lastSqlError: '', secondsBehind: null, sourceServerId: 7,
      read: { file: 'binlog.000002', pos: 1234 }, exec: { file: 'binlog.000001', pos: 999 }, retrievedGtidSet: `${M}:1-6`,
      gtidAutoPosition: true, sqlThreadState: 'Replica has read all relay log; waiting for more updates',
      ioThreadState: 'Waiting for source to send event', sourceUuid: M,
    });
  });
  it('reads SHOW SLAVE STATUS (MySQL 5.7/8.0 vocabulary)', () => {
    const ch = parseReplicaStatusRow(
      { Master_Host: 'a', Master_Port: 3307, Slave_IO_Running: 'Yes', Slave_SQL_Running: 'No', Master_Log_File: '', Read_Master_Log_Pos: 4,
        Relay_Master_Log_File: '', Exec_Master_Log_Pos: 0, Seconds_Behind_Master: '12', Master_Server_Id: 3, Auto_Position: 0, Last_SQL_Errno: 1062, Last_SQL_Error: 'dup' },
      'mysql',
    );
    assert.equal(ch.ioState, 'Yes');
    assert.equal(ch.sqlRunning, false);
    assert.equal(ch.read, null);
    assert.equal(ch.secondsBehind, 12);
    assert.equal(ch.gtidAutoPosition, false);
    assert.equal(ch.lastSqlErrno, 1062);
  });
  it('reads SHOW ALL SLAVES STATUS (MariaDB)', () => {
    const ch = parseReplicaStatusRow(
      { Connection_name: 'east', Master_Host: 'b', Master_Port: 3306, Slave_IO_Running: 'No', Slave_SQL_Running: 'Yes', Using_Gtid: 'Current_Pos',
        Gtid_IO_Pos: '1-1-5, 0-1-9', Slave_received_heartbeats: 4, Master_Server_Id: 1 },
      'mariadb',
    );
    assert.equal(ch.channel, 'east');
    assert.equal(ch.mariadbUsingGtid, 'Current_Pos');
    assert.equal(ch.gtidAutoPosition, true);
    assert.equal(ch.mariadbGtidIoPos, '0-1-9,1-1-5');
    assert.equal(ch.heartbeatsReceived, 4);
    assert.equal(ch.retrievedGtidSet, '');
    assert.equal(parseReplicaStatusRow({ Using_Gtid: 'No' }, 'mariadb').gtidAutoPosition, false);
  });
});

describe('receivedGtid', () => {
  it('MySQL: executed ∪ retrieved of every channel', () => {
    const n = snap({ version: mysqlV, executedGtid: `${M}:1-5`, replication: [chan({ retrievedGtidSet: `${M}:1-8` }), chan({ channel: 'b', retrievedGtidSet: `${R}:1` })] });
    assert.equal(receivedGtid(n), `${M}:1-8,${R}:1`);
  });
  it('MariaDB: max of current pos and io pos', () => {
    const n = snap({ version: mariaV, executedGtid: '0-1-5,1-2-3', mariadb: { binlogPos: '', slavePos: '0-1-5', ioPos: '0-1-9' } });
    assert.equal(receivedGtid(n), '0-1-9,1-2-3');
  });
  it('unknown → empty', () => assert.equal(receivedGtid(snap({})), ''));
});

describe('errantGtids', () => {
  const master = snap({ version: mysqlV, serverUuid: M, serverId: 1, executedGtid: `${M}:1-100` });
  it('MySQL: replica executed minus master executed', () => {
    assert.equal(errantGtids(snap({ version: mysqlV, executedGtid: `${M}:1-90` }), master), '');
    assert.equal(errantGtids(snap({ version: mysqlV, executedGtid: `${M}:1-100,${R}:1-2` }), master), `${R}:1-2`);
  });
  it("MySQL: ignores the master's own newer GTIDs (snapshot race)", () => {
    assert.equal(errantGtids(snap({ version: mysqlV, executedGtid: `${M}:1-105` }), master), '');
  });
  it('unknown or mixed flavors → empty', () => {
    assert.equal(errantGtids(snap({ version: mysqlV }), master), '');
    assert.equal(errantGtids(snap({ version: mariaV, mariadb: { binlogPos: '0-2-5', slavePos: '' } }), master), '');
  });

  const mm = snap({ version: mariaV, serverId: 1, executedGtid: '0-1-100', mariadb: { binlogPos: '0-1-100', slavePos: '' } });
  const rep = (binlogPos: string) => snap({ version: mariaV, serverId: 2, mariadb: { binlogPos, slavePos: '0-1-100' } });
  it('MariaDB: a local write beyond the master in its domain', () => {
    assert.equal(errantGtids(rep('0-2-101'), mm), '0-2-101');
  });
  it('MariaDB: a domain the master never had', () => {
    assert.equal(errantGtids(rep('0-1-100,9-2-1'), mm), '9-2-1');
  });
  it('MariaDB: same seq written by another server (diverged)', () => {
    assert.equal(errantGtids(rep('0-2-100'), mm), '0-2-100');
  });
  it("MariaDB: not errant — lagging, equal, master's own newer, or an old master's writes the master has", () => {
    assert.equal(errantGtids(rep('0-1-90'), mm), '');
    assert.equal(errantGtids(rep('0-1-100'), mm), '');
    assert.equal(errantGtids(rep('0-1-120'), mm), '');
    const m2 = snap({ version: mariaV, serverId: 2, executedGtid: '0-3-50', mariadb: { binlogPos: '0-3-50', slavePos: '0-3-50' } });
    assert.equal(errantGtids(snap({ version: mariaV, serverId: 4, mariadb: { binlogPos: '0-3-40', slavePos: '0-3-40' } }), m2), '');
  });
});
