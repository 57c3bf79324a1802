/**
 * Other managers' views of the master (heir.ha) as a source of the verdict, on plain data:
 * how each view is judged (managerSights), a fresh "cannot reach it either" counted as one
 * corroborating source, a fresh "reaches it" as a veto named in the reason, stale and
 * earlier views counting for nothing, and nothing at all without views.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyze } from '../../src/monitor/verdict';
import { managerSights } from '../../src/monitor/sight';
import type { DetectionParams, ManagerSight, Observations, PeerView, PingObservation, ReplicaSight, SecondaryCheck } from '../../src/monitor/types';

const T0 = 1_700_000_000_000;
const MAX_AGE = 5000;
const params: DetectionParams = { minSources: 2, suspectTimeoutMs: 10_000 };

const view = (manager: string, o: Partial<PeerView> = {}): PeerView => ({ manager, master: 'db1', reachable: true, verdict: 'Healthy', at: T0 + 500, failingSince: null, ...o });
const sights = (views: PeerView[], now = T0 + 2000, firstFailureAt: number | null = T0) =>
  managerSights(views, { self: 'mgr-a', master: 'db1', now, firstFailureAt, maxAgeMs: MAX_AGE });

test('managerSights: fresh, earlier, old news, stale, another master, self skipped', () => {
  const s = sights([
    view('mgr-a', { reachable: false }),
    view('mgr-b', { at: T0 + 300 }),
    view('mgr-c', { at: T0 - 200 }),
    view('mgr-d', { reachable: false, verdict: 'DeadMaster', failingSince: T0 + 10, at: T0 + 400 }),
    view('mgr-e', { reachable: false, failingSince: T0 - 60_000, at: T0 + 400 }),
    view('mgr-f', { at: T0 - 4000 }),
    view('mgr-g', { master: 'db2', at: T0 + 400 }),
  ]);
  const by = Object.fromEntries(s.map((x) => [x.manager, x]));
  assert.equal(by['mgr-a'], undefined, "this manager's own view is not a source");
  assert.equal(by['mgr-b']!.status, 'reaches');
  assert.match(by['mgr-b']!.detail, /^mgr-b reaches db1 \(view 1\.7 s ago, verdict Healthy\)$/);
  assert.equal(by['mgr-c']!.status, 'earlier', 'reached the master before this failure began');
  assert.equal(by['mgr-d']!.status, 'lost');
  assert.match(by['mgr-d']!.detail, /^mgr-d cannot reach db1 either/);
  assert.equal(by['mgr-e']!.status, 'old-news', 'lost it a minute before this manager did: its own partition');
  assert.equal(by['mgr-f']!.status, 'stale', '6 s old, bound 5 s');
  assert.match(by['mgr-f']!.detail, /stale \(6\.0 s ago, more than 5000 ms\): counts for nothing/);
  assert.equal(by['mgr-g']!.status, 'stale', 'a view of another master');
  assert.deepEqual(s.map((x) => x.manager), ['mgr-b', 'mgr-c', 'mgr-d', 'mgr-e', 'mgr-f', 'mgr-g']);
});

test('managerSights: the freshness bound is inclusive, and a view taken at the failure counts', () => {
  assert.equal(sights([view('mgr-b', { at: T0 - 3000 })], T0 + 2000)[0]!.status, 'earlier');
  assert.equal(sights([view('mgr-b', { at: T0 - 3001 })], T0 + 2000)[0]!.status, 'stale');
  assert.equal(sights([view('mgr-b', { at: T0 })], T0 + 2000)[0]!.status, 'reaches');
});

// --- in the verdict ----------------------------------------------------------------

const ping = (c: PingObservation['class']): PingObservation => ({ at: T0, mode: 'select', class: c, latencyMs: 5 });
const tcp = (r: 'unreachable' | 'refused') => ({ at: T0 + 100, from: 'manager', result: r });
const lost = (name: string): ReplicaSight => ({ name, at: T0 + 300, status: 'lost', ioState: 'Connecting', lastIoErrno: 2003, detail: 'IO Connecting 2003' });
const silent = (name: string): ReplicaSight => ({ name, at: T0 + 300, status: 'silent', ioState: 'Yes', lastIoErrno: 0, silentForMs: 300, heartbeatPeriodMs: null, silenceConclusive: false, detail: 'IO Yes, nothing arrived' });
const stopped = (name: string): ReplicaSight => ({ name, at: T0 + 300, status: 'stopped', ioState: 'No', lastIoErrno: 0, detail: 'stopped by an operator' });
const sec = (from: string, result: 'unreachable'): SecondaryCheck => ({ at: T0 + 300, from, ran: true, result });

function obs(o: Partial<Observations>, managers?: ManagerSight[]): Observations {
  return {
    cluster: 'c1',
    master: 'db1',
    now: T0 + 2000,
    ping: ping('connect-timeout'),
    firstFailureAt: T0,
    replicas: [],
    host: null,
    secondary: [],
    ...o,
    ...(managers ? { managers } : {}),
  };
}

/** A manager cut off from an idle master: ping and TCP time out, no ssh, replicas stopped (say nothing). */
const cutOff = { ping: ping('connect-timeout'), tcp: tcp('unreachable'), replicas: [stopped('db2'), stopped('db3')] };

