/**
 * Salvage, for real: each node is a host (network namespace) with mysqld and
 * sshd. The replicas stop receiving while the writer goes on, so only the
 * master holds the last acknowledged rows; then its mysqld is killed (-9), its
 * host still answering SSH. heir must copy the binlogs over SSH, decode them
 * with mysqlbinlog on the manager, and apply what no survivor received: every
 * acknowledged row ends up on the new master and on the survivors.
 *
 * The hard cases, each with the replicas unable to receive what only the master has:
 * - a 200,000-row transaction still streaming to both replicas (their links slowed with tc)
 *   when the master dies: every replica's relay log ends inside it. On MySQL the winner's
 *   partial tail is released before its STOP REPLICA (which would otherwise wait 60 s and
 *   fail the failover's apply_timeout_s of 30 s), the other survivor is repointed without
 *   stopping its applier, and salvage applies the transaction whole through the client; with
 *   file/position replication (GTID off, MySQL) the appliers waiting for the rest are KILLed;
 * - a 200,000-row transaction that only the master has (the replicas' IO threads stopped):
 *   applied whole through the client;
 * - salvage.timeout_s reached while the apply waits for a lock: the client and its session on
 *   the new master are killed, and the report counts exactly what was applied;
 * - statement-format events whose literals hold the delimiter mysqlbinlog writes (a line
 *   `/*!*\/;`), carriage returns, a `ROLLBACK` line, and text in GBK and latin1: salvaged
 *   byte for byte.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterConfig } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';
import mysql from 'mysql2/promise';
import { startNetLab, type LabFlavor, type NetLab } from '../lab';
import { assertHealthy, createTable, globalSettings, grantSalvage, idsOn, noteAttempted, sleep, startWriter, tempStateDir, writeAndReplicate } from './failover-helpers';

for (const flavor of ['mysql', 'mariadb'] as LabFlavor[]) {
  describe(`salvage over SSH (${flavor}, namespace hosts)`, () => {
    let lab: NetLab | undefined;
    const dirs: string[] = [];
    afterEach(async () => {
      await lab?.teardown();
      lab = undefined;
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    it('every acknowledged row reached the replicas: the binlogs are fetched and decoded, nothing is salvaged, and nothing is warned of', async () => {
      const { lab: l, cfg } = await salvageLab();
      const acked = await writeAndReplicate(cfg);
      await l.kill('db1'); // mysqld only: the host and its sshd stay up
      const sd = tempStateDir();
      dirs.push(sd);
      const r = await runFailover({ cluster: cfg, global: globalSettings(sd), deadMaster: 'db1', trigger: 'manual' });
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.salvage.attempted, true, r.salvage.why);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.equal(r.salvage.count, 0, r.salvage.why);
      assert.match(r.salvage.why, /^nothing to salvage/);
      // mariadb-binlog exits 1 when no event follows the winner's position: that is no cut-off event.
      assert.deepEqual(r.warnings.filter((x) => /mysqlbinlog|mariadb-binlog|salvage/.test(x)), [], r.warnings.join('\n'));
      assert.deepEqual(r.possiblyLost, [], 'nothing reported lost');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, acked, { probeId: 900001, report: r, onlyOnDeadMaster: [] });
    });

    it('async, master killed while writing, host answers SSH: no acknowledged row is lost', async (t) => {
      const { lab: l, cfg } = await salvageLab();

      const w = await startWriter(cfg, 'db1');
      await sleep(300);
      // The replicas stop receiving; the master goes on acknowledging rows only it has.
      const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
      await l.sql('db2', stopIo);
      await l.sql('db3', stopIo);
      await sleep(400);
      await l.kill('db1'); // mysqld only: the host and its sshd stay up
      await w.failed;
      await w.stop();
      // What only the master has: acknowledged ids on neither replica once each has applied its relay log.
      // (Counting acknowledgements after STOP IO would count a row the replicas received whose
      // acknowledgement reached the application a moment later.)
      const replicated = new Set([...(await appliedIds(cfg, 'db2')), ...(await appliedIds(cfg, 'db3'))]);
      const onlyOnMaster = w.acked.filter((id) => !replicated.has(id)).length;
      assert.ok(onlyOnMaster > 0, `rows only the master has: ${onlyOnMaster}`);

      const sd = tempStateDir();
      dirs.push(sd);
      const r = await runFailover({ cluster: cfg, global: globalSettings(sd), deadMaster: 'db1', trigger: 'manual' });
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      t.diagnostic(`salvage: ${r.salvage.why}; ${onlyOnMaster} rows only on the master; writable after ${r.toWritableMs} ms`);
      assert.equal(r.salvage.attempted, true);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.ok(r.salvage.count >= onlyOnMaster, `salvaged ${r.salvage.count} >= ${onlyOnMaster}: ${r.salvage.why}`);
      assert.ok(r.salvage.files.length >= 1);
      // The manager's copies of the binlogs are gone once applied; the decoded salvage.sql stays.
      const dir = path.dirname(r.salvage.outputFile!);
      assert.deepEqual(fs.readdirSync(dir).filter((f) => f !== 'salvage.sql'), [], `copied binlogs removed from ${dir}`);
      assert.ok(fs.existsSync(r.salvage.outputFile!));
      assert.deepEqual(r.possiblyLost, [], 'nothing reported lost');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001, report: r });
      // The salvaged rows reached the survivors through the new master's binlog.
      for (const s of survivors) {
        const have = await idsOn(cfg, s);
        assert.deepEqual(w.acked.filter((id) => !have.has(id)), [], `${s} has every acknowledged row`);
      }
    });

    /** The ids on a replica once its applier has read all of its relay log and two reads agree. */
    async function appliedIds(cfg: ClusterConfig, node: string): Promise<Set<number>> {
      const status = flavor === 'mysql' ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS';
      let prev: Set<number> | undefined;
      return until(`${node} has applied its relay log`, async () => {
        const [st] = await lab!.sql(node, status);
        const state = String(st?.Replica_SQL_Running_State ?? st?.Slave_SQL_Running_State ?? '');
        const ids = await idsOn(cfg, node);
        const settled = /read all relay log/i.test(state) && prev !== undefined && prev.size === ids.size;
        prev = ids;
        return settled ? ids : undefined;
      });
    }

    /**
     * A salvage-ready three-host lab with the application's table; the dead master's binlog dir
     * configured; salvage.timeout_s 60 unless a test varies it.
     */
    async function salvageLab(o: { gtid?: boolean; salvageTimeoutS?: number } = {}): Promise<{ lab: NetLab; cfg: ClusterConfig }> {
      const l = await startNetLab({ flavor, hosts: 3, gtid: o.gtid ?? true });
      lab = l;
      await createTable(l);
      await grantSalvage(l);
      const base = l.clusterConfig();
      const cfg = l.clusterConfig({
        failover: { apply_timeout_s: 30, salvage: { timeout_s: o.salvageTimeoutS ?? 60 } } as ClusterConfig['failover'],
        nodes: base.nodes.map((n) => ({ ...n, binlog_dir: l.nodes.find((x) => x.name === n.name)!.datadir })),
      });
      return { lab: l, cfg };
    }

    const ROWS = 200000;

    /**
     * app.seed with ROWS rows of 100 bytes on every node, app.bulk empty: an `INSERT INTO
     * app.bulk SELECT … FROM app.seed` on db1 is then one transaction of tens of MB of row events.
     */
    async function seedBulk(l: NetLab): Promise<void> {
      await l.sql('db1', 'CREATE TABLE app.seed (id INT PRIMARY KEY, pad CHAR(100)) ENGINE=InnoDB');
      await l.sql('db1', 'CREATE TABLE app.bulk (id INT PRIMARY KEY, pad CHAR(100)) ENGINE=InnoDB');
      const depth = flavor === 'mysql' ? 'SET SESSION cte_max_recursion_depth = 300000; ' : 'SET SESSION max_recursive_iterations = 300000; ';
      await l.sql('db1', `${depth}INSERT INTO app.seed WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) SELECT i, REPEAT('s', 100) FROM n`);
      if (flavor === 'mariadb') {
        // Varied on purpose: mariadb-binlog prints a statement's row events as one BINLOG
        // statement (here ~30 MB), beyond MariaDB's default max_allowed_packet (16 MB), and
        // heir's documented grants do not let it raise that on MariaDB (SUPER). Operators
        // replaying large transactions set it in my.cnf, as here.
        for (const r of ['db2', 'db3']) await l.sql(r, 'SET GLOBAL max_allowed_packet = 1073741824');
      }
      for (const r of ['db2', 'db3']) {
        await until(`${r} has the seed rows`, async () => (Number((await l.sql(r, 'SELECT COUNT(*) AS c FROM app.seed'))[0].c) === ROWS ? true : undefined));
      }
    }

    /** A manual failover of db1 that promoted someone, its salvage failing: outcome promoted-with-errors. */
    async function promotedWithSalvageError(cfg: ClusterConfig): Promise<Awaited<ReturnType<typeof runFailover>> & { newMaster: string }> {
      const sd = tempStateDir();
      dirs.push(sd);
      const r = await runFailover({ cluster: cfg, global: globalSettings(sd), deadMaster: 'db1', trigger: 'manual' });
      const steps = JSON.stringify(r.steps, null, 1);
      assert.ok(r.newMaster, `${r.summary}\n${steps}`);
      assert.equal(r.outcome, 'promoted-with-errors', `${r.summary}\n${steps}`);
      return r as typeof r & { newMaster: string };
    }

    /** A manual failover of db1: promoted, its salvage without error, nothing reported lost; its steps as a diagnostic. */
    async function promotedSalvaged(cfg: ClusterConfig, t: { diagnostic: (s: string) => void }): Promise<Awaited<ReturnType<typeof runFailover>>> {
      const sd = tempStateDir();
      dirs.push(sd);
      const r = await runFailover({ cluster: cfg, global: globalSettings(sd), deadMaster: 'db1', trigger: 'manual' });
      const steps = r.steps.map((s) => `${s.name} ${s.outcome} ${s.durationMs} ms: ${s.detail}${s.error ? ` — ${s.error}` : ''}`).join('\n');
      t.diagnostic(steps);
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.deepEqual(r.possiblyLost, [], 'nothing reported lost');
      return r;
    }

    /** The invariant with `master` and the other survivor, then all ROWS rows of app.bulk on both. */
    async function bulkEverywhere(l: NetLab, cfg: ClusterConfig, master: string, probeId: number): Promise<void> {
      const survivors = ['db2', 'db3'].filter((n) => n !== master);
      await assertHealthy(l, cfg, master, survivors, [], { probeId });
      for (const n of [master, ...survivors]) {
        await until(`${n} has all ${ROWS} rows of the transaction`, async () => (Number((await l.sql(n, 'SELECT COUNT(*) AS c FROM app.bulk'))[0].c) === ROWS ? true : undefined));
      }
    }

    async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 60000): Promise<T> {
      const end = Date.now() + ms;
      for (;;) {
        const v = await fn();
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error(`timed out: ${what}`);
        await sleep(250);
      }
    }

    for (const gtid of flavor === 'mysql' ? [true, false] : [true]) {
    it(`${gtid ? '' : 'file/position: '}a 200,000-row transaction half received by every replica when the master dies: salvaged whole, no STOP REPLICA stall`, async (t) => {
      const { lab: l, cfg } = await salvageLab({ gtid });
      await seedBulk(l);
      // About 1 MB/s to each replica: the transaction (tens of MB of row events) takes far
      // longer to arrive than the 3 s the master has left.
      for (const r of ['db2', 'db3']) await l.throttle(r, 8000);
      await l.sql('db1', 'INSERT INTO app.bulk SELECT id, pad FROM app.seed'); // acknowledged: committed on the master
      await sleep(3000);
      await l.kill('db1');
      for (const r of ['db2', 'db3']) await l.throttle(r, null);
      for (const r of ['db2', 'db3']) {
        const [st] = await l.sql(r, flavor === 'mysql' ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
        const read = Number(st.Read_Source_Log_Pos ?? st.Read_Master_Log_Pos);
        const exec = Number(st.Exec_Source_Log_Pos ?? st.Exec_Master_Log_Pos);
        t.diagnostic(`${r}: read ${read}, applied ${exec}`);
        assert.equal(Number((await l.sql(r, 'SELECT COUNT(*) AS c FROM app.bulk'))[0].c), 0, `${r} has not applied the transaction`);
      }

      const r = await promotedSalvaged(cfg, t);
      assert.ok(r.salvage.count >= 1, r.salvage.why);
      if (flavor === 'mysql') {
        const promote = r.steps.find((s) => s.name === 'promote')!;
        // GTID: the receiver switched to the other survivor discards the incomplete group;
        // file/position: the applier waiting for the rest of it is stopped by a KILL.
        assert.match(promote.detail, gtid ? /released through db[23]/ : /stopped at once \(KILL\)/, 'the winner\'s relay log ended inside the transaction and was released');
      }
      await bulkEverywhere(l, cfg, r.newMaster!, 900002);
    });
    }

    for (const gtid of flavor === 'mysql' ? [true, false] : [true]) {
    it(`${gtid ? '' : 'file/position: '}a 200,000-row transaction only the dead master has (the replicas' IO threads stopped): salvaged whole`, async (t) => {
      const { lab: l, cfg } = await salvageLab({ gtid });
      await seedBulk(l);
      const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
      for (const r of ['db2', 'db3']) await l.sql(r, stopIo);
      await l.sql('db1', 'INSERT INTO app.bulk SELECT id, pad FROM app.seed'); // acknowledged: committed on the master
      const [size] = await l.sql('db1', flavor === 'mysql' ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
      t.diagnostic(`db1's binlog ends at ${size.File}:${size.Position}`);
      await l.kill('db1');
      for (const r of ['db2', 'db3']) assert.equal(Number((await l.sql(r, 'SELECT COUNT(*) AS c FROM app.bulk'))[0].c), 0, `${r} never received the transaction`);

      const r = await promotedSalvaged(cfg, t);
      assert.equal(r.salvage.count, 1, `the one transaction only db1 had: ${r.salvage.why}`);
      await bulkEverywhere(l, cfg, r.newMaster!, 900005);
    });
    }

    // salvage.timeout_s varied on purpose (5 s): the apply is held by a lock until well after it.
    for (const gtid of flavor === 'mysql' ? [true, false] : [true]) {
    it(`${gtid ? '' : 'file/position: '}salvage.timeout_s cuts short an apply held by a lock: the client's session is killed, the report counts what was applied, nothing after it is applied later`, async () => {
      const { lab: l, cfg } = await salvageLab({ gtid, salvageTimeoutS: 5 });
      await l.sql('db1', 'CREATE TABLE app.held (id INT PRIMARY KEY) ENGINE=InnoDB');
      for (const r of ['db2', 'db3']) {
        await until(`${r} has app.held`, async () => ((await l.sql(r, "SELECT COUNT(*) AS c FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'held'"))[0].c > 0 ? true : undefined));
      }
      const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
      for (const r of ['db2', 'db3']) await l.sql(r, stopIo);
      noteAttempted(100001, 100003);
      await l.sql('db1', "INSERT INTO app.w (id, note) VALUES (100001, 'only on db1')");
      await l.sql('db1', 'INSERT INTO app.held (id) VALUES (1)');
      await l.sql('db1', "INSERT INTO app.w (id, note) VALUES (100003, 'only on db1')");
      await l.kill('db1');
      // Whichever survivor wins, a session holds app.held against writes (a backup's table
      // lock; MySQL refuses a locking read under super_read_only, MariaDB takes a gap lock).
      const locks: mysql.Connection[] = [];
      try {
        for (const n of l.nodes.slice(1)) {
          const s = await mysql.createConnection({ socketPath: n.socket, user: 'root', password: '' });
          locks.push(s);
          if (flavor === 'mysql') await s.query('LOCK TABLES app.held READ');
          else {
            await s.query('BEGIN');
            await s.query('SELECT id FROM app.held WHERE id > 0 FOR UPDATE');
          }
        }
        const r = await promotedWithSalvageError(cfg);
        assert.match(r.salvage.error ?? '', /killed after \d+ ms \(failover\.salvage\.timeout_s\); its session \d+ on db[23] was killed, its open transaction rolled back/, r.salvage.why);
        assert.equal(r.salvage.count, 1, r.salvage.why);
        assert.match(r.salvage.why, /^salvage failed after applying 1 transaction\(s\): /);
        // No session of the killed client is left waiting on the new master (the lock holders are idle).
        const waiting = await l.sql(r.newMaster, 'SELECT id, user, command, state, LEFT(info, 60) AS info FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND info IS NOT NULL');
        assert.deepEqual(waiting, [], `sessions left on ${r.newMaster}`);
        for (const s of locks) await s.end();
        locks.length = 0;
        await sleep(1000);
        const ids = await idsOn(cfg, r.newMaster);
        assert.deepEqual([100001, 100003].map((id) => ids.has(id)), [true, false], 'the transaction before the held one applied, none after it');
        assert.equal(Number((await l.sql(r.newMaster, 'SELECT COUNT(*) AS c FROM app.held'))[0].c), 0, 'the held transaction was not applied once the lock went');
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster, survivors, [100001], { probeId: 900006 });
      } finally {
        for (const s of locks) await s.end().catch(() => {});
      }
    });
    }

    it('statement-format events with the delimiter, carriage returns and GBK/latin1 text in literals: salvaged byte for byte', async () => {
      const { lab: l, cfg } = await salvageLab();
      await l.sql('db1', 'CREATE TABLE app.txt (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4');
      await l.sql('db1', 'CREATE TABLE app.gbk (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB DEFAULT CHARSET=gbk');
      await l.sql('db1', 'CREATE TABLE app.l1 (id INT PRIMARY KEY, v VARCHAR(200)) ENGINE=InnoDB DEFAULT CHARSET=latin1');
      for (const r of ['db2', 'db3']) {
        await until(`${r} has the tables`, async () => ((await l.sql(r, "SELECT COUNT(*) AS c FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'l1'"))[0].c > 0 ? true : undefined));
      }
      const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
      for (const r of ['db2', 'db3']) await l.sql(r, stopIo);
      // Each session sends its statements in its own character set; statement format keeps
      // the bytes as sent in the binlog.
      const db1 = l.nodes[0]!;
      for (const [charset, table, values] of [
        ['UTF8MB4_GENERAL_CI', 'app.txt', ['line1\r\n/*!*/;\r\nROLLBACK\r\n', '/*!*/;', 'a\rb\r', 'DELIMITER ;\nCOMMIT/*!*/;\n# at 4']],
        ['GBK_CHINESE_CI', 'app.gbk', ['你好，世界', '数据库\r\n/*!*/;']],
        ['LATIN1_SWEDISH_CI', 'app.l1', ['café crème', 'Ærø\r\n']],
      ] as const) {
        const c = await mysql.createConnection({ socketPath: db1.socket, user: 'root', password: '', charset });
        try {
          await c.query("SET SESSION binlog_format = 'STATEMENT'");
          let id = 1;
          for (const v of values) await c.query(`INSERT INTO ${table} (id, v) VALUES (${id++}, ${c.escape(v)})`);
        } finally {
          await c.end();
        }
      }
      const expected: Record<string, string> = {};
      for (const table of ['app.txt', 'app.gbk', 'app.l1']) expected[table] = JSON.stringify(await l.sql('db1', `SELECT id, HEX(v) AS h FROM ${table} ORDER BY id`));
      await l.kill('db1');

      const sd = tempStateDir();
      dirs.push(sd);
      const r = await runFailover({ cluster: cfg, global: globalSettings(sd), deadMaster: 'db1', trigger: 'manual' });
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.equal(r.salvage.count, 8, r.salvage.why);
      assert.deepEqual(r.possiblyLost, [], 'nothing reported lost');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, [], { probeId: 900003 });
      for (const n of [r.newMaster!, ...survivors]) {
        for (const table of Object.keys(expected)) {
          assert.equal(JSON.stringify(await l.sql(n, `SELECT id, HEX(v) AS h FROM ${table} ORDER BY id`)), expected[table], `${n}: ${table} byte for byte`);
        }
      }
    });

    // Both flavors, and MySQL by file and position, where no GTID set tells what was applied.
    for (const gtid of flavor === 'mysql' ? [true, false] : [true]) {
      it(`${gtid ? '' : 'file/position: '}a salvage that fails part-way reports exactly the transactions it applied, and what it did not`, async () => {
        const { lab: l, cfg } = await salvageLab({ gtid });
        // A table only the master has (created outside its binlog): the third of the
        // transactions only the master holds fails on the new master.
        await l.sql('db1', 'SET SESSION sql_log_bin = 0; CREATE TABLE app.only1 (id INT PRIMARY KEY) ENGINE=InnoDB; SET SESSION sql_log_bin = 1');
        const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
        for (const r of ['db2', 'db3']) await l.sql(r, stopIo);
        noteAttempted(100001, 100002, 100004, 100005);
        await l.sql('db1', "INSERT INTO app.w (id, note) VALUES (100001, 'only on db1')");
        await l.sql('db1', "INSERT INTO app.w (id, note) VALUES (100002, 'only on db1')");
        await l.sql('db1', 'INSERT INTO app.only1 (id) VALUES (1)');
        await l.sql('db1', "INSERT INTO app.w (id, note) VALUES (100004, 'only on db1')");
        await l.sql('db1', "INSERT INTO app.w (id, note) VALUES (100005, 'only on db1')");
        await l.kill('db1');

        const r = await promotedWithSalvageError(cfg);
        assert.match(r.salvage.error ?? '', /only1/, r.salvage.why);
        assert.equal(r.salvage.count, 2, r.salvage.why);
        assert.match(r.salvage.why, /^salvage failed after applying 2 transaction\(s\): /);
        const ids = await idsOn(cfg, r.newMaster);
        assert.deepEqual([100001, 100002, 100004, 100005].map((id) => ids.has(id)), [true, true, false, false], 'the two before the failing one applied, none after it');
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster, survivors, [100001, 100002], { probeId: 900004 });
      });
    }
  });
}
