/**
 * heir.ha forwarding, the pure part (src/daemon/forward.ts): where an action posted to a
 * manager's API is performed, never forwarded twice, the leader's URL from its record, and
 * what the client is told when the leader cannot be asked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { absoluteLocation, leaderAnswer, leaderUrl, routeAction, unreachableMessage, type RouteInput } from '../../src/daemon/forward';
import type { ManagerRecord } from '../../src/ha/managers';

const base: RouteInput = { cluster: 'shop', action: 'switchover', self: 'mgr-a', whyNot: undefined, leader: 'mgr-a', forwardedBy: undefined };
const follower = { whyNot: 'mgr-a is not the leader of cluster shop (mgr-b is)', leader: 'mgr-b' };

test('routeAction: the leader performs it, forwarded or not; a follower forwards to the leader it knows', () => {
  assert.deepEqual(routeAction(base), { kind: 'here' });
  assert.deepEqual(routeAction({ ...base, forwardedBy: 'mgr-b' }), { kind: 'here' });
  assert.deepEqual(routeAction({ ...base, ...follower }), { kind: 'forward', leader: 'mgr-b' });
  for (const action of ['failover', 'ack']) assert.deepEqual(routeAction({ ...base, ...follower, action }), { kind: 'forward', leader: 'mgr-b' });
});

test('routeAction: a forwarded request that reaches a manager that does not lead is refused, never forwarded again', () => {
  const r = routeAction({ ...base, ...follower, forwardedBy: 'mgr-c' });
  assert.equal(r.kind, 'refuse');
  assert.equal(r.kind === 'refuse' && r.code, 'not_leader');
  assert.match(r.kind === 'refuse' ? r.message : '', /^switchover of cluster shop forwarded by mgr-c to mgr-a, which does not lead the cluster \(mgr-a is not the leader of cluster shop \(mgr-b is\)\): not forwarded again/);
  // Even when it names a leader, and even when that leader is the sender (leadership moved back and forth).
  assert.equal(routeAction({ ...base, ...follower, forwardedBy: 'mgr-b' }).kind, 'refuse');
  assert.equal(routeAction({ ...base, whyNot: 'etcd unavailable', leader: null, forwardedBy: 'mgr-b' }).kind, 'refuse');
});

test('routeAction: no leader known, or this manager leads without a confirmed lease → refused with the reason (503)', () => {
  const none = routeAction({ ...base, whyNot: 'leadership of cluster shop unknown: etcd unavailable: deadline exceeded', leader: null });
  assert.deepEqual(none, {
    kind: 'refuse',
    code: 'leader_unavailable',
    message: 'switchover of cluster shop not performed: mgr-a does not lead the cluster and no leader is known (leadership of cluster shop unknown: etcd unavailable: deadline exceeded); post it again once a manager leads it (heir status shows the leader)',
  });
  const stale = routeAction({ ...base, whyNot: 'the leadership lease of cluster shop was last confirmed by etcd 4.6 s ago (lease 5 s): it may have expired', leader: 'mgr-a' });
  assert.equal(stale.kind, 'refuse');
  assert.equal(stale.kind === 'refuse' && stale.code, 'leader_unavailable');
  assert.match(stale.kind === 'refuse' ? stale.message : '', /mgr-a leads the cluster but may not act now \(the leadership lease/);
});

test("leaderUrl: the leader's advertised URL; no record, no address, or this manager's own address → refused naming the leader", () => {
  const i = { cluster: 'shop', action: 'ack', self: 'mgr-a', selfUrl: 'http://10.0.1.7:7878', leader: 'mgr-b' };
  const rec = (api: string | null): ManagerRecord => ({ manager: 'mgr-b', api, host: 'b', pid: 1, since: '2026-01-01T00:00:00.000Z' });
  assert.deepEqual(leaderUrl(i, rec('http://10.0.2.7:7878')), { url: 'http://10.0.2.7:7878' });
  assert.deepEqual(leaderUrl({ ...i, selfUrl: undefined }, rec('http://10.0.2.7:7878')), { url: 'http://10.0.2.7:7878' });
  const none = leaderUrl(i, undefined);
  assert.ok('code' in none && none.code === 'leader_unavailable');
  assert.match('message' in none ? none.message : '', /^ack of cluster shop not performed: mgr-a does not lead the cluster, and its leader mgr-b has published no API address in etcd/);
  const noApi = leaderUrl(i, rec(null));
  assert.match('message' in noApi ? noApi.message : '', /its leader mgr-b has no API address the other managers can reach: set heir\.api\.advertise_url on mgr-b$/);
  const same = leaderUrl(i, rec('http://10.0.1.7:7878'));
  assert.match('message' in same ? same.message : '', /advertises this manager's own API address \(http:\/\/10\.0\.1\.7:7878\): heir\.api\.advertise_url must differ on every manager/);
});

test('unreachableMessage: a refused connection was not performed; a timeout or a cut connection leaves it unknown', () => {
  const i = { cluster: 'shop', action: 'switchover', leader: 'mgr-b', url: 'http://10.0.2.7:7878' };
  assert.equal(
    unreachableMessage({ ...i, reason: 'ECONNREFUSED', timedOut: false }),
    'switchover of cluster shop: its leader mgr-b at http://10.0.2.7:7878 cannot be reached (ECONNREFUSED): not performed; post it again once mgr-b answers or another manager leads the cluster',
  );
  assert.match(unreachableMessage({ ...i, reason: 'EHOSTUNREACH', timedOut: false }), /cannot be reached \(EHOSTUNREACH\): not performed/);
  const late = unreachableMessage({ ...i, reason: 'no answer within 15000 ms', timedOut: true });
  assert.match(late, /^switchover of cluster shop: its leader mgr-b at http:\/\/10\.0\.2\.7:7878 did not answer within 15 s \(no answer within 15000 ms\); whether the switchover started is unknown: see GET \/api\/v1\/clusters\/shop/);
  assert.match(unreachableMessage({ ...i, reason: 'ECONNRESET', timedOut: false }), /did not answer \(ECONNRESET\); whether the switchover started is unknown/);
});

test("leaderAnswer: the leader's answer passes, except its refusal of this manager's token", () => {
  for (const status of [200, 202, 400, 404, 409, 500, 503]) assert.deepEqual(leaderAnswer({ cluster: 'shop', action: 'ack', leader: 'mgr-b', status }), { pass: true });
  const r = leaderAnswer({ cluster: 'shop', action: 'ack', leader: 'mgr-b', status: 401 });
  assert.equal(r.pass, false);
  assert.match(!r.pass ? r.message : '', /^ack of cluster shop not performed: its leader mgr-b refused the forwarded request \(HTTP 401\): heir\.api\.token must be the same on every manager$/);
  assert.equal(leaderAnswer({ cluster: 'shop', action: 'ack', leader: 'mgr-b', status: 403 }).pass, false);
});

test("absoluteLocation: the leader's Location made absolute to its API", () => {
  assert.equal(absoluteLocation('http://10.0.2.7:7878', '/api/v1/operations/abc'), 'http://10.0.2.7:7878/api/v1/operations/abc');
  assert.equal(absoluteLocation('https://[fd00::7]:8443', '/api/v1/operations/abc'), 'https://[fd00::7]:8443/api/v1/operations/abc');
  assert.equal(absoluteLocation('http://10.0.2.7:7878', 'http://elsewhere:1/x'), 'http://elsewhere:1/x');
});
