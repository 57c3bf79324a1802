import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  describeReplicaHealthChange,
  replicaHealthChanges,
  replicaHealthSeverity,
  type ReplicaHealthState,
} from '../../src/daemon/replica-health';
import type { ReplicaFinding } from '../../src/monitor/types';
import { isValidEventFilter, DEFAULT_SEVERITY, EVENT_TYPES } from '../../src/notify/events';

const lag = (replica: string, s: number): ReplicaFinding => ({ kind: 'Lagging', replica, detail: `${s} s behind db1 (threshold 30 s)` });
const broken = (replica: string): ReplicaFinding => ({ kind: 'ReplicationBroken', replica, detail: 'SQL thread stopped by error 1062: Duplicate entry' });
const errant = (replica: string): ReplicaFinding => ({ kind: 'ErrantGtids', replica, detail: 'transactions the master does not have: u:1-3' });
const REPLICAS = ['db2', 'db3'];

/** Feed a sequence of replica checks; the changes each produced. */
function run(checks: ReplicaFinding[][], replicas: string[][] = checks.map(() => REPLICAS)) {
  let state: ReplicaHealthState = new Map();
  return checks.map((f, i) => {
    const { changes, next } = replicaHealthChanges(state, f, replicas[i]!);
    state = next;
    return changes.map((c) => ({ replica: c.replica, added: c.added.map((a) => a.kind), resolved: c.resolved, healthy: c.current.length === 0 }));
  });
}

test('healthy replicas at start: no event', () => {
  assert.deepEqual(run([[]]), [[]]);
});

test('a new finding is one event; the same finding again (other detail) is none; its end is one event', () => {
  assert.deepEqual(run([[], [lag('db2', 40)], [lag('db2', 55)], [lag('db2', 61)], []]), [
    [],
    [{ replica: 'db2', added: ['Lagging'], resolved: [], healthy: false }],
    [],
    [],
    [{ replica: 'db2', added: [], resolved: ['Lagging'], healthy: true }],
  ]);
});

test('findings present at the first check are reported as new', () => {
  assert.deepEqual(run([[errant('db3')]]), [[{ replica: 'db3', added: ['ErrantGtids'], resolved: [], healthy: false }]]);
});

test('each replica changes on its own: only the replica that changed gets an event', () => {
  assert.deepEqual(run([[lag('db2', 40)], [lag('db2', 41), broken('db3')], [broken('db3')]]), [
    [{ replica: 'db2', added: ['Lagging'], resolved: [], healthy: false }],
    [{ replica: 'db3', added: ['ReplicationBroken'], resolved: [], healthy: false }],
    [{ replica: 'db2', added: [], resolved: ['Lagging'], healthy: true }],
  ]);
});

test('one finding replaced by another on the same replica: one event with both', () => {
  assert.deepEqual(run([[broken('db2')], [lag('db2', 300)]]), [
    [{ replica: 'db2', added: ['ReplicationBroken'], resolved: [], healthy: false }],
    [{ replica: 'db2', added: ['Lagging'], resolved: ['ReplicationBroken'], healthy: false }],
  ]);
});

test('a replica that became the master is forgotten without a "resolved" event; a new replica is watched', () => {
  // db2 lagged, then was promoted: db1 (old master) and db3 are the replicas now.
  const out = run(
    [[lag('db2', 40)], [{ kind: 'ReplicaUnreachable', replica: 'db1', detail: 'cannot read db1: ECONNREFUSED' }], []],
    [REPLICAS, ['db1', 'db3'], ['db1', 'db3']],
  );
  assert.deepEqual(out, [
    [{ replica: 'db2', added: ['Lagging'], resolved: [], healthy: false }],
    [{ replica: 'db1', added: ['ReplicaUnreachable'], resolved: [], healthy: false }],
    [{ replica: 'db1', added: [], resolved: ['ReplicaUnreachable'], healthy: true }],
  ]);
});

test('a kind reported twice for one replica counts once', () => {
  const both: ReplicaFinding[] = [broken('db2'), { ...broken('db2'), detail: 'IO No, IO thread error: 13114 ...' }];
  const { changes } = replicaHealthChanges(new Map(), both, REPLICAS);
  assert.equal(changes.length, 1);
  assert.deepEqual(changes[0]!.added.map((a) => a.kind), ['ReplicationBroken']);
  assert.equal(changes[0]!.current.length, 2, 'current keeps every finding for the details');
});

test('the state is not mutated; the same input twice gives the same answer', () => {
  const prev: ReplicaHealthState = new Map([['db2', new Set(['Lagging'] as const)]]);
  const a = replicaHealthChanges(prev, [], REPLICAS);
  const b = replicaHealthChanges(prev, [], REPLICAS);
  assert.deepEqual(a, b);
  assert.deepEqual([...prev.get('db2')!], ['Lagging']);
  assert.equal(a.next.size, 0);
});

test('severity and the one-line summary', () => {
  const { changes } = replicaHealthChanges(new Map([['db2', new Set(['ReplicationStopped'] as const)]]), [lag('db2', 45)], REPLICAS);
  const c = changes[0]!;
  assert.equal(replicaHealthSeverity(c), 'warning');
  assert.equal(
    describeReplicaHealthChange('app1', c),
    'app1: replica db2: new Lagging (45 s behind db1 (threshold 30 s)); resolved ReplicationStopped',
  );
  const { changes: ok } = replicaHealthChanges(new Map([['db2', new Set(['Lagging'] as const)]]), [], REPLICAS);
  assert.equal(replicaHealthSeverity(ok[0]!), 'info');
  assert.equal(describeReplicaHealthChange('app1', ok[0]!), 'app1: replica db2: resolved Lagging; healthy now');
});

test('replica.health is a known event type: webhook filters may name it', () => {
  assert.ok(EVENT_TYPES.includes('replica.health'));
  assert.equal(DEFAULT_SEVERITY['replica.health'], 'warning');
  assert.ok(isValidEventFilter('replica.health'));
  assert.ok(isValidEventFilter('replica.*'));
});
