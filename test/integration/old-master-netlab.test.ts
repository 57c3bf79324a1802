/**
 * A hung master that comes back must find itself fenced.
 *
 * The whole installation (test/sandbox): three namespace hosts, the ECS API emulator holding
 * the ENI, heir's daemon with default detection settings, an application committing a row
 * every 50 ms through the floating address; servers at stock settings. The master's mysqld
 * is stopped (SIGSTOP): after suspect_timeout_ms heir fails over and moves the address. Then
 * the old mysqld resumes (SIGCONT), writable as it was. The daemon keeps reading the old
 * master and must make it read-only (super_read_only on MySQL) within a few seconds —
 * persisted with SET PERSIST where the server can, so a restart comes back fenced too — and
 * say so (master.fenced). The cluster invariant holds with the new master; the old one stays
 * read-only and out of the address's reach until an operator rejoins it. (That case runs with
 * failover.kill_unresponsive_master false; by default heir kills a hung mysqld over SSH before
 * the promotion, the second case below, so that it never resumes beside the new master.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from '../sandbox/scenario';
import { Narrator, lineTime } from '../sandbox/narrator';
import { unfinishedJournals } from '../../src/failover/journal';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * One sandbox for the enclosing describe: the master's mysqld hangs (SIGSTOP), heir's daemon,
 * servers at stock settings; `failover` varies heir's settings on purpose. A mysqld still
 * stopped at the end is resumed before the sandbox goes down.
 */
function hungMasterSandbox(flavor: 'mysql' | 'mariadb', failover?: Record<string, unknown>): () => Sandbox {
  let sb: Sandbox;
  before(async () => {
    sb = new Sandbox({ flavor, mode: 'hang', engine: 'daemon', narrator: new Narrator({ quiet: true }), ...(failover ? { failover } : {}), writerPauseMs: 50, timeoutS: 90 });
    await sb.up();
  });
  after(async () => {
    if (sb?.lab.running('db1')) sb.lab.resume('db1');
    await sb?.down();
  });
  return () => sb;
}

