import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseIndex,
  decodeArgs,
  dirsFromDefaults,
  parseBinlogIndex,
  selectBinlogFiles,
  clientErrorLine,
  clientFlavor,
  clientOptionFile,
  optionValue,
  scanDecodedFile,
  scanDecodedText,
  purgedGap,
  splitCommandLine,
  gtidStartVerdict,
  sessionIdOf,
  toolName,
  SESSION_ID_QUERY,
} from '../../src/failover/salvage';
import { salvagedBetween } from '../../src/failover/failover-io';
import { rejoinDecision } from '../../src/failover/rejoin-plan';
import { findReplicasMaster, writableMasters } from '../../src/failover/discover';
import { ClusterConfig } from '../../src/config/schema';
import { MariaGtidPos } from '../../src/mysql/mariadb-gtid';
import type { NodeSnapshot } from '../../src/mysql/types';

const U1 = '11111111-1111-1111-1111-111111111111';

describe('salvage: command line and binlog files', () => {
  it('splits a configured command line (loader prefix, quotes)', () => {
    assert.deepEqual(splitCommandLine('mysqlbinlog'), ['mysqlbinlog']);
    assert.deepEqual(
      splitCommandLine("/r/ld-linux.so --library-path '/r/a b:/r/c' /r/usr/bin/mysqlbinlog"),
      ['/r/ld-linux.so', '--library-path', '/r/a b:/r/c', '/r/usr/bin/mysqlbinlog'],
    );
    assert.deepEqual(splitCommandLine('a "b \\" c" d\\ e'), ['a', 'b " c', 'd e']);
    assert.throws(() => splitCommandLine("a 'b"), /unbalanced/);
  });

  it('reads an index file and picks the files from the oldest one a survivor still read', () => {
    const all = parseBinlogIndex('./binlog.000001\n./binlog.000002\n/abs/binlog.000003\n\n', '/var/lib/mysql');
    assert.deepEqual(all, ['/var/lib/mysql/binlog.000001', '/var/lib/mysql/binlog.000002', '/abs/binlog.000003']);
    assert.deepEqual(selectBinlogFiles(all, 'binlog.000002').files, ['/var/lib/mysql/binlog.000002', '/abs/binlog.000003']);
    const none = selectBinlogFiles(all, undefined);
    assert.deepEqual(none.files, ['/abs/binlog.000003']);
    assert.match(none.warning!, /only the newest/);
    const purged = selectBinlogFiles(['/d/binlog.000005', '/d/binlog.000006'], 'binlog.000004');
    assert.deepEqual(purged.files, ['/d/binlog.000005', '/d/binlog.000006']);
    assert.match(purged.warning!, /not in the binlog index/);
  });

  it('chooses the binlog index, not the relay log index', () => {
    const idx = [
      { path: '/d/relay-bin.index', text: '' },
      { path: '/d/mysql-bin.index', text: '' },
    ];
    assert.equal(chooseIndex(idx, 'mysql-bin.000009')!.path, '/d/mysql-bin.index');
    assert.equal(chooseIndex(idx, undefined)!.path, '/d/mysql-bin.index');
  });

  it('finds directories in my_print_defaults output', () => {
    assert.deepEqual(dirsFromDefaults('--datadir=/data/mysql\n--log-bin=/binlogs/mysql-bin\n'), ['/binlogs', '/data/mysql']);
    assert.deepEqual(dirsFromDefaults('--datadir=/data/mysql\n--log_bin=logs/bin\n'), ['/data/mysql/logs', '/data/mysql']);
    assert.deepEqual(dirsFromDefaults(''), []);
  });

  it('filters by mode: exclude GTIDs (MySQL), GTID start (MariaDB), byte start (file)', () => {
    assert.deepEqual(decodeArgs('mysql-gtid', { exclude: 'u:1-5' }), ['--force-if-open', '--exclude-gtids=u:1-5']);
    assert.deepEqual(decodeArgs('mariadb-gtid', { startGtid: '0-1-5' }), ['--force-if-open', '--start-position=0-1-5']);
    assert.deepEqual(decodeArgs('file', { startPos: 1234 }), ['--force-if-open', '--start-position=1234']);
  });
});

