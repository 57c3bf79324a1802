/**
 * Hooks around real operations on a 3-node MySQL 9.7 loopback lab (one lab, in order):
 *  - an aborting pre_failover (abort_on_failure) stops an automatic failover before anything
 *    changes: no step, no journal, no block, replicas still replicating from the dead master
 *    and read-only;
 *  - a failover whose pre_failover times out (a warning: it goes on) and whose post_failover
 *    writes its stdin and environment to files: it runs after the report, the report gets its
 *    run, and the cluster invariant holds;
 *  - the old master back: heir rejoin with post_rejoin, then a switchover to it with
 *    post_switchover; the invariant holds with it as the master.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterConfig } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';
import { checkFailoverGuard, readFailoverState } from '../../src/failover/guard';
import { listJournals } from '../../src/failover/journal';
import { peekLock } from '../../src/failover/lock';
import { readReport } from '../../src/failover/report';
import { rejoinNode } from '../../src/failover/rejoin';
import { switchover } from '../../src/failover/switchover';
import { readChannels } from '../../src/mysql/inspect';
import { startCluster, type LabCluster } from '../lab';
import { assertInvariant } from '../support/invariant';
import { assertHealthy, createTable, globalSettings, idsOn, open, sleep, startWriter, tempStateDir } from './failover-helpers';

let lab: LabCluster | undefined;
let base: ClusterConfig;
const stateDir = tempStateDir();
const out = tempStateDir();
let acked: number[] = [];
let newMaster = '';

after(async () => {
  await lab?.teardown();
  fs.rmSync(stateDir, { recursive: true, force: true });
  fs.rmSync(out, { recursive: true, force: true });
});

/** A hook that keeps its stdin and its HEIR_* environment in out/<name>.json and out/<name>.env. */
function recorder(name: string, tail = ''): ClusterConfig['hooks']['post_failover'] {
  const f = path.join(out, name);
  return { command: ['/bin/sh', '-c', `cat > '${f}.json'; env | grep '^HEIR_' | sort > '${f}.env'${tail}`], timeout_s: 10 };
}

