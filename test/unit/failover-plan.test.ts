import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../../src/mysql/types';
import { compareContenders, sortContenders, type Contender } from '../../src/failover/elect';
import { planFailover, type PlanOptions } from '../../src/failover/plan';
import { parsePosition } from '../../src/failover/positions';

const M = '11111111-1111-1111-1111-111111111111'; // dead master db1
const U2 = '22222222-2222-2222-2222-222222222222';
const U3 = '33333333-3333-3333-3333-333333333333';
const U4 = '44444444-4444-4444-4444-444444444444';
const UUID: Record<string, string> = { db2: U2, db3: U3, db4: U4 };

type Over = Partial<NodeSnapshot> & { ch?: Partial<ReplicationChannel> };

function channel(o: Partial<ReplicationChannel> = {}): ReplicationChannel {
  return {
    channel: '',
    sourceHost: '10.0.0.1',
    sourcePort: 3306,
    ioState: 'Connecting',
    sqlRunning: true,
    lastIoErrno: 2003,
    lastIoError: "error connecting to master '10.0.0.1:3306'",
    lastSqlErrno: 0,
    lastSqlError: '',
    secondsBehind: null,
    sourceServerId: 1,
    read: { file: 'binlog.000003', pos: 1000 },
    exec: { file: 'binlog.000003', pos: 1000 },
    retrievedGtidSet: '',
    gtidAutoPosition: true,
    ...o,
  };
}

function mysqlNode(name: string, executed: string, o: Over = {}): NodeSnapshot {
  const { ch, ...rest } = o;
  const n = Number(name.replace(/\D/g, ''));
  return {
    name,
    host: `10.0.0.${n}`,
    port: 3306,
    takenAt: 1000,
    reachable: true,
    version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
    serverId: n,
    serverUuid: UUID[name],
    readOnly: true,
    superReadOnly: true,
    logBin: true,
    logReplicaUpdates: true,
    gtidMode: 'ON',
    executedGtid: executed,
    replication: [channel(ch)],
    ...rest,
  };
}

function unreachable(name: string): NodeSnapshot {
  const n = Number(name.replace(/\D/g, ''));
  return {
    name,
    host: `10.0.0.${n}`,
    port: 3306,
    takenAt: 1000,
    reachable: false,
    error: { code: 'ECONNREFUSED', message: `connect ECONNREFUSED 10.0.0.${n}:3306` },
    replication: [],
  };
}

function cluster(nodes: { name: string; promotion?: 'prefer' | 'neutral' | 'never' }[], failover: Record<string, unknown> = {}): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
    nodes: [{ name: 'db1', host: '10.0.0.1' }, ...nodes.map((n) => ({ host: `10.0.0.${n.name.replace(/\D/g, '')}`, ...n }))],
    failover,
  });
}

function topo(...nodes: NodeSnapshot[]): TopologySnapshot {
  return { cluster: 'c1', takenAt: 1000, nodes: [unreachable('db1'), ...nodes] };
}

function plan(t: TopologySnapshot, c: ClusterConfig, o: PlanOptions = {}) {
  return planFailover(t, c, 'db1', { lastKnownMaster: { ...unreachable('db1'), serverUuid: M, serverId: 1 }, ...o });
}

const cand = (p: ReturnType<typeof plan>, name: string) => {
  const c = p.candidates.find((x) => x.name === name);
  assert.ok(c, `candidate ${name} in plan`);
  return c;
};

