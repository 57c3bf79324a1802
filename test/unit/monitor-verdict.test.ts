/**
 * The failure analysis table, row by row, on plain observations — plus the cases that
 * fooled MHA: a manager cut off from a healthy master, replication stopped by hand,
 * max_connections, a SIGSTOPped mysqld.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze, analyzeByTable, RULES } from '../../src/monitor/verdict';
import type {
  DetectionParams,
  HostCheck,
  Observations,
  PingClass,
  PingObservation,
  ReplicaSight,
  SecondaryCheck,
  TcpProbeResult,
  VerdictKind,
} from '../../src/monitor/types';

const T0 = 1_700_000_000_000;
const params: DetectionParams = { minSources: 2, suspectTimeoutMs: 10_000 };

const ping = (c: PingClass, extra: Partial<PingObservation> = {}): PingObservation => ({ at: T0, mode: 'select', class: c, latencyMs: 5, ...extra });
const reprobe = (c: PingClass, extra: Partial<PingObservation> = {}): PingObservation => ({ at: T0 + 1000, mode: 'reprobe', class: c, latencyMs: 5, ...extra });
const tcp = (r: TcpProbeResult) => ({ at: T0 + 1000, from: 'manager', result: r });

const hears = (name: string): ReplicaSight => ({ name, at: T0 + 2000, status: 'hears', ioState: 'Yes', lastIoErrno: 0, detail: 'heartbeats 10 → 11' });
const lost = (name: string, errno = 2003): ReplicaSight => ({ name, at: T0 + 1100, status: 'lost', ioState: 'Connecting', lastIoErrno: errno, detail: `IO Connecting ${errno}` });
const silent = (name: string, conclusive = false): ReplicaSight => ({
  name,
  at: T0 + 2000,
  status: 'silent',
  ioState: 'Yes',
  lastIoErrno: 0,
  silentForMs: conclusive ? 5000 : 1000,
  heartbeatPeriodMs: conclusive ? 1000 : null,
  silenceConclusive: conclusive,
  detail: 'IO Yes, nothing arrived',
});
const stopped = (name: string): ReplicaSight => ({ name, at: T0 + 1100, status: 'stopped', ioState: 'No', lastIoErrno: 0, detail: 'stopped by operator' });
const broken = (name: string): ReplicaSight => ({ name, at: T0 + 1100, status: 'broken', ioState: 'No', lastIoErrno: 13114, detail: 'IO error 13114' });

const hostUp = (o: Partial<HostCheck>): HostCheck => ({ at: T0 + 1200, ran: true, pid: 4242, processState: 'S', comm: 'mysqld', listening: true, local: 'greeting', ...o });
const hostDown: HostCheck = { at: T0 + 3000, ran: false, sshError: { kind: 'timeout', message: 'no connection within 3000 ms' } };
const hostUnreach: HostCheck = { at: T0 + 1500, ran: false, sshError: { kind: 'connect', code: 'EHOSTUNREACH', message: 'No route to host' } };
const hostAuthFail: HostCheck = { at: T0 + 1200, ran: false, sshError: { kind: 'auth', message: 'All configured authentication methods failed' } };
const sec = (from: string, result: TcpProbeResult): SecondaryCheck => ({ at: T0 + 1500, from, ran: true, result });

function obs(o: Partial<Observations> & { ping: PingObservation }, now = T0 + 2000): Observations {
  return {
    cluster: 'c1',
    master: 'db1',
    now,
    firstFailureAt: o.ping.class === 'ok' ? null : T0,
    replicas: [],
    host: null,
    secondary: [],
    ...o,
  };
}

interface Case {
  name: string;
  o: Observations;
  p?: Partial<DetectionParams>;
  verdict: VerdictKind;
  rule: string;
  failover: boolean;
  confirmedBy?: string[];
}

const cases: Case[] = [
  // --- every row ---------------------------------------------------------------
  { name: 'ping answered', o: obs({ ping: ping('ok') }), verdict: 'Healthy', rule: 'ping-ok', failover: false },
  {
    name: 'max_connections: connect ping gets 1040',
    o: obs({ ping: ping('alive-error', { mode: 'connect', errno: 1040, code: 'ER_CON_COUNT_ERROR' }), tcp: tcp('error-greeting') }),
    verdict: 'AliveWithErrors',
    rule: 'alive-errors',
    failover: false,
  },
  {
    name: 'access denied on reprobe after a lost persistent connection',
    o: obs({ ping: ping('lost'), reprobe: reprobe('alive-error', { errno: 1045 }), tcp: tcp('greeting') }),
    verdict: 'AliveWithErrors',
    rule: 'alive-errors',
    failover: false,
  },
  {
    name: 'persistent connection dropped, fresh connection answers',
    o: obs({ ping: ping('lost'), reprobe: reprobe('ok'), tcp: tcp('greeting') }),
    verdict: 'Healthy',
    rule: 'reprobe-ok',
    failover: false,
  },
  {
    name: 'insert ping times out on commit while SELECT works: commits blocked',
    o: obs({ ping: ping('write-timeout', { mode: 'insert' }), reprobe: reprobe('ok'), tcp: tcp('greeting'), replicas: [hears('db2')], host: hostUp({}) }),
    verdict: 'CommitsBlocked',
    rule: 'commits-blocked',
    failover: false,
  },
  {
    name: 'queries time out, greeting works, replicas still hear: overloaded, not dead',
    o: obs({ ping: ping('query-timeout'), reprobe: reprobe('connect-timeout'), tcp: tcp('greeting'), replicas: [hears('db2'), silent('db3')] }),
    verdict: 'MasterOverloaded',
    rule: 'replicas-hear-master',
    failover: false,
  },
  {
    name: 'manager partitioned: ping and ssh fail, replicas hear the master',
    o: obs({
      ping: ping('connect-timeout', { mode: 'connect' }),
      reprobe: reprobe('connect-timeout'),
      tcp: tcp('unreachable'),
      host: hostDown,
      replicas: [hears('db2'), hears('db3')],
    }),
    verdict: 'UnreachableMaster',
    rule: 'manager-cut-off',
    failover: false,
  },
  {
    name: 'manager partitioned, idle master (replicas silent), secondary checks get the greeting',
    o: obs({
      ping: ping('connect-timeout'),
      tcp: tcp('unreachable'),
      host: hostDown,
      replicas: [silent('db2'), silent('db3')],
      secondary: [sec('db2', 'greeting'), sec('db3', 'greeting')],
    }),
    verdict: 'UnreachableMaster',
    rule: 'manager-cut-off',
    failover: false,
  },
  {
    name: 'firewall on 3306 only: ssh sees mysqld answering locally',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('unreachable'), host: hostUp({}) }),
    verdict: 'UnreachableMaster',
    rule: 'manager-cut-off',
    failover: false,
  },
  {
    name: 'heir.ha: this manager cut off, another manager reached the master after the failure began',
    o: obs({
      ping: ping('connect-timeout'),
      tcp: tcp('unreachable'),
      host: hostDown,
      replicas: [silent('db2'), silent('db3')],
      managers: [{ manager: 'mgr-b', status: 'reaches', at: T0 + 900, ageMs: 1100, verdict: 'Healthy', detail: 'mgr-b reaches db1 (view 1.1 s ago, verdict Healthy)' }],
    }),
    verdict: 'UnreachableMaster',
    rule: 'other-manager-reaches',
    failover: false,
  },
  {
    name: 'SIGSTOP: process state T, within the bound',
    o: obs({ ping: ping('query-timeout'), reprobe: reprobe('connect-timeout'), tcp: tcp('silent'), host: hostUp({ processState: 'T', local: 'silent' }), replicas: [silent('db2'), silent('db3')] }),
    verdict: 'HungMaster',
    rule: 'process-stopped',
    failover: false,
    confirmedBy: ['manager', 'ssh'],
  },
  {
    name: 'SIGSTOP: process state T, past suspect_timeout_ms',
    o: obs(
      { ping: ping('query-timeout'), reprobe: reprobe('connect-timeout'), tcp: tcp('silent'), host: hostUp({ processState: 'T', local: 'silent' }), replicas: [silent('db2'), silent('db3')] },
      T0 + 10_500,
    ),
    verdict: 'HungMaster',
    rule: 'process-stopped',
    failover: true,
    confirmedBy: ['manager', 'ssh'],
  },
  {
    name: 'kill -9: ssh finds no mysqld, port refused, replicas lost',
    o: obs({
      ping: ping('refused', { mode: 'connect', code: 'ECONNREFUSED' }),
      reprobe: reprobe('refused'),
      tcp: tcp('refused'),
      host: hostUp({ pid: null, processState: null, comm: null, listening: false, local: 'refused' }),
      replicas: [lost('db2', 2013), lost('db3', 2003)],
    }),
    verdict: 'DeadMaster',
    rule: 'mysqld-gone',
    failover: true,
    confirmedBy: ['manager', 'replicas', 'ssh'],
  },
  {
    name: 'kill -9 seen by manager and ssh only (replicas still IO Yes, not yet noticed)',
    o: obs({ ping: ping('lost'), reprobe: reprobe('refused'), tcp: tcp('refused'), host: hostUp({ processState: null, pid: null, listening: false, local: 'refused' }), replicas: [silent('db2')] }),
    verdict: 'DeadMaster',
    rule: 'mysqld-gone',
    failover: true,
    confirmedBy: ['manager', 'ssh'],
  },
  {
    name: 'port refused, ssh off, replicas lost',
    o: obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), lost('db3')] }),
    verdict: 'DeadMaster',
    rule: 'port-refused',
    failover: true,
    confirmedBy: ['manager', 'replicas'],
  },
  {
    name: 'port refused, ssh off, no replica information: one source only',
    o: obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [stopped('db2')] }),
    verdict: 'DeadMaster',
    rule: 'port-refused',
    failover: false,
    confirmedBy: ['manager'],
  },
  {
    name: 'min_sources 3, only manager + replicas, but every replica lost with an error',
    o: obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), lost('db3', 2013)] }),
    p: { minSources: 3 },
    verdict: 'DeadMaster',
    rule: 'port-refused',
    failover: true,
  },
  {
    name: 'min_sources 3, manager + replicas, one replica stopped by hand: not every replica lost',
    o: obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), stopped('db3')] }),
    p: { minSources: 3 },
    verdict: 'DeadMaster',
    rule: 'port-refused',
    failover: false,
  },
  {
    name: 'accepts TCP, no greeting, ssh off, replicas cannot tell: hung, not confirmed',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('silent'), replicas: [silent('db2')] }, T0 + 20_000),
    verdict: 'HungMaster',
    rule: 'accepts-but-silent',
    failover: false,
    confirmedBy: ['manager'],
  },
  {
    name: 'accepts TCP, no greeting, secondary hosts see the same, past the bound',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('silent'), secondary: [sec('db2', 'silent')], replicas: [silent('db2', true)] }, T0 + 10_000),
    verdict: 'HungMaster',
    rule: 'accepts-but-silent',
    failover: true,
    confirmedBy: ['manager', 'replicas', 'secondary'],
  },
  {
    name: 'host down: ping and ssh time out, replicas lost',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('unreachable'), host: hostDown, replicas: [lost('db2', 2003), lost('db3', 2003)] }),
    verdict: 'DeadMasterHost',
    rule: 'host-unreachable',
    failover: true,
    confirmedBy: ['manager', 'replicas'],
  },
  {
    name: 'host down: replicas conclusively silent (two heartbeats missed)',
    o: obs({ ping: ping('query-timeout'), tcp: tcp('unreachable'), host: hostUnreach, replicas: [silent('db2', true), silent('db3', true)] }),
    verdict: 'DeadMasterHost',
    rule: 'host-unreachable',
    failover: true,
    confirmedBy: ['manager', 'replicas'],
  },
  {
    name: 'host down: replicas still IO Yes (silence inconclusive), secondary checks cannot reach it',
    o: obs({
      ping: ping('connect-timeout'),
      tcp: tcp('unreachable'),
      host: hostDown,
      replicas: [silent('db2'), silent('db3')],
      secondary: [sec('db2', 'unreachable'), sec('db3', 'unreachable')],
    }),
    verdict: 'DeadMasterHost',
    rule: 'host-unreachable',
    failover: true,
    confirmedBy: ['manager', 'secondary'],
  },
  {
    name: 'ssh off, host unreachable, replicas lost',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('unreachable'), replicas: [lost('db2'), lost('db3')] }),
    verdict: 'DeadMasterHost',
    rule: 'unreachable-no-ssh',
    failover: true,
    confirmedBy: ['manager', 'replicas'],
  },
  {
    name: 'ssh auth failing (host up), port unreachable, nothing else, past suspect_timeout: dead by timeout, not confirmed',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('unreachable'), host: hostAuthFail }, T0 + 12_000),
    verdict: 'DeadMasterHost',
    rule: 'unreachable-no-ssh',
    failover: false,
    confirmedBy: ['manager'],
  },
  {
    name: 'first failed ping, nothing corroborated yet',
    o: obs({ ping: ping('lost') }),
    verdict: 'Suspect',
    rule: 'unexplained',
    failover: false,
  },

  // --- the cases that matter most --------------------------------------------------
  {
    name: 'manager partitioned, idle master, replicas IO Yes but silent, no secondary checks: never dead',
    o: obs({ ping: ping('connect-timeout'), reprobe: reprobe('connect-timeout'), tcp: tcp('unreachable'), host: hostDown, replicas: [silent('db2'), silent('db3')] }, T0 + 30_000),
    verdict: 'Suspect',
    rule: 'unexplained',
    failover: false,
  },
  {
    name: 'replication stopped by hand on all replicas while the master answers',
    o: obs({ ping: ping('ok'), replicas: [stopped('db2'), stopped('db3')] }),
    verdict: 'Healthy',
    rule: 'ping-ok',
    failover: false,
  },
  {
    name: 'replication stopped by hand everywhere and the manager cut off: manager + failed ssh are one vantage point',
    o: obs({ ping: ping('connect-timeout'), tcp: tcp('unreachable'), host: hostDown, replicas: [stopped('db2'), stopped('db3')] }, T0 + 30_000),
    verdict: 'DeadMasterHost',
    rule: 'host-unreachable',
    failover: false,
    confirmedBy: ['manager'],
  },
  {
    name: 'a replica that hears the master vetoes even ssh saying mysqld is gone',
    o: obs({ ping: ping('refused'), tcp: tcp('refused'), host: hostUp({ processState: null, pid: null, listening: false, local: 'refused' }), replicas: [hears('db2'), lost('db3')] }),
    verdict: 'UnreachableMaster',
    rule: 'manager-cut-off',
    failover: false,
  },
  {
    name: 'broken replication (IO error 13114) says nothing: does not count as lost',
    o: obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [broken('db2'), broken('db3')] }),
    verdict: 'DeadMaster',
    rule: 'port-refused',
    failover: false,
    confirmedBy: ['manager'],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const v = analyze(c.o, { ...params, ...c.p });
    assert.equal(v.kind, c.verdict, `verdict (rule ${v.rule}: ${v.reason})`);
    assert.equal(v.rule, c.rule, 'rule');
    assert.equal(v.failoverAllowed, c.failover, `failoverAllowed: ${v.reason}`);
    if (c.confirmedBy) assert.deepEqual(v.confirmedBy, c.confirmedBy, 'confirmedBy');
    assert.ok(v.reason.length > 0);
    assert.ok(v.evidence.length >= 1, 'evidence listed');
    assert.equal(v.cluster, 'c1');
    assert.equal(v.master, 'db1');
  });
}

test('every row of the table is exercised by a case above', () => {
  const used = new Set(cases.map((c) => c.rule));
  for (const r of RULES) assert.ok(used.has(r.id), `row ${r.id} has no case`);
});

test('only dead verdicts ever allow failover', () => {
  for (const c of cases) {
    const v = analyze(c.o, { ...params, ...c.p });
    if (v.failoverAllowed) assert.ok(['DeadMaster', 'DeadMasterHost', 'HungMaster'].includes(v.kind), c.name);
  }
});

test('evidence names source, subject, time and what it points to', () => {
  const v = analyze(
    obs({ ping: ping('refused'), tcp: tcp('refused'), host: hostUp({ processState: null, pid: null, listening: false, local: 'refused' }), replicas: [lost('db2')], secondary: [sec('db3', 'refused')] }),
    params,
  );
  const sources = new Set(v.evidence.map((e) => e.source));
  assert.deepEqual([...sources].sort(), ['manager', 'replicas', 'secondary', 'ssh']);
  const repl = v.evidence.find((e) => e.source === 'replicas')!;
  assert.equal(repl.subject, 'db2');
  assert.equal(repl.points, 'dead');
  assert.ok(v.evidence.every((e) => typeof e.at === 'number' && e.observation.length > 0));
  assert.deepEqual(v.confirmedBy, ['manager', 'replicas', 'ssh', 'secondary']);
  assert.equal(v.failingForMs, 2000);
});

test('an unconfirmed dead verdict is held as Suspect while first-round corroboration is pending', () => {
  const o = obs({ ping: ping('refused'), tcp: tcp('refused'), pending: ['read db2', 'ssh'] });
  const v = analyze(o, params);
  assert.equal(v.kind, 'Suspect');
  assert.equal(v.rule, 'awaiting-corroboration');
  assert.match(v.reason, /DeadMaster; waiting for read db2, ssh/);
  // once confirmed, pending probes do not hold it back
  const c = analyze(obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), lost('db3')], pending: ['ssh'] }), params);
  assert.equal(c.kind, 'DeadMaster');
  assert.equal(c.failoverAllowed, true);
});

test('a round whose ping answered: the short path gives exactly what the rule table gives, whatever else was observed', () => {
  const withReceived: ReplicaSight = { ...hears('db2'), received: { read: 'binlog.000001:400', retrievedGtidSet: 'u:1-10', heartbeats: 11, mariadbIoPos: '' } };
  const answered: Observations[] = [
    obs({ ping: ping('ok') }),
    obs({ ping: ping('ok', { latencyMs: 900 }) }),
    obs({ ping: ping('ok'), host: undefined }),
    obs({ ping: ping('ok'), firstFailureAt: T0, tcp: tcp('greeting'), reprobe: reprobe('ok'), replicas: [hears('db2'), lost('db3')], host: hostUp({}) }),
    obs({ ping: ping('ok'), firstFailureAt: T0, replicas: [withReceived, stopped('db3')], secondary: [sec('db3', 'refused')], pending: ['ssh'] }),
    obs({ ping: ping('ok'), firstFailureAt: T0, tcp: tcp('unreachable'), reprobe: reprobe('no-route'), replicas: [lost('db2'), broken('db3')], host: hostUp({ processState: null, pid: null }) }),
  ];
  for (const o of answered) {
    const v = analyze(o, params);
    assert.deepEqual(v, analyzeByTable(o, params));
    assert.equal(v.kind, 'Healthy');
    assert.equal(v.failoverAllowed, false);
  }
  // A failed ping goes through the table as before.
  const failed = obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), lost('db3')] });
  assert.deepEqual(analyze(failed, params), analyzeByTable(failed, params));
});