function envOf(name: string): Record<string, string> {
  const text = fs.readFileSync(path.join(out, `${name}.env`), 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

const withHooks = (hooks: ClusterConfig['hooks']): ClusterConfig => ({ ...base, hooks });

test('an aborting pre_failover leaves the cluster untouched', async () => {
  lab = await startCluster({ flavor: 'mysql', nodes: 3, name: 'fo-hooks' });
  await createTable(lab);
  base = lab.clusterConfig({ failover: { apply_timeout_s: 30, salvage: { enabled: false } } as ClusterConfig['failover'] });
  const w = await startWriter(base, 'db1');
  await sleep(300);
  await w.stop();
  acked = w.acked;
  assert.ok(acked.length > 0, `the writer wrote: ${w.error?.message}`);
  for (const n of ['db2', 'db3']) {
    const deadline = Date.now() + 20_000;
    while (!(await idsOn(base, n)).has(acked.at(-1)!)) {
      if (Date.now() > deadline) throw new Error(`${n} did not receive id ${acked.at(-1)}`);
      await sleep(50);
    }
  }
  await lab.kill('db1');

  const pre = path.join(out, 'pre-abort.json');
  const cfg = withHooks({
    pre_failover: { command: ['/bin/sh', '-c', `cat > '${pre}'; echo 'the proxy is in maintenance' >&2; exit 7`], timeout_s: 10, abort_on_failure: true },
  });
  // An automatic failover on a verdict: without the hook, its address fence would start at once.
  const r = await runFailover({ cluster: cfg, global: globalSettings(stateDir), deadMaster: 'db1', trigger: 'auto', verdict: { verdict: 'DeadMaster' } });

  assert.equal(r.outcome, 'refused', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
  assert.equal(r.refusedBy, 'pre-failover-hook');
  assert.match(r.summary, /the pre_failover hook exited 7 after \d+ ms and hooks\.pre_failover\.abort_on_failure is true: the failover was not started, nothing was changed/);
  assert.deepEqual(r.steps, [], 'no step ran, not even the address fence');
  assert.equal(r.newMaster, null);
  assert.equal(r.hooks?.length, 1);
  assert.equal(r.hooks![0]!.exitCode, 7);
  assert.match(r.hooks![0]!.stderr, /the proxy is in maintenance/);
  const plan = JSON.parse(fs.readFileSync(pre, 'utf8'));
  assert.equal(plan.deadMaster, 'db1', 'the plan on stdin');
  assert.ok(['db2', 'db3'].includes(plan.winner), plan.winner);

  for (const n of ['db2', 'db3']) {
    const c = await open(cfg, n);
    try {
      const chs = await readChannels(c);
      assert.equal(chs.length, 1, `${n} still a replica`);
      assert.equal(chs[0]!.sourcePort, lab.nodes[0]!.port, `${n} still replicates from db1`);
      assert.notEqual(chs[0]!.ioState, 'No', `${n}: IO thread not stopped (connecting to the dead master)`);
      assert.equal(chs[0]!.sqlRunning, true, `${n}: SQL thread running`);
      const [ro] = await c.query('SELECT @@global.read_only AS ro, @@global.super_read_only AS sro');
      assert.equal(Number(ro.ro), 1, `${n} still read-only`);
      assert.equal(Number(ro.sro), 1, `${n} still super_read_only`);
    } finally {
      await c.close();
    }
  }
  assert.deepEqual(listJournals(stateDir, cfg.name), [], 'no journal');
  assert.equal(peekLock(stateDir, cfg.name).free, true, 'lock released');
  assert.equal(readFailoverState(stateDir, cfg.name).lastAuto, undefined, 'no block period');
  assert.equal(checkFailoverGuard(stateDir, cfg.name, 'auto', cfg.failover.block_period_s).allowed, true);
});

test('a timing-out pre_failover is a warning; post_failover gets the report and the facts after it is written', async () => {
  assert.ok(lab, 'the first test started the lab');
  const pidFile = path.join(out, 'pre-timeout.pid');
  const cfg = withHooks({
    pre_failover: { command: ['/bin/sh', '-c', `echo $$ > '${pidFile}'; sleep 60`], timeout_s: 1, abort_on_failure: false },
    post_failover: recorder('post-failover', '; echo recorded'),
  });
  const r = await runFailover({ cluster: cfg, global: globalSettings(stateDir), deadMaster: 'db1', trigger: 'manual' });
  assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
  newMaster = r.newMaster!;

  const [preRun, postRun] = r.hooks ?? [];
  assert.equal(r.hooks?.length, 2, JSON.stringify(r.hooks));
  assert.equal(preRun!.hook, 'pre_failover');
  assert.equal(preRun!.timedOut, true);
  assert.ok(preRun!.durationMs >= 1000 && preRun!.durationMs < 4000, `killed at its timeout: ${preRun!.durationMs} ms`);
  assert.ok(r.warnings.some((w) => /pre_failover did not finish within hooks\.pre_failover\.timeout_s=1 s.*the failover went on/.test(w)), r.warnings.join('\n'));
  const prePid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(!fs.existsSync(`/proc/${prePid}`) || /\) Z/.test(fs.readFileSync(`/proc/${prePid}/stat`, 'utf8')), 'the timed-out hook is gone');
  // The hook ran before the first change.
  assert.ok(Date.parse(preRun!.startedAt) + preRun!.durationMs <= Date.parse(r.steps[0]!.startedAt), 'pre_failover ended before the first step');

  assert.equal(postRun!.hook, 'post_failover');
  assert.equal(postRun!.ok, true, postRun!.detail);
  assert.equal(postRun!.stdout.trim(), 'recorded');
  // After the report: the address (attach) had long moved.
  const attach = r.steps.find((s) => s.name === 'attach');
  assert.equal(attach?.outcome, 'ok');
  assert.ok(Date.parse(postRun!.startedAt) >= Date.parse(r.endedAt), 'post_failover started after the report was written');
  assert.ok(Date.parse(postRun!.startedAt) >= Date.parse(attach!.endedAt!), 'and after the attach');

  const doc = JSON.parse(fs.readFileSync(path.join(out, 'post-failover.json'), 'utf8'));
  assert.equal(doc.kind, 'failover');
  assert.equal(doc.id, r.id);
  assert.equal(doc.outcome, 'promoted');
  assert.equal(doc.newMaster, newMaster);
  assert.equal(doc.hooks.length, 1, 'the report on stdin has the pre_failover run');
  const env = envOf('post-failover');
  const node = (n: string) => cfg.nodes.find((x) => x.name === n)!;
  assert.equal(env.HEIR_HOOK, 'post_failover');
  assert.equal(env.HEIR_CLUSTER, cfg.name);
  assert.equal(env.HEIR_OPERATION, 'failover');
  assert.equal(env.HEIR_OPERATION_ID, r.id);
  assert.equal(env.HEIR_TRIGGER, 'manual');
  assert.equal(env.HEIR_OUTCOME, 'promoted');
  assert.equal(env.HEIR_OLD_MASTER, 'db1');
  assert.equal(env.HEIR_OLD_MASTER_PORT, String(node('db1').port));
  assert.equal(env.HEIR_NEW_MASTER, newMaster);
  assert.equal(env.HEIR_NEW_MASTER_HOST, node(newMaster).host);
  assert.equal(env.HEIR_NEW_MASTER_PORT, String(node(newMaster).port));
  assert.equal(env.HEIR_REPORT, r.reportPath);
  const saved = readReport(r.reportPath!);
  assert.deepEqual(saved.hooks?.map((h) => [h.hook, h.ok]), [['pre_failover', false], ['post_failover', true]], 'the saved report has both runs');
  assert.equal(saved.outcome, 'promoted');

  const survivors = ['db2', 'db3'].filter((n) => n !== newMaster);
  await assertHealthy(lab!, cfg, newMaster, survivors, acked, { probeId: 900001 });
  acked = [...acked, 900001];
});

test('the old master back: post_rejoin after heir rejoin, post_switchover after a switchover to it', async () => {
  assert.ok(lab && newMaster, 'the failover test promoted a master');
  const cfg = withHooks({ post_rejoin: recorder('post-rejoin'), post_switchover: recorder('post-switchover') });
  await lab!.start('db1');
  const rj = await rejoinNode({ cluster: cfg, global: globalSettings(stateDir), node: 'db1' });
  assert.equal(rj.outcome, 'rejoined', rj.summary);
  assert.equal(rj.hooks?.[0]?.ok, true, JSON.stringify(rj.hooks));
  const rdoc = JSON.parse(fs.readFileSync(path.join(out, 'post-rejoin.json'), 'utf8'));
  assert.deepEqual([rdoc.kind, rdoc.cluster, rdoc.outcome, rdoc.node, rdoc.master], ['rejoin', cfg.name, 'rejoined', 'db1', newMaster]);
  const renv = envOf('post-rejoin');
  assert.deepEqual([renv.HEIR_HOOK, renv.HEIR_OPERATION, renv.HEIR_OUTCOME, renv.HEIR_NODE, renv.HEIR_NEW_MASTER], ['post_rejoin', 'rejoin', 'rejoined', 'db1', newMaster]);

  // The switchover's preflight wants the target caught up (its lag read as 0).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const [st] = await lab!.sql('db1', 'SHOW REPLICA STATUS');
    if (st && st.Seconds_Behind_Source !== null && Number(st.Seconds_Behind_Source) === 0 && (await idsOn(cfg, 'db1')).has(900001)) break;
    if (Date.now() > deadline) throw new Error(`db1 did not catch up with ${newMaster}: ${JSON.stringify(st)}`);
    await sleep(100);
  }
  const sw = await switchover(cfg, { to: 'db1', global: globalSettings(stateDir) });
  assert.equal(sw.outcome, 'switched', sw.summary);
  assert.equal(sw.hooks?.[0]?.ok, true, JSON.stringify(sw.hooks));
  const sdoc = JSON.parse(fs.readFileSync(path.join(out, 'post-switchover.json'), 'utf8'));
  assert.deepEqual([sdoc.kind, sdoc.id, sdoc.outcome, sdoc.from, sdoc.to], ['switchover', sw.id, 'switched', newMaster, 'db1']);
  const senv = envOf('post-switchover');
  assert.deepEqual([senv.HEIR_OUTCOME, senv.HEIR_OLD_MASTER, senv.HEIR_NEW_MASTER, senv.HEIR_REPORT], ['switched', newMaster, 'db1', sw.reportPath]);
  assert.equal(JSON.parse(fs.readFileSync(sw.reportPath!, 'utf8')).hooks.length, 1, 'the saved switchover report has the run');

  await assertInvariant({ lab: lab!, master: 'db1', table: 'app.w', acked });
});