describe('salvage: what decoded binlogs hold', () => {
  const mysqlOut = [
    '# The proper term is pseudo_replica_mode, but we use this compatibility alias',
    '/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;',
    'DELIMITER /*!*/;',
    '# at 4',
    '#250101  0:00:00 server id 1  end_log_pos 127 CRC32 0x1 \tStart: binlog v 4',
    "BINLOG '",
    'AAAA',
    "'/*!*/;",
    `SET @@SESSION.GTID_NEXT= '${U1}:7'/*!*/;`,
    'BEGIN',
    '/*!*/;',
    // A statement-format literal holding the delimiter and a COMMIT line: only counted lines
    // are affected, and only COMMITs, which GTIDs override.
    "INSERT INTO t VALUES ('a",
    '/*!*/;',
    "b')",
    '/*!*/;',
    'COMMIT/*!*/;',
    `SET @@SESSION.GTID_NEXT= '${U1}:8'/*!*/;`,
    'BEGIN\r',
    '/*!*/;',
    'COMMIT/*!*/;',
    `SET @@SESSION.GTID_NEXT= '${U1}:10'/*!*/;`,
    'COMMIT/*!*/;',
    "SET @@SESSION.GTID_NEXT= 'AUTOMATIC' /* added by mysqlbinlog */ /*!*/;",
    'DELIMITER ;',
    '# End of log file',
  ].join('\n');
  it('MySQL: the GTIDs named by GTID_NEXT, merged into a set; AUTOMATIC is not one', () => {
    const s = scanDecodedText(mysqlOut);
    assert.equal(s.gtids, `${U1}:7-8:10`);
    assert.equal(s.transactions, 3);
    assert.equal(s.commits, 3);
  });
  it('MySQL 8.4+ tagged GTIDs keep their tag', () => {
    const s = scanDecodedText([`SET @@SESSION.GTID_NEXT= '${U1}:big:1'/*!*/;`, `SET @@SESSION.GTID_NEXT= '${U1}:big:2'/*!*/;`].join('\n'));
    assert.equal(s.gtids, `${U1}:big:1-2`);
  });
  it('MariaDB names GTIDs in event header comments, per domain', () => {
    const s = scanDecodedText(
      [
        'DELIMITER /*!*/;',
        '#250101  0:00:00 server id 1  end_log_pos 1 CRC32 0x1 \tGTID 0-1-42 trans',
        'BEGIN',
        '/*!*/;',
        'COMMIT/*!*/;',
        '#250101  0:00:00 server id 1  end_log_pos 1 CRC32 0x1 \tGTID 0-1-43 ddl',
        'CREATE TABLE x (a int)',
        '/*!*/;',
        '#250101  0:00:00 server id 2  end_log_pos 1 CRC32 0x1 \tGTID 1-2-5 trans',
        '# a comment that says GTID 9-9-9 is not an event header',
      ].join('\n'),
    );
    assert.equal(s.transactions, 3);
    assert.equal(s.gtids, 'domain 0 seq 42-43, domain 1 seq 5-5');
  });
  it('MariaDB: which decoded transactions a position lacks (mariadb-binlog found no event after it)', () => {
    const s = scanDecodedText(
      ['#250101  0:00:00 server id 1  end_log_pos 1 CRC32 0x1 \tGTID 0-1-42 trans', '#250101  0:00:00 server id 1  end_log_pos 1 CRC32 0x1 \tGTID 0-1-43 trans', '#250101  0:00:00 server id 2  end_log_pos 1 CRC32 0x1 \tGTID 1-2-5 trans'].join('\n'),
    );
    assert.equal(s.mariaBeyond(MariaGtidPos.parse('0-1-43,1-2-5')), '', 'the position holds every one: nothing to salvage');
    assert.equal(s.mariaBeyond(MariaGtidPos.parse('0-3-50,1-2-9')), '', 'higher sequence numbers hold them too');
    assert.equal(s.mariaBeyond(MariaGtidPos.parse('0-1-42')), 'domain 0 seq 43-43, domain 1 seq 5-5');
    assert.equal(s.mariaBeyond(MariaGtidPos.parse('0-1-10,1-2-5')), 'domain 0 seq 42-43');
  });
  it('file/position without GTIDs: transactions are the COMMITs (XID and query COMMIT)', () => {
    const s = scanDecodedText(['BEGIN', '/*!*/;', 'COMMIT/*!*/;', 'BEGIN', '/*!*/;', 'COMMIT', '/*!*/;', 'COMMIT', 'x'].join('\n'));
    assert.equal(s.transactions, 2);
    assert.equal(s.gtids, '');
  });
  it('nothing decoded: no transaction', () => {
    assert.equal(scanDecodedText('DELIMITER /*!*/;\nDELIMITER ;\n# End of log file\n').transactions, 0);
  });
  it('a decoded file is read within salvage.timeout_s: past its deadline the scan throws and says so', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-scan-'));
    try {
      const file = path.join(dir, 'salvage.sql');
      fs.writeFileSync(file, 'BEGIN\n/*!*/;\nCOMMIT/*!*/;\n'.repeat(5000));
      assert.equal((await scanDecodedFile(file, { deadline: Date.now() + 60000 })).transactions, 5000);
      await assert.rejects(scanDecodedFile(file, { deadline: Date.now() - 1 }), /salvage\.timeout_s ran out while reading the decoded binlogs .*lines read/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('salvage: the mysql client', () => {
  it('option values are double-quoted with the escapes both clients read', () => {
    assert.equal(optionValue('plain'), '"plain"');
    assert.equal(optionValue(`a"b\\c #d'e f$g\tx`), `"a\\"b\\\\c #d'e f$g\\tx"`);
  });
  it('MySQL client: TCP, credentials, connect timeout, ssl-mode in its own words', () => {
    const f = clientOptionFile({ host: '10.0.0.2', port: 3307, user: 'heir', password: 'p#w', tls: { mode: 'verify-identity', ca: '/etc/ca.pem' }, connectTimeoutS: 2, flavor: 'mysql' });
    assert.equal(f, ['[client]', 'host="10.0.0.2"', 'port=3307', 'protocol=TCP', 'user="heir"', 'password="p#w"', 'connect-timeout=2', 'max-allowed-packet=1G', 'ssl-mode=VERIFY_IDENTITY', 'ssl-ca="/etc/ca.pem"', ''].join('\n'));
    assert.match(clientOptionFile({ host: 'h', port: 1, user: 'u', password: '', tls: { mode: 'disabled' }, connectTimeoutS: 0.5, flavor: 'mysql' }), /ssl-mode=DISABLED\nget-server-public-key\n$/);
  });
  it('MariaDB client: ssl, ssl-verify-server-cert, skip-ssl; nothing for preferred', () => {
    const f = (mode: 'disabled' | 'preferred' | 'required' | 'verify-ca') => clientOptionFile({ host: 'h', port: 1, user: 'u', password: 'p', tls: { mode }, connectTimeoutS: 2, flavor: 'mariadb' }).split('\n').slice(8).join(',');
    assert.equal(f('disabled'), 'skip-ssl,');
    assert.equal(f('preferred'), '');
    assert.equal(f('required'), 'ssl,');
    assert.equal(f('verify-ca'), 'ssl,ssl-verify-server-cert,');
  });
  it("mysqlbinlog's answer to --start-position=0-1-1 on an empty input: a GTID start taken, refused, or not known", () => {
    // mariadb-binlog 10.11: the option taken, the input refused.
    assert.deepEqual(gtidStartVerdict('ERROR: Failed reading header; probably an empty file.\n'), { ok: true, detail: 'takes a GTID list as --start-position' });
    // MySQL 9.7's mysqlbinlog (the option parser older mariadb-binlog shares): the option refused.
    const mysql = gtidStartVerdict(
      "mysqlbinlog: [ERROR] Unknown suffix '-' used for variable 'start-position' (value '0-1-1').\n" +
        "mysqlbinlog: [Warning] option 'start-position': unsigned value 0 adjusted to 4.\n" +
        "mysqlbinlog: [ERROR] mysqlbinlog: Error while setting value '0-1-1' to 'start-position'.\n",
    );
    assert.equal(mysql.ok, false);
    assert.match(mysql.detail, /^it refused --start-position=0-1-1: mysqlbinlog: \[ERROR\] Unknown suffix/);
    const other = gtidStartVerdict('Segmentation fault\n');
    assert.equal(other.ok, false);
    assert.match(other.detail, /could not tell .* it said: Segmentation fault$/);
  });
  it('client flavor from --version; the line of a client error', () => {
    assert.equal(clientFlavor('mysql  Ver 15.1 Distrib 10.11.18-MariaDB, for debian-linux-gnu (x86_64)'), 'mariadb');
    assert.equal(clientFlavor('/usr/bin/mysql  Ver 9.7.4-2 for Linux on x86_64 ((Debian))'), 'mysql');
    assert.equal(clientErrorLine("ERROR 1062 (23000) at line 57: Duplicate entry '5' for key 't.PRIMARY'"), 57);
    assert.equal(clientErrorLine('ERROR 2003 (HY000): Can\'t connect'), undefined);
  });
  it("the client's connection id, from the first line it prints", () => {
    assert.equal(SESSION_ID_QUERY, 'SELECT CONNECTION_ID();');
    assert.equal(sessionIdOf('1234'), 1234);
    assert.equal(sessionIdOf(' 17\r'), 17);
    assert.equal(sessionIdOf(''), undefined);
    assert.equal(sessionIdOf('ERROR 1045'), undefined);
    assert.equal(sessionIdOf('12 34'), undefined);
  });
  it('the tool a command line runs, through a dynamic loader too', () => {
    assert.equal(toolName(['/usr/bin/mysql']), 'mysql');
    assert.equal(toolName(['/c/lib64/ld-linux-x86-64.so.2', '--library-path', '/c/usr/lib', '/c/usr/bin/mysqlbinlog', '--no-defaults']), 'mysqlbinlog');
    assert.equal(toolName(['/lib64/ld-linux-x86-64.so.2']), 'ld-linux-x86-64.so.2');
  });
});

describe('salvage: what was added', () => {
  it('what salvage added, from positions before and after', () => {
    assert.deepEqual(salvagedBetween('mysql-gtid', `${U1}:1-5`, `${U1}:1-9`, 0), {
      gtids: `${U1}:6-9`,
      count: 4,
    });
    assert.deepEqual(salvagedBetween('mariadb-gtid', '0-1-5', '0-1-9,1-2-3', 0), { gtids: 'domain 0 seq 6-9, domain 1 seq 1-3', count: 7 });
    assert.deepEqual(salvagedBetween('file', '', '', 3), { gtids: '', count: 3 });
  });
});

const U2 = '22222222-2222-2222-2222-222222222222';
function snap(name: string, o: Partial<NodeSnapshot>): NodeSnapshot {
  return {
    name,
    host: `10.0.0.${name.slice(2)}`,
    port: 3306,
    takenAt: 0,
    reachable: true,
    version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
    gtidMode: 'ON',
    replication: [],
    ...o,
  };
}

describe('rejoin decision', () => {
  it('allowed when the node has nothing the master lacks', () => {
    const d = rejoinDecision(snap('db1', { executedGtid: `${U1}:1-10` }), snap('db2', { executedGtid: `${U1}:1-10,${U2}:1-3` }));
    assert.deepEqual(d, { allowed: true, extra: '', reasons: [], position: { kind: 'gtid' } });
  });
  it('refused with the transactions the master lacks', () => {
    const d = rejoinDecision(snap('db1', { executedGtid: `${U1}:1-13` }), snap('db2', { executedGtid: `${U1}:1-10,${U2}:1-3` }));
    assert.equal(d.allowed, false);
    assert.equal(d.extra, `${U1}:11-13`);
    assert.match(d.reasons[0], /db1 has transactions the master db2 lacks/);
  });
  it('refused without GTIDs, or when a side does not answer', () => {
    assert.match(rejoinDecision(snap('db1', { gtidMode: 'OFF' }), snap('db2', {})).reasons[0], /GTID mode is off/);
    assert.match(rejoinDecision(snap('db1', { reachable: false }), snap('db2', {})).reasons[0], /does not answer/);
  });
});

describe('discover the master', () => {
  const cluster = ClusterConfig.parse({
    name: 'c',
    mysql: { user: 'u', password: 'p', replication_user: 'r', replication_password: 'q' },
    nodes: [
      { name: 'db1', host: '10.0.0.1' },
      { name: 'db2', host: '10.0.0.2' },
      { name: 'db3', host: '10.0.0.3' },
    ],
  });
  const ch = (host: string) => ({
    channel: '', sourceHost: host, sourcePort: 3306, ioState: 'Connecting' as const, sqlRunning: true, lastIoErrno: 0, lastIoError: '',
    lastSqlErrno: 0, lastSqlError: '', secondsBehind: null, sourceServerId: 1, read: null, exec: null, retrievedGtidSet: '', gtidAutoPosition: true,
  });
  it('the node the replicas replicate from', () => {
    const t = { cluster: 'c', takenAt: 0, nodes: [snap('db1', { reachable: false }), snap('db2', { replication: [ch('10.0.0.1')] }), snap('db3', { replication: [ch('10.0.0.1')] })] };
    const g = findReplicasMaster(t, cluster);
    assert.equal(g.master, 'db1');
    assert.equal(g.why, 'replicas db2, db3 replicate from db1');
  });
  it('no answer when replicas disagree; writable masters listed', () => {
    const t = {
      cluster: 'c',
      takenAt: 0,
      nodes: [snap('db1', { readOnly: false }), snap('db2', { replication: [ch('10.0.0.1')] }), snap('db3', { replication: [ch('10.0.0.2')] })],
    };
    assert.equal(findReplicasMaster(t, cluster).master, null);
    assert.deepEqual(writableMasters(t).map((n) => n.name), ['db1']);
  });
});

describe('DecodedScan: where each decoded transaction ends (file/position rerun of a salvage)', () => {
  it('follows the binlog file through Rotate events and records the end of each COMMIT', () => {
    const text = [
      '# at 4',
      '#261203 20:00:00 server id 1  end_log_pos 126 CRC32 0x0a0b0c0d 	Start: binlog v 4, server v 9.7.0 created 261203 20:00:00',
      '# at 126',
      '#261203 20:00:01 server id 1  end_log_pos 157 CRC32 0x01020303 	Anonymous_GTID	last_committed=0	sequence_number=1	rbr_only=yes',
      "SET @@SESSION.GTID_NEXT= 'ANONYMOUS'/*!*/;",
      '# at 157',
      '#261203 20:00:01 server id 1  end_log_pos 236 CRC32 0x01020304 	Query	thread_id=9	exec_time=0	error_code=0',
      'BEGIN',
      '/*!*/;',
      '# at 236',
      '#261203 20:00:01 server id 1  end_log_pos 300 CRC32 0x01020305 	Xid = 10',
      'COMMIT/*!*/;',
      '# at 300',
      '#261203 20:00:02 server id 1  end_log_pos 347 CRC32 0x01020306 	Rotate to binlog.000008  pos: 4',
      '# at 4',
      '#261203 20:00:02 server id 1  end_log_pos 126 CRC32 0x0a0b0c0e 	Start: binlog v 4, server v 9.7.0 created 261203 20:00:02',
      '# at 400',
      '#261203 20:00:03 server id 1  end_log_pos 470 CRC32 0x01020307 	Query	thread_id=9	exec_time=0	error_code=0',
      'SET TIMESTAMP=1/*!*/;',
      'COMMIT',
      '/*!*/;',
      '# at 470',
      '#261203 20:00:03 server id 1  end_log_pos 530 CRC32 0x01020308 	Xid = 12',
      'COMMIT/*!*/;',
      'DELIMITER ;',
    ].join('\n');
    const s = scanDecodedText(text, { firstFile: 'binlog.000007' });
    assert.equal(s.commits, 3);
    assert.equal(s.transactions, 3, 'gtid_mode OFF: ANONYMOUS names no GTID, the COMMITs count');
    assert.equal(s.gtids, '');
    assert.deepEqual(s.commitEnds, [
      { file: 'binlog.000007', pos: 300 },
      { file: 'binlog.000008', pos: 470 },
      { file: 'binlog.000008', pos: 530 },
    ]);
    assert.deepEqual(scanDecodedText(text).commitEnds, [], 'only tracked when asked');
  });
});

describe('DecodedScan: a DDL statement is a transaction of its own (file/position)', () => {
  // The shape mysqlbinlog 9.7 prints with gtid_mode OFF (SET lines shortened).
  const H = (pos: number, what: string) => `#261205  7:32:31 server id 1  end_log_pos ${pos} CRC32 0x0 \t${what}`;
  const gtid = (pos: number) => [`# at ${pos - 77}`, H(pos, 'Anonymous_GTID\tlast_committed=0\tsequence_number=1\trbr_only=no'), "SET @@SESSION.GTID_NEXT= 'ANONYMOUS'/*!*/;"];
  const query = (pos: number, ...text: string[]) => [`# at ${pos - 100}`, H(pos, 'Query\tthread_id=12\texec_time=0\terror_code=0\tXid = 6'), 'SET TIMESTAMP=1796455951/*!*/;', ...text, '/*!*/;'];
  const row = (pos: number) => [`# at ${pos - 40}`, H(pos - 40, 'Table_map: `app`.`t1` mapped to number 85'), H(pos, 'Write_rows: table id 85 flags: STMT_END_F'), '', "BINLOG '", 'D74Tax4BAAAAKAAAAGECAAAAAFUAAAAAABEAAgAB/wABAAAA4jEqNA==', "'/*!*/;"];
  const lines = [
    'DELIMITER /*!*/;',
    ...gtid(235),
    ...query(372, 'CREATE TABLE app.t1 (id INT PRIMARY KEY) ENGINE=InnoDB'),
    ...gtid(451),
    ...query(522, 'BEGIN'),
    ...row(609),
    '# at 609',
    H(640, 'Xid = 7'),
    'COMMIT/*!*/;',
    ...gtid(717),
    // A routine's body has a BEGIN line of its own: still one statement.
    ...query(890, 'CREATE DEFINER=`root`@`localhost` PROCEDURE `app`.`p`()', 'BEGIN', ' SELECT 1;', 'END'),
    ...gtid(967),
    ...query(1085, 'ALTER TABLE app.t1 ADD COLUMN x INT'),
    ...gtid(1162),
    ...query(1277, 'BEGIN'),
    ...row(1360),
    '# at 1360',
    H(1432, 'Query\tthread_id=17\texec_time=0\terror_code=0'),
    'COMMIT',
    '/*!*/;',
    ...gtid(1509),
    ...query(1600, 'DROP TABLE app.m'),
  ];
  const tail = ["SET @@SESSION.GTID_NEXT= 'AUTOMATIC' /* added by mysqlbinlog */ /*!*/;", 'DELIMITER ;', '# End of log file'];

  it('counts each DDL where it ends, the last one too, and a routine with BEGIN in its body once', () => {
    const s = scanDecodedText([...lines, ...tail].join('\n'), { firstFile: 'binlog.000002' });
    assert.equal(s.commits, 6);
    assert.equal(s.transactions, 6);
    assert.deepEqual(
      s.commitEnds.map((e) => e.pos),
      [372, 640, 890, 1085, 1432, 1600],
    );
  });
  it('an incomplete last transaction (BEGIN, no COMMIT: the client rolls it back) is not counted', () => {
    const s = scanDecodedText([...lines, ...gtid(1677), ...query(1750, 'BEGIN'), ...row(1830), 'ROLLBACK /* added by mysqlbinlog */;', ...tail].join('\n'), { firstFile: 'binlog.000002' });
    assert.equal(s.commits, 6);
  });
  it('MariaDB: a ddl GTID and its Query event; START TRANSACTION opens the others', () => {
    const M = (pos: number, what: string) => `#261205  7:32:36 server id 1  end_log_pos ${pos} CRC32 0x0 \t${what}`;
    const s = scanDecodedText(
      [
        M(421, 'GTID 0-1-2 ddl'),
        '/*M!100001 SET @@session.gtid_seq_no=2*//*!*/;',
        M(547, 'Query\tthread_id=8\texec_time=0\terror_code=0\txid=5'),
        'CREATE TABLE app.t1 (id INT PRIMARY KEY) ENGINE=InnoDB',
        '/*!*/;',
        M(589, 'GTID 0-1-3 trans'),
        'START TRANSACTION',
        '/*!*/;',
        M(754, 'Xid = 6'),
        'COMMIT/*!*/;',
        M(1297, 'GTID 0-1-7'),
        'START TRANSACTION',
        '/*!*/;',
        M(1498, 'Query\tthread_id=13\texec_time=0\terror_code=0\txid=0'),
        'COMMIT',
        '/*!*/;',
      ].join('\n'),
    );
    assert.equal(s.commits, 3);
    assert.equal(s.transactions, 3);
  });
});

describe('a salvage whose first binlog was purged: what lies before the oldest remaining binlog', () => {
  const U = '6293bcfe-ef59-11f1-8444-02fc00000001';
  it("reads MySQL's Previous-GTIDs and MariaDB's Gtid list of the first decoded binlog", () => {
    const my = scanDecodedText([
      '# at 127',
      '#261203 20:37:42 server id 1  end_log_pos 198 CRC32 0x5e0f425d \tPrevious-GTIDs',
      `# ${U}:1-40,`,
      '# 11111111-2222-3333-4444-555555555555:1-3',
      '# at 198',
      '#261203 20:37:42 server id 1  end_log_pos 275 CRC32 0x14ae97ce \tGTID\tlast_committed=0\tsequence_number=1',
      `SET @@SESSION.GTID_NEXT= '${U}:41'/*!*/;`,
      '#261203 20:37:43 server id 1  end_log_pos 400 CRC32 0x5e0f425d \tPrevious-GTIDs',
      `# ${U}:1-99`,
    ].join('\n'));
    assert.equal(my.previous, `${U}:1-40,11111111-2222-3333-4444-555555555555:1-3`, 'the first one only');
    const maria = scanDecodedText([
      '# at 256',
      '#261203 20:37:43 server id 1  end_log_pos 299 CRC32 0xb3730ef0 \tGtid list [0-1-25,0-2-7,1-1-3]',
      '#261203 20:37:43 server id 1  end_log_pos 421 CRC32 0x0c19cf8a \tGTID 0-1-26 trans',
    ].join('\n'));
    assert.equal(maria.previous, '0-1-25,0-2-7,1-1-3');
    assert.equal(scanDecodedText('# at 4\n').previous, undefined);
  });

  it('counts what the winner lacks of it', () => {
    assert.deepEqual(purgedGap('mysql-gtid', `${U}:1-40`, `${U}:1-30`), { count: 10, transactions: `${U}:31-40` });
    assert.deepEqual(purgedGap('mysql-gtid', `${U}:1-40`, `${U}:1-45`), { count: 0, transactions: '' });
    assert.deepEqual(purgedGap('mariadb-gtid', '0-1-25,0-2-7,1-1-3', '0-1-20,1-1-3'), { count: 5, transactions: 'domain 0 seq 21-25' });
    assert.deepEqual(purgedGap('mariadb-gtid', '0-1-25', '0-1-25'), { count: 0, transactions: '' });
    assert.deepEqual(purgedGap('mysql-gtid', undefined, `${U}:1-30`), { count: null, transactions: '' });
  });
});
