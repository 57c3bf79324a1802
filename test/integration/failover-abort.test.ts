/**
 * A failover asked to stop (FailoverRequest.signal, what the daemon does on SIGTERM),
 * against a real 3-node MySQL 9.7 loopback lab:
 *  - aborted before the promotion: outcome 'interrupted', the IO threads the freeze stopped
 *    run again, nothing promoted, the journal ends 'interrupted', no anti-flapping block;
 *  - aborted after the promotion: the remaining steps run to the end ('promoted').
 * One lab for both cases: the second failover completes what the first left.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { ClusterConfig } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';
import { checkFailoverGuard, readFailoverState } from '../../src/failover/guard';
import { listJournals, unfinishedJournals } from '../../src/failover/journal';
import { readReport } from '../../src/failover/report';
import { readChannels } from '../../src/mysql/inspect';
import { startCluster, type LabCluster } from '../lab';
import { assertHealthy, createTable, globalSettings, idsOn, open, sleep, startWriter, tempStateDir } from './failover-helpers';

let lab: LabCluster | undefined;
let cfg: ClusterConfig;
const stateDir = tempStateDir();
let acked: number[] = [];

after(async () => {
  await lab?.teardown();
  fs.rmSync(stateDir, { recursive: true, force: true });
});

test('aborted before the promotion: interrupted, IO threads running again, nothing promoted, journal closed', async () => {
  lab = await startCluster({ flavor: 'mysql', nodes: 3, name: 'fo-abort' });
  await createTable(lab);
  cfg = lab.clusterConfig({
    failover: { apply_timeout_s: 30, salvage: { enabled: false } } as ClusterConfig['failover'],
  });
  const w = await startWriter(cfg, 'db1');
  await sleep(300);
  await w.stop();
  acked = w.acked;
  assert.ok(acked.length > 0, `the writer wrote: ${w.error?.message}`);
  for (const n of ['db2', 'db3']) {
    const deadline = Date.now() + 20_000;
    while (!(await idsOn(cfg, n)).has(acked.at(-1)!)) {
      if (Date.now() > deadline) throw new Error(`${n} did not receive id ${acked.at(-1)}`);
      await sleep(50);
    }
  }
  await lab.kill('db1');

  const ac = new AbortController();
  const seen: string[] = [];
  const r = await runFailover({
    cluster: cfg,
    global: globalSettings(stateDir),
    deadMaster: 'db1',
    trigger: 'auto',
    signal: ac.signal,
    // The stop request arrives once the freeze has stopped the IO threads: the executor
    // notices it at this boundary (the hook runs first), before reread.
    beforeStep: (step) => {
      seen.push(step);
      if (step === 'reread') ac.abort(new Error('heir daemon is stopping (SIGTERM received)'));
    },
  });

  assert.equal(r.outcome, 'interrupted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
  assert.equal(r.newMaster, null);
  assert.equal(r.toWritableMs, undefined);
  assert.match(r.summary, /interrupted before step reread: heir daemon is stopping \(SIGTERM received\); nothing was promoted/);
  assert.deepEqual(
    r.steps.map((s) => [s.name, s.outcome]),
    [
      ['fence', 'skipped'],
      ['fence-address', 'ok'],
      ['freeze', 'ok'],
    ],
    'nothing ran after the boundary where the stop was noticed',
  );
  assert.equal(seen.at(-1), 'reread', 'no later boundary was reached');
  assert.ok(r.notDone.some((n) => n.startsWith('promote')), r.notDone.join('\n'));
  assert.equal(r.undone.filter((u) => /replication restarted/.test(u)).length, 2, r.undone.join('\n'));
  assert.ok(r.next.some((n) => /nothing was promoted/.test(n)), r.next.join('\n'));
  assert.deepEqual(r.possiblyLost, [], 'nothing promoted: nothing claimed about losses');

  for (const n of ['db2', 'db3']) {
    const c = await open(cfg, n);
    try {
      const chs = await readChannels(c);
      assert.equal(chs.length, 1, `${n} still a replica`);
      assert.notEqual(chs[0]!.ioState, 'No', `${n}: IO thread running again (connecting to the dead master)`);
      assert.equal(chs[0]!.sqlRunning, true, `${n}: SQL thread running`);
      const [ro] = await c.query('SELECT @@global.read_only AS ro, @@global.super_read_only AS sro');
      assert.equal(Number(ro.ro), 1, `${n} still read-only`);
    } finally {
      await c.close();
    }
  }

  // The journal is closed with the outcome; the report on disk says the same.
  const js = listJournals(stateDir, cfg.name);
  assert.equal(js.length, 1);
  const j = js[0]!;
  assert.equal(j.unfinished, false);
  assert.equal(j.end?.outcome, 'interrupted');
  assert.deepEqual(j.steps.filter((s) => s.outcome === 'running'), [], 'no step left in flight');
  assert.deepEqual(j.steps.map((s) => [s.step, s.outcome]), [['fence', 'skipped'], ['fence-address', 'ok'], ['freeze', 'ok']]);
  assert.ok(j.notes.some((n) => /undone: .*replication restarted/.test(n)), j.notes.join('\n'));
  assert.ok(r.reportPath && fs.existsSync(r.reportPath), 'the report was saved');
  assert.equal(readReport(r.reportPath!).outcome, 'interrupted');

  // Nothing that pretends a failover happened: no block period, no unfinished journal.
  assert.equal(readFailoverState(stateDir, cfg.name).lastAuto, undefined);
  assert.deepEqual(unfinishedJournals(stateDir, cfg.name), []);
  const g = checkFailoverGuard(stateDir, cfg.name, 'auto', cfg.failover.block_period_s);
  assert.equal(g.allowed, true, g.reasons.join('\n'));
});

test('aborted after the promotion: repoint, verify and attach still run to the end', async () => {
  assert.ok(lab, 'the first test started the lab');
  const ac = new AbortController();
  const r = await runFailover({
    cluster: cfg,
    global: globalSettings(stateDir),
    deadMaster: 'db1',
    trigger: 'auto',
    signal: ac.signal,
    beforeStep: (step) => {
      if (step === 'repoint') ac.abort(new Error('heir daemon is stopping (SIGTERM received)'));
    },
  });
  assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
  assert.ok(ac.signal.aborted, 'the abort did happen');
  for (const name of ['promote', 'repoint', 'verify', 'attach']) {
    assert.equal(r.steps.find((s) => s.name === name)?.outcome, 'ok', `${name} ran: ${JSON.stringify(r.steps)}`);
  }
  const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
  await assertHealthy(lab!, cfg, r.newMaster!, survivors, acked, { probeId: 900001 });
  const last = listJournals(stateDir, cfg.name).at(-1)!;
  assert.equal(last.end?.outcome, 'promoted');
});
