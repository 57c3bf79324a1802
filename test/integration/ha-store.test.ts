/**
 * The failover state in etcd: the FailoverStore contract the local-disk store keeps, on a real
 * three-member etcd; only the leader records; a lock taken under an ended leadership is stale
 * and taken over by the next leader, who also sees the journal left unfinished. The index of
 * reports: a report one manager keeps is listed by another (whole, or as its summary past the
 * cap), the index keeps the newest N, and etcd without quorum fails no saveReport.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEtcdLab, EtcdLab } from '../lab/etcd';
import { HaSession } from '../../src/ha/leadership';
import { EtcdFailoverStore } from '../../src/ha/etcd-store';
import { NotLeaderError } from '../../src/ha/etcd';
import { HaSettings } from '../../src/config/schema';
import { storeContract } from '../support/store-contract';
import { until } from '../support/cli';
import { createLogger } from '../../src/util/log';
import { Writable } from 'node:stream';

const settings = (lab: EtcdLab, manager: string, requestTimeoutMs = 2000) =>
  HaSettings.parse({ etcd: { endpoints: lab.endpoints, request_timeout_ms: requestTimeoutMs }, manager_id: manager, lease_ttl_s: 2, prefix: '/heir-store/' });

const PREFIX = '/heir-store/';
const opId = (n: number) => `20260301T1200${String(n).padStart(2, '0')}.000Z-${String(n).padStart(4, '0')}`;
const failoverReport = (cluster: string, n: number, more: Record<string, unknown> = {}): { id: string; reportPath?: string; [k: string]: unknown } => ({
  kind: 'failover',
  id: opId(n),
  cluster,
  outcome: 'promoted',
  summary: `failover ${n}`,
  steps: [{ name: 'promote', outcome: 'ok' }],
  warnings: [] as string[],
  ...more,
});

describe('EtcdFailoverStore (3 etcd members on loopback)', () => {
  let lab: EtcdLab;
  let a: HaSession;
  let n = 0;
  let dir = '';
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ha-store-'));
    lab = await startEtcdLab();
    a = new HaSession(settings(lab, 'mgr-a'));
  });
  after(async () => {
    await a?.close();
    await lab?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  storeContract('etcd', async () => {
    const cluster = `c${++n}`;
    await a.leadership(cluster).waitElected(15000);
    return { store: new EtcdFailoverStore(a, path.join(dir, 'mgr-a')), cluster };
  });

  it('a follower records nothing; the next leader takes over the stale lock and sees the unfinished journal', async () => {
    const b = new HaSession(settings(lab, 'mgr-b'));
    try {
      await a.leadership('handover').waitElected(15000);
      const sa = new EtcdFailoverStore(a, path.join(dir, 'mgr-a'));
      const sb = new EtcdFailoverStore(b, path.join(dir, 'mgr-b'));
      b.leadership('handover');
      await new Promise<void>((r) => b.leadership('handover').once('leader', () => r()));
      await assert.rejects(sb.beginJournal('handover', 'failover', {}), (e: Error) => e instanceof NotLeaderError && /mgr-b is not the leader of cluster handover \(mgr-a is\)/.test(e.message));
      await assert.rejects(sb.acquireLock('handover', 'failover'), NotLeaderError);

      await sa.acquireLock('handover', 'failover', 'db1 dead, auto');
      const j = await sa.beginJournal('handover', 'failover', { deadMaster: 'db1' });
      await j.stepStart('promote', { node: 'db2' });
      await a.drop('handover'); // the leader goes (its lease revoked), its lock and journal stay

      await b.leadership('handover').waitElected(15000);
      const peek = await sb.peekLock('handover');
      assert.equal(peek.stale, true);
      assert.match(peek.text!, /manager mgr-a\) \(stale: its leadership ended\)/);
      const open = await sb.unfinishedJournals('handover');
      assert.deepEqual(open.map((x) => [x.id, x.steps.map((s) => [s.step, s.outcome])]), [[j.id, [['promote', 'running']]]]);
      const lock = await sb.acquireLock('handover', 'failover');
      assert.equal((lock.tookOverFrom as { manager?: string } | undefined)?.manager, 'mgr-a');
      await lock.release();
      assert.equal((await sb.peekLock('handover')).free, true);
    } finally {
      await b.close();
    }
  });

  it('a report kept by one manager is listed by another, whole with its manager; past the cap as its summary; no leadership needed', async () => {
    const b = new HaSession(settings(lab, 'mgr-b'));
    try {
      const cluster = 'reports';
      const sa = new EtcdFailoverStore(a, path.join(dir, 'mgr-a'));
      const sb = new EtcdFailoverStore(b, path.join(dir, 'mgr-b'), { reportCapBytes: 4096 });
      // Neither manager campaigns for the cluster, nobody leads it: a report is a record, not an action.
      assert.equal(await a.h.client.get(a.keys.leader(cluster)).string(), null);
      const r1 = failoverReport(cluster, 1);
      const saved = await sa.saveReport(cluster, 'failover', r1.id, r1);
      assert.deepEqual(saved.warnings, []);
      const big = failoverReport(cluster, 2, { outcome: 'promoted-with-errors', finalTopology: { nodes: 'n'.repeat(20_000) } });
      assert.deepEqual((await sb.saveReport(cluster, 'failover', big.id, big)).warnings, []);
      const sw = { kind: 'switchover', id: opId(3), cluster, outcome: 'switched', summary: 'db2 → db3', steps: [], errors: [] };
      assert.deepEqual((await sb.saveReport(cluster, 'switchover', sw.id, sw)).warnings, []);

      // mgr-a's own disk has only its report; it lists all three, newest first.
      assert.deepEqual(fs.readdirSync(path.join(dir, 'mgr-a', cluster, 'reports')), [`failover-${r1.id}.json`]);
      const atA = await sa.listReports(cluster, { kinds: ['failover', 'switchover'], limit: 50 });
      assert.deepEqual(atA.warnings, []);
      assert.deepEqual(
        atA.reports.map((x: any) => [x.kind, x.id, x.manager, x.truncated ?? false]),
        [['switchover', sw.id, 'mgr-b', false], ['failover', big.id, 'mgr-b', true], ['failover', r1.id, 'mgr-a', false]],
      );
      const summary = atA.reports[1] as any;
      assert.equal(summary.outcome, 'promoted-with-errors');
      assert.equal(summary.reportPath, path.join(dir, 'mgr-b', cluster, 'reports', `failover-${big.id}.json`), 'where the whole one is');
      assert.equal(summary.finalTopology, undefined);
      assert.ok(summary.bytes > 20_000);
      assert.deepEqual((atA.reports[2] as any).steps, r1.steps);
      // mgr-b lists its own large report whole, from its state_dir.
      const atB = await sb.listReports(cluster, { kinds: ['failover'], limit: 50 });
      assert.deepEqual(atB.reports.map((x: any) => [x.id, x.truncated ?? false]), [[big.id, false], [r1.id, false]]);
      assert.equal((atB.reports[0] as any).finalTopology.nodes.length, 20_000);
    } finally {
      await b.close();
    }
  });

  it('the index keeps the newest N reports of a cluster; the manager that wrote them still has every file', async () => {
    const cluster = 'pruned';
    const sa = new EtcdFailoverStore(a, path.join(dir, 'mgr-a'), { reportsKept: 5 });
    for (const n of [3, 1, 8, 2, 7, 4, 6, 5]) {
      const r = failoverReport(cluster, n);
      assert.deepEqual((await sa.saveReport(cluster, 'failover', r.id, r)).warnings, []);
    }
    const keys = await a.h.client.getAll().prefix(`${PREFIX}clusters/${cluster}/reports/`).keys();
    assert.deepEqual(keys.sort(), [4, 5, 6, 7, 8].map((n) => `${PREFIX}clusters/${cluster}/reports/${opId(n)}/failover`));
    const other = new EtcdFailoverStore(a, path.join(dir, 'elsewhere'));
    assert.deepEqual((await other.listReports(cluster, { kinds: ['failover'], limit: 50 })).reports.map((x: any) => x.id), [8, 7, 6, 5, 4].map(opId));
    assert.deepEqual((await other.listReports(cluster, { kinds: ['failover'], limit: 2 })).reports.map((x: any) => x.id), [8, 7].map(opId));
    assert.equal((await sa.listReports(cluster, { kinds: ['failover'], limit: 50 })).reports.length, 8);
  });

  it('etcd without quorum: saveReport keeps the file, does not wait for etcd past its bound, says why it could not record; listing falls back to state_dir', async () => {
    const cluster = 'outage';
    const lines: string[] = [];
    const log = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) as never });
    // Sessions that never campaign: nothing here needs a leadership.
    const slow = new HaSession(settings(lab, 'mgr-c', 5000));
    const quick = new HaSession(settings(lab, 'mgr-d', 1500));
    try {
      const before = failoverReport(cluster, 1);
      const sc = new EtcdFailoverStore(slow, path.join(dir, 'mgr-c'), { log, reportWaitMs: 300 });
      const sd = new EtcdFailoverStore(quick, path.join(dir, 'mgr-d'), { log, reportWaitMs: 60_000 });
      assert.deepEqual((await sd.saveReport(cluster, 'failover', before.id, before)).warnings, []);

      await lab.kill(1);
      await lab.kill(2);
      // Bounded: returns before etcd's request deadline (5 s) could have passed, the record pending.
      const r2 = failoverReport(cluster, 2);
      const t0 = Date.now();
      const saved = await sc.saveReport(cluster, 'failover', r2.id, r2);
      assert.ok(Date.now() - t0 < 5000, `saveReport waited ${Date.now() - t0} ms`);
      assert.deepEqual(saved.warnings, [], 'etcd had not failed yet: no warning, the record goes on');
      assert.ok(saved.path && fs.existsSync(saved.path));
      assert.equal(r2.reportPath, saved.path);
      assert.ok(lines.some((l) => /etcd has not answered within 300 ms; recording it goes on in the background/.test(l)));
      // Its failure, later, is logged.
      await until('the background record of report 2 to fail and be logged', 60_000, () => lines.some((l) => l.includes(`could not record the failover report ${r2.id} of ${cluster} in etcd`)));

      // Waiting long enough: the failure is in the answer, for the report's warnings.
      const r3 = failoverReport(cluster, 3);
      const late = await sd.saveReport(cluster, 'failover', r3.id, r3);
      assert.equal(late.warnings.length, 1);
      assert.match(late.warnings[0]!, new RegExp(`^could not record the failover report ${r3.id} of ${cluster} in etcd \\(.*\\): .*; the other managers do not list it, it is kept in ${late.path!.replace(/[.]/g, '\\.')} on manager mgr-d only$`));
      assert.ok(fs.existsSync(late.path!));

      const list = await sd.listReports(cluster, { kinds: ['failover'], limit: 50 });
      assert.deepEqual(list.reports.map((x: any) => x.id), [r3.id, before.id]);
      assert.equal(list.warnings.length, 1);
      assert.match(list.warnings[0]!, /^etcd did not answer \(.*\): .*; listed are the reports in this manager's \(mgr-d\) state_dir only$/);
    } finally {
      await lab.restart(1);
      await lab.restart(2);
      await slow.close();
      await quick.close();
    }
    // Quorum back: the reports recorded before the outage are listed by any manager again.
    const other = new EtcdFailoverStore(a, path.join(dir, 'elsewhere'));
    // (The client of mgr-a, whose campaigns failed meanwhile, may take a few seconds to try etcd again.)
    const again = await until('mgr-a to list the reports from etcd again', 60_000, async () => {
      const l = await other.listReports(cluster, { kinds: ['failover'], limit: 50 });
      return l.warnings.length === 0 ? l : undefined;
    });
    // (A write etcd's leader took in while cut off may be committed once quorum is back: 2 and 3 may be there too.)
    assert.deepEqual(again.reports.map((x: any) => [x.id, x.manager]).filter(([id]) => id === opId(1)), [[opId(1), 'mgr-d']]);
  });
});
