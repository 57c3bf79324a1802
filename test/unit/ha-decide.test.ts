import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mayMutate, safetyMarginMs, type LeadershipState, type MasterView } from '../../src/ha/decide';

const leader = (confirmedSentAt: number): LeadershipState => ({ role: 'leader', createRevision: '42', confirmedSentAt });

test('mayMutate: only a leader whose lease etcd confirmed less than ttl minus the margin ago', () => {
  const base = { cluster: 'c1', manager: 'm1', ttlMs: 5000 };
  const cases: [string, LeadershipState, number, boolean, RegExp?][] = [
    ['fresh leader', leader(1000), 1000, true],
    ['leader just inside the margin', leader(1000), 1000 + 5000 - 501, true],
    ['leader at the margin', leader(1000), 1000 + 5000 - 500, false, /last confirmed by etcd 4\.5 s ago \(lease 5 s\): it may have expired/],
    ['leader resumed after a pause longer than the lease', leader(1000), 1000 + 60000, false, /may have expired \(etcd unreachable, or this process was paused\)/],
    ['follower seeing the leader', { role: 'follower', leader: 'm2' }, 0, false, /^m1 is not the leader of cluster c1 \(m2 is\)$/],
    ['follower, no leader', { role: 'follower' }, 0, false, /\(no leader elected\)/],
    ['unknown', { role: 'unknown', why: 'etcd unavailable: deadline exceeded' }, 0, false, /^leadership of cluster c1 unknown: etcd unavailable/],
  ];
  for (const [name, state, now, allowed, reason] of cases) {
    const d = mayMutate({ ...base, state, now });
    assert.equal(d.allowed, allowed, name);
    if (reason) assert.match(d.reason!, reason, name);
    else assert.equal(d.reason, undefined, name);
  }
});

test('safetyMarginMs: a tenth of the lease, between 200 ms and 1 s', () => {
  assert.equal(safetyMarginMs(2000), 200);
  assert.equal(safetyMarginMs(5000), 500);
  assert.equal(safetyMarginMs(60000), 1000);
});

test('views: refreshed every three intervals (at least 1 s), stale after one refresh and two intervals', async () => {
  const { viewRefreshMs, viewMaxAgeMs } = await import('../../src/ha/decide');
  assert.equal(viewRefreshMs(1000), 3000);
  assert.equal(viewMaxAgeMs(1000), 5000);
  assert.equal(viewRefreshMs(200), 1000);
  assert.equal(viewMaxAgeMs(200), 1400);
  assert.equal(viewMaxAgeMs(5000), 25000);
});

test('viewPublishDue: at once when the view changed, else once per refresh period', async () => {
  const { viewPublishDue } = await import('../../src/ha/decide');
  const v = (o: Partial<MasterView> = {}): MasterView => ({ manager: 'm1', cluster: 'c1', master: 'db1', reachable: true, verdict: 'Healthy', at: '2026-01-01T00:00:00.000Z', ...o });
  const last = { view: v(), sentAt: 10_000 };
  assert.equal(viewPublishDue(undefined, v(), 10_000, 3000), true, 'first view');
  assert.equal(viewPublishDue(last, v({ at: '2026-01-01T00:00:01.000Z' }), 11_000, 3000), false, 'unchanged, within the period');
  assert.equal(viewPublishDue(last, v(), 13_000, 3000), true, 'unchanged, period over');
  assert.equal(viewPublishDue(last, v({ reachable: false, failingSince: '2026-01-01T00:00:01.000Z' }), 10_100, 3000), true, 'lost the master');
  assert.equal(viewPublishDue(last, v({ verdict: 'Suspect' }), 10_100, 3000), true, 'verdict changed');
  assert.equal(viewPublishDue(last, v({ master: 'db2' }), 10_100, 3000), true, 'another master');
  // 60 rounds a minute at the default interval, unchanged: 20 writes.
  let sent: { view: MasterView; sentAt: number } | undefined;
  let writes = 0;
  for (let t = 0; t < 60_000; t += 1000) {
    if (viewPublishDue(sent, v(), t, 3000)) {
      sent = { view: v(), sentAt: t };
      writes++;
    }
  }
  assert.equal(writes, 20);
});

test('viewPublishDue: another manager lost the master after our last write while we reach it → publish at the next round', async () => {
  const { viewPublishDue, peerLostAt } = await import('../../src/ha/decide');
  const v = (o: Partial<MasterView> = {}): MasterView => ({ manager: 'm1', cluster: 'c1', master: 'db1', reachable: true, verdict: 'Healthy', at: '2026-01-01T00:00:00.000Z', ...o });
  const last = { view: v(), sentAt: 10_000 };
  assert.equal(viewPublishDue(last, v(), 11_000, 3000, 10_500), true, 'a peer lost it after our write');
  assert.equal(viewPublishDue(last, v(), 11_000, 3000, 9_000), false, 'a peer lost it before our write: ours is newer');
  assert.equal(viewPublishDue(last, v({ reachable: false }), 11_000, 3000, 10_500), true, 'changed anyway');
  const lostLast = { view: v({ reachable: false }), sentAt: 10_000 };
  assert.equal(viewPublishDue(lostLast, v({ reachable: false }), 11_000, 3000, 10_500), false, 'we do not reach it either: nothing new to say');
  const views = [
    v({ manager: 'm1', reachable: false, at: '2026-01-01T00:00:09.000Z' }),
    v({ manager: 'm2', reachable: false, at: '2026-01-01T00:00:05.000Z' }),
    v({ manager: 'm3', reachable: false, at: '2026-01-01T00:00:07.000Z' }),
    v({ manager: 'm4', reachable: true, at: '2026-01-01T00:00:08.000Z' }),
    v({ manager: 'm5', master: 'db2', reachable: false, at: '2026-01-01T00:00:08.500Z' }),
  ];
  assert.equal(peerLostAt(views, 'm1', 'db1'), Date.parse('2026-01-01T00:00:07.000Z'), 'own view, reaching views and other masters skipped');
  assert.equal(peerLostAt(views.slice(3), 'm1', 'db1'), undefined);
});