test('without views nothing changes: a manager cut off with no other source stays Suspect', () => {
  for (const managers of [undefined, []]) {
    const v = analyze(obs(cutOff, managers), params);
    assert.equal(v.kind, 'Suspect');
    assert.equal(v.failoverAllowed, false);
    assert.ok(!v.confirmedBy.includes('managers'));
    assert.ok(!v.evidence.some((e) => e.source === 'managers'));
  }
});

test('another manager reaches the master after the failure began: a veto, named in the verdict', () => {
  const v = analyze(obs({ ...cutOff, replicas: [lost('db2'), lost('db3')], secondary: [sec('db2', 'unreachable')] }, sights([view('mgr-b', { at: T0 + 800 })])), params);
  assert.equal(v.kind, 'UnreachableMaster');
  assert.equal(v.rule, 'other-manager-reaches');
  assert.equal(v.failoverAllowed, false);
  assert.match(v.reason, /^UnreachableMaster: mysqld is alive \(manager mgr-b reaches db1 \(view 1\.2 s ago, verdict Healthy\)\); failing over a live master/);
  const e = v.evidence.find((x) => x.source === 'managers');
  assert.deepEqual([e?.subject, e?.points], ['mgr-b', 'alive']);
});

test('another manager cannot reach it either: one corroborating source (with the manager: min_sources 2)', () => {
  const v = analyze(obs(cutOff, sights([view('mgr-b', { reachable: false, verdict: 'Suspect', failingSince: T0 + 20, at: T0 + 900 })])), params);
  assert.equal(v.kind, 'DeadMasterHost');
  assert.equal(v.rule, 'unreachable-no-ssh');
  assert.deepEqual(v.confirmedBy, ['manager', 'managers']);
  assert.equal(v.failoverAllowed, true);
  assert.match(v.reason, /confirmed by manager, managers \(2 of min_sources 2 sources agree\)/);
  // With min_sources 3 it is one source short.
  const v3 = analyze(obs(cutOff, sights([view('mgr-b', { reachable: false, failingSince: T0 + 20, at: T0 + 900 })])), { ...params, minSources: 3 });
  assert.equal(v3.failoverAllowed, false);
  assert.deepEqual(v3.confirmedBy, ['manager', 'managers']);
});

test('a killed master: port refused, replicas lost it, the other manager too → three sources', () => {
  const v = analyze(
    obs({ ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), lost('db3')] }, sights([view('mgr-b', { reachable: false, verdict: 'DeadMaster', failingSince: T0 + 5, at: T0 + 50 })])),
    { ...params, minSources: 3 },
  );
  assert.equal(v.kind, 'DeadMaster');
  assert.deepEqual(v.confirmedBy, ['manager', 'replicas', 'managers']);
  assert.equal(v.failoverAllowed, true);
});

test('one manager reaches it, another does not: the veto wins and nothing is counted', () => {
  const v = analyze(
    obs(cutOff, sights([view('mgr-b', { at: T0 + 900 }), view('mgr-c', { reachable: false, failingSince: T0 + 20, at: T0 + 900 })])),
    params,
  );
  assert.equal(v.kind, 'UnreachableMaster');
  assert.equal(v.failoverAllowed, false);
  assert.deepEqual(v.confirmedBy, []);
});

test('stale or old-news views count for nothing', () => {
  for (const w of [view('mgr-b', { reachable: false, at: T0 - 4000 }), view('mgr-b', { reachable: false, failingSince: T0 - 60_000, at: T0 + 900 }), view('mgr-b', { at: T0 - 4000 })]) {
    const v = analyze(obs(cutOff, sights([w])), params);
    assert.equal(v.kind, 'Suspect', JSON.stringify(w));
    assert.ok(!v.confirmedBy.includes('managers'));
  }
});

test('a view that reached the master before the failure holds even a confirmed dead verdict until the next one', () => {
  const dead = { ping: ping('refused'), tcp: tcp('refused'), replicas: [lost('db2'), lost('db3')] };
  const held = analyze(obs(dead, sights([view('mgr-b', { at: T0 - 300 })])), params);
  assert.equal(held.kind, 'Suspect');
  assert.equal(held.rule, 'awaiting-manager-views');
  assert.equal(held.failoverAllowed, false);
  assert.match(held.reason, /^looks like DeadMaster; waiting for the next view of mgr-b$/);
  // Its next view says it lost the master too.
  const next = analyze(obs(dead, sights([view('mgr-b', { reachable: false, failingSince: T0 + 10, at: T0 + 40 })])), params);
  assert.equal(next.kind, 'DeadMaster');
  assert.equal(next.failoverAllowed, true);
  // No next view: once stale, the earlier view no longer holds anything.
  const later = analyze(obs(dead, sights([view('mgr-b', { at: T0 - 300 })], T0 + 4800)), params);
  assert.equal(later.kind, 'DeadMaster');
  assert.equal(later.failoverAllowed, true);
  assert.ok(!later.confirmedBy.includes('managers'));
});

test('replicas still connected (silence not conclusive) hold a host-down verdict even when another manager lost it too', () => {
  const v = analyze(obs({ ...cutOff, replicas: [silent('db2'), silent('db3')] }, sights([view('mgr-b', { reachable: false, failingSince: T0 + 20, at: T0 + 900 })])), params);
  assert.equal(v.kind, 'Suspect');
  assert.equal(v.failoverAllowed, false);
});
