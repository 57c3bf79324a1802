/** The detection state machine: hysteresis, reporting, recovery. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initialState, step, type MachineState, type StateChange } from '../../src/monitor/state';
import type { Verdict, VerdictKind } from '../../src/monitor/types';

const T0 = 1_700_000_000_000;
let clock = T0;
function v(kind: VerdictKind, failoverAllowed = false): Verdict {
  clock += 1000;
  return {
    kind,
    cluster: 'c1',
    master: 'db1',
    at: clock,
    rule: 'r',
    because: 'b',
    evidence: [],
    confirmedBy: [],
    failoverAllowed,
    reason: 'x',
    failingForMs: 0,
    received: {},
  };
}

function run(kinds: (VerdictKind | [VerdictKind, boolean])[]): { changes: StateChange[]; state: MachineState } {
  let s = initialState(T0);
  const changes: StateChange[] = [];
  for (const k of kinds) {
    const [kind, allowed] = Array.isArray(k) ? k : [k, false];
    const r = step(s, v(kind, allowed));
    s = r.state;
    if (r.change) changes.push(r.change);
  }
  return { changes, state: s };
}

const summary = (c: StateChange[]) => c.map((x) => `${x.from}>${x.to}${x.failoverAllowed ? '!' : ''}${x.alert ? '' : '~'}`);

test('healthy stays quiet', () => {
  assert.deepEqual(run(['Healthy', 'Healthy', 'Healthy']).changes, []);
});

test('one lost ping on a healthy master: Suspect then Healthy, no alert', () => {
  const { changes, state } = run(['Healthy', 'Suspect', 'Healthy', 'Healthy']);
  assert.deepEqual(summary(changes), ['Healthy>Suspect~', 'Suspect>Healthy~']);
  assert.equal(state.state, 'Healthy');
});

test('one odd round of AliveWithErrors does not alert; two in a row do', () => {
  assert.deepEqual(summary(run(['AliveWithErrors', 'Healthy']).changes), ['Healthy>Suspect~', 'Suspect>Healthy~']);
  assert.deepEqual(summary(run(['AliveWithErrors', 'AliveWithErrors', 'AliveWithErrors']).changes), ['Healthy>Suspect~', 'Suspect>AliveWithErrors']);
});

test('UnreachableMaster needs two rounds too, and never allows failover', () => {
  const { changes } = run(['Suspect', 'UnreachableMaster', 'UnreachableMaster']);
  assert.deepEqual(summary(changes), ['Healthy>Suspect~', 'Suspect>UnreachableMaster']);
});

test('a dead verdict is reported at once, and again when failover becomes allowed', () => {
  const { changes } = run(['Suspect', 'HungMaster', 'HungMaster', ['HungMaster', true], ['HungMaster', true]]);
  assert.deepEqual(summary(changes), ['Healthy>Suspect~', 'Suspect>HungMaster', 'HungMaster>HungMaster!']);
});

test('a dead verdict straight from Healthy (corroboration in the first round)', () => {
  const { changes } = run([['DeadMaster', true]]);
  assert.deepEqual(summary(changes), ['Healthy>DeadMaster!']);
});

test('a reported verdict is not withdrawn for a round of incomplete evidence', () => {
  const { changes, state } = run([['DeadMasterHost', true], 'Suspect', ['DeadMasterHost', true]]);
  assert.deepEqual(summary(changes), ['Healthy>DeadMasterHost!']);
  assert.equal(state.state, 'DeadMasterHost');
});

test('recovery after a verdict needs two good pings, and is an alert', () => {
  const { changes } = run([['HungMaster', false], 'Healthy', 'Healthy', 'Healthy']);
  assert.deepEqual(summary(changes), ['Healthy>HungMaster', 'HungMaster>Healthy']);
  const flap = run([['HungMaster', false], 'Healthy', 'Suspect', 'Healthy']);
  assert.deepEqual(summary(flap.changes), ['Healthy>HungMaster']);
});

test('verdict changes between kinds are reported', () => {
  const { changes } = run(['Suspect', 'DeadMasterHost', ['DeadMaster', true]]);
  assert.deepEqual(summary(changes), ['Healthy>Suspect~', 'Suspect>DeadMasterHost', 'DeadMasterHost>DeadMaster!']);
});

test('analyses repeated within one round count as one round', () => {
  let s = initialState(T0);
  const changes: StateChange[] = [];
  for (const [kind, round] of [
    ['AliveWithErrors', 1],
    ['AliveWithErrors', 1],
    ['AliveWithErrors', 1],
    ['AliveWithErrors', 2],
  ] as [VerdictKind, number][]) {
    const r = step(s, v(kind), undefined, round);
    s = r.state;
    if (r.change) changes.push(r.change);
  }
  assert.deepEqual(summary(changes), ['Healthy>Suspect~', 'Suspect>AliveWithErrors']);
  assert.equal(changes[1]!.verdict.kind, 'AliveWithErrors');
});
