/** The daemon's decisions: master at start, dead verdict → failover or blocked, outcome mapping (pure). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../../src/mysql/types';
import {
  decideSecondWritable,
  journaledSuccessor,
  decideAutoFailover,
  decideOldMaster,
  autoRejoinDue,
  transactionCount,
  AUTO_REJOIN_RECHECK_MS,
  AUTO_REJOIN_RETRY_MS,
  sshReachable,
  failoverEventType,
  failoverMetricResult,
  inferMaster,
  lagOf,
  nodeRole,
  switchoverEventType,
  switchoverMetricResult,
  type AutoFailoverFacts,
} from '../../src/daemon/decide';
import { mayStartFailover } from '../../src/failover/guard';

const cluster = ClusterConfig.parse({
  name: 'c1',
  mysql: { user: 'heir', password: 'pw', replication_user: 'repl', replication_password: 'rpw' },
  nodes: [
    { name: 'db1', host: '10.0.0.1' },
    { name: 'db2', host: '10.0.0.2' },
    { name: 'db3', host: '10.0.0.3' },
  ],
});

function channel(host: string, o: Partial<ReplicationChannel> = {}): ReplicationChannel {
  return {
    channel: '',
    sourceHost: host,
    sourcePort: 3306,
    ioState: 'Yes',
    sqlRunning: true,
    lastIoErrno: 0,
    lastIoError: '',
    lastSqlErrno: 0,
    lastSqlError: '',
    secondsBehind: 0,
    sourceServerId: 1,
    read: null,
    exec: null,
    retrievedGtidSet: '',
    gtidAutoPosition: true,
    ...o,
  };
}

function node(name: string, o: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return { name, host: `10.0.0.${name.slice(2)}`, port: 3306, takenAt: 0, reachable: true, readOnly: true, replication: [], ...o };
}

const topo = (...nodes: NodeSnapshot[]): TopologySnapshot => ({ cluster: 'c1', takenAt: 0, nodes });

test('master: the one writable node that replicates from no one', () => {
  const g = inferMaster(topo(node('db1', { readOnly: false }), node('db2', { replication: [channel('10.0.0.1')] }), node('db3', { replication: [channel('10.0.0.1')] })), cluster);
  assert.equal(g.master, 'db1');
});

test('master down at start: the node the replicas replicate from', () => {
  const lost = { ioState: 'Connecting' as const, lastIoErrno: 2003, lastIoError: "Can't connect" };
  const g = inferMaster(
    topo(node('db1', { reachable: false }), node('db2', { replication: [channel('10.0.0.1', lost)] }), node('db3', { replication: [channel('10.0.0.1', lost)] })),
    cluster,
  );
  assert.equal(g.master, 'db1');
  assert.match(g.why, /2 replica\(s\) replicate from db1 \(it does not answer\)/);
});

test('master: after a failover the new writable root wins over the dead one', () => {
  const g = inferMaster(
    topo(node('db1', { reachable: false }), node('db2', { readOnly: false }), node('db3', { replication: [channel('10.0.0.2')] })),
    cluster,
  );
  assert.equal(g.master, 'db2');
});

test('master: two writable roots or disagreeing replicas → unknown, with the reason', () => {
  const two = inferMaster(topo(node('db1', { readOnly: false }), node('db2', { readOnly: false }), node('db3', { replication: [channel('10.0.0.1')] })), cluster);
  assert.equal(two.master, null);
  assert.match(two.why, /several writable nodes.*db1, db2/);
  const split = inferMaster(
    topo(node('db1', { reachable: false }), node('db2', { replication: [channel('10.0.0.3')] }), node('db3', { replication: [channel('10.0.0.2')] })),
    cluster,
  );
  assert.equal(split.master, null);
});

const ok: AutoFailoverFacts = {
  failoverAllowed: true,
  auto: true,
  guard: { allowed: true, reasons: [] },
  lock: { held: false },
  busy: null,
  stopping: false,
};

test('dead verdict, nothing in the way: fail over', () => {
  assert.deepEqual(decideAutoFailover(ok), { action: 'failover' });
});

test('verdict without failover permission, stopping daemon, own operation running: nothing to do', () => {
  assert.equal(decideAutoFailover({ ...ok, failoverAllowed: false }).action, 'ignore');
  assert.equal(decideAutoFailover({ ...ok, stopping: true }).action, 'ignore');
  const busy = decideAutoFailover({ ...ok, busy: 'switchover' });
  assert.equal(busy.action, 'ignore');
});

test('auto off, lock held by the CLI, guard: blocked with every reason', () => {
  const d = decideAutoFailover({
    ...ok,
    auto: false,
    lock: { held: true, text: 'switchover (to db2) — pid 42 on m1 since t' },
    guard: { allowed: false, reasons: ['automatic failover blocked until T'] },
  });
  assert.equal(d.action, 'blocked');
  if (d.action !== 'blocked') return;
  assert.equal(d.reasons.length, 3);
  assert.match(d.reasons[0]!, /failover.auto is false/);
  assert.match(d.reasons[1]!, /lock is held: switchover \(to db2\)/);
  assert.match(d.reasons[2]!, /blocked until T/);
});

test('guard facts from the state dir feed the decision: block period and unfinished journal', () => {
  const now = Date.parse('2025-01-01T12:00:00Z');
  const recent = mayStartFailover({
    trigger: 'auto',
    unfinished: [],
    state: { lastAuto: { id: 'x', at: '2025-01-01T11:30:00Z', oldMaster: 'db1', newMaster: 'db2', outcome: 'promoted' } },
    now,
    blockPeriodS: 3600,
  });
  const d1 = decideAutoFailover({ ...ok, guard: recent });
  assert.equal(d1.action, 'blocked');
  const acked = mayStartFailover({
    trigger: 'auto',
    unfinished: [],
    state: {
      lastAuto: { id: 'x', at: '2025-01-01T11:30:00Z', oldMaster: 'db1', newMaster: 'db2', outcome: 'promoted' },
      acknowledged: { at: '2025-01-01T11:45:00Z', by: 'op' },
    },
    now,
    blockPeriodS: 3600,
  });
  assert.equal(decideAutoFailover({ ...ok, guard: acked }).action, 'failover');
  const expired = mayStartFailover({
    trigger: 'auto',
    unfinished: [],
    state: { lastAuto: { id: 'x', at: '2025-01-01T10:00:00Z', oldMaster: 'db1', newMaster: 'db2', outcome: 'promoted' } },
    now,
    blockPeriodS: 3600,
  });
  assert.equal(decideAutoFailover({ ...ok, guard: expired }).action, 'failover');
  const interrupted = mayStartFailover({
    trigger: 'auto',
    unfinished: [
      {
        path: '/s/c1/failover-1.journal.jsonl',
        id: '1',
        operation: 'failover',
        cluster: 'c1',
        pid: 7,
        begunAt: 't',
        detail: {},
        steps: [{ step: 'promote', startedAt: 't', outcome: 'running' }],
        notes: [],
        unfinished: true,
      },
    ],
    state: {},
    now,
    blockPeriodS: 3600,
  });
  const d2 = decideAutoFailover({ ...ok, guard: interrupted });
  assert.equal(d2.action, 'blocked');
  if (d2.action === 'blocked') assert.ok(d2.reasons.some((r) => /promote .*IN FLIGHT/.test(r)));
});

test('outcomes map onto metrics results and event types', () => {
  assert.equal(failoverMetricResult('promoted'), 'success');
  assert.equal(failoverMetricResult('promoted-with-errors'), 'failure');
  assert.equal(failoverMetricResult('failed'), 'failure');
  assert.equal(failoverMetricResult('no-candidate'), 'failure');
  assert.equal(failoverMetricResult('interrupted'), 'aborted');
  assert.equal(failoverMetricResult('refused'), null);
  assert.equal(failoverMetricResult('dry-run'), null);
  assert.equal(failoverEventType('promoted'), 'failover.finished');
  assert.equal(failoverEventType('promoted-with-errors'), 'failover.finished');
  assert.equal(failoverEventType('no-candidate'), 'failover.failed');
  assert.equal(failoverEventType('failed'), 'failover.failed');
  assert.equal(failoverEventType('interrupted'), 'failover.interrupted');
  assert.equal(failoverEventType('refused'), 'failover.blocked');
  assert.equal(switchoverMetricResult('switched'), 'success');
  assert.equal(switchoverMetricResult('switched-with-errors'), 'failure');
  assert.equal(switchoverMetricResult('failed'), 'failure');
  assert.equal(switchoverMetricResult('rolled-back'), 'aborted');
  assert.equal(switchoverMetricResult('aborted'), 'aborted', 'an error before writes stopped changed nothing: aborted, not failure');
  assert.equal(switchoverMetricResult('refused'), null);
  assert.equal(switchoverMetricResult('dry-run'), null);
  assert.equal(switchoverEventType('switched-with-errors'), 'switchover.finished');
  assert.equal(switchoverEventType('failed'), 'switchover.failed');
});

test('roles and lag for status', () => {
  assert.equal(nodeRole(node('db1', { readOnly: false }), 'db1'), 'master');
  assert.equal(nodeRole(node('db2', { replication: [channel('10.0.0.1')] }), 'db1'), 'replica');
  assert.equal(nodeRole(node('db3', { reachable: false }), 'db1'), 'unreachable');
  assert.equal(lagOf(node('db2', { replication: [channel('10.0.0.1', { secondsBehind: 7 })] })), 7);
  assert.equal(lagOf(node('db2', { replication: [channel('10.0.0.1', { secondsBehind: null })] })), null);
  assert.equal(lagOf(node('db1')), null);
});

test('old master: fenced whenever it answers writable; watched while read-only; done once it replicates from the master or is the master again', () => {
  const snap = (o: Partial<NodeSnapshot>): NodeSnapshot => ({ name: 'db1', host: '10.0.0.1', port: 3306, takenAt: 0, reachable: true, replication: [], ...o });
  assert.equal(decideOldMaster(cluster, snap({ reachable: false, error: { code: 'ETIMEDOUT', message: 'timeout' } }), 'db2').action, 'watch');
  const w = decideOldMaster(cluster, snap({ readOnly: false }), 'db2');
  assert.equal(w.action, 'fence');
  assert.match(w.why, /db1 answers writable \(read_only=0\) while db2 is the master/);
  assert.equal(decideOldMaster(cluster, snap({ readOnly: true, superReadOnly: true }), 'db2').action, 'watch');
  // A replica of a node that is not the master, or with its threads stopped, is not rejoined.
  assert.equal(decideOldMaster(cluster, snap({ readOnly: true, replication: [channel('10.0.0.3')] }), 'db2').action, 'watch');
  assert.equal(decideOldMaster(cluster, snap({ readOnly: true, replication: [channel('10.0.0.2', { ioState: 'No', sqlRunning: false })] }), 'db2').action, 'watch');
  assert.equal(decideOldMaster(cluster, snap({ readOnly: true, replication: [channel('10.0.0.2')] }), 'db2').action, 'done');
  // Writable while replicating from the master is still writable: fenced.
  assert.equal(decideOldMaster(cluster, snap({ readOnly: false, replication: [channel('10.0.0.2')] }), 'db2').action, 'fence');
  assert.equal(decideOldMaster(cluster, snap({ readOnly: false }), 'db1').action, 'done');
});

test('old master with failover.auto_rejoin: a fenced one that replicates from no one is handed to the rejoin; nothing else changes', () => {
  const auto = ClusterConfig.parse({ ...cluster, failover: { auto_rejoin: true } });
  assert.equal(cluster.failover.auto_rejoin, false, 'off by default');
  const snap = (o: Partial<NodeSnapshot>): NodeSnapshot => ({ name: 'db1', host: '10.0.0.1', port: 3306, takenAt: 0, reachable: true, replication: [], ...o });
  const r = decideOldMaster(auto, snap({ readOnly: true, superReadOnly: true }), 'db2');
  assert.equal(r.action, 'rejoin');
  assert.match(r.why, /db1 is read-only.*follows db2/);
  // Writable: fenced first; unreachable: watched; the master itself, or already replicating: done.
  assert.equal(decideOldMaster(auto, snap({ readOnly: false }), 'db2').action, 'fence');
  assert.equal(decideOldMaster(auto, snap({ reachable: false }), 'db2').action, 'watch');
  assert.equal(decideOldMaster(auto, snap({ readOnly: true }), 'db1').action, 'done');
  assert.equal(decideOldMaster(auto, snap({ readOnly: true, replication: [channel('10.0.0.2')] }), 'db2').action, 'done');
  // Set up to replicate from elsewhere (or stopped): a person's doing, left alone.
  assert.equal(decideOldMaster(auto, snap({ readOnly: true, replication: [channel('10.0.0.3')] }), 'db2').action, 'watch');
  assert.equal(decideOldMaster(auto, snap({ readOnly: true, replication: [channel('10.0.0.2', { ioState: 'No', sqlRunning: false })] }), 'db2').action, 'watch');
  // No master known: nothing to follow.
  assert.equal(decideOldMaster(auto, snap({ readOnly: true }), null).action, 'watch');
});

test('automatic rejoin: when to look again', () => {
  const t = 1_000_000;
  assert.equal(autoRejoinDue(undefined, 'db2', t), true);
  assert.equal(autoRejoinDue({ at: t, kind: 'transient', key: '' }, 'db2', t + AUTO_REJOIN_RETRY_MS - 1), false);
  assert.equal(autoRejoinDue({ at: t, kind: 'transient', key: '' }, 'db2', t + AUTO_REJOIN_RETRY_MS), true);
  assert.equal(autoRejoinDue({ at: t, kind: 'refused', key: 'db2|u:1' }, 'db2', t + AUTO_REJOIN_RECHECK_MS - 1), false);
  assert.equal(autoRejoinDue({ at: t, kind: 'refused', key: 'db2|u:1' }, 'db2', t + AUTO_REJOIN_RECHECK_MS), true);
  // A rejoin that ran and failed is for a person, as long as the master is the same.
  assert.equal(autoRejoinDue({ at: t, kind: 'failed', key: 'db2' }, 'db2', t + 10 * AUTO_REJOIN_RECHECK_MS), false);
  assert.equal(autoRejoinDue({ at: t, kind: 'failed', key: 'db2' }, 'db3', t + 1), true);
});

test('transactions named in a kept-fenced alert: counted for a MySQL GTID set, not for MariaDB positions', () => {
  assert.equal(transactionCount(''), 0);
  assert.equal(transactionCount('3e11fa47-71ca-11e1-9e33-c80aa9429562:5-7'), 3);
  assert.equal(transactionCount('3e11fa47-71ca-11e1-9e33-c80aa9429562:5-7:9,4e11fa47-71ca-11e1-9e33-c80aa9429562:1'), 5);
  assert.equal(transactionCount('0-1-12'), null);
});

test("salvage: the dead master's host answers SSH? The SSH check first; a DeadMasterHost verdict before it reported means no", () => {
  const ev = (points: 'host-down' | 'dead' | 'alive' | 'hung' | 'unknown') => [{ source: 'ssh' as const, subject: 'db1', at: 0, observation: 'x', points }];
  const mgr = [{ source: 'manager' as const, subject: 'manager', at: 0, observation: 'TCP probe: unreachable', points: 'host-down' as const }];
  assert.equal(sshReachable('DeadMaster', ev('host-down')), false);
  assert.equal(sshReachable('DeadMaster', ev('dead')), true);
  assert.equal(sshReachable('HungMaster', ev('hung')), true);
  assert.equal(sshReachable('DeadMasterHost', mgr), false, 'host down, SSH check not in yet');
  assert.equal(sshReachable('DeadMaster', mgr), undefined, 'mysqld down, SSH check not in yet: let salvage try');
  assert.equal(sshReachable('DeadMasterHost', ev('unknown')), undefined, 'sshd answered but refused heir: cannot tell');
});

test('a second writable node: fenced while the master answers; followed when a finished failover of the dead master promoted it while it was watched; else left alone', () => {
  const p = (id: string, deadMaster: string, promoted: string, endedAt: string) => ({ id, deadMaster, promoted, endedAt });
  const since = Date.parse('2025-12-31T00:00:00Z');
  assert.equal(decideSecondWritable('db1', 'db2', true, since, []).action, 'fence');
  // The CLI failed over db1 → db2 while the daemon still watched db1 (dead).
  const follow = decideSecondWritable('db2', 'db1', false, since, [p('a', 'db1', 'db3', '2026-01-01T00:00:00Z'), p('b', 'db1', 'db2', '2026-01-02T00:00:00Z')]);
  assert.deepEqual(follow.action, 'follow');
  assert.match(follow.why, /failover b .* promoted db2 after db1 died/);
  // The latest failover of db1 promoted another node; an older one, or one of another master, says nothing.
  assert.equal(decideSecondWritable('db3', 'db1', false, since, [p('a', 'db1', 'db3', '2026-01-01T00:00:00Z'), p('b', 'db1', 'db2', '2026-01-02T00:00:00Z')]).action, 'alert');
  assert.equal(decideSecondWritable('db2', 'db1', false, since, [p('c', 'db3', 'db2', '2026-01-03T00:00:00Z')]).action, 'alert');
  assert.equal(decideSecondWritable('db2', 'db1', false, since, []).action, 'alert');
  // db1 → db2 long ago, db1 master again since (a switchover back) and dead now, db2 writable by
  // other means: that old failover does not make db2 the master to follow.
  const stale = decideSecondWritable('db2', 'db1', false, Date.parse('2026-02-01T00:00:00Z'), [p('b', 'db1', 'db2', '2026-01-02T00:00:00Z')]);
  assert.equal(stale.action, 'alert');
});

test('journaledSuccessor: the node the journals name after a master failed over elsewhere while it was watched, alive or not', () => {
  const p = (id: string, deadMaster: string, promoted: string, endedAt: string) => ({ id, deadMaster, promoted, endedAt });
  const since = Date.parse('2026-01-02T00:00:00Z');
  // Another manager failed over db1 → db2 after this daemon began watching db1.
  const one = journaledSuccessor('db1', since, [p('a', 'db1', 'db2', '2026-01-02T00:00:05Z')]);
  assert.equal(one?.node, 'db2');
  assert.match(one!.why, /failover a \(ended 2026-01-02T00:00:05Z\) promoted db2 after db1 died/);
  // Then db2 → db3: followed to the end of the chain, in order.
  const two = journaledSuccessor('db1', since, [p('b', 'db2', 'db3', '2026-01-02T00:01:00Z'), p('a', 'db1', 'db2', '2026-01-02T00:00:05Z')]);
  assert.equal(two?.node, 'db3');
  // A failover of db1 that ended before this daemon watched it (db1 became the master again
  // since, by a switchover) says nothing; nor does one of another master.
  assert.equal(journaledSuccessor('db1', since, [p('old', 'db1', 'db2', '2026-01-01T00:00:00Z')]), undefined);
  assert.equal(journaledSuccessor('db1', since, [p('c', 'db3', 'db2', '2026-01-02T00:00:05Z')]), undefined);
  assert.equal(journaledSuccessor('db1', since, []), undefined);
  // A step of the chain that ended before the previous one is not part of it.
  assert.equal(journaledSuccessor('db1', since, [p('a', 'db1', 'db2', '2026-01-02T00:00:05Z'), p('z', 'db2', 'db3', '2026-01-02T00:00:04Z')])?.node, 'db2');
  // A cycle (db1 → db2 → db1) ends where the last failover left it.
  assert.equal(journaledSuccessor('db1', since, [p('a', 'db1', 'db2', '2026-01-02T00:00:05Z'), p('b', 'db2', 'db1', '2026-01-02T00:00:09Z')])?.node, 'db1');
});