describe('sorter (elect.ts)', () => {
  const pos = (s: string) => parsePosition('mysql-gtid', s);
  const c = (name: string, received: string, promotion: Contender['promotion'] = 'neutral', lagS: number | null = 0): Contender => ({
    name,
    promotion,
    received: pos(received),
    lagS,
  });
  const cases: { title: string; a: Contender; b: Contender; better: 'a' | 'b' }[] = [
    { title: 'superset wins over prefer', a: c('db2', `${M}:1-10`), b: c('db3', `${M}:1-9`, 'prefer'), better: 'a' },
    { title: 'subset loses', a: c('db2', `${M}:1-9`), b: c('db3', `${M}:1-10`), better: 'b' },
    { title: 'tie: prefer beats neutral', a: c('db2', `${M}:1-10`), b: c('db3', `${M}:1-10`, 'prefer'), better: 'b' },
    { title: 'tie: neutral beats never', a: c('db2', `${M}:1-10`, 'never'), b: c('db3', `${M}:1-10`), better: 'b' },
    { title: 'tie and same rule: less lag', a: c('db2', `${M}:1-10`, 'neutral', 5), b: c('db3', `${M}:1-10`, 'neutral', 1), better: 'b' },
    { title: 'unknown lag sorts after known', a: c('db2', `${M}:1-10`, 'neutral', null), b: c('db3', `${M}:1-10`, 'neutral', 100), better: 'b' },
    { title: 'full tie: name', a: c('db3', `${M}:1-10`), b: c('db2', `${M}:1-10`), better: 'b' },
    { title: 'incomparable: more transactions first', a: c('db2', `${M}:1-5,${U4}:1`), b: c('db3', `${M}:1-4:6-7`), better: 'a' },
    {
      title: 'incomparable with equal counts: rule',
      a: c('db2', `${M}:1-5`),
      b: c('db3', `${M}:1-4:6`, 'prefer'),
      better: 'b',
    },
  ];
  for (const t of cases) {
    it(t.title, () => {
      const r = compareContenders(t.a, t.b);
      assert.equal(Math.sign(r), t.better === 'a' ? -1 : 1);
      assert.equal(Math.sign(compareContenders(t.b, t.a)), -Math.sign(r), 'antisymmetric');
    });
  }
  it('sorts deterministically regardless of input order', () => {
    const list = [c('db4', `${M}:1-8`), c('db2', `${M}:1-10`), c('db3', `${M}:1-10`, 'prefer'), c('db5', `${M}:1-10`, 'never')];
    const want = ['db3', 'db2', 'db5', 'db4'];
    assert.deepEqual(sortContenders(list).map((x) => x.name), want);
    assert.deepEqual(sortContenders([...list].reverse()).map((x) => x.name), want);
  });
  it('mariadb positions: per-domain containment', () => {
    const m = (name: string, s: string): Contender => ({ name, promotion: 'neutral', received: parsePosition('mariadb-gtid', s), lagS: 0 });
    assert.deepEqual(sortContenders([m('db2', '0-1-10'), m('db3', '0-1-12')]).map((x) => x.name), ['db3', 'db2']);
  });
  it('file positions: later coordinates first', () => {
    const f = (name: string, s: string): Contender => ({ name, promotion: 'neutral', received: parsePosition('file', s), lagS: 0 });
    assert.deepEqual(
      sortContenders([f('db2', 'binlog.000003:500'), f('db3', 'binlog.000004:4'), f('db4', 'binlog.000003:900')]).map((x) => x.name),
      ['db3', 'db4', 'db2'],
    );
  });
});

