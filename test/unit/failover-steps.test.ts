import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applierFirst } from '../../src/failover/steps';
import { parseReplicaStatusRow } from '../../src/mysql/inspect';

/** A MariaDB SHOW SLAVE STATUS row: IO thread reconnecting to a dead master, SQL thread stopped by hand. */
const maria = (o: Record<string, unknown> = {}) =>
  parseReplicaStatusRow(
    { Master_Host: '10.0.0.1', Master_Port: 3306, Slave_IO_Running: 'Connecting', Slave_SQL_Running: 'No', Last_SQL_Errno: 0, Last_SQL_Error: '', Using_Gtid: 'Slave_Pos', Gtid_IO_Pos: '0-1-500', ...o },
    'mariadb',
  );

describe('applierFirst (freeze: start a stopped SQL thread before the IO thread stops)', () => {
  it('MariaDB with GTID positioning, SQL thread stopped by hand, IO thread running or connecting: yes', () => {
    assert.equal(applierFirst('mariadb', maria()), true);
    assert.equal(applierFirst('mariadb', maria({ Slave_IO_Running: 'Yes' })), true);
    assert.equal(applierFirst('mariadb', maria({ Using_Gtid: 'Current_Pos' })), true);
  });
  it('not when the SQL thread runs, stopped on an error, or the IO thread is already stopped', () => {
    assert.equal(applierFirst('mariadb', maria({ Slave_SQL_Running: 'Yes' })), false);
    assert.equal(applierFirst('mariadb', maria({ Last_SQL_Errno: 1062, Last_SQL_Error: 'dup' })), false);
    assert.equal(applierFirst('mariadb', maria({ Slave_IO_Running: 'No' })), false);
  });
  it('not without GTID positioning (the relay log is kept), nor on MySQL', () => {
    assert.equal(applierFirst('mariadb', maria({ Using_Gtid: 'No' })), false);
    const my = parseReplicaStatusRow({ Source_Host: 'a', Source_Port: 3306, Replica_IO_Running: 'Connecting', Replica_SQL_Running: 'No', Last_SQL_Errno: 0, Auto_Position: 1 }, 'mysql');
    assert.equal(applierFirst('mysql', my), false);
  });
});
