/**
 * What every FailoverStore does, the same on local disk and in etcd: run by the unit tests
 * (LocalDiskStore) and the etcd integration tests (EtcdFailoverStore).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { FailoverStore } from '../../src/failover/store';
import { checkGuard } from '../../src/failover/store';
import { LockHeldError } from '../../src/failover/lock';

export function storeContract(name: string, make: () => Promise<{ store: FailoverStore; cluster: string }>): void {
  it(`${name}: an empty cluster has no journal, a free lock and no block`, async () => {
    const { store, cluster } = await make();
    assert.deepEqual(await store.listJournals(cluster), []);
    assert.deepEqual(await store.unfinishedJournals(cluster), []);
    assert.equal((await store.peekLock(cluster)).free, true);
    assert.deepEqual(await store.readFailoverState(cluster), {});
    assert.equal((await checkGuard(store, cluster, 'auto', 3600)).allowed, true);
  });

  it(`${name}: a journal records steps, progress and its end; records after the end are ignored`, async () => {
    const { store, cluster } = await make();
    const j = await store.beginJournal(cluster, 'failover', { deadMaster: 'db1' }, '20260101T000000.000Z-aaaa');
    assert.equal(j.id, '20260101T000000.000Z-aaaa');
    await j.stepStart('promote', { node: 'db2' });
    await j.progress('promote', { binlog: 'b.000001:4' });
    await j.stepEnd('promote', 'ok', 'db2 writable', undefined, { readOnlyOff: true });
    await j.note('all good');
    await j.end('success', 'db1 → db2');
    await j.stepStart('late');
    const [s, ...rest] = await store.listJournals(cluster);
    assert.equal(rest.length, 0);
    assert.equal(s!.id, j.id);
    assert.equal(s!.operation, 'failover');
    assert.equal(s!.cluster, cluster);
    assert.deepEqual(s!.detail, { deadMaster: 'db1' });
    assert.deepEqual(s!.steps.map((x) => [x.step, x.outcome]), [['promote', 'ok']]);
    assert.deepEqual(s!.steps[0]!.data, { binlog: 'b.000001:4', readOnlyOff: true });
    assert.deepEqual(s!.steps[0]!.params, { node: 'db2' });
    assert.deepEqual(s!.notes, ['all good']);
    assert.equal(s!.end?.outcome, 'success');
    assert.equal(s!.unfinished, false);
  });

  it(`${name}: the lock is exclusive and released; the running operation's journal is not unfinished, until its lock goes`, async () => {
    const { store, cluster } = await make();
    const lock = await store.acquireLock(cluster, 'failover', 'db1 dead, auto');
    assert.equal(lock.holder.pid, process.pid);
    const peek = await store.peekLock(cluster);
    assert.equal(peek.free, false);
    assert.equal(peek.stale, false);
    assert.match(peek.text!, /^failover \(db1 dead, auto\) — pid \d+ on /);
    await assert.rejects(store.acquireLock(cluster, 'switchover'), (e: Error) => e instanceof LockHeldError && /is locked by failover/.test(e.message));
    const j = await store.beginJournal(cluster, 'failover', {}, '20260101T000001.000Z-bbbb');
    await j.stepStart('fence');
    assert.deepEqual(await store.unfinishedJournals(cluster), [], 'the running operation is not interrupted');
    await lock.release();
    await lock.release();
    assert.equal((await store.peekLock(cluster)).free, true);
    const open = await store.unfinishedJournals(cluster);
    assert.deepEqual(open.map((x) => [x.id, x.steps.map((s) => [s.step, s.outcome])]), [[j.id, [['fence', 'running']]]]);
    const guard = await checkGuard(store, cluster, 'manual', 3600);
    assert.equal(guard.allowed, false);
    assert.match(guard.reasons.join('\n'), /fence\s+IN FLIGHT when heir stopped/);
  });

  it(`${name}: records asked for without waiting are written in order, one after the other`, async () => {
    const { store, cluster } = await make();
    const j = await store.beginJournal(cluster, 'failover', {}, '20260101T000003.000Z-dddd');
    const writes = [j.stepStart('promote', { node: 'db2' }), ...[1, 2, 3, 4, 5].map((n) => j.note(`note ${n}`)), j.progress('promote', { binlog: 'b.000001:4' }), j.stepEnd('promote', 'ok', 'db2 writable'), j.end('promoted', 'db2')];
    await Promise.all(writes);
    const [s] = await store.listJournals(cluster);
    assert.deepEqual(s!.notes, ['note 1', 'note 2', 'note 3', 'note 4', 'note 5']);
    assert.deepEqual(s!.steps.map((x) => [x.step, x.outcome, x.data]), [['promote', 'ok', { binlog: 'b.000001:4' }]]);
    assert.equal(s!.end?.outcome, 'promoted');
  });

  it(`${name}: ackJournals (a resumed failover) closes unfinished journals and leaves the anti-flapping block`, async () => {
    const { store, cluster } = await make();
    const j = await store.beginJournal(cluster, 'failover', {}, '20260101T000004.000Z-eeee');
    await j.stepStart('attach');
    await store.recordAutoFailover(cluster, { id: 'earlier', at: new Date().toISOString(), oldMaster: 'db0', newMaster: 'db1', outcome: 'promoted' });
    const acked = await store.ackJournals(cluster, 'heir daemon: resumed automatically');
    assert.deepEqual(acked.map((x) => x.id), [j.id]);
    assert.deepEqual(await store.unfinishedJournals(cluster), []);
    assert.equal((await store.listJournals(cluster))[0]!.ack?.by, 'heir daemon: resumed automatically');
    assert.equal((await store.readFailoverState(cluster)).acknowledged, undefined, 'the block is not lifted');
    assert.equal((await checkGuard(store, cluster, 'auto', 3600)).allowed, false);
    assert.deepEqual(await store.ackJournals(cluster, 'again'), []);
  });

  it(`${name}: an automatic failover blocks the next automatic one until acknowledged; ack closes unfinished journals`, async () => {
    const { store, cluster } = await make();
    const j = await store.beginJournal(cluster, 'failover', {}, '20260101T000002.000Z-cccc');
    await j.stepStart('repoint');
    const at = new Date().toISOString();
    await store.recordAutoFailover(cluster, { id: j.id, at, oldMaster: 'db1', newMaster: 'db2', outcome: 'success' });
    assert.equal((await store.readFailoverState(cluster)).lastAuto?.id, j.id);
    const blocked = await checkGuard(store, cluster, 'auto', 3600);
    assert.equal(blocked.allowed, false);
    assert.ok(blocked.blockedUntil);
    const r = await store.acknowledge(cluster, 'ops@example');
    assert.equal(r.hadBlock, true);
    assert.deepEqual(r.journals.map((x) => x.id), [j.id]);
    assert.deepEqual(await store.unfinishedJournals(cluster), []);
    assert.equal((await store.listJournals(cluster)).find((x) => x.id === j.id)?.ack?.by, 'ops@example');
    assert.equal((await store.readFailoverState(cluster)).acknowledged?.by, 'ops@example');
    assert.equal((await checkGuard(store, cluster, 'auto', 3600)).allowed, true);
    assert.equal((await store.acknowledge(cluster, 'ops@example')).hadBlock, false);
  });

  it(`${name}: reports are kept (a file each) and listed newest first, of the kinds asked, at most limit`, async () => {
    const { store, cluster } = await make();
    assert.deepEqual(await store.listReports(cluster, { kinds: ['failover', 'switchover', 'rejoin'], limit: 50 }), { reports: [], warnings: [] });
    const f = { kind: 'failover', id: '20260101T000010.000Z-f001', cluster, outcome: 'promoted', summary: 'db1 → db2' } as { reportPath?: string; [k: string]: unknown };
    const s = { kind: 'switchover', id: '20260101T000012.000Z-s002', cluster, outcome: 'switched', summary: 'db2 → db3' };
    const r = { id: '20260101T000011.000Z-r003', outcome: 'rejoined', node: 'db1', summary: 'db1 replicates from db2' };
    const saved = await store.saveReport(cluster, 'failover', f.id as string, f);
    assert.deepEqual(saved.warnings, []);
    assert.ok(saved.path && fs.existsSync(saved.path), 'the report\'s file');
    assert.equal(f.reportPath, saved.path);
    assert.equal(JSON.parse(fs.readFileSync(saved.path, 'utf8')).summary, 'db1 → db2');
    assert.deepEqual((await store.saveReport(cluster, 'switchover', s.id, s)).warnings, []);
    assert.deepEqual((await store.saveReport(cluster, 'rejoin', r.id, r)).warnings, []);
    const all = await store.listReports(cluster, { kinds: ['failover', 'switchover'], limit: 50 });
    assert.deepEqual(all.warnings, []);
    assert.deepEqual(all.reports.map((x: any) => [x.kind, x.id, x.outcome]), [['switchover', s.id, 'switched'], ['failover', f.id, 'promoted']]);
    assert.deepEqual((await store.listReports(cluster, { kinds: ['failover', 'switchover'], limit: 1 })).reports.map((x: any) => x.id), [s.id]);
    assert.deepEqual((await store.listReports(cluster, { kinds: ['rejoin'], limit: 50 })).reports.map((x: any) => [x.id, x.node]), [[r.id, 'db1']]);
  });
}