describe('planner: election by received transactions', () => {
  it('the node that received the most wins, counting the relay log (retrieved), not only executed', () => {
    const p = plan(
      topo(
        mysqlNode('db2', `${M}:1-90`, { ch: { retrievedGtidSet: `${M}:50-100` } }),
        mysqlNode('db3', `${M}:1-95`, { ch: { retrievedGtidSet: `${M}:60-95` } }),
      ),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(p.winner, 'db2');
    assert.equal(p.mostAdvanced, 'db2');
    assert.equal(p.mode, 'mysql-gtid');
    assert.equal(p.target, `${M}:1-100`);
    assert.deepEqual(p.catchUp, []);
    assert.equal(cand(p, 'db2').verdict, 'winner');
    assert.match(cand(p, 'db2').reasons[0], /most advanced/);
    assert.equal(cand(p, 'db3').verdict, 'eligible');
    assert.equal(cand(p, 'db3').lacks, `${M}:96-100`);
    assert.deepEqual(p.repoint, ['db3']);
    assert.deepEqual(
      p.steps.map((s) => s.name),
      ['fence', 'fence-address', 'freeze', 'salvage-fetch', 'reread', 'fence-kill', 'drain', 'promote', 'repoint', 'verify', 'salvage-apply', 'attach'],
    );
    // An old master that answers is made read-only, not killed; kill_unresponsive_master false: never killed.
    const noKill = cluster([{ name: 'db2' }, { name: 'db3' }]);
    noKill.failover.kill_unresponsive_master = false;
    const p2 = plan(
      topo(
        mysqlNode('db2', `${M}:1-90`, { ch: { retrievedGtidSet: `${M}:50-100` } }),
        mysqlNode('db3', `${M}:1-95`, { ch: { retrievedGtidSet: `${M}:60-95` } }),
      ),
      noKill,
    );
    assert.ok(!p2.steps.some((s) => s.name === 'fence-kill'), p2.steps.map((s) => s.name).join(', '));
  });

  it('the master an earlier run promoted stays the winner over a survivor that received more: that one is a catch-up source, and its reason says why it lost', () => {
    const p = plan(
      topo(mysqlNode('db2', `${M}:1-100`), mysqlNode('db3', `${M}:1-99`, { readOnly: false, superReadOnly: false, replication: [] })),
      cluster([{ name: 'db2', promotion: 'prefer' }, { name: 'db3' }]),
      { earlier: { node: 'db3' } },
    );
    assert.equal(p.winner, 'db3');
    assert.deepEqual(p.catchUp.map((c) => c.from), ['db2']);
    assert.deepEqual(p.repoint, ['db2']);
    assert.equal(cand(p, 'db2').verdict, 'eligible');
    assert.deepEqual(cand(p, 'db2').reasons, ['db3 is kept: it is already the master (see its reason); electing another would make a second one']);
  });

  it('a survivor already promoted by an unfinished earlier run (writable, replicating from no one) stays the master; two such: no winner', () => {
    // db2 was promoted (channels reset, read_only off); db3 was repointed to it and has the same.
    const db3OnDb2 = { ch: { sourceHost: '10.0.0.2', sourceServerId: 2, ioState: 'Yes' as const, lastIoErrno: 0, lastIoError: '', secondsBehind: 0 } };
    const p = plan(
      topo(mysqlNode('db2', `${M}:1-100`, { readOnly: false, superReadOnly: false, replication: [] }), mysqlNode('db3', `${M}:1-100`, db3OnDb2)),
      cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }]),
    );
    assert.equal(p.winner, 'db2', 'not db3, although it has the prefer rule and equal positions');
    assert.match(cand(p, 'db2').reasons[0]!, /already the master .* earlier, unfinished run/);
    assert.deepEqual(p.repoint, ['db3']);
    const two = plan(
      topo(mysqlNode('db2', `${M}:1-100`, { readOnly: false, superReadOnly: false, replication: [] }), mysqlNode('db3', `${M}:1-100`, { readOnly: false, superReadOnly: false, replication: [] })),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(two.winner, null);
    assert.match(two.noWinnerReasons.join(' '), /several survivors are writable and replicate from no one \(db2, db3\)/);
  });

  it('a prefer node behind the most advanced wins and catches up from it', () => {
    const p = plan(
      topo(mysqlNode('db2', `${M}:1-100`), mysqlNode('db3', `${M}:1-97`)),
      cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }]),
    );
    assert.equal(p.winner, 'db3');
    assert.equal(p.mostAdvanced, 'db2');
    assert.deepEqual(p.catchUp, [{ from: 'db2', brings: `${M}:98-100`, until: `${M}:1-100` }]);
    assert.match(cand(p, 'db3').reasons[0], /behind the most advanced \(db2\), brought level by catch-up; promotion: prefer/);
    assert.equal(cand(p, 'db2').reasons[0], 'db3 has promotion: prefer');
    const names = p.steps.map((s) => s.name);
    assert.ok(names.indexOf('drain') < names.indexOf('catch-up') && names.indexOf('catch-up') < names.indexOf('promote'));
    assert.deepEqual(p.steps.find((s) => s.name === 'drain')!.params.nodes, ['db3', 'db2']);
  });

  it('a catch-up source that cannot serve (its binlog purged what the winner lacks): the node holding the data wins instead of the prefer node; the prefer node is repointed', () => {
    const t = topo(mysqlNode('db2', `${M}:1-100`), mysqlNode('db3', `${M}:1-97`));
    const c = cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }]);
    assert.equal(plan(t, c).winner, 'db3');
    const p = plan(t, c, { cannotServe: { db2: 'IO error 1236' } });
    assert.equal(p.winner, 'db2', 'the node holding every transaction, rather than a winner that cannot get them');
    assert.deepEqual(p.catchUp, []);
    assert.deepEqual(p.repoint, ['db3']);
    assert.deepEqual(p.unobtainable, []);
    assert.equal(cand(p, 'db2').canServe, false, 'nobody catches up from it');
    // A source that cannot serve and cannot be promoted either: the prefer node wins without what only it has.
    const never = plan(t, cluster([{ name: 'db2', promotion: 'never' }, { name: 'db3', promotion: 'prefer' }]), { cannotServe: { db2: 'IO error 1236' } });
    assert.equal(never.winner, 'db3');
    assert.deepEqual(never.catchUp, []);
    assert.deepEqual(never.unobtainable.map((u) => [u.node, u.transactions]), [['db2', `${M}:98-100`]]);
    assert.match(never.unobtainable[0]!.why, /a catch-up from it failed \(IO error 1236\)/);
  });

  it('a winner dropped during the drain: elected again without it; never a source, never repointed, what only it has unobtainable', () => {
    const t = topo(mysqlNode('db2', `${M}:1-90`, { ch: { retrievedGtidSet: `${M}:1-100` } }), mysqlNode('db3', `${M}:1-95`), mysqlNode('db4', `${M}:1-97`));
    const c = cluster([{ name: 'db2', promotion: 'prefer' }, { name: 'db3', promotion: 'prefer' }, { name: 'db4' }]);
    assert.equal(plan(t, c).winner, 'db2');
    const p = plan(t, c, { dropped: { db2: 'no progress for 3.0 s' } });
    assert.equal(p.winner, 'db3', 'the other prefer node, level with what the remaining survivors have');
    assert.equal(p.target, `${M}:1-97`, 'what only the dropped node received is in no one\'s target');
    assert.deepEqual(p.catchUp, [{ from: 'db4', brings: `${M}:96-97`, until: `${M}:1-97` }], 'not from the dropped node');
    assert.equal(cand(p, 'db2').verdict, 'gated');
    assert.match(cand(p, 'db2').reasons.join(' '), /dropped during the failover: no progress for 3.0 s/);
    assert.deepEqual(p.repoint, ['db4']);
    assert.deepEqual(p.leftOut, [{ node: 'db2', why: 'dropped during the failover: no progress for 3.0 s' }]);
    assert.deepEqual(p.unobtainable.map((u) => [u.node, u.transactions]), [['db2', `${M}:98-100`]]);
    assert.deepEqual(p.steps.find((s) => s.name === 'drain')!.params.nodes, ['db3', 'db4']);
    // --to cannot pick it either, not even with --force.
    const forced = plan(t, c, { dropped: { db2: 'stuck' }, to: 'db2', force: true });
    assert.equal(forced.winner, null);
    assert.match(forced.noWinnerReasons.join(' '), /--to db2: dropped during the failover: stuck \(cannot be overridden\)/);
    // The last promotable node dropped: no winner, and the reasons say why.
    const none = plan(t, cluster([{ name: 'db2' }, { name: 'db3', promotion: 'never' }, { name: 'db4', promotion: 'never' }]), { dropped: { db2: 'stuck' } });
    assert.equal(none.winner, null);
    assert.match(none.noWinnerReasons.join(' '), /every reachable survivor is gated or has promotion: never/);
  });

  it('a never node never wins, but still serves as the catch-up source', () => {
    const p = plan(
      topo(mysqlNode('db2', `${M}:1-100`), mysqlNode('db3', `${M}:1-90`)),
      cluster([{ name: 'db2', promotion: 'never' }, { name: 'db3' }]),
    );
    assert.equal(p.winner, 'db3');
    assert.equal(cand(p, 'db2').verdict, 'never');
    assert.deepEqual(cand(p, 'db2').reasons, ['never rule (promotion: never)']);
    assert.equal(p.catchUp[0].from, 'db2');
    assert.deepEqual(p.repoint, ['db2']);
  });

  it('no candidate at all: no winner, no steps, reasons', () => {
    const p = plan(topo(mysqlNode('db2', `${M}:1-100`)), cluster([{ name: 'db2', promotion: 'never' }]));
    assert.equal(p.winner, null);
    assert.deepEqual(p.steps, []);
    assert.match(p.noWinnerReasons[0], /gated or has promotion: never/);
  });

  it('nobody reachable: no winner', () => {
    const p = plan(topo(unreachable('db2')), cluster([{ name: 'db2' }]));
    assert.equal(p.winner, null);
    assert.deepEqual(p.noWinnerReasons, ['no survivor is reachable']);
    assert.equal(cand(p, 'db2').verdict, 'unreachable');
    assert.match(cand(p, 'db2').reasons[0], /^unreachable: connect ECONNREFUSED/);
  });

  it('incomparable positions are reported and the winner catches up from both', () => {
    const p = plan(
      topo(mysqlNode('db2', `${M}:1-10:12`), mysqlNode('db3', `${M}:1-11`), mysqlNode('db4', `${M}:1-9`)),
      cluster([{ name: 'db2' }, { name: 'db3' }, { name: 'db4', promotion: 'prefer' }]),
    );
    assert.equal(p.winner, 'db4');
    // Same count (11 each), same rule, same lag: the name orders them.
    assert.deepEqual(p.incomparable, [{ a: 'db2', b: 'db3', aLacks: `${M}:11`, bLacks: `${M}:12` }]);
    assert.deepEqual(p.catchUp.map((c) => c.from), ['db2', 'db3']);
    assert.equal(p.catchUp[0].brings, `${M}:10,12`.replace('10,', '10:'));
    assert.equal(p.catchUp[1].brings, `${M}:11`);
    assert.equal(p.target, `${M}:1-12`);
    assert.match(p.warnings.join('\n'), /incomparable \(db2\/db3\)/);
  });

  it('one check that found the IO thread reconnecting is not staleness; a lag the monitor saw is used', () => {
    const db3 = mysqlNode('db3', `${M}:1-10`, { ch: { secondsBehind: null } });
    const p = plan(topo(mysqlNode('db2', `${M}:1-10`), db3), cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }]), {
      healthy: { db3: { at: 1, connected: false, lagS: 2, disconnectedChecks: 1 } },
    });
    assert.equal(p.winner, 'db3');
    assert.equal(cand(p, 'db3').lagS, 2);
  });

  it('an unreachable survivor is listed and left out of the repoint', () => {
    const p = plan(topo(mysqlNode('db2', `${M}:1-10`), unreachable('db3')), cluster([{ name: 'db2' }, { name: 'db3' }]));
    assert.equal(p.winner, 'db2');
    assert.deepEqual(p.repoint, []);
    assert.match(p.leftOut[0].why, /^unreachable/);
    assert.equal(p.candidates.at(-1)!.name, 'db3');
  });
});

