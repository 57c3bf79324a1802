/**
 * The switchover integration suite, run against one flavor per test file
 * (switchover-mysql.test.ts, switchover-mariadb.test.ts) on one shared
 * 3-node loopback cluster. Every fault a test injects is repaired before the
 * next test, which starts from a healthy cluster.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GlobalSettings, type ClusterConfig } from '../../src/config/schema';
import { Conn, connOptions } from '../../src/mysql/conn';
import { switchover, type SwitchoverOptions, type SwitchoverReport } from '../../src/failover/switchover';
import { unfinishedJournals } from '../../src/failover/journal';
import { peekLock } from '../../src/failover/lock';
import { execFile } from 'node:child_process';
import { startCluster, type LabCluster, type LabFlavor } from '../lab';
import {
  assertHealthy,
  assertNoLoss,
  currentMaster,
  isMysql,
  readOnly,
  replicaStatus,
  setupApp,
  waitConverged,
  Writer,
  appConn,
} from './switchover-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const HEIR = path.join(__dirname, '..', '..', '..', 'bin', 'heir.js');

/** Run the heir CLI; resolves with its exit code and output (never rejects on a non-zero exit). */
function heir(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HEIR, ...args], { timeout: 60000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function switchoverSuite(flavor: LabFlavor): void {
  describe(`switchover (${flavor})`, () => {
    let lab: LabCluster;
    let cfg: ClusterConfig;
    let stateDir: string;
    let global: GlobalSettings;
    let nextId = 1_000_000;

    const run = (to: string, o: Partial<SwitchoverOptions> = {}): Promise<SwitchoverReport> =>
      switchover(cfg, { to, global, timeoutS: 10, ...o });

    const explain = (r: SwitchoverReport) => JSON.stringify({ outcome: r.outcome, summary: r.summary, refusals: r.preflight?.refusals, steps: r.steps, errors: r.errors }, null, 1);

    /** Run a statement on one node as root. */
    const sql = (node: string, s: string) => lab.sql(node, s);
    const replicaSql = (what: 'stop-sql' | 'start' | 'stop' | 'reset-all') => {
      const m = isMysql(lab);
      switch (what) {
        case 'stop-sql': return m ? 'STOP REPLICA SQL_THREAD' : 'STOP SLAVE SQL_THREAD';
        case 'start': return m ? 'START REPLICA' : 'START SLAVE';
        case 'stop': return m ? 'STOP REPLICA' : 'STOP SLAVE';
        case 'reset-all': return m ? 'RESET REPLICA ALL' : 'RESET SLAVE ALL';
      }
    };
    const pointAt = (master: string) => {
      const m = lab.nodes.find((n) => n.name === master)!;
      return isMysql(lab)
        ? `CHANGE REPLICATION SOURCE TO SOURCE_HOST='${m.host}', SOURCE_PORT=${m.port}, SOURCE_USER='${lab.repl.user}', SOURCE_PASSWORD='${lab.repl.password}', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1`
        : `CHANGE MASTER TO MASTER_HOST='${m.host}', MASTER_PORT=${m.port}, MASTER_USER='${lab.repl.user}', MASTER_PASSWORD='${lab.repl.password}', MASTER_USE_GTID=slave_pos`;
    };
    const other = (a: string, b: string) => lab.nodes.map((n) => n.name).find((n) => n !== a && n !== b)!;

    /** Refused, for exactly the expected check among its refusals, with nothing changed. */
    const assertRefused = async (r: SwitchoverReport, check: string, master: string) => {
      assert.equal(r.outcome, 'refused', explain(r));
      assert.ok(r.preflight?.refusals.some((c) => c.id === check), `expected refusal ${check}: ${explain(r)}`);
      assert.equal(r.steps.some((s) => s.step === 'pause'), false, 'no write was paused');
      assert.equal(await currentMaster(lab), master);
    };

    before(async () => {
      lab = await startCluster({ flavor });
      stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-switchover-'));
      global = GlobalSettings.parse({ state_dir: stateDir });
      cfg = lab.clusterConfig();
      await setupApp(lab);
    });

    after(async () => {
      await lab?.teardown();
      if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
    });

    it('dry run prints the plan and preflight and changes nothing', async () => {
      const before = await Promise.all(lab.nodes.map((n) => readOnly(lab, n)));
      const r = await run('db2', { dryRun: true });
      assert.equal(r.outcome, 'dry-run', explain(r));
      assert.equal(r.preflight?.ok, true, explain(r));
      assert.equal(r.from, 'db1');
      assert.ok(r.plan && r.plan.steps.some((s) => s.step === 'wait-applied'));
      assert.equal(r.steps.some((s) => s.step === 'pause' || s.step === 'lock'), false);
      assert.deepEqual(await Promise.all(lab.nodes.map((n) => readOnly(lab, n))), before);
      assert.equal(fs.readdirSync(stateDir).length, 0, 'a dry run leaves nothing in the state dir');
      await assertHealthy(lab, 'db1');
    });

    it('with a writer running, loses no acknowledged write; the old master becomes a healthy read-only replica', async () => {
      const w = new Writer(lab, nextId);
      w.start('db1');
      await sleep(300);
      let r: SwitchoverReport;
      try {
        r = await run('db2', { killAfterMs: 200 });
        await sleep(300);
      } finally {
        await w.stop();
        nextId = w.lastId + 1;
      }
      assert.equal(r.outcome, 'switched', explain(r));
      assert.equal(r.from, 'db1');
      assert.equal(typeof r.writePause.toNewMasterMs, 'number');
      assert.ok(r.repointed.length === 2 && r.repointed.every((x) => x.ok), explain(r));
      assert.ok(w.acked.length > 10, `writer made progress (${w.acked.length} rows)`);
      assert.ok(w.masters.includes('db2'), `writer reached the new master: ${w.masters.join(' → ')}`);
      // The writer keeps a connection to every node (it asks them who is master): the one on db1 was killed.
      assert.ok((r.killedConnections?.length ?? 0) >= 1, `application connections killed on db1: ${explain(r)}`);
      // The report is kept with the failover reports; the journal is complete.
      assert.ok(r.reportPath && fs.existsSync(r.reportPath), 'report saved');
      assert.equal(JSON.parse(fs.readFileSync(r.reportPath, 'utf8')).outcome, 'switched');
      assert.ok(r.journal && fs.existsSync(r.journal), 'journal written');
      assert.deepEqual(unfinishedJournals(stateDir, cfg.name), []);
      assert.equal(peekLock(stateDir, cfg.name).free, true, 'lock released');
      await assertHealthy(lab, 'db2');
      await assertNoLoss(lab, w.acked);
    });

    it('refuses when the target SQL thread is stopped', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      await sql(target, replicaSql('stop-sql'));
      try {
        await assertRefused(await run(target), 'target-threads', master);
      } finally {
        await sql(target, replicaSql('start'));
      }
      await assertHealthy(lab, master);
    });

    it('refuses when the target has an errant GTID', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      if (isMysql(lab)) {
        await sql(target, 'SET GLOBAL super_read_only=OFF');
        await sql(target, 'CREATE DATABASE IF NOT EXISTS errant_probe');
        await sql(target, 'SET GLOBAL super_read_only=ON');
      } else {
        await sql(target, 'SET SESSION gtid_domain_id=99; CREATE DATABASE IF NOT EXISTS errant_probe');
      }
      try {
        await assertRefused(await run(target), 'target-errant-gtids', master);
      } finally {
        // Repair: give the master the same transaction (an empty one with that GTID on MySQL).
        if (isMysql(lab)) {
          const [m] = await sql(master, 'SELECT @@GLOBAL.gtid_executed AS g');
          const [t] = await sql(target, 'SELECT @@GLOBAL.server_uuid AS u');
          void m;
          const [e] = await sql(target, `SELECT GTID_SUBTRACT(@@GLOBAL.gtid_executed, '${String(m.g).replace(/\s+/g, '')}') AS e`);
          const errant = String(e.e).replace(/\s+/g, '');
          assert.ok(errant.startsWith(String(t.u)), `errant set ${errant}`);
          const last = errant.split(':').pop()!.split('-').pop()!;
          await sql(master, `SET GTID_NEXT='${t.u}:${last}'; BEGIN; COMMIT; SET GTID_NEXT='AUTOMATIC'`);
        } else {
          // MariaDB (gtid_strict_mode): take the errant event out of the target's binary log.
          await sql(target, 'SET SESSION sql_log_bin=0; DROP DATABASE IF EXISTS errant_probe');
          await sql(target, 'STOP SLAVE; RESET MASTER');
          // (A literal: assigning @@gtid_slave_pos directly hangs the server.)
          const [sp] = await sql(target, 'SELECT @@GLOBAL.gtid_slave_pos AS p');
          await sql(target, `SET GLOBAL gtid_binlog_state = '${sp.p}'`);
          await sql(target, 'START SLAVE');
        }
      }
      await assertHealthy(lab, master);
    });

    it('refuses when the target lags', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      const delay = isMysql(lab) ? 'CHANGE REPLICATION SOURCE TO SOURCE_DELAY' : 'CHANGE MASTER TO MASTER_DELAY';
      await sql(target, replicaSql('stop'));
      await sql(target, `${delay}=30`);
      await sql(target, replicaSql('start'));
      try {
        await sql(master, `INSERT INTO app.t (id, node) VALUES (${nextId++}, 'lag')`);
        await sleep(2500);
        await assertRefused(await run(target, { maxLagS: 1 }), 'target-lag', master);
      } finally {
        await sql(target, replicaSql('stop'));
        await sql(target, `${delay}=0`);
        await sql(target, replicaSql('start'));
      }
      await assertHealthy(lab, master);
    });

    it('refuses while a long transaction is open on the master', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      const c = await appConn(lab.nodes.find((n) => n.name === master)!);
      try {
        await c.exec('BEGIN');
        await c.query('INSERT INTO app.t (id, node) VALUES (?, ?)', [nextId++, 'long']);
        await sleep(1500);
        await assertRefused(await run(target, { maxTransactionS: 1 }), 'long-transactions', master);
        await c.exec('ROLLBACK');
      } finally {
        c.destroy();
      }
      await assertHealthy(lab, master);
    });

    it('refuses a target that is not a replica', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      await sql(target, replicaSql('stop'));
      await sql(target, replicaSql('reset-all'));
      try {
        await assertRefused(await run(target), 'target-replicates-master', master);
      } finally {
        await sql(target, pointAt(master));
        await sql(target, replicaSql('start'));
      }
      await assertHealthy(lab, master);
    });

    it('refuses a switchover while another one holds the lock', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      let second: SwitchoverReport | undefined;
      // The first switchover, paused inside its write pause, runs the second one.
      const first = await run(target, {
        testHooks: {
          beforeWait: async () => {
            second = await run(master === 'db1' ? 'db3' : 'db1', {});
          },
        },
      });
      assert.ok(second, 'second switchover ran');
      assert.equal(second.outcome, 'refused', explain(second));
      assert.ok(second.preflight?.refusals.some((c) => c.id === 'lock'), explain(second));
      assert.equal(second.steps.some((s) => s.step === 'pause'), false);
      assert.equal(first.outcome, 'switched', explain(first));
      await assertHealthy(lab, target);
      // Back to where it was, so later tests see db1 or db2 as master as before.
      const back = await run(master);
      assert.equal(back.outcome, 'switched', explain(back));
      await assertHealthy(lab, master);
    });

    it('rolls back cleanly when the target cannot apply the final set in time', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      // Right before writes stop, hold the target's applier with a global read
      // lock and give it something to apply: the final set cannot arrive in time.
      const hold = await Conn.open(connOptions(cfg, cfg.nodes.find((n) => n.name === target)!));
      let r: SwitchoverReport;
      try {
        r = await run(target, {
          timeoutS: 1,
          testHooks: {
            beforePause: async () => {
              await hold.exec('FLUSH TABLES WITH READ LOCK');
              await sql(master, `INSERT INTO app.t (id, node) VALUES (${nextId++}, 'timeout')`);
            },
          },
        });
        await hold.exec('UNLOCK TABLES');
      } finally {
        hold.destroy();
      }
      assert.equal(r.outcome, 'rolled-back', explain(r));
      assert.ok(r.steps.some((s) => s.step === 'rollback' && s.ok), explain(r));
      assert.equal(r.steps.some((s) => s.step === 'promote'), false, 'nothing was promoted');
      assert.match(r.summary, /writable master again/);
      // The old master takes writes again; the target still replicates from it.
      assert.equal((await readOnly(lab, master)).ro, false);
      await sql(master, `INSERT INTO app.t (id, node) VALUES (${nextId++}, 'after-rollback')`);
      const st = await replicaStatus(lab, target);
      assert.equal(st.length, 1);
      assert.equal(st[0].port, lab.nodes.find((n) => n.name === master)!.port);
      await assertHealthy(lab, master);
    });

    it('refuses without pausing writes when the target cannot catch up beforehand', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      const hold = await Conn.open(connOptions(cfg, cfg.nodes.find((n) => n.name === target)!));
      let r: SwitchoverReport;
      try {
        await hold.exec('FLUSH TABLES WITH READ LOCK');
        await sql(master, `INSERT INTO app.t (id, node) VALUES (${nextId++}, 'behind')`);
        r = await run(target, { timeoutS: 1, maxLagS: 600 });
        await hold.exec('UNLOCK TABLES');
      } finally {
        hold.destroy();
      }
      assert.equal(r.outcome, 'refused', explain(r));
      assert.ok(r.steps.some((s) => s.step === 'catch-up'), explain(r));
      assert.equal(r.steps.some((s) => s.step === 'pause'), false, 'writes were never paused');
      await assertHealthy(lab, master);
    });

    it('switches back and forth ten times under writes and leaves a healthy cluster', async (t) => {
      const first = await currentMaster(lab);
      const second = first === 'db1' ? 'db2' : 'db1';
      const w = new Writer(lab, nextId);
      w.start(first);
      const pauses: number[] = [];
      try {
        for (let i = 0; i < 10; i++) {
          const to = i % 2 === 0 ? second : first;
          const r = await run(to);
          assert.equal(r.outcome, 'switched', `round ${i + 1}: ${explain(r)}`);
          pauses.push(r.writePause.toNewMasterMs!);
          await sleep(100);
        }
      } finally {
        await w.stop();
        nextId = w.lastId + 1;
      }
      assert.equal(pauses.length, 10);
      t.diagnostic(`write pauses (ms): ${pauses.join(', ')}; rows acknowledged ${w.acked.length}, failed attempts ${w.failures}`);
      await assertHealthy(lab, first);
      await assertNoLoss(lab, w.acked);
      await waitConverged(lab);
    });

    it('moves the address through the configured mover and measures the first write through it', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      // An MHA-style master_ip_failover script that records its calls; the
      // "floating" address is loopback, where every lab server listens.
      const calls = path.join(stateDir, 'mover-calls.log');
      const script = path.join(stateDir, 'master_ip_failover');
      fs.writeFileSync(script, `#!/bin/sh\necho "$HEIR_REASON $*" >> '${calls}'\n`, { mode: 0o755 });
      const withAddress = lab.clusterConfig({ address: { type: 'script', path: script, floating_ip: '127.0.0.1', timeout_s: 10 } });

      fs.chmodSync(script, 0o644);
      const refused = await switchover(withAddress, { to: target, global });
      assert.equal(refused.outcome, 'refused', explain(refused));
      assert.ok(refused.preflight?.refusals.some((c) => c.id === 'address'), explain(refused));
      fs.chmodSync(script, 0o755);

      const r = await switchover(withAddress, { to: target, global });
      assert.equal(r.outcome, 'switched', explain(r));
      assert.equal(r.address?.kind, 'script');
      assert.equal(r.address?.fence?.ok, true);
      assert.equal(r.address?.attach?.ok, true);
      const lines = fs.readFileSync(calls, 'utf8').trim().split('\n');
      assert.equal(lines.length, 2, lines.join('\n'));
      assert.match(lines[0], /^switchover --command=stopssh /);
      assert.match(lines[1], new RegExp(`^switchover --command=start .*--new_master_port=${lab.nodes.find((n) => n.name === target)!.port}`));
      assert.equal(typeof r.writePause.toAddressMs, 'number', explain(r));
      assert.ok(r.writePause.toAddressMs! >= r.writePause.toNewMasterMs!);
      await assertHealthy(lab, target);
      const back = await run(master);
      assert.equal(back.outcome, 'switched', explain(back));
      await assertHealthy(lab, master);
    });

    it('heir switchover: dry run, refusal and a real switch through the command line', async () => {
      const master = await currentMaster(lab);
      const target = other(master, 'none');
      const file = path.join(stateDir, 'heir.yaml');
      // JSON is YAML: the lab's cluster config as the file the operator would write.
      fs.writeFileSync(file, JSON.stringify({ heir: { state_dir: stateDir }, clusters: [cfg] }, null, 2));

      const dry = await heir(['switchover', '--config', file, '--cluster', cfg.name, '--to', target, '--dry-run']);
      assert.equal(dry.code, 0, dry.stdout + dry.stderr);
      assert.match(dry.stdout, /Plan:/);
      assert.match(dry.stdout, /wait-applied/);
      assert.match(dry.stdout, /ok\s+target-threads/);
      assert.equal(await currentMaster(lab), master);

      const refused = await heir(['switchover', '--config', file, '--to', master, '--json']);
      assert.equal(refused.code, 1, refused.stdout + refused.stderr);
      assert.equal(JSON.parse(refused.stdout).outcome, 'refused');

      const bad = await heir(['switchover', '--config', file, '--to', target, '--timeout', '0']);
      assert.equal(bad.code, 2, 'a zero timeout is bad usage');

      const sw = await heir(['switchover', '--config', file, '--to', target, '--json']);
      assert.equal(sw.code, 0, sw.stdout + sw.stderr);
      const report = JSON.parse(sw.stdout) as SwitchoverReport;
      assert.equal(report.outcome, 'switched');
      assert.equal(typeof report.writePause.toNewMasterMs, 'number');
      assert.match(sw.stderr, /probe-write/, 'progress lines go to stderr with --json');
      await assertHealthy(lab, target);

      const back = await heir(['switchover', '--config', file, '--to', master]);
      assert.equal(back.code, 0, back.stdout + back.stderr);
      assert.match(back.stdout, /SWITCHED/);
      assert.match(back.stdout, /ok\s+pause/);
      await assertHealthy(lab, master);
    });
  });
}
