/** heir check's verdicts on plain data: one finding per fault, every reason at once. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, liveness, missingGrants, parseGrants, type CheckInput } from '../../src/check/evaluate';
import { ClusterConfig } from '../../src/config/schema';
import { HEIR_GRANTS } from '../../src/mysql/privileges';
import type { NodeSnapshot, ReplicationChannel } from '../../src/mysql/types';

const M = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const R = '4f22fb58-71ca-11e1-9e33-c80aa9429563';
const version = { flavor: 'mysql' as const, major: 9, minor: 7, patch: 4, raw: '9.7.4' };

const cluster = ClusterConfig.parse({
  name: 'app',
  mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
  nodes: [
    { name: 'db1', host: '10.0.0.1' },
    { name: 'db2', host: '10.0.0.2' },
    { name: 'db3', host: '10.0.0.3', promotion: 'never' },
  ],
});

function channel(o: Partial<ReplicationChannel> = {}): ReplicationChannel {
  return {
    channel: '', sourceHost: '10.0.0.1', sourcePort: 3306, ioState: 'Yes', sqlRunning: true,
    lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '', secondsBehind: 0, sourceServerId: 1,
    read: { file: 'bin.000001', pos: 100 }, exec: { file: 'bin.000001', pos: 100 }, retrievedGtidSet: `${M}:1-10`, gtidAutoPosition: true,
    ...o,
  };
}

function node(name: string, id: number, o: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    name, host: `10.0.0.${id}`, port: 3306, takenAt: 0, reachable: true, version, serverId: id,
    serverUuid: id === 1 ? M : `00000000-0000-0000-0000-00000000000${id}`, readOnly: id !== 1, superReadOnly: id !== 1,
    logBin: true, logReplicaUpdates: true, gtidMode: 'ON', executedGtid: `${M}:1-10`,
    replication: id === 1 ? [] : [channel()], ...o,
  };
}

const ALL = ['GRANT ALL PRIVILEGES ON *.* TO `heir`@`%`'];

function input(nodes: NodeSnapshot[], extra: Partial<CheckInput> = {}): CheckInput {
  return {
    cluster, snapshot: { cluster: 'app', takenAt: 0, nodes },
    grants: Object.fromEntries(nodes.map((n) => [n.name, { lines: ALL }])),
    replUser: Object.fromEntries(nodes.map((n) => [n.name, true])),
    ...extra,
  };
}

const errors = (r: ReturnType<typeof evaluate>) => r.findings.filter((f) => f.severity === 'error').map((f) => `${f.code}@${f.node ?? ''}`);

test('healthy: fit, master found, never-node is no candidate', () => {
  const r = evaluate(input([node('db1', 1), node('db2', 2), node('db3', 3)]));
  assert.deepEqual(errors(r), []);
  assert.equal(r.fit, true);
  assert.equal(r.master, 'db1');
  assert.deepEqual(r.candidates, ['db2']);
});

test('every fault at once, each named with its node', () => {
  const r = evaluate(
    input([
      node('db1', 1),
      node('db2', 2, { readOnly: false, superReadOnly: false, replication: [channel({ sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry' })] }),
      node('db3', 3, { executedGtid: `${M}:1-10,${R}:1-2` }),
    ]),
  );
  assert.equal(r.fit, false);
  assert.deepEqual(errors(r).sort(), ['errant-gtids@db3', 'no-candidate@', 'several-writable@', 'sql-thread-stopped@db2'].sort());
  assert.match(r.findings.find((f) => f.code === 'errant-gtids')!.message, new RegExp(`${R}:1-2`));
});

test('errant GTIDs only warn with errant_gtids: warn', () => {
  const warnCluster = ClusterConfig.parse({ ...cluster, failover: { errant_gtids: 'warn' } });
  const r = evaluate({ ...input([node('db1', 1), node('db2', 2, { executedGtid: `${M}:1-10,${R}:5` }), node('db3', 3)]), cluster: warnCluster });
  assert.equal(r.fit, true);
  assert.equal(r.findings.find((f) => f.code === 'errant-gtids')?.severity, 'warning');
});

test('a replica of a replica is named with the node it follows', () => {
  const r = evaluate(input([node('db1', 1), node('db2', 2), node('db3', 3, { replication: [channel({ sourceServerId: 2, sourceHost: '10.0.0.2' })] })]));
  const f = r.findings.find((x) => x.code === 'wrong-source');
  assert.equal(f?.node, 'db3');
  assert.match(f!.message, /replicates from db2, not from the master db1/);
});

test('unreachable node, two roots, multi-source', () => {
  const r = evaluate(
    input([
      node('db1', 1),
      node('db2', 2, { replication: [channel(), channel({ channel: 'other' })] }),
      node('db3', 3, { reachable: false, error: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, replication: [] }),
    ]),
  );
  assert.deepEqual(errors(r).sort(), ['multi-source@db2', 'no-candidate@', 'unreachable@db3'].sort());
  const r2 = evaluate(input([node('db1', 1), node('db2', 2, { replication: [] }), node('db3', 3)]));
  assert.ok(errors(r2).includes('several-masters@'));
});

test('missing grants give the exact GRANT statement; ALL PRIVILEGES and aliases count', () => {
  const lines = [
    'GRANT SELECT, RELOAD, PROCESS, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `heir`@`%`',
    'GRANT BINLOG_ADMIN,CONNECTION_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `heir`@`%`',
    'GRANT SELECT, INSERT ON `heir`.* TO `heir`@`%`',
  ];
  const missing = missingGrants(lines, HEIR_GRANTS.mysql84, 'heir');
  assert.deepEqual(missing.map((m) => m.privileges), [['REPLICATION_SLAVE_ADMIN'], ['UPDATE', 'DELETE', 'CREATE']]);
  assert.deepEqual(missingGrants(ALL, HEIR_GRANTS.mysql84, 'heir'), []);
  const maria = ['GRANT RELOAD, PROCESS, BINLOG MONITOR, SLAVE MONITOR, REPLICATION SLAVE, REPLICATION SLAVE ADMIN, REPLICATION MASTER ADMIN, READ_ONLY ADMIN, CONNECTION ADMIN, BINLOG ADMIN, SELECT ON *.* TO `heir`@`%` IDENTIFIED BY PASSWORD \'*AB\'', 'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `heir`.* TO `heir`@`%`'];
  assert.deepEqual(missingGrants(maria, HEIR_GRANTS.mariadb, 'heir'), []);
  assert.equal(parseGrants(['GRANT `r1`@`%` TO `heir`@`%`']).length, 0);

  const r = evaluate({ ...input([node('db1', 1), node('db2', 2), node('db3', 3)]), grants: { db1: { lines: ALL }, db2: { lines }, db3: { lines: ALL } } });
  const f = r.findings.find((x) => x.code === 'missing-privileges');
  assert.equal(f?.node, 'db2');
  assert.match(f!.fix!, /^GRANT REPLICATION_SLAVE_ADMIN ON \*\.\* TO 'heir'@'<manager-host>';/);
});

test('replication user missing on the master is an error, on a replica a warning', () => {
  const r = evaluate({ ...input([node('db1', 1), node('db2', 2), node('db3', 3)]), replUser: { db1: false, db2: false, db3: undefined } });
  const f = r.findings.filter((x) => x.code === 'replication-user-missing');
  assert.deepEqual(f.map((x) => `${x.node}:${x.severity}`), ['db1:error', 'db2:warning']);
});

test('address preflight failures block', () => {
  const r = evaluate({ ...input([node('db1', 1), node('db2', 2), node('db3', 3)]), address: [{ check: 'eni-exists', ok: false, severity: 'error', detail: 'InvalidEniId.NotFound' }] });
  assert.equal(r.fit, false);
  assert.ok(errors(r).includes('address:eni-exists@'));
});

test("salvage's tools: one that does not run is an error; MySQL's mysqlbinlog for a MariaDB cluster too, the client only a warning", () => {
  const nodes = [node('db1', 1), node('db2', 2), node('db3', 3)];
  const missing = evaluate({ ...input(nodes), salvageTools: [{ setting: 'mysql', command: 'mysql', error: 'cannot run mysql --version: spawn mysql ENOENT' }] });
  const f = missing.findings.filter((x) => x.code === 'salvage-tool');
  assert.equal(f.length, 1);
  assert.equal(f[0]!.severity, 'error');
  assert.match(f[0]!.message, /failover\.salvage\.mysql \(mysql\) does not run on this manager/);
  assert.equal(missing.fit, false);
  const fine = evaluate({ ...input(nodes), salvageTools: [{ setting: 'mysqlbinlog', command: 'mysqlbinlog', version: 'mysqlbinlog  Ver 9.7.4 for Linux on x86_64' }] });
  assert.equal(fine.findings.filter((x) => x.code === 'salvage-tool').length, 0);
  const maria = nodes.map((n) => ({ ...n, version: { flavor: 'mariadb' as const, major: 10, minor: 11, patch: 18, raw: '10.11.18-MariaDB' } }));
  const wrong = evaluate({
    ...input(maria),
    salvageTools: [
      { setting: 'mysqlbinlog', command: 'mysqlbinlog', version: 'mysqlbinlog  Ver 9.7.4 for Linux on x86_64' },
      { setting: 'mysql', command: 'mysql', version: 'mysql  Ver 9.7.4 for Linux on x86_64' },
    ],
  });
  assert.deepEqual(wrong.findings.filter((x) => x.code === 'salvage-tool').map((x) => x.severity), ['error', 'warning']);
  // mariadb-binlog older than 10.8 does not take the GTID list salvage starts at.
  const binlog = (gtidStart: { ok: boolean; detail: string }) =>
    evaluate({ ...input(maria), salvageTools: [{ setting: 'mysqlbinlog', command: '/opt/old/mariadb-binlog', version: 'mariadb-binlog Ver 3.5 for debian-linux-gnu at x86_64', gtidStart }] }).findings.filter((x) => x.code === 'salvage-tool');
  assert.deepEqual(binlog({ ok: true, detail: 'takes a GTID list as --start-position' }), []);
  const old = binlog({ ok: false, detail: "it refused --start-position=0-1-1: Error while setting value '0-1-1' to 'start-position'" });
  assert.equal(old.length, 1);
  assert.equal(old[0]!.severity, 'error');
  assert.match(old[0]!.message, /^failover\.salvage\.mysqlbinlog \(\/opt\/old\/mariadb-binlog\): it refused --start-position=0-1-1: .*; salvage by MariaDB GTID starts there/);
  assert.match(old[0]!.fix!, /mariadb-binlog 10\.8 or newer/);
});

test('salvage grants are asked for only when salvage is enabled', () => {
  const base = [
    'GRANT SELECT, RELOAD, PROCESS, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `heir`@`%`',
    'GRANT BINLOG_ADMIN,CONNECTION_ADMIN,REPLICATION_SLAVE_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `heir`@`%`',
    'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `heir`.* TO `heir`@`%`',
  ];
  const nodes = [node('db1', 1), node('db2', 2), node('db3', 3)];
  const grants = Object.fromEntries(nodes.map((n) => [n.name, { lines: base }]));
  const on = evaluate({ ...input(nodes), grants });
  const f = on.findings.find((x) => x.code === 'missing-privileges');
  assert.ok(f, 'salvage enabled by default: its grants are required');
  assert.match(f.message, /REPLICATION_APPLIER/);
  const off = ClusterConfig.parse({ ...cluster, failover: { salvage: { enabled: false } } });
  const r = evaluate({ ...input(nodes), grants, cluster: off });
  assert.equal(r.findings.some((x) => x.code === 'missing-privileges'), false);
});

test('liveness: what detection can read from each replica, and a warning when a downed host would be seen late', () => {
  const mk = (name: string, o: Partial<NodeSnapshot>, ch: Partial<ReplicationChannel>): NodeSnapshot => node(name, 2, { replication: [channel(ch)], ...o });
  const off = liveness(mk('r1', { performanceSchema: false, netTimeoutS: 60 }, { heartbeatPeriodS: 30 }));
  assert.equal(off.performanceSchema, false);
  assert.ok(off.signals.some((s) => /no "last heard"/.test(s)), off.signals.join('; '));
  assert.match(off.detection, /after 61 s of silence \(two heartbeat periods of 30 s\), its IO thread reconnects after 60 s/);
  const on = liveness(mk('r2', { performanceSchema: true, netTimeoutS: 5 }, { heartbeatPeriodS: 1 }));
  assert.ok(on.signals.some((s) => /last heard/.test(s) && /last queued transaction/.test(s)));
  assert.match(on.detection, /after 3 s of silence/);
  const noHb = liveness(mk('r3', { netTimeoutS: 60 }, { heartbeatPeriodS: 0 }));
  assert.match(noHb.detection, /heartbeats are off/);
  // In the check: a 30 s heartbeat is a warning naming the replica; a 1 s heartbeat is none.
  const r = evaluate(input([node('db1', 1), node('db2', 2, { replication: [channel({ heartbeatPeriodS: 30 })] }), node('db3', 3, { replication: [channel({ heartbeatPeriodS: 1 })] })]));
  assert.deepEqual(r.findings.filter((f) => f.code === 'slow-heartbeat').map((f) => f.node), ['db2']);
  assert.equal(r.liveness.length, 2);
  assert.ok(r.fit, 'a slow heartbeat does not make the cluster unfit');
});

test('file/position cluster: replicas with relay_log_purge ON are named (level-up needs the relay log); with GTIDs nothing is said', () => {
  const off = { gtidMode: 'OFF', executedGtid: '' };
  const r = evaluate(input([node('db1', 1, { ...off, relayLogPurge: true }), node('db2', 2, { ...off, relayLogPurge: true }), node('db3', 3, { ...off, relayLogPurge: false })]));
  const f = r.findings.find((x) => x.code === 'relay-log-purge');
  assert.equal(f?.severity, 'warning');
  assert.match(f!.message, /^db2: relay_log_purge is ON/);
  const gtid = evaluate(input([node('db1', 1), node('db2', 2, { relayLogPurge: true })]));
  assert.equal(gtid.findings.find((x) => x.code === 'relay-log-purge'), undefined);
});

test("salvage's SSH access: a node whose binlogs cannot be read is named, as a warning", () => {
  const r = evaluate({
    ...input([node('db1', 1), node('db2', 2), node('db3', 3)]),
    binlogAccess: [
      { node: 'db1', ok: true, detail: '3 binlog(s) readable' },
      { node: 'db2', ok: false, detail: 'connect ECONNREFUSED 10.0.0.2:22' },
    ],
  });
  const f = r.findings.filter((x) => x.code === 'salvage-ssh');
  assert.deepEqual(f.map((x) => [x.severity, x.node]), [['warning', 'db2']]);
  assert.match(f[0]!.message, /ECONNREFUSED/);
  assert.equal(r.fit, true);
});

test("SYSTEM_USER missing on MySQL 8: a warning with the grant (the applier KILL), not an error; MariaDB is not asked", () => {
  const full = [
    'GRANT SELECT, RELOAD, PROCESS, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `heir`@`%`',
    'GRANT BINLOG_ADMIN,CONNECTION_ADMIN,REPLICATION_APPLIER,REPLICATION_SLAVE_ADMIN,SESSION_VARIABLES_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `heir`@`%`',
    'GRANT INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX ON *.* TO `heir`@`%`',
    'GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `heir`.* TO `heir`@`%`',
  ];
  const nodes = [node('db1', 1), node('db2', 2), node('db3', 3)];
  const r = evaluate({ ...input(nodes), grants: { db1: { lines: ALL }, db2: { lines: full }, db3: { lines: [...full, 'GRANT SYSTEM_USER ON *.* TO `heir`@`%`'] } } });
  assert.deepEqual(r.findings.filter((x) => x.code === 'missing-privileges'), [], 'everything required is there');
  const w = r.findings.filter((x) => x.code === 'applier-kill-privilege');
  assert.deepEqual(w.map((x) => `${x.node}:${x.severity}`), ['db2:warning']);
  assert.match(w[0]!.message, /SYSTEM_USER.*STOP REPLICA will wait 60 s/);
  assert.match(w[0]!.fix!, /^GRANT SYSTEM_USER ON \*\.\* TO 'heir'@'<manager-host>';$/);
  assert.equal(r.fit, true);
});

test('stopped IO threads, or an SQL thread stopped by hand, are findings but leave the replica a candidate, as the failover planner does; an SQL error does not', () => {
  const stopped = evaluate(
    input([node('db1', 1), node('db2', 2, { replication: [channel({ ioState: 'No' })] }), node('db3', 3, { replication: [channel({ ioState: 'No', sqlRunning: false })] })]),
  );
  assert.deepEqual(errors(stopped).sort(), ['io-thread-not-running@db2', 'io-thread-not-running@db3', 'sql-thread-stopped@db3'].sort());
  // db3 has promotion: never.
  assert.deepEqual(stopped.candidates, ['db2']);
  assert.ok(!errors(stopped).includes('no-candidate@'));
  const byHand = evaluate(input([node('db1', 1), node('db2', 2, { replication: [channel({ ioState: 'No', sqlRunning: false })] }), node('db3', 3)]));
  assert.deepEqual(byHand.candidates, ['db2']);
  const broken = evaluate(
    input([node('db1', 1), node('db2', 2, { replication: [channel({ sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry' })] }), node('db3', 3)]),
  );
  assert.deepEqual(broken.candidates, []);
  assert.ok(errors(broken).includes('no-candidate@'));
});