describe('planner: gates (each visible with its reason)', () => {
  const base = () => mysqlNode('db2', `${M}:1-10`);
  const cases: { title: string; db3: NodeSnapshot; cfg?: Record<string, unknown>; reason: string | RegExp; verdict?: string; opts?: PlanOptions }[] = [
    {
      title: 'lag above max_lag_s',
      db3: mysqlNode('db3', `${M}:1-10`, { ch: { secondsBehind: 412 } }),
      reason: 'gate: lag 412s > max_lag_s 300',
    },
    {
      title: 'lag from the monitor when the server no longer reports it',
      db3: mysqlNode('db3', `${M}:1-10`),
      opts: { lagHints: { db3: 412 } },
      reason: 'gate: lag 412s > max_lag_s 300',
    },
    {
      title: 'stale: the monitor saw its IO thread disconnected in several checks while the master answered',
      db3: mysqlNode('db3', `${M}:1-10`, { ch: { secondsBehind: null } }),
      opts: { healthy: { db3: { at: Date.UTC(2026, 0, 1), connected: false, lagS: null, disconnectedChecks: 3 } } },
      reason: 'gate: stale: its IO thread was not connected to db1 in the last 3 checks while db1 still answered (last at 2026-01-01T00:00:00.000Z): what it holds may be arbitrarily old',
    },
    {
      title: 'lag unknown: connected, but no Seconds_Behind_Source while the master answered',
      db3: mysqlNode('db3', `${M}:1-10`, { ch: { secondsBehind: null } }),
      opts: { healthy: { db3: { at: Date.UTC(2026, 0, 1), connected: true, lagS: null, disconnectedChecks: 0 } } },
      reason: /^gate: lag unknown: no Seconds_Behind_Source at the last check while db1 still answered/,
    },
    {
      title: 'SQL thread error',
      db3: mysqlNode('db3', `${M}:1-10`, { ch: { lastSqlErrno: 1062, lastSqlError: "Duplicate entry '5' for key 't.PRIMARY'" } }),
      reason: /^gate: SQL thread error 1062: Duplicate entry/,
    },
    { title: 'binlog off', db3: mysqlNode('db3', `${M}:1-10`, { logBin: false }), reason: 'gate: binlog off' },
    {
      title: 'version newer than the oldest replica',
      db3: mysqlNode('db3', `${M}:1-10`),
      reason: 'gate: version 9.7 newer than oldest replica 8.4 (db2)',
    },
    {
      title: 'errant GTIDs, block',
      db3: mysqlNode('db3', `${M}:1-10,${U3}:5-7`),
      reason: `gate: errant GTIDs ${U3}:5-7 (errant_gtids: block)`,
    },
    {
      title: 'log_replica_updates off when survivors are not level',
      db3: mysqlNode('db3', `${M}:1-11`, { logReplicaUpdates: false }),
      reason: /^gate: log_replica_updates off/,
    },
  ];
  for (const t of cases) {
    it(t.title, () => {
      let db2 = base();
      if (t.title.startsWith('version')) db2 = { ...db2, version: { flavor: 'mysql', major: 8, minor: 4, patch: 5, raw: '8.4.5' } };
      const p = plan(topo(db2, t.db3), cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }], t.cfg), t.opts);
      const c = cand(p, 'db3');
      assert.equal(c.verdict, t.verdict ?? 'gated');
      assert.ok(
        c.reasons.some((r) => (typeof t.reason === 'string' ? r === t.reason : t.reason.test(r))),
        `reasons ${JSON.stringify(c.reasons)} include ${t.reason}`,
      );
      assert.equal(p.winner, 'db2', 'the gated prefer node does not win');
    });
  }

  it('errant GTIDs with errant_gtids: warn is a warning, not a gate', () => {
    const p = plan(
      topo(mysqlNode('db2', `${M}:1-10`), mysqlNode('db3', `${M}:1-10,${U3}:5-7`)),
      cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }], { errant_gtids: 'warn' }),
    );
    assert.equal(p.winner, 'db3');
    assert.deepEqual(cand(p, 'db3').warnings, [`errant GTIDs ${U3}:5-7 (errant_gtids: warn)`]);
  });

  it("the dead master's newest transactions on one replica only are not errant", () => {
    const p = plan(topo(mysqlNode('db2', `${M}:1-12`), mysqlNode('db3', `${M}:1-10`)), cluster([{ name: 'db2' }, { name: 'db3' }]));
    assert.equal(cand(p, 'db2').errant, '');
    assert.equal(p.winner, 'db2');
  });

  it('without the master identity only the node own writes count as errant', () => {
    const p = planFailover(
      topo(mysqlNode('db2', `${M}:1-12,${U2}:1-2`), mysqlNode('db3', `${M}:1-10`)),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
      'db1',
    );
    assert.equal(cand(p, 'db2').errant, `${U2}:1-2`);
    assert.equal(p.winner, 'db3');
  });

  it('a lone survivor without master history is not judged errant (warning)', () => {
    const p = planFailover(topo(mysqlNode('db2', `${M}:1-12,${U2}:1-2`)), cluster([{ name: 'db2' }]), 'db1');
    assert.equal(p.winner, 'db2');
    assert.match(cand(p, 'db2').warnings[0], /errant GTIDs not checked/);
  });

  it('a lone survivor is compared with the last known master GTID set', () => {
    const p = planFailover(topo(mysqlNode('db2', `${M}:1-12,${U2}:1-50:51`)), cluster([{ name: 'db2' }]), 'db1', {
      lastKnownMaster: { ...unreachable('db1'), serverUuid: M, executedGtid: `${M}:1-11,${U2}:1-50` },
    });
    assert.equal(cand(p, 'db2').errant, `${U2}:51`);
    assert.equal(p.winner, null);
  });

  it('a gated node that received the most is still the catch-up source (lag), or unobtainable (binlog off)', () => {
    const lagging = plan(
      topo(mysqlNode('db2', `${M}:1-10`, { ch: { secondsBehind: 900, retrievedGtidSet: `${M}:5-20` } }), mysqlNode('db3', `${M}:1-12`)),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(lagging.winner, 'db3');
    assert.equal(lagging.mostAdvanced, 'db2');
    assert.deepEqual(lagging.catchUp.map((c) => c.from), ['db2']);
    assert.deepEqual(lagging.unobtainable, []);

    const nobinlog = plan(
      topo(mysqlNode('db2', `${M}:1-20`, { logBin: false }), mysqlNode('db3', `${M}:1-12`)),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(nobinlog.winner, 'db3');
    assert.deepEqual(nobinlog.unobtainable, [{ node: 'db2', transactions: `${M}:13-20`, why: 'binlog off' }]);
    assert.match(nobinlog.leftOut[0].why, /has transactions the new master will lack/);
    assert.match(cand(nobinlog, 'db3').reasons[0], /cannot be brought level/);
  });
});