/** The report's fence-kill killed db1's stopped mysqld before the promotion began, and the lab sees it exit. */
async function assertKilledBeforePromotion(sb: Sandbox, steps: any[]): Promise<void> {
  const kill = steps.find((x) => x.name === 'fence-kill');
  assert.ok(kill, `a fence-kill step: ${steps.map((x) => x.name).join(', ')}`);
  assert.equal(kill.outcome, 'ok', kill.detail);
  // SIGKILL sent to the stopped mysqld. It may take more than the fence's 3 s to be gone: a
  // MariaDB using io_uring exits only once its in-flight writes return, which on a loaded disk
  // took longer (CI). A process with SIGKILL pending never runs again, so it never answers;
  // heir says which it saw, and the lab's own view below must see it exit either way.
  assert.match(kill.detail, /^(killed|sent SIGKILL to) mysqld \(pid \d+, state T\) on db1's host/);
  const promote = steps.find((x) => x.name === 'promote');
  assert.ok(Date.parse(kill.endedAt) <= Date.parse(promote.startedAt), `killed (${kill.endedAt}) before the promotion began (${promote.startedAt})`);
  // The lab's own view of its process: gone (the lab started it and sees its exit).
  const until = Date.now() + 30_000;
  while (sb.lab.running('db1') && Date.now() < until) await sleep(100);
  assert.equal(sb.lab.running('db1'), false, "db1's mysqld still runs after the failover");
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  describe(`a hung master resumes after the failover (${flavor}, stock settings)`, () => {
    // Varied on purpose: failover.kill_unresponsive_master false, so that the hung mysqld
    // survives the failover and the fence of a returning master is what is tested.
    const sandbox = hungMasterSandbox(flavor, { kill_unresponsive_master: false });

    test('(kill_unresponsive_master false) failover on HungMaster; on SIGCONT the old master is made read-only (and persisted) within seconds', async () => {
      const sb = sandbox();
      await sb.fault();
      const r = await sb.observe();
      assert.equal(r.failoverOutcome, 'promoted', `${r.failoverOutcome}: ${r.problems.join('; ')}`);
      assert.equal(r.verdict, 'HungMaster');
      assert.equal(r.lost, 0, `no acknowledged row lost: ${r.problems.join('; ')}`);
      const old = sb.lab.nodes[0]!;

      const resumed = Date.now();
      sb.lab.resume(old);
      let ro: any = null;
      while (Date.now() - resumed < 15_000) {
        const [row] = await sb.lab.sql(old, flavor === 'mysql' ? 'SELECT @@global.read_only AS ro, @@global.super_read_only AS sro' : 'SELECT @@global.read_only AS ro, 1 AS sro').catch(() => [null]);
        if (row && Number(row.ro) === 1 && Number(row.sro) === 1) {
          ro = row;
          break;
        }
        await sleep(100);
      }
      const tookMs = Date.now() - resumed;
      assert.ok(ro, `the old master is read-only again within 15 s of SIGCONT`);
      const fenced = await sb.waitLog((l) => l.event === 'master.fenced' && lineTime(l) >= resumed - 1000, 10_000, 'a master.fenced log line');
      assert.match(String(fenced.msg), /is read-only again/);
      if (flavor === 'mysql') {
        assert.match(String(fenced.msg), /persisted \(SET PERSIST\)/);
        const rows = await sb.lab.sql(old, "SELECT VARIABLE_NAME AS n, VARIABLE_VALUE AS v FROM performance_schema.persisted_variables WHERE VARIABLE_NAME IN ('read_only', 'super_read_only')");
        assert.deepEqual(rows.map((x) => `${x.n}=${x.v}`).sort(), ['read_only=ON', 'super_read_only=ON'], 'persisted for the next restart');
      } else {
        assert.match(String(fenced.msg), /not persisted/);
      }
      assert.ok(tookMs < 15_000, `fenced ${tookMs} ms after SIGCONT`);
      await sb.assertInvariant(r.newMaster!, { absent: ['db1'] });
    });
  });
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  describe(`a hung master is killed before the promotion (${flavor}, stock settings, heir's defaults)`, () => {
    const sandbox = hungMasterSandbox(flavor);

    test('failover on HungMaster: its mysqld is killed over SSH before the new master is writable, so there is never a second writable node', async () => {
      const sb = sandbox();
      const faultWall = Date.now();
      await sb.fault();
      const r = await sb.observe();
      assert.equal(r.failoverOutcome, 'promoted', `${r.failoverOutcome}: ${r.problems.join('; ')}`);
      assert.equal(r.verdict, 'HungMaster');
      assert.equal(r.lost, 0, `no acknowledged row lost: ${r.problems.join('; ')}`);
      const [report] = sb.reportsSince(faultWall);
      assert.ok(report, 'a failover report');
      await assertKilledBeforePromotion(sb, report.steps);
      assert.ok(report.warnings.some((w: string) => /fence: (killed|sent SIGKILL to) mysqld/.test(w)), report.warnings.join('\n'));
      assert.ok(report.next.some((x: string) => /super_read_only=ON/.test(x)), report.next.join('\n'));
      await sb.assertInvariant(r.newMaster!, { absent: ['db1'] });
    });
  });
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  describe(`the daemon dies during its failover of a hung master, before the kill (${flavor}, stock settings, heir's defaults)`, () => {
    const sandbox = hungMasterSandbox(flavor);

    test('kill -9 of the daemon at its freeze step: the restarted daemon finishes the failover and kills the hung mysqld before the promotion; the invariant holds', async () => {
      const sb = sandbox();
      const faultWall = Date.now();
      await sb.fault();
      // The freeze comes before the re-read of the topology (seconds, with the master hung),
      // and the kill of the hung mysqld only after that re-read.
      await sb.waitLog((l) => /^\[\d+\] freeze: /.test(String(l.msg ?? '')) && lineTime(l) >= faultWall - 1000, 60_000, 'the failover did not reach its freeze step');
      await sb.killDaemon();
      const [j] = unfinishedJournals(sb.config.heir.state_dir, 'sandbox');
      assert.ok(j, 'the killed daemon left an unfinished journal');
      const ran = j.steps.map((s) => `${s.step}:${s.outcome}`);
      assert.ok(!ran.some((x) => x.startsWith('fence-kill') || x.startsWith('promote')), `the crash came before the kill and the promotion: ${ran.join(' ')}`);
      assert.ok(sb.lab.running('db1'), "db1's mysqld is still there, stopped");

      await sb.restartDaemon();
      await sb.waitLog((l) => /finishing it now/.test(String(l.msg ?? '')) && lineTime(l) >= faultWall, 60_000, 'the restarted daemon did not take up the interrupted failover');
      const until = Date.now() + 90_000;
      let report: any;
      while (!report && Date.now() < until) {
        report = sb.reportsSince(faultWall).find((r) => String(r.outcome).startsWith('promoted'));
        if (!report) await sleep(200);
      }
      assert.ok(report, `a promoted failover within 90 s of the restart: ${sb.reportsSince(faultWall).map((r) => r.outcome).join(', ')}`);
      await assertKilledBeforePromotion(sb, report.steps);
      await sb.assertInvariant(report.newMaster, { absent: ['db1'] });
    });
  });
}