describe('planner: forced target (--to)', () => {
  const t = () => topo(mysqlNode('db2', `${M}:1-10`), mysqlNode('db3', `${M}:1-10`, { ch: { secondsBehind: 900 } }), mysqlNode('db4', `${M}:1-10`, { logBin: false }));
  const c = cluster([{ name: 'db2' }, { name: 'db3' }, { name: 'db4' }]);
  it('an eligible target is chosen', () => {
    const p = plan(t(), c, { to: 'db2' });
    assert.equal(p.winner, 'db2');
    assert.equal(cand(p, 'db2').reasons[0], 'forced target (--to db2)');
  });
  it('a soft gate refuses without --force, and is overridden with it', () => {
    const refused = plan(t(), c, { to: 'db3' });
    assert.equal(refused.winner, null);
    assert.match(refused.noWinnerReasons[0], /--to db3: gate: lag 900s > max_lag_s 300 \(add --force to override\)/);
    const forced = plan(t(), c, { to: 'db3', force: true });
    assert.equal(forced.winner, 'db3');
    assert.deepEqual(cand(forced, 'db3').warnings, ['overridden by --force: gate: lag 900s > max_lag_s 300']);
  });
  it('a hard gate cannot be overridden', () => {
    const p = plan(t(), c, { to: 'db4', force: true });
    assert.equal(p.winner, null);
    assert.match(p.noWinnerReasons[0], /gate: binlog off \(cannot be overridden\)/);
  });
  it('unknown node and dead master are refused', () => {
    assert.match(plan(t(), c, { to: 'db9' }).noWinnerReasons[0], /not a node/);
    assert.match(plan(t(), c, { to: 'db1' }).noWinnerReasons[0], /dead master/);
  });
});

describe('planner: MariaDB GTID', () => {
  function maria(name: string, o: { slavePos: string; ioPos?: string; binlogPos?: string; executed?: string }, extra: Over = {}): NodeSnapshot {
    const n = mysqlNode(name, '', extra);
    return {
      ...n,
      version: { flavor: 'mariadb', major: 10, minor: 11, patch: 9, raw: '10.11.9-MariaDB' },
      serverUuid: undefined,
      gtidMode: 'ON',
      executedGtid: o.executed ?? o.slavePos,
      mariadb: { slavePos: o.slavePos, ioPos: o.ioPos, binlogPos: o.binlogPos ?? o.slavePos },
    };
  }
  it('received = max(io pos, slave pos) per domain', () => {
    const p = plan(
      topo(maria('db2', { slavePos: '0-1-90', ioPos: '0-1-100' }), maria('db3', { slavePos: '0-1-95', ioPos: '0-1-95' })),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(p.mode, 'mariadb-gtid');
    assert.equal(p.winner, 'db2');
    assert.equal(p.target, '0-1-100');
    assert.equal(cand(p, 'db3').lacks, 'domain 0 seq 96-100');
  });
  it('with GTID positioning and both threads stopped, the relay log does not count (START SLAVE deletes it), and the node says so', () => {
    const stopped = { ch: { ioState: 'No' as const, sqlRunning: false, mariadbUsingGtid: 'Slave_Pos' as const } };
    const p = plan(
      topo(maria('db2', { slavePos: '0-1-90', ioPos: '0-1-100' }, stopped), maria('db3', { slavePos: '0-1-95', ioPos: '0-1-95' }, { ch: { mariadbUsingGtid: 'Slave_Pos' } })),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(p.winner, 'db3');
    assert.equal(cand(p, 'db2').received, '0-1-90');
    assert.match(cand(p, 'db2').warnings.join('; '), /relay log not counted: both threads stopped with GTID positioning.*beyond 0-1-90 \(up to 0-1-100\)/);
    // One thread running: the relay log will be applied, it counts.
    const q = plan(
      topo(maria('db2', { slavePos: '0-1-90', ioPos: '0-1-100' }, { ch: { ioState: 'No', sqlRunning: true, mariadbUsingGtid: 'Slave_Pos' } }), maria('db3', { slavePos: '0-1-95', ioPos: '0-1-95' })),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.equal(q.winner, 'db2');
    assert.equal(cand(q, 'db2').warnings.length, 0);
  });
  it("a replica's own writes in a domain nobody else has are errant", () => {
    const p = plan(
      topo(
        maria('db2', { slavePos: '0-1-100', binlogPos: '0-1-100,1-2-3', executed: '0-1-100,1-2-3' }),
        maria('db3', { slavePos: '0-1-100' }),
      ),
      cluster([{ name: 'db2', promotion: 'prefer' }, { name: 'db3' }]),
    );
    assert.equal(cand(p, 'db2').errant, '1-2-3');
    assert.equal(cand(p, 'db2').verdict, 'gated');
    assert.equal(p.winner, 'db3');
  });
});

describe('planner: file/position mode', () => {
  const f = (name: string, read: number, o: Over = {}) =>
    mysqlNode(name, '', {
      gtidMode: 'OFF',
      ...o,
      ch: { read: { file: 'binlog.000007', pos: read }, exec: { file: 'binlog.000007', pos: read }, gtidAutoPosition: false, ...o.ch },
    });
  it('the node that read furthest in the dead master binlog wins; a survivor behind it is located (level-up) by what it received and repointed; both it and one level with the winner drain in their repoint', () => {
    const p = plan(topo(f('db2', 5000), f('db3', 4000), f('db4', 5000)), cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }, { name: 'db4' }]));
    assert.equal(p.mode, 'file');
    assert.equal(p.winner, 'db2');
    assert.deepEqual(p.repoint, ['db3', 'db4']);
    assert.deepEqual(p.levelUp, ['db3']);
    assert.deepEqual(p.leftOut, []);
    assert.equal(cand(p, 'db3').reasons[0], 'file/position: db2 is level by itself, db3 only after a catch-up (located through relay logs that may be purged), so it ranks after');
    const names = p.steps.map((s) => s.name);
    assert.ok(names.indexOf('drain') < names.indexOf('level-up') && names.indexOf('level-up') < names.indexOf('promote'), names.join(' '));
    // db3 (behind) and db4 (level with the winner) drain in their repoint, after the promotion, not before it.
    assert.deepEqual(p.steps.find((s) => s.name === 'drain')!.params.nodes, ['db2']);
    const repoint = p.steps.find((s) => s.name === 'repoint')!;
    assert.match(String(repoint.params.how), /binlog position at promotion.*db3 at the positions the level-up step found/);
  });
  it('a survivor whose SQL thread stopped on an error, behind the winner or level with it by what it read: left out where it is, with what to do; behind, it is located (level-up) all the same', () => {
    for (const read of [4000, 5000]) {
      const p = plan(
        topo(f('db2', 5000), f('db3', read, { ch: { sqlRunning: false, lastSqlErrno: 1062, lastSqlError: 'Duplicate entry', exec: { file: 'binlog.000007', pos: 3000 } } }), f('db4', 5000)),
        cluster([{ name: 'db2' }, { name: 'db3' }, { name: 'db4' }]),
      );
      assert.equal(p.winner, 'db2');
      // Behind by what it read: located by the level-up for a later heir rejoin, not repointed now.
      assert.deepEqual(p.levelUp, read < 5000 ? ['db3'] : []);
      assert.deepEqual(p.repoint, ['db4']);
      assert.match(p.leftOut.find((l) => l.node === 'db3')!.why, read < 5000 ? /^file\/position: its SQL thread stopped on error 1062, .*the level-up locates it .* then heir rejoin db3 resumes it where the level-up placed it$/ : /^file\/position: its SQL thread stopped on error 1062, .* then heir rejoin db3$/);
      assert.deepEqual(p.steps.find((s) => s.name === 'drain')!.params.nodes, ['db2'], 'db3 is not drained: it cannot apply');
    }
  });
  it('a rerun keeps the master an earlier run journaled, compares the others with where it stood in the dead master\'s binlog, and keeps those already repointed', () => {
    const promoted = f('db2', 0, { readOnly: false, superReadOnly: false, replication: [] });
    const onDb2 = f('db4', 300, { ch: { sourceHost: '10.0.0.2', sourceServerId: 2, read: { file: 'binlog.000001', pos: 300 }, exec: { file: 'binlog.000001', pos: 300 } } });
    const earlier = { node: 'db2', binlog: { file: 'binlog.000001', pos: 157 }, fromDead: { file: 'binlog.000007', pos: 5000 } };
    const p = plan(topo(promoted, f('db3', 5000), onDb2), cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }, { name: 'db4' }]), { earlier });
    assert.equal(p.winner, 'db2');
    assert.match(cand(p, 'db2').reasons[0]!, /already the master/);
    assert.deepEqual(p.repoint.sort(), ['db3', 'db4']);
    assert.deepEqual(p.leftOut, []);
    // Without the journal, the reset node has nothing to compare: neither it nor a second master.
    const fresh = plan(topo(promoted, f('db3', 5000)), cluster([{ name: 'db2' }, { name: 'db3' }]));
    assert.equal(fresh.winner, null);
    assert.match(fresh.noWinnerReasons.join(' '), /db2 is writable and replicates from no one, and no journal/);
  });
  it('heir died inside the earlier run\'s promote, after RESET REPLICA ALL: the half-promoted node (read-only, no channel) stays the winner, the others are compared with where it stood', () => {
    const half = f('db2', 0, { replication: [] });
    const earlier = { node: 'db2', unfinished: true, fromDead: { file: 'binlog.000007', pos: 5000 } };
    const p = plan(topo(half, f('db3', 5000)), cluster([{ name: 'db2' }, { name: 'db3', promotion: 'prefer' }]), { earlier });
    assert.equal(p.winner, 'db2');
    assert.match(cand(p, 'db2').reasons[0]!, /half promoted .* heir died inside the promote step/);
    assert.deepEqual(p.repoint, ['db3']);
    // Without the journal the reset node shows nothing to compare: another node is elected
    // and the half-promoted one is left out (its data unknown): what the journal prevents.
    const fresh = plan(topo(half, f('db3', 5000)), cluster([{ name: 'db2' }, { name: 'db3' }]));
    assert.equal(fresh.winner, 'db3');
    assert.ok(fresh.leftOut.some((l) => l.node === 'db2'), JSON.stringify(fresh.leftOut));
  });
  it('the furthest reader has promotion: never: the winner catches up from it (located in its binlog), it is repointed, a node behind the winner is levelled up first, a node between them left out', () => {
    const p = plan(
      topo(f('db2', 5000), f('db3', 4000), f('db4', 3000), f('db5', 4500)),
      cluster([{ name: 'db2', promotion: 'never' }, { name: 'db3' }, { name: 'db4' }, { name: 'db5', promotion: 'never' }]),
    );
    assert.equal(p.winner, 'db3');
    assert.deepEqual(p.catchUp.map((c) => c.from), ['db2']);
    assert.deepEqual(p.unobtainable, []);
    assert.deepEqual(p.levelUp, ['db4']);
    assert.deepEqual(p.repoint.sort(), ['db2', 'db4']);
    assert.match(p.leftOut.find((l) => l.node === 'db5')!.why, /^file\/position: it read binlog\.000007:4500, beyond the winner's binlog\.000007:4000 and short of binlog\.000007:5000 that the winner catches up to/);
    const names = p.steps.map((x) => x.name);
    assert.ok(names.indexOf('drain') < names.indexOf('level-up') && names.indexOf('level-up') < names.indexOf('catch-up') && names.indexOf('catch-up') < names.indexOf('promote'), names.join(' '));
    assert.deepEqual((p.steps.find((x) => x.name === 'drain')!.params.nodes as string[]).sort(), ['db2', 'db3']);
  });
  it('file mode: a furthest reader without log_replica_updates, or that does not replicate from the dead master, serves no catch-up: what only it read is unobtainable', () => {
    const noLru = plan(topo(f('db2', 5000, { logReplicaUpdates: false }), f('db3', 4000)), cluster([{ name: 'db2', promotion: 'never' }, { name: 'db3' }]));
    assert.equal(noLru.winner, 'db3');
    assert.deepEqual(noLru.catchUp, []);
    assert.deepEqual(noLru.unobtainable.map((u) => u.node), ['db2']);
    assert.equal(cand(noLru, 'db2').canServe, false);
  });
  it('file mode: a rerun keeping the master an earlier run promoted fetches nothing into it (the survivors are pointed into its binlog already)', () => {
    const promoted = f('db2', 0, { readOnly: false, superReadOnly: false, replication: [] });
    const earlier = { node: 'db2', binlog: { file: 'binlog.000001', pos: 157 }, fromDead: { file: 'binlog.000007', pos: 4000 } };
    const p = plan(topo(promoted, f('db3', 5000)), cluster([{ name: 'db2' }, { name: 'db3', promotion: 'never' }]), { earlier });
    assert.equal(p.winner, 'db2');
    assert.deepEqual(p.catchUp, []);
    assert.match(p.leftOut.find((l) => l.node === 'db3')!.why, /beyond the winner's binlog\.000007:4000$/);
  });
  it('a replica of a replica is gated in file mode', () => {
    const p = plan(
      topo(f('db2', 5000), f('db3', 5000, { ch: { sourceHost: '10.0.0.2', sourceServerId: 2 } })),
      cluster([{ name: 'db2' }, { name: 'db3' }]),
    );
    assert.match(cand(p, 'db3').reasons[0], /not replicating from the dead master db1/);
  });
});
