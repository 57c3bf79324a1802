/**
 * The failover integration suite, run against real servers of one flavor
 * (failover-mysql.test.ts: MySQL 9.7, failover-mariadb.test.ts: MariaDB 10.11).
 * The executor is run directly (not through the daemon). Each destructive case
 * gets a fresh loopback cluster; the lab stops only its own processes.
 *
 * Every cluster has the application's address: an ENI (address type eni, an instance id per
 * node) in one ECS API emulator shared by the suite, moved by heir through the unmodified SDK
 * (TLS verified against the emulator's CA, credentials from the SDK's default chain), with
 * Detaching and Attaching of 250 ms each (2 s on the platform: shortened to keep the suite
 * fast). On loopback the address is a forwarder's port (test/support/eni-forwarder.ts) that
 * reaches whichever node the emulator has the ENI attached to. The application writes through
 * it, and every failover ends with the invariant checking the address is on the new master
 * and nowhere else. address.verify is off: heir would connect to floating_ip at the new
 * master's own port, and on loopback the address is one port for every node.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import mysql from 'mysql2/promise';
import type { ClusterConfig } from '../../src/config/schema';
import { errantGtids, readChannels, readNode } from '../../src/mysql/inspect';
import { compareCoords, formatCoords } from '../../src/mysql/coords';
import { waitRelayApplied } from '../../src/mysql/ops';
import { ClusterMonitor } from '../../src/monitor';
import { acknowledge } from '../../src/failover/guard';
import { runFailover, type FailoverRequest } from '../../src/failover/execute';
import { unfinishedJournals } from '../../src/failover/journal';
import { rejoinNode } from '../../src/failover/rejoin';
import { peekLock } from '../../src/failover/lock';
import { freePort, startCluster, startNetLab, type LabCluster, type LabFlavor, type NetLab } from '../lab';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../ecs-emulator/fixture';
import { startEniForwarder, type EniForwarder } from '../support/eni-forwarder';
import { assertInvariant, type InvariantReport } from '../support/invariant';
import {
  appConfig,
  assertHealthy as assertHealthyAnywhere,
  createTable,
  globalSettings,
  grantSalvage,
  idsOn,
  noteAttempted,
  range,
  sleep,
  startWriter as startWriterAnywhere,
  open,
  type Target,
  type Writer,
  syncReplicas,
  tempStateDir,
  writeRows,
} from './failover-helpers';

export function failoverSuite(flavor: LabFlavor): void {
  const labs: LabCluster[] = [];
  const dirs: string[] = [];
  /** The application's address of each lab (an ENI on db1 at the start). */
  const addresses = new Map<LabCluster, EniForwarder>();
  let emu: EcsEmulator | undefined;
  let restoreCredentials: () => void = () => {};
  /** Every writer started, stopped after each case (one through the address retries until stopped). */
  const writers: Writer[] = [];

  async function startWriter(cfg: ClusterConfig, target: Target): Promise<Writer> {
    const w = await startWriterAnywhere(cfg, target);
    writers.push(w);
    return w;
  }
  const my = flavor === 'mysql';
  const stopIo = my ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
  const stopSql = my ? 'STOP REPLICA SQL_THREAD' : 'STOP SLAVE SQL_THREAD';
  const semiStatus = `Rpl_semi_sync_${my ? 'source' : 'master'}_status`;
  const delay = (s: number) =>
    my
      ? ['STOP REPLICA', `CHANGE REPLICATION SOURCE TO SOURCE_DELAY=${s}`, 'START REPLICA']
      : ['STOP SLAVE', `CHANGE MASTER TO MASTER_DELAY=${s}`, 'START SLAVE'];

  /** The ECS API emulator, started with the suite's first cluster (Detaching and Attaching: 250 ms). */
  async function emulator(): Promise<EcsEmulator> {
    if (!emu) {
      emu = await startEcsEmulator({ state: { ...labRegion(), delays: { ...labRegion().delays, attachMs: 250, detachMs: 250 } } });
      restoreCredentials = useCredentials(emu, 'env');
    }
    return emu;
  }

  /** A lab's address: an ENI attached to db1's instance, and the forwarder that follows it. */
  async function withAddress<L extends LabCluster>(l: L): Promise<L> {
    addresses.set(l, await startEniForwarder(await emulator(), l.nodes.map((n) => ({ name: n.name, host: n.host, port: n.port })), 'db1'));
    return l;
  }

  function addressOf(l: LabCluster): EniForwarder {
    const a = addresses.get(l);
    if (!a) throw new Error('this cluster has no address');
    return a;
  }

  /** heir's configuration of the lab's address, and each node's instance id. */
  function addressConfig(l: LabCluster, nodes: ClusterConfig['nodes']): Pick<ClusterConfig, 'address' | 'nodes'> {
    const a = addressOf(l);
    return {
      address: { type: 'eni', eni_id: a.eniId, floating_ip: a.floatingIp, verify: false },
      nodes: nodes.map((n) => ({ ...n, instance_id: a.instanceIds[n.name] })),
    };
  }

  /** The invariant after a failover, with the address: it must be on the new master only. */
  function assertHealthy(
    l: LabCluster,
    cfg: ClusterConfig,
    newMaster: string,
    survivors: string[],
    acked: number[],
    o: { probeId: number; allowMissing?: Set<number>; delayed?: string[]; leftOut?: string[]; report?: InvariantReport; onlyOnDeadMaster?: number[] },
  ): Promise<void> {
    return assertHealthyAnywhere(l, cfg, newMaster, survivors, acked, { ...o, address: addressOf(l) });
  }

  async function lab(o: { semiSync?: boolean; gtid?: boolean; nodes?: number } = {}): Promise<LabCluster> {
    const l = await startCluster({ flavor, nodes: o.nodes ?? 3, semiSync: o.semiSync, gtid: o.gtid, name: `fo-${flavor}` });
    labs.push(l);
    await withAddress(l);
    await createTable(l);
    return l;
  }

  async function config(l: LabCluster, failover: Record<string, unknown> = {}, nodes?: Record<string, Record<string, unknown>>): Promise<ClusterConfig> {
    const known = path.join(tempDir(), 'known_hosts');
    fs.writeFileSync(known, '');
    const base = l.clusterConfig();
    return l.clusterConfig({
      // A loopback port nothing listens on: SSH to the dead master's "host" fails at once.
      ssh: { port: await freePort(), known_hosts: known, connect_timeout_ms: 1000 } as ClusterConfig['ssh'],
      failover: { apply_timeout_s: 30, ...failover } as ClusterConfig['failover'],
      ...addressConfig(l, base.nodes.map((n) => ({ ...n, ...(nodes?.[n.name] ?? {}) }))),
    });
  }

  function tempDir(): string {
    const d = tempStateDir();
    dirs.push(d);
    return d;
  }

  async function waitApplied(l: LabCluster, cfg: ClusterConfig, nodes: string[], id: number): Promise<void> {
    for (const n of nodes) {
      const deadline = Date.now() + 20000;
      while (!(await idsOn(cfg, n)).has(id)) {
        if (Date.now() > deadline) throw new Error(`${n} did not receive id ${id}`);
        await sleep(50);
      }
    }
  }

  /** Until each of `nodes` has received (IO thread) everything the master has written so far. */
  async function receivedAll(l: LabCluster, nodes: string[], master = 'db1'): Promise<void> {
    const [ms] = await l.sql(master, my ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
    for (const n of nodes) {
      const deadline = Date.now() + 20000;
      for (;;) {
        const [st] = await l.sql(n, my ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
        if ((st.Source_Log_File ?? st.Master_Log_File) === ms.File && Number(st.Read_Source_Log_Pos ?? st.Read_Master_Log_Pos) === Number(ms.Position)) break;
        if (Date.now() > deadline) throw new Error(`${n} did not receive ${ms.File}:${ms.Position}`);
        await sleep(25);
      }
    }
  }

  /**
   * Hosts for salvage (network namespaces, each with mysqld and sshd, as in
   * failover-salvage.test.ts): the dead master's binlogs are reachable over SSH.
   */
  async function salvageLab(o: { semiSync?: boolean; gtid?: boolean } = {}): Promise<{ l: NetLab; cfg: ClusterConfig }> {
    const l = await startNetLab({ flavor, hosts: 3, semiSync: o.semiSync, gtid: o.gtid });
    labs.push(l);
    // The same forwarder as on loopback (to each host's address): the suite moves no real IP.
    await withAddress(l);
    await createTable(l);
    await grantSalvage(l);
    const base = l.clusterConfig();
    const cfg = l.clusterConfig({
      failover: { apply_timeout_s: 30, salvage: { timeout_s: 60 }, ...(o.semiSync ? { semi_sync: true } : {}) } as ClusterConfig['failover'],
      ...addressConfig(l, base.nodes.map((n) => ({ ...n, binlog_dir: l.nodes.find((x) => x.name === n.name)!.datadir }))),
    });
    return { l, cfg };
  }

  /** Waits until `done()` holds, up to `ms`. */
  async function until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
      await sleep(50);
    }
  }

  async function binlogFiles(l: LabCluster, node: string): Promise<string[]> {
    return (await l.sql(node, 'SHOW BINARY LOGS')).map((r) => String(r.Log_name));
  }

  /** The application writes through db1 and stops; db2 and db3 apply it all; then db2's applier is held on n rows. */
  async function writeThenHold(l: LabCluster, cfg: ClusterConfig, n: number) {
    const w = await startWriter(cfg, addressOf(l));
    await sleep(300);
    await w.stop();
    await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
    return { w, hold: await holdApplier(l, cfg, 'db2', n) };
  }

  /**
   * MySQL by file and position: three batches of 60 rows through the address; `first` stops
   * receiving after the first batch, `second` after the second (each once it has read the
   * batch whole: a transaction boundary). Returns the acknowledged ids.
   */
  async function staggered(l: LabCluster, cfg: ClusterConfig, first: string, second: string): Promise<number[]> {
    const acked: number[] = [];
    const batch = async (from: number) => {
      const ids = range(from, 60);
      await writeRows(cfg, addressOf(l), ids);
      acked.push(...ids);
    };
    await batch(1);
    await receivedAll(l, [first]);
    await l.sql(first, stopIo);
    await batch(1001);
    await receivedAll(l, [second]);
    await l.sql(second, stopIo);
    await batch(2001);
    return acked;
  }

  /**
   * Holds `node`'s applier on the master's next n transactions: tables app.hold1..n on every
   * node, each locked on `node` by a session of its own (MySQL refuses a locking read under
   * super_read_only: a table read lock; MariaDB: a locking read above every row). commit(i, id)
   * is the master's transaction i, a row in app.hold<i> and an acknowledged row `id` in app.w;
   * release(i) lets `node` apply it (once the ones before it are released).
   */
  async function holdApplier(l: LabCluster, cfg: ClusterConfig, node: string, n: number) {
    for (let i = 1; i <= n; i++) await l.sql('db1', `CREATE TABLE app.hold${i} (id INT PRIMARY KEY) ENGINE=InnoDB`);
    await syncReplicas(l);
    const socketPath = l.nodes.find((x) => x.name === node)!.socket;
    const sessions: mysql.Connection[] = [];
    for (let i = 1; i <= n; i++) {
      const s = await mysql.createConnection({ socketPath, user: 'root', password: '' });
      sessions.push(s);
      if (my) await s.query(`LOCK TABLES app.hold${i} READ`);
      else {
        await s.query('BEGIN');
        await s.query(`SELECT id FROM app.hold${i} WHERE id > 0 FOR UPDATE`);
      }
    }
    return {
      commit: async (i: number, id: number) => {
        const c = await open(appConfig(cfg), addressOf(l));
        try {
          await c.exec('BEGIN');
          await c.exec(`INSERT INTO app.hold${i} (id) VALUES (1)`);
          noteAttempted(id);
          await c.exec(`INSERT INTO app.w (id, note) VALUES (${id}, 'held')`);
          await c.exec('COMMIT');
        } finally {
          await c.close();
        }
      },
      release: (i: number) => sessions[i - 1]!.end().catch(() => undefined),
      releaseAll: () => Promise.all(sessions.map((s) => s.end().catch(() => undefined))),
    };
  }

  function request(cfg: ClusterConfig, stateDir: string, extra: Partial<FailoverRequest> = {}): FailoverRequest {
    return { cluster: cfg, global: globalSettings(stateDir, cloudFor(emu!)), deadMaster: 'db1', trigger: 'manual', ...extra };
  }

  /** A cluster whose writer's rows reached every replica, then its master killed. */
  /** behind: db3 stops receiving halfway through the writes (db2 gets them all). */
  async function deadMasterCluster(o: { gtid?: boolean; behind?: boolean; nodes?: number } = {}): Promise<{ l: LabCluster; cfg: ClusterConfig; w: Awaited<ReturnType<typeof startWriter>> }> {
    const l = await lab(o);
    const cfg = await config(l);
    const w = await startWriter(cfg, addressOf(l));
    await sleep(300);
    await w.stop();
    if (o.behind) {
      // db3 stops receiving at a transaction boundary (all the writer's rows), then more
      // rows reach db2 only.
      await waitApplied(l, cfg, ['db3'], w.acked.at(-1)!);
      await l.sql('db3', stopIo);
      const more = range(700001, 40);
      await writeRows(cfg, addressOf(l), more);
      w.acked.push(...more);
    }
    await waitApplied(l, cfg, o.behind ? ['db2'] : l.nodes.slice(1).map((n) => n.name), w.acked.at(-1)!);
    if (o.behind) {
      const have3 = await idsOn(cfg, 'db3');
      assert.ok(w.acked.some((id) => !have3.has(id)), 'db3 is behind');
    }
    await l.kill('db1');
    return { l, cfg, w };
  }

  /**
   * A cluster with a writer's rows on every replica and its master killed, then a failover
   * run in a child process that dies (SIGKILL, no cleanup) right before `step`.
   */
  async function crashedFailover(step: string, o: { gtid?: boolean; behind?: boolean; nodes?: number } = {}): Promise<{ l: LabCluster; cfg: ClusterConfig; w: Awaited<ReturnType<typeof startWriter>>; sd: string }> {
    const { l, cfg, w } = await deadMasterCluster(o);
    const sd = tempDir();
    await crashRun(cfg, sd, step);
    return { l, cfg, w, sd };
  }

  /**
   * A failover run in a child process that dies (SIGKILL, no cleanup) at `step` (before it, or
   * at step:point inside it); with `killWhen` (and a step that is never reached), the test
   * kills it (SIGKILL) once killWhen() holds, polled every 50 ms, at a moment no crash point names.
   */
  async function crashRun(cfg: ClusterConfig, sd: string, step: string, killWhen?: () => Promise<boolean>): Promise<void> {
    const child = spawn(process.execPath, [path.join(__dirname, 'failover-crash-child.js')], {
      env: { ...process.env, HEIR_TEST_CLUSTER: JSON.stringify(cfg), HEIR_TEST_STATE_DIR: sd, HEIR_TEST_CRASH_AT: step, HEIR_TEST_GLOBAL: JSON.stringify({ cloud: cloudFor(emu!) }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, s) => resolve(s)));
    if (killWhen) {
      let running = true;
      void exited.then(() => (running = false));
      while (running && !(await killWhen())) await sleep(50);
      if (running) child.kill('SIGKILL');
    }
    const sig = await exited;
    assert.equal(sig, 'SIGKILL', `the child died at the crash point (${step.includes(':') ? `inside ${step}` : `before ${step}`}): ${out}`);
  }

  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.stop()));
    for (const a of addresses.values()) await a.close();
    addresses.clear();
    while (labs.length) await labs.pop()!.teardown();
  });
  after(async () => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    restoreCredentials();
    await emu?.close();
  });

  describe(`failover (${flavor})`, () => {
    it('async, dead master host down: promoted, and the report counts exactly what is lost', async () => {
      const l = await lab();
      const cfg = await config(l);
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
      const lastAcked = w.acked.at(-1)!;
      await waitApplied(l, cfg, ['db2', 'db3'], lastAcked);
      // Only the master gets these: the replicas stopped receiving.
      await l.sql('db2', stopIo);
      await l.sql('db3', stopIo);
      const onlyOnMaster = range(100001, 5);
      await writeRows(cfg, addressOf(l), onlyOnMaster);
      const lastKnownMaster = await readNode(cfg, cfg.nodes[0]);
      // Varied on purpose: both replicas writable (read_only OFF, the server's default; the lab
      // otherwise sets it as heir recommends): the failover makes the survivor read-only itself.
      for (const n of ['db2', 'db3']) {
        if (flavor === 'mysql') await l.sql(n, 'SET GLOBAL super_read_only=0');
        await l.sql(n, 'SET GLOBAL read_only=0');
      }
      await l.kill('db1');

      const sd = tempDir();
      const r = await runFailover(request(cfg, sd, { lastKnownMaster }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.ok(r.newMaster === 'db2' || r.newMaster === 'db3');
      assert.equal(r.salvage.attempted, true);
      assert.match(r.salvage.why, /no binlogs from db1/);
      assert.equal(r.possiblyLost.length, 1);
      assert.equal(r.possiblyLost[0].count, 5, JSON.stringify(r.possiblyLost));
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, [...w.acked, ...onlyOnMaster], {
        probeId: 900001,
        allowMissing: new Set(onlyOnMaster),
        report: r,
        onlyOnDeadMaster: onlyOnMaster,
      });
      const have = await idsOn(cfg, r.newMaster!);
      assert.deepEqual(onlyOnMaster.filter((id) => have.has(id)), [], 'the rows only the dead master had are the ones reported lost');
      assert.ok(fs.existsSync(r.reportPath!), 'report saved');
      assert.deepEqual(unfinishedJournals(sd, cfg.name), []);
      assert.equal(peekLock(sd, cfg.name).free, true, 'lock released');
    });

    it('semi-sync: replicas stop receiving, the master is killed while writing: no acknowledged row lost', async () => {
      const l = await lab({ semiSync: true });
      const cfg = await config(l, { semi_sync: true });
      // Semi-sync must really be on: the master waits for a replica's acknowledgement.
      const [st] = await l.sql('db1', `SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_${my ? 'source' : 'master'}_status'`);
      assert.equal(String(st.Value), 'ON', 'semi-sync active on the master before the kill');
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      // As in the async test, the replicas stop receiving while the writer goes on. With
      // async replication the master would keep acknowledging rows only it has (the async
      // test loses them); with semi-sync it cannot acknowledge any (it waits for a replica,
      // up to rpl_semi_sync timeout, 10 s, far longer than this).
      const before = w.acked.length;
      await l.sql('db2', stopIo);
      await l.sql('db3', stopIo);
      await sleep(1000);
      await l.kill('db1'); // while the writer waits for its commit
      await w.failed;
      assert.ok(before > 0, `the writer wrote: ${w.error?.message}`);
      const ackedAtKill = w.acked.length;

      // The application goes on retrying through the address during the failover.
      const r = await runFailover(request(cfg, tempDir()));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      await until(() => w.acked.length > ackedAtKill, 20_000, `the writer's commits resume through the address (last error: ${w.error?.message})`);
      await w.stop();
      assert.ok((addressOf(l).forwarded[r.newMaster!] ?? 0) > 0, 'the writer reached the new master through the address');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      // No allowMissing: every acknowledged row, on every survivor.
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
      const m = await open(cfg, r.newMaster!);
      try {
        const rows = await m.query(`SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync_${my ? 'source' : 'master'}_enabled'`);
        assert.equal(String(rows[0].Value), 'ON', 'semi-sync source on the new master');
      } finally {
        await m.close();
      }
    });

    /** db3 (promotion: prefer) stops receiving, and a writer's rows reach db2 only: db3 is behind the most advanced. */
    async function preferBehind(): Promise<{ l: LabCluster; cfg: ClusterConfig; w: Awaited<ReturnType<typeof startWriter>> }> {
      const l = await lab();
      const cfg = await config(l, {}, { db3: { promotion: 'prefer' } });
      await l.sql('db3', stopIo); // db3 falls behind db2
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db2'], w.acked.at(-1)!);
      return { l, cfg, w };
    }

    it('a prefer node behind the most advanced wins after catching up; promotion: auto blocks the next automatic failover', async () => {
      const { l, cfg, w } = await preferBehind();
      // db2 runs at the server's default, writable (read_only OFF), as replicas often do:
      // heir makes every survivor it repoints read-only (the invariant checks it).
      await l.sql('db2', my ? 'SET GLOBAL super_read_only = 0' : 'SET GLOBAL read_only = 0');
      await l.sql('db2', 'SET GLOBAL read_only = 0');
      await l.kill('db1');

      const sd = tempDir();
      const r = await runFailover(request(cfg, sd, { trigger: 'auto', verdict: { test: 'prefer' } }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.newMaster, 'db3');
      assert.equal(r.plan!.mostAdvanced, 'db2');
      assert.deepEqual(r.plan!.catchUp.map((c) => c.from), ['db2']);
      assert.ok(r.steps.some((s) => s.name === 'catch-up' && s.outcome === 'ok'));
      assert.deepEqual(r.verdict, { test: 'prefer' });
      await assertHealthy(l, cfg, 'db3', ['db2'], w.acked, { probeId: 900001 });

      // The new master dies too, right away: the next automatic failover is blocked.
      await l.kill('db2').catch(() => undefined);
      await l.kill('db3');
      const blocked = await runFailover(request(cfg, sd, { trigger: 'auto', deadMaster: 'db3' }));
      assert.equal(blocked.outcome, 'refused');
      assert.match(blocked.summary, /automatic failover blocked until/);
      assert.deepEqual(blocked.steps, [], 'nothing was done');
      assert.deepEqual(await addressOf(l).holders(), ['db3'], 'a refused failover leaves the address where it was');
    });

    it('crash before catch-up (a prefer node behind the most advanced): ack and rerun catch it up and promote it; the invariant holds', async () => {
      const { l, cfg, w } = await preferBehind();
      await l.kill('db1');
      const sd = tempDir();
      await crashRun(cfg, sd, 'catch-up');
      const unfinished = unfinishedJournals(sd, cfg.name);
      assert.equal(unfinished.length, 1, 'the crash left its journal');
      assert.equal(unfinished[0].steps.some((x) => x.step === 'promote'), false, 'nothing promoted before the catch-up');

      acknowledge(sd, cfg.name, 'test');
      const r = await runFailover(request(cfg, sd));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.newMaster, 'db3');
      assert.ok(r.steps.some((s) => s.name === 'catch-up' && s.outcome === 'ok'), JSON.stringify(r.steps.map((s) => [s.name, s.outcome])));
      await assertHealthy(l, cfg, 'db3', ['db2'], w.acked, { probeId: 900001, report: r });
    });

    it('a never node never wins, even as the most advanced (it serves the catch-up); five nodes', async () => {
      const l = await lab({ nodes: 5 });
      const cfg = await config(l, {}, { db2: { promotion: 'never' } });
      for (const n of ['db3', 'db4', 'db5']) await l.sql(n, stopIo);
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db2'], w.acked.at(-1)!);
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir()));
      assert.equal(r.outcome, 'promoted', r.summary);
      assert.equal(r.newMaster, 'db3');
      assert.equal(r.plan!.mostAdvanced, 'db2');
      const db2 = r.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.equal(db2.verdict, 'never');
      assert.deepEqual(db2.reasons, ['never rule (promotion: never)']);
      await assertHealthy(l, cfg, 'db3', ['db2', 'db4', 'db5'], w.acked, { probeId: 900001 });
    });

    it('a lagging replica is gated (max_lag_s), with the gate in the report', async () => {
      const l = await lab();
      const cfg = await config(l, { max_lag_s: 2 }, { db2: { promotion: 'prefer' } });
      for (const st of delay(120)) await l.sql('db2', st);
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db3'], w.acked.at(-1)!);
      await sleep(3500); // db2 applies nothing for 120 s: its lag grows past 2 s
      // The lag as the monitor saw it while the master was alive: once the IO thread
      // cannot reach the master, MariaDB reports no Seconds_Behind_Master at all.
      const seen = await readNode(cfg, cfg.nodes.find((n) => n.name === 'db2')!);
      const lagS = seen.replication[0]?.secondsBehind;
      assert.ok(typeof lagS === 'number' && lagS > 2, `db2 lags: ${lagS}`);
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir(), { lagHints: { db2: lagS } }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.newMaster, 'db3');
      const db2 = r.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.equal(db2.verdict, 'gated');
      assert.ok(db2.reasons.some((x) => /^gate: lag \d+s > max_lag_s 2$/.test(x)), JSON.stringify(db2.reasons));
      await assertHealthy(l, cfg, 'db3', ['db2'], w.acked, { probeId: 900001, delayed: ['db2'] });
      const c = await open(cfg, 'db2');
      try {
        const ch = (await readChannels(c))[0];
        assert.equal(ch.sourcePort, cfg.nodes.find((n) => n.name === 'db3')!.port, 'the lagging replica replicates from the new master');
      } finally {
        await c.close();
      }
    });

    it("a replica whose lag was unknown at the monitor's last healthy check (its SQL thread stopped by hand) is gated, not taken as level: the other is promoted, and it is repointed and catches up", async () => {
      const l = await lab();
      // db2 would win (prefer, and it receives everything) if unknown lag passed max_lag_s.
      const cfg = await config(l, {}, { db2: { promotion: 'prefer' } });
      const w = await startWriter(cfg, addressOf(l));
      await sleep(200);
      await l.sql('db2', stopSql);
      // The monitor's healthy-time checks, while the application writes: db2 connected, its
      // Seconds_Behind_Source NULL; db3 connected with a lag.
      const mon = new ClusterMonitor({ ...cfg, detection: { ...cfg.detection, ssh_check: false, secondary_checks: [] } }, { replicaCheckEveryMs: 500 });
      let healthy: ReturnType<ClusterMonitor['healthyViews']>;
      try {
        await mon.start();
        const deadline = Date.now() + 15000;
        for (;;) {
          healthy = mon.healthyViews();
          const [v2, v3] = [healthy.db2, healthy.db3];
          if (v2?.connected && v2.lagS === null && v3?.connected && typeof v3.lagS === 'number') break;
          assert.ok(Date.now() < deadline, `the monitor sees db2 connected with unknown lag: ${JSON.stringify(healthy)}`);
          await sleep(100);
        }
      } finally {
        await mon.stop();
      }
      await w.stop();
      assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
      await waitApplied(l, cfg, ['db3'], w.acked.at(-1)!);
      await receivedAll(l, ['db2']);
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir(), { healthy }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.newMaster, 'db3', r.summary);
      const db2 = r.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.equal(db2.verdict, 'gated');
      assert.ok(db2.reasons.some((x) => /^gate: lag unknown: no Seconds_Behind_Source at the last check while db1 still answered/.test(x)), JSON.stringify(db2.reasons));
      await assertHealthy(l, cfg, 'db3', ['db2'], w.acked, { probeId: 900001 });
    });

    /** Statements on db3 alone, outside its binlog (super_read_only lifted meanwhile on MySQL). */
    async function unloggedOnDb3(cfg: ClusterConfig, ...statements: string[]): Promise<void> {
      const c3 = await open(cfg, 'db3');
      try {
        if (my) await c3.exec('SET GLOBAL super_read_only=0');
        await c3.exec('SET SESSION sql_log_bin=0');
        for (const st of statements) await c3.exec(st);
        if (my) await c3.exec('SET GLOBAL super_read_only=1');
      } finally {
        await c3.close();
      }
    }

    /**
     * A row on db3 alone, written without a binlog entry (as a hand repair would be), that the
     * application then writes through the master: db3's applier stops on it (1062; MySQL's
     * parallel applier may report it as its worker's failure, 3030). Returns the writer, once db2
     * has applied every acknowledged row and db3's SQL thread has stopped.
     */
    async function duplicateOnDb3(l: LabCluster, cfg: ClusterConfig) {
      noteAttempted(800001);
      await unloggedOnDb3(cfg, "INSERT INTO app.w (id, note) VALUES (800001, 'db3 only')");
      const w = await startWriter(cfg, addressOf(l));
      await sleep(200);
      await writeRows(cfg, addressOf(l), [800001]);
      await sleep(200);
      await w.stop();
      await waitApplied(l, cfg, ['db2'], w.acked.at(-1)!);
      const deadline = Date.now() + 20000;
      for (;;) {
        const ch = (await readNode(cfg, cfg.nodes.find((n) => n.name === 'db3')!)).replication[0];
        // 1062, or (MySQL's parallel applier) 3030: a worker failed on the row and the coordinator stopped.
        if (ch && !ch.sqlRunning && (ch.lastSqlErrno === 1062 || ch.lastSqlErrno === 3030 || /Duplicate entry '800001'/.test(ch.lastSqlError))) break;
        assert.ok(Date.now() < deadline, `db3's SQL thread stops on the duplicate key: ${JSON.stringify(ch)}`);
        await sleep(100);
      }
      return w;
    }

    /**
     * db3 left out pointing at the dead master, its SQL thread stopped on the duplicate key
     * (duplicateOnDb3): heir rejoin refuses it (`refusal`) while the error stands; then the DBA's
     * fix (the row deleted, `start`), db3 applies its relay log, and heir rejoin places it.
     */
    async function fixAndRejoinDb3(cfg: ClusterConfig, sd: string, refusal: RegExp, start: string) {
      const rejoin = () => rejoinNode({ cluster: cfg, global: globalSettings(sd, cloudFor(emu!)), node: 'db3' });
      const refused = await rejoin();
      assert.equal(refused.outcome, 'refused', refused.summary);
      assert.match(refused.summary, refusal);
      await unloggedOnDb3(cfg, 'DELETE FROM app.w WHERE id = 800001', start);
      const c3 = await open(cfg, 'db3');
      try {
        // Throws should its SQL thread stop again with relay log unapplied.
        assert.ok(await waitRelayApplied(c3, 30), 'db3 applies its relay log within 30 s');
      } finally {
        await c3.close();
      }
      const rj = await rejoin();
      assert.equal(rj.outcome, 'rejoined', `${rj.summary} ${rj.steps.join('; ')}`);
      return rj;
    }

    it('a replica whose SQL thread stopped on a duplicate key is not promoted; it is repointed, and the verify reports its error instead of passing while it retries; once the row is fixed the invariant holds', async () => {
      const l = await lab();
      const cfg = await config(l);
      const w = await duplicateOnDb3(l, cfg);
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir()));
      assert.equal(r.newMaster, 'db2', r.summary);
      const db3 = r.plan!.candidates.find((c) => c.name === 'db3')!;
      assert.ok(db3.reasons.some((x) => /^gate: SQL thread error (1062|3030):/.test(x)), JSON.stringify(db3.reasons));
      assert.equal(r.outcome, 'promoted-with-errors', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      const verify = r.steps.find((x) => x.name === 'verify')!;
      const v3 = verify.nodes!.find((n) => n.node === 'db3')!;
      assert.equal(v3.ok, false, JSON.stringify(verify));
      assert.match(v3.detail, /1062|Duplicate entry/);
      assert.ok(r.next.some((x) => /^db3: verify failed/.test(x)), r.next.join('\n'));
      assert.equal(r.steps.find((x) => x.name === 'attach')!.outcome, 'ok');

      // The DBA's fix: db3 drops its own copy and starts its applier; it replicates from db2.
      await unloggedOnDb3(cfg, 'DELETE FROM app.w WHERE id = 800001', my ? 'START REPLICA' : 'START SLAVE');
      await assertHealthy(l, cfg, 'db2', ['db3'], [...w.acked, 800001], { probeId: 900001 });
    });

    if (my) {
      it('file/position: a replica whose SQL thread stopped on a duplicate key, level with the winner by what it read: not promoted, not repointed, never reported healthy; left out at once with what to do; once fixed, heir rejoin places it where the new master was promoted', async () => {
        const l = await lab({ gtid: false });
        const cfg = await config(l);
        const w = await duplicateOnDb3(l, cfg);
        await receivedAll(l, ['db3']); // db3 received everything: level with db2 by what it read
        await l.kill('db1');

        const sd = tempDir();
        const r = await runFailover(request(cfg, sd));
        assert.equal(r.plan!.mode, 'file');
        assert.equal(r.newMaster, 'db2', r.summary);
        const db3 = r.plan!.candidates.find((c) => c.name === 'db3')!;
        assert.ok(db3.reasons.some((x) => x.startsWith('gate: SQL thread error')), JSON.stringify(db3.reasons));
        // Left out at once (not drained, not repointed: no wait for apply_timeout_s), with what to do;
        // heir failover exits 5 (partial).
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        const left = r.plan!.leftOut.find((x) => x.node === 'db3');
        assert.match(left?.why ?? '', /^file\/position: its SQL thread stopped on error \d+, .* heir rejoin db3$/, JSON.stringify(r.plan!.leftOut));
        assert.ok(!(r.steps.find((x) => x.name === 'drain')!.nodes ?? []).some((n) => n.node === 'db3'), 'db3 is not drained');
        assert.ok(!(r.steps.find((x) => x.name === 'verify')?.nodes ?? []).some((n) => n.node === 'db3'), 'db3 is not verified as healthy');
        assert.equal(r.steps.find((x) => x.name === 'attach')!.outcome, 'ok');
        const ch = (await l.sql('db3', 'SHOW REPLICA STATUS'))[0];
        assert.equal(Number(ch.Source_Port), l.nodes[0]!.port, 'db3 still points at the dead master, its relay log kept');
        await assertHealthy(l, cfg, 'db2', [], w.acked, { probeId: 900001, leftOut: ['db3'] });

        // heir rejoin (the failover's state folder: its report is the anchor) refuses while the
        // SQL thread is stopped on the error, and says what to do. After the fix, db3 applies its
        // relay log up to where db2 stood in db1's binlog, and resumes in db2's binlog where db2
        // became the master: the rows written since follow.
        const rj = await fixAndRejoinDb3(cfg, sd, /stopped on error \d+ .*: fix it and START REPLICA; db2 resumes it at \S+ once it has applied db1's binlog to \S+, as db2 had when promoted/, 'START REPLICA');
        const promoted = r.steps.find((x) => x.name === 'promote')!.data as { binlog: { file: string; pos: number } };
        assert.ok(rj.steps.some((x) => x.includes('source db2')), rj.steps.join('; '));
        const after = (await readNode(cfg, cfg.nodes.find((n) => n.name === 'db3')!)).replication[0]!;
        assert.equal(after.sourcePort, l.nodes[1]!.port, 'db3 follows db2');
        assert.ok(after.exec && compareCoords(after.exec, promoted.binlog) >= 0, `db3 resumed in db2's binlog from ${formatCoords(promoted.binlog)}: ${formatCoords(after.exec)}`);
        await assertHealthy(l, cfg, 'db2', ['db3'], [...w.acked, 800001], { probeId: 900002 });
      });

      it('file/position: a replica whose SQL thread stopped on a duplicate key and that read less than the winner: left out, but located by what it received; once fixed, heir rejoin places it there', async () => {
        const l = await lab({ gtid: false });
        const cfg = await config(l);
        const w = await duplicateOnDb3(l, cfg);
        await receivedAll(l, ['db3']);
        // db3 reads no further; db2 receives these too: db3 is behind db2 by what it read.
        await l.sql('db3', stopIo);
        const more = range(700001, 20);
        await writeRows(cfg, addressOf(l), more);
        await waitApplied(l, cfg, ['db2'], more.at(-1)!);
        await l.kill('db1');

        const sd = tempDir();
        const r = await runFailover(request(cfg, sd));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.newMaster, 'db2', r.summary);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.deepEqual(r.plan!.levelUp, ['db3']);
        assert.deepEqual(r.plan!.repoint, []);
        const left = r.plan!.leftOut.find((x) => x.node === 'db3');
        assert.match(left?.why ?? '', /^file\/position: its SQL thread stopped on error \d+, .*the level-up locates it .*heir rejoin db3 resumes it where the level-up placed it$/, JSON.stringify(r.plan!.leftOut));
        const lu = r.steps.find((x) => x.name === 'level-up')!;
        assert.match(lu.nodes?.find((n) => n.node === 'db3')?.detail ?? '', /^resumes at binlog\.\d+:\d+ of db2's binlog \(\d+ transaction\(s\) after .*\), by heir rejoin once it has applied its relay log/, steps);
        const ch = (await l.sql('db3', 'SHOW REPLICA STATUS'))[0];
        assert.equal(Number(ch.Source_Port), l.nodes[0]!.port, 'db3 still points at the dead master, its relay log kept');
        await assertHealthy(l, cfg, 'db2', [], [...w.acked, ...more], { probeId: 900001, leftOut: ['db3'] });

        // After the fix its applier applies the relay log (the rows up to where it stopped reading).
        await fixAndRejoinDb3(cfg, sd, /stopped on error \d+ .*: fix it and START REPLICA; db2 resumes it at \S+ \(failover \S+ located it there\) once it has applied its relay log/, 'START REPLICA SQL_THREAD');
        const after = (await readNode(cfg, cfg.nodes.find((n) => n.name === 'db3')!)).replication[0]!;
        assert.equal(after.sourcePort, l.nodes[1]!.port, 'db3 follows db2');
        // What it lacked (the rows it never read) reaches it from db2's binlog.
        await assertHealthy(l, cfg, 'db2', ['db3'], [...w.acked, ...more, 800001], { probeId: 900002 });
      });
    }

    it('errant GTIDs: gated with errant_gtids: block, promoted with a warning with errant_gtids: warn', async () => {
      const l = await lab();
      const w = await startWriter(await config(l), addressOf(l));
      await sleep(200);
      await w.stop();
      const plain = await config(l);
      await waitApplied(l, plain, ['db2', 'db3'], w.acked.at(-1)!);
      // A write made on the replica db2 itself.
      if (my) await l.sql('db2', 'SET GLOBAL super_read_only=0');
      noteAttempted(800001);
      await l.sql('db2', "INSERT INTO app.w (id, note) VALUES (800001, 'errant')");
      if (my) await l.sql('db2', 'SET GLOBAL super_read_only=1');
      await l.kill('db1');

      const block = await config(l, { errant_gtids: 'block' }, { db2: { promotion: 'prefer' } });
      const dry = await runFailover(request(block, tempDir(), { dryRun: true }));
      assert.equal(dry.outcome, 'dry-run');
      const db2 = dry.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.equal(db2.verdict, 'gated');
      assert.ok(db2.reasons.some((x) => /^gate: errant GTIDs .+ \(errant_gtids: block\)$/.test(x)), JSON.stringify(db2.reasons));
      assert.equal(dry.plan!.winner, 'db3');
      assert.deepEqual(await addressOf(l).holders(), ['db1'], 'a dry run leaves the address where it was');

      const warn = await config(l, { errant_gtids: 'warn' }, { db2: { promotion: 'prefer' } });
      const r = await runFailover(request(warn, tempDir()));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.newMaster, 'db2');
      const c2 = r.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.ok(c2.warnings.some((x) => /^errant GTIDs .+ \(errant_gtids: warn\)$/.test(x)), JSON.stringify(c2.warnings));
      await assertHealthy(l, warn, 'db2', ['db3'], [...w.acked, 800001], { probeId: 900001 });
    });

    it('an errant write that replicated transactions followed is still seen (MariaDB: gtid_binlog_state, not gtid_binlog_pos), by heir check and by the planner', async () => {
      const l = await lab();
      const plain = await config(l);
      // MariaDB at its default gtid_strict_mode=OFF (the lab turns it on elsewhere): with it
      // on, the replicated transactions would stop on the errant one with an SQL error instead.
      if (!my) for (const n of ['db1', 'db2', 'db3']) await l.sql(n, 'SET GLOBAL gtid_strict_mode=0');
      if (my) await l.sql('db2', 'SET GLOBAL super_read_only=0');
      noteAttempted(800001);
      await l.sql('db2', "INSERT INTO app.w (id, note) VALUES (800001, 'errant')");
      if (my) await l.sql('db2', 'SET GLOBAL super_read_only=1');
      const w = await startWriter(plain, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, plain, ['db2', 'db3'], w.acked.at(-1)!);
      const db2Snap = await readNode(plain, plain.nodes[1]!);
      const own = my ? db2Snap.serverUuid! : `-${db2Snap.serverId}-`;
      if (!my) assert.ok(!db2Snap.mariadb!.binlogPos.includes(own), `gtid_binlog_pos no longer shows it: ${db2Snap.mariadb!.binlogPos}`);
      const errant = errantGtids(db2Snap, await readNode(plain, plain.nodes[0]!));
      assert.ok(errant.includes(own), `heir check's rule finds db2's own write: '${errant}'`);
      await l.kill('db1');

      const block = await config(l, { errant_gtids: 'block' }, { db2: { promotion: 'prefer' } });
      const dry = await runFailover(request(block, tempDir(), { dryRun: true }));
      const db2 = dry.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.equal(db2.verdict, 'gated', JSON.stringify(db2));
      assert.ok(db2.reasons.some((x) => x.startsWith('gate: errant GTIDs') && x.includes(own)), JSON.stringify(db2.reasons));
      assert.equal(dry.plan!.winner, 'db3');
      // A dry run only: the cluster is left as it was, no invariant to check after a failover.
      assert.deepEqual(await addressOf(l).holders(), ['db1'], 'a dry run leaves the address where it was');
    });

    it('the address does not wait for the other survivors: one whose repoint hangs (its server paused) ends after the attach, and is reported; heir rejoin brings it back', async () => {
      const l = await lab({ nodes: 4 });
      // db2 has promotion: prefer: the survivors are level, and the lag tie-break between them
      // must not elect db3, the node paused at the repoint.
      const cfg = await config(l, { apply_timeout_s: 10 }, { db2: { promotion: 'prefer' } });
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db2', 'db3', 'db4'], w.acked.at(-1)!);
      await l.kill('db1');
      let paused = false;
      let r: Awaited<ReturnType<typeof runFailover>>;
      try {
        r = await runFailover(
          request(cfg, tempDir(), {
            beforeStep: (s) => {
              if (s === 'repoint' && !paused) {
                l.pause('db3');
                paused = true;
              }
            },
          }),
        );
      } finally {
        if (paused) l.resume('db3');
      }
      assert.ok(paused, 'the repoint step ran');
      assert.equal(r.newMaster, 'db2', r.summary);
      assert.equal(r.outcome, 'promoted-with-errors', r.summary);
      const at = (name: string) => r.steps.find((x) => x.name === name)!;
      assert.equal(at('attach').outcome, 'ok', JSON.stringify(at('attach')));
      assert.ok(Date.parse(at('attach').endedAt!) < Date.parse(at('repoint').endedAt!), `attach ended ${at('attach').endedAt}, repoint ${at('repoint').endedAt}`);
      const nodes = Object.fromEntries(at('repoint').nodes!.map((n) => [n.node, n.ok]));
      assert.deepEqual(nodes, { db3: false, db4: true });
      assert.ok(r.next.some((x) => /^db3: repoint failed/.test(x)), r.next.join('\n'));

      const sd = tempDir();
      const rj = await rejoinNode({ cluster: cfg, global: globalSettings(sd, cloudFor(emu!)), node: 'db3' });
      assert.equal(rj.outcome, 'rejoined', `${rj.summary} ${rj.steps.join('; ')}`);
      await assertHealthy(l, cfg, 'db2', ['db3', 'db4'], w.acked, { probeId: 900001 });
    });

    it("a survivor whose statement times out (its server paused past mysql.query_timeout_ms at the freeze): the dropped connection is replaced at its next step, and it is repointed", async () => {
      const l = await lab();
      // db2 has promotion: prefer: db3, the node paused, must not be the one elected.
      const cfg = await config(l, {}, { db2: { promotion: 'prefer' } });
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
      await l.kill('db1');
      let paused = false;
      let timer: NodeJS.Timeout | undefined;
      let r: Awaited<ReturnType<typeof runFailover>>;
      try {
        r = await runFailover(
          request(cfg, tempDir(), {
            duringStep: (step, point) => {
              if (step !== 'freeze' || point !== 'connected db3' || paused) return;
              // heir's connection to db3 is open; its STOP of the IO thread meets a paused
              // server and times out. db3 resumes half a second after that.
              l.pause('db3');
              paused = true;
              timer = setTimeout(() => l.resume('db3'), cfg.mysql.query_timeout_ms + 500);
            },
          }),
        );
      } finally {
        if (timer) clearTimeout(timer);
        if (paused) l.resume('db3');
      }
      assert.ok(paused, 'db3 was paused at the freeze');
      const at = (name: string) => r.steps.find((x) => x.name === name)!;
      const freeze = Object.fromEntries(at('freeze').nodes!.map((n) => [n.node, n.detail]));
      assert.match(freeze.db3 ?? '', /no answer within \d+ ms; connection dropped/, JSON.stringify(at('freeze')));
      assert.equal(r.newMaster, 'db2', r.summary);
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      const repoint = Object.fromEntries(at('repoint').nodes!.map((n) => [n.node, n.ok]));
      assert.deepEqual(repoint, { db3: true }, JSON.stringify(at('repoint')));
      await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
    });

    it('a crash between steps leaves a journal: the next run reports it and refuses until heir ack; then it completes', async () => {
      const { l, cfg, w, sd } = await crashedFailover('repoint');

      const unfinished = unfinishedJournals(sd, cfg.name);
      assert.equal(unfinished.length, 1);
      const ran = unfinished[0].steps.map((s) => `${s.step}:${s.outcome}`);
      assert.ok(ran.includes('promote:ok'), ran.join(' '));
      assert.ok(!ran.some((x) => x.startsWith('repoint')), ran.join(' '));
      assert.equal(peekLock(sd, cfg.name).stale, true, 'the dead process left a stale lock');

      const refused = await runFailover(request(cfg, sd));
      assert.equal(refused.outcome, 'refused');
      const text = refused.warnings.join('\n');
      assert.match(text, /did not finish/);
      assert.match(text, /promote\s+ok/);
      assert.match(text, /heir ack --cluster/);
      assert.deepEqual(refused.steps, []);

      const acked = acknowledge(sd, cfg.name, 'test');
      assert.equal(acked.journals.length, 1);
      // Resuming is running the failover again: every step is safe to repeat.
      const r = await runFailover(request(cfg, sd));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      const promotedBefore = unfinished[0].steps.find((s) => s.step === 'promote');
      const first = /^(\S+) is writable/.exec(promotedBefore?.detail ?? '')?.[1];
      assert.ok(first, `the journal names the node the first run promoted: ${promotedBefore?.detail}`);
      // The rerun must finish what the first run started: the same new master, never a second one.
      assert.equal(r.newMaster, first, `the rerun promoted ${r.newMaster}; the first run had promoted ${first}`);
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
    });

    // The executor dies (SIGKILL, no cleanup) right before each step in turn; the documented
    // recovery (heir ack, then heir failover again) must end with the invariant, and a rerun
    // after the promotion must keep the node the first run promoted: never a second master.
    for (const crashAt of ['fence', 'fence-address', 'freeze', 'reread', 'drain', 'promote', 'repoint', 'verify', 'attach'] as const) {
      it(`crash before ${crashAt}: ack and rerun end with one master, the same one if it was already promoted`, async () => {
        const { l, cfg, w, sd } = await crashedFailover(crashAt);
        const unfinished = unfinishedJournals(sd, cfg.name);
        assert.equal(unfinished.length, 1, 'the crash left its journal');
        const promote = unfinished[0].steps.find((x) => x.step === 'promote' && x.outcome === 'ok');
        const first = promote ? /^(\S+) is writable/.exec(promote.detail ?? '')?.[1] : undefined;

        acknowledge(sd, cfg.name, 'test');
        const r = await runFailover(request(cfg, sd));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        if (first) assert.equal(r.newMaster, first, `the rerun promoted ${r.newMaster}; the crashed run had promoted ${first}`);
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
      });
    }

    // The executor dies inside a step: in the middle of the promotion (replication stopped,
    // binlog position read, RESET REPLICA ALL done, read_only lifted) and once one survivor
    // is repointed. The rerun finishes the promotion of the node the journal names, never
    // elects a second one, and ends with the invariant; in file/position mode too (MySQL).
    for (const gtid of my ? [true, false] : [true]) {
      for (const crashAt of ['promote:stopped', 'promote:binlog', 'promote:reset', 'promote:writable', 'repoint:first'] as const) {
        it(`${gtid ? '' : 'file/position: '}crash inside ${crashAt.replace(':', ' at ')}: ack and rerun keep the node the journal names`, async () => {
          const { l, cfg, w, sd } = await crashedFailover(crashAt, { gtid, nodes: 4 });
          const unfinished = unfinishedJournals(sd, cfg.name);
          assert.equal(unfinished.length, 1, 'the crash left its journal');
          const promote = unfinished[0].steps.find((x) => x.step === 'promote');
          const first = String(promote?.params?.node ?? '');
          assert.ok(first, `the journal names the node the promotion began on: ${JSON.stringify(unfinished[0].steps)}`);
          assert.equal(promote!.outcome, crashAt.startsWith('promote') ? 'running' : 'ok');
          // The half-promoted node takes writes before the rerun when it already was writable
          // (directly: the address is attached to it only at the end of the rerun).
          const [ro] = await l.sql(first, 'SELECT @@global.read_only AS ro');
          const extra = Number(ro!.ro) === 0 ? range(800001, 5) : [];
          if (extra.length) await writeRows(cfg, first, extra);
          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
          assert.equal(r.plan!.mode, gtid ? (my ? 'mysql-gtid' : 'mariadb-gtid') : 'file');
          assert.equal(r.newMaster, first, `the rerun promoted ${r.newMaster}; the crashed run had begun promoting ${first}`);
          w.acked.push(...extra);
          const survivors = ['db2', 'db3', 'db4'].filter((n) => n !== r.newMaster);
          await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
        });
      }
    }

    // The executor dies inside the attach, with the new master promoted: once the ENI is off
    // the old master and before the attach request (the address on no node), and once the
    // request was accepted and before the ENI is in use (it ends attached with nobody
    // watching). The rerun keeps the master the journal names and finishes the attach:
    // already on the right instance is done, attaching is waited for.
    for (const gtid of my ? [true, false] : [true]) {
      for (const crashAt of ['attach:detached', 'attach:requested'] as const) {
        it(`${gtid ? '' : 'file/position: '}crash inside attach at ${crashAt.slice(7)}: ack and rerun end with the address on the node the journal promoted`, async () => {
          // Attaching lasts long enough for the rerun to find the request still in flight.
          if (crashAt === 'attach:requested') emu!.state.delays.attachMs = 4000;
          let crashed;
          try {
            crashed = await crashedFailover(crashAt, { gtid });
          } finally {
            emu!.state.delays.attachMs = 250;
          }
          const { l, cfg, w, sd } = crashed;
          const unfinished = unfinishedJournals(sd, cfg.name);
          assert.equal(unfinished.length, 1, 'the crash left its journal');
          const promote = unfinished[0].steps.find((x) => x.step === 'promote' && x.outcome === 'ok');
          const first = /^(\S+) is writable/.exec(promote?.detail ?? '')?.[1];
          assert.ok(first, `the crashed run had promoted a node: ${JSON.stringify(unfinished[0].steps)}`);
          assert.equal(unfinished[0].steps.find((x) => x.step === 'attach')?.outcome, 'running');
          const a = addressOf(l);
          const eni = emu!.state.enis.get(a.eniId)!;
          if (crashAt === 'attach:detached') assert.equal(eni.status, 'Available', 'the crash left the address on no node');
          else {
            assert.equal(eni.status, 'Attaching', 'the crash left the attach in flight');
            assert.equal(eni.instanceId, a.instanceIds[first]);
          }
          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
          assert.equal(r.plan!.mode, gtid ? (my ? 'mysql-gtid' : 'mariadb-gtid') : 'file');
          assert.equal(r.newMaster, first, `the rerun promoted ${r.newMaster}; the crashed run had promoted ${first}`);
          const attach = r.steps.find((x) => x.name === 'attach')!;
          assert.equal(attach.outcome, 'ok', JSON.stringify(attach));
          assert.match(attach.detail, crashAt === 'attach:detached' ? /^attached: / : /^already-attached: /, attach.detail);
          const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
          await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
        });
      }
    }

    // The same in file/position mode (MySQL without GTIDs), where the promotion's RESET
    // REPLICA ALL leaves the first winner with no coordinates to compare: the rerun must
    // keep it, and repoint the others at the coordinates where it became the master.
    if (my) {
      for (const crashAt of ['drain', 'promote', 'repoint', 'verify', 'attach'] as const) {
        it(`file/position: crash before ${crashAt}: ack and rerun end with one master, the same one if it was already promoted`, async () => {
          const { l, cfg, w, sd } = await crashedFailover(crashAt, { gtid: false });
          const unfinished = unfinishedJournals(sd, cfg.name);
          assert.equal(unfinished.length, 1, 'the crash left its journal');
          const promote = unfinished[0].steps.find((x) => x.step === 'promote' && x.outcome === 'ok');
          const first = promote ? /^(\S+) is writable/.exec(promote.detail ?? '')?.[1] : undefined;
          // The promoted node takes writes before the rerun: the others must be repointed
          // where it became the master (from the journal), or they would miss these. Written
          // directly: the address is attached to it only at the end of the rerun.
          const extra = first ? range(800001, 5) : [];
          if (first) await writeRows(cfg, first, extra);
          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
          assert.equal(r.plan!.mode, 'file');
          w.acked.push(...extra);
          if (first) assert.equal(r.newMaster, first, `the rerun promoted ${r.newMaster}; the crashed run had promoted ${first}`);
          const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
          await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
        });
      }
    }

    if (my) {
      // db3's applier is held by a table read lock (as a backup's session on a replica would hold
      // one). Level with the winner, it receives everything and applies nothing more; behind it,
      // its receiver also stops before db2's: it is placed in db2's binlog by what it received.
      for (const behind of [false, true]) {
        it(
          behind
            ? 'file/position: a survivor behind the winner whose applier is held by a lock is located by what it received and applies its relay log in its own repoint: neither the promotion nor the address waits for it'
            : 'file/position: a survivor level with the winner whose applier is held by a lock applies its relay log in its own repoint: neither the promotion nor the address waits for it',
          async () => {
            const l = await lab({ gtid: false });
            // Varies apply_timeout_s (10: the old code gave up on the held node after it).
            const cfg = await config(l, { apply_timeout_s: 10 }, { db2: { promotion: 'prefer' } });
            const w = await startWriter(cfg, addressOf(l));
            await sleep(300);
            await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
            const lock = await mysql.createConnection({ socketPath: l.nodes[2]!.socket, user: 'root', password: '' });
            let releasedAt = 0;
            let timer: NodeJS.Timeout | undefined;
            try {
              await lock.query('LOCK TABLES app.w READ');
              await sleep(300);
              if (behind) {
                await l.sql('db3', stopIo);
                await sleep(300);
              }
              await w.stop();
              await receivedAll(l, behind ? ['db2'] : ['db2', 'db3']);
              await l.kill('db1');
              const r = await runFailover(
                request(cfg, tempDir(), {
                  beforeStep: (step) => {
                    if (step !== 'promote' || timer) return;
                    timer = setTimeout(() => {
                      releasedAt = Date.now();
                      void lock.end().catch(() => undefined);
                    }, 5000);
                  },
                }),
              );
              const steps = JSON.stringify(r.steps, null, 1);
              assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
              assert.equal(r.newMaster, 'db2');
              assert.deepEqual(r.plan!.levelUp, behind ? ['db3'] : []);
              assert.ok(releasedAt > 0, 'the lock was released during the failover');
              const at = (name: string) => r.steps.find((x) => x.name === name)!;
              assert.deepEqual(at('drain').nodes!.map((n) => n.node), ['db2'], steps);
              if (behind) assert.equal(at('level-up').outcome, 'ok', steps);
              assert.ok(Date.parse(at('attach').endedAt!) < releasedAt, `the address moved before the lock was released: ${steps}`);
              const db3 = at('repoint').nodes!.find((n) => n.node === 'db3');
              assert.ok(db3?.ok, steps);
              assert.match(db3.detail, /at binlog\.\d+:\d+ \(its relay log applied first, in \d+\.\d s\)/);
              await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
            } finally {
              clearTimeout(timer);
              await lock.end().catch(() => undefined);
            }
          },
        );
      }

      it('file/position: survivors that read less than the winner are located in its binlog (level-up) and repointed there; four nodes', async () => {
        const l = await lab({ gtid: false, nodes: 4 });
        const cfg = await config(l);
        // Three batches; each replica's IO thread stops between two of them, once it has
        // received the batch before (a transaction boundary: a relay log ending inside a
        // transaction is the case of the 60 s STOP REPLICA stall, not this test's subject).
        const acked = await staggered(l, cfg, 'db3', 'db4');
        const w = { acked };
        await waitApplied(l, cfg, ['db2'], acked.at(-1)!);
        const [have3, have4] = [await idsOn(cfg, 'db3'), await idsOn(cfg, 'db4')];
        assert.ok(acked.some((id) => !have4.has(id)) && acked.some((id) => have4.has(id) && !have3.has(id)), 'db3 is behind db4, db4 behind db2');
        await l.kill('db1');

        const r = await runFailover(request(cfg, tempDir()));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        assert.equal(r.plan!.mode, 'file');
        assert.equal(r.newMaster, 'db2');
        assert.deepEqual(r.plan!.levelUp.sort(), ['db3', 'db4']);
        const lu = r.steps.find((x) => x.name === 'level-up')!;
        assert.equal(lu.outcome, 'ok', JSON.stringify(lu));
        for (const n of lu.nodes!) assert.match(n.detail, /resumes at binlog\.\d+:\d+ of db2's binlog \(\d+ transaction\(s\) after/, n.detail);
        await assertHealthy(l, cfg, 'db2', ['db3', 'db4'], w.acked, { probeId: 900001 });
      });

      // MHA applies the most advanced replica's relay-log difference to the new master; heir
      // replicates it from that replica's binlog, from where its relay log locates the winner.
      it('file/position: the furthest reader has promotion: never: the winner catches up from its binlog, a survivor behind the winner is levelled up, nothing lost, the master host down; four nodes', async () => {
        const l = await lab({ gtid: false, nodes: 4 });
        const cfg = await config(l, {}, { db2: { promotion: 'never' } });
        const acked = await staggered(l, cfg, 'db4', 'db3');
        await waitApplied(l, cfg, ['db2'], acked.at(-1)!);
        const [have3, have4] = [await idsOn(cfg, 'db3'), await idsOn(cfg, 'db4')];
        assert.ok(acked.some((id) => !have3.has(id)) && acked.some((id) => have3.has(id) && !have4.has(id)), 'db4 is behind db3, db3 behind db2');
        // No SSH to the master's host in this lab: nothing is salvaged, the rows only db2 has
        // reach the new master through the catch-up alone.
        await l.kill('db1');

        const r = await runFailover(request(cfg, tempDir()));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.plan!.mode, 'file');
        assert.equal(r.newMaster, 'db3');
        assert.deepEqual(r.plan!.catchUp.map((x) => x.from), ['db2']);
        assert.deepEqual(r.plan!.levelUp, ['db4']);
        const names = r.steps.map((x) => x.name);
        assert.ok(names.indexOf('level-up') < names.indexOf('catch-up'), names.join(' '));
        const cu = r.steps.find((x) => x.name === 'catch-up')!;
        assert.equal(cu.outcome, 'ok', JSON.stringify(cu));
        assert.match(cu.detail, /^db3 caught up from db2 \(its binlog binlog\.\d+:\d+ to binlog\.\d+:\d+\).*: now at binlog\.\d+:\d+ of db1's binlog$/, cu.detail);
        assert.equal(r.salvage.count, 0);
        assert.deepEqual(r.plan!.unobtainable, []);
        // What may be lost is only what no replica received: beyond where the catch-up brought db3.
        const at = /now at (binlog\.\d+:\d+) of db1's binlog$/.exec(cu.detail)![1]!;
        assert.deepEqual(r.possiblyLost.map((x) => x.why.includes(`beyond ${at} and no replica received`)), [true], JSON.stringify(r.possiblyLost));
        await assertHealthy(l, cfg, 'db3', ['db2', 'db4'], acked, { probeId: 900001 });
      });

      it('file/position: a survivor behind the winner whose relay log was purged past its position is dropped with the reason, not repointed wrong', async () => {
        const l = await lab({ gtid: false });
        const cfg = await config(l);
        const w = await startWriter(cfg, addressOf(l));
        await sleep(250);
        await l.sql('db3', stopIo);
        await sleep(150);
        // The source rotates its binlog: db2 starts a new relay log and purges the old one once applied.
        await l.sql('db1', 'FLUSH BINARY LOGS');
        await sleep(250);
        await w.stop();
        await waitApplied(l, cfg, ['db2'], w.acked.at(-1)!);
        await l.kill('db1');

        const r = await runFailover(request(cfg, tempDir()));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        assert.equal(r.newMaster, 'db2');
        const left = r.plan!.leftOut.find((x) => x.node === 'db3');
        assert.match(left?.why ?? '', /cannot be brought level with db2: the relay log begins at binlog\.000002:4 .*purged/, JSON.stringify(r.plan!.leftOut));
        assert.ok(r.next.some((x) => /^db3: compare it with db2 .*; heir rejoin .* resumes it only where its position in db2's binlog is known exactly .*; else rebuild it from db2$/.test(x)), r.next.join('\n'));
        // db3 is left where it was: still pointing at the dead master, with what it had.
        const ch = (await l.sql('db3', 'SHOW REPLICA STATUS'))[0];
        assert.equal(Number(ch.Source_Port), l.nodes[0]!.port);
        await assertHealthy(l, cfg, 'db2', [], w.acked, { probeId: 900001 });
      });

      for (const crashAt of ['level-up', 'promote', 'repoint'] as const) {
        it(`file/position with a survivor behind: crash before ${crashAt}: the rerun repoints it where the first run located it`, async () => {
          const { l, cfg, w, sd } = await crashedFailover(crashAt, { gtid: false, behind: true });
          const unfinished = unfinishedJournals(sd, cfg.name);
          assert.equal(unfinished.length, 1, 'the crash left its journal');
          const promote = unfinished[0].steps.find((x) => x.step === 'promote' && x.outcome === 'ok');
          const extra = promote ? range(800001, 5) : [];
          if (promote) await writeRows(cfg, 'db2', extra); // directly, as above: the address is not on db2 yet
          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
          assert.equal(r.newMaster, 'db2');
          w.acked.push(...extra);
          await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
        });
      }
    }

    // MariaDB replicas configured with MASTER_USE_GTID=no: Gtid_IO_Pos does not move, so
    // what a replica received but has not applied shows nowhere in its GTID positions.
    if (!my) {
      it('MariaDB without GTID positioning: a replica whose relay log holds the most is not taken as behind, and no relay log is discarded', async () => {
        const l = await lab({ gtid: false });
        const cfg = await config(l);
        const w = await startWriter(cfg, addressOf(l));
        await sleep(200);
        await l.sql('db3', 'STOP SLAVE SQL_THREAD'); // db3 receives everything, applies nothing more
        await sleep(200);
        await l.sql('db2', 'STOP SLAVE IO_THREAD'); // db2 receives less
        await sleep(300);
        await w.stop();
        const [ms] = await l.sql('db1', 'SHOW MASTER STATUS');
        for (let i = 0; i < 100; i++) {
          const [st] = await l.sql('db3', 'SHOW SLAVE STATUS');
          if (st.Master_Log_File === ms.File && Number(st.Read_Master_Log_Pos) === Number(ms.Position)) break;
          await sleep(50);
        }
        const have3 = await idsOn(cfg, 'db3');
        assert.ok(w.acked.some((id) => !have3.has(id)), 'db3 has acknowledged rows only in its relay log');
        await l.kill('db1');
        const r = await runFailover(request(cfg, tempDir()));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
      });
    }

    it('a catch-up source too slow to drain is dropped, not the failover: promoted, what only it received reported lost', async () => {
      const l = await lab();
      const cfg = await config(l, { apply_timeout_s: 5 }, { db2: { promotion: 'prefer' } });
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
      // db3's applier is held by a session's lock (a gap lock above every id written so far,
      // or a table read lock): it receives, it cannot apply.
      const lock = await mysql.createConnection({ socketPath: l.nodes[2]!.socket, user: 'root', password: '' });
      try {
        // (MySQL refuses a locking read under super_read_only; a table read lock holds it too.)
        if (my) await lock.query('LOCK TABLES app.w READ');
        else {
          await lock.query('BEGIN');
          await lock.query(`SELECT id FROM app.w WHERE id > ${Math.max(...w.acked)} FOR UPDATE`);
        }
        await sleep(200);
        await l.sql('db2', stopIo); // db2, the prefer node, stops receiving: behind db3
        await sleep(300);
        await w.stop();
        const [ms] = await l.sql('db1', my ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
        for (let i = 0; i < 100; i++) {
          const [st] = await l.sql('db3', my ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
          if (Number(st.Read_Source_Log_Pos ?? st.Read_Master_Log_Pos) === Number(ms.Position)) break;
          await sleep(50);
        }
        await l.kill('db1');
        const r = await runFailover(request(cfg, tempDir()));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, 'db2');
        assert.match(r.plan!.leftOut.find((x) => x.node === 'db3')?.why ?? '', /dropped during the failover/, steps);
        const have2 = await idsOn(cfg, 'db2');
        const lost = w.acked.filter((id) => !have2.has(id));
        assert.ok(lost.length > 0, 'rows only db3 received, and could not serve');
        const reported = r.possiblyLost.find((x) => /received by db3, which was dropped/.test(x.why));
        assert.ok(reported, JSON.stringify(r.possiblyLost));
        assert.equal(reported.count, lost.length, 'the report counts exactly the rows lost');
        await assertHealthy(l, cfg, 'db2', [], w.acked, { probeId: 900001, allowMissing: new Set(lost) });
      } finally {
        await lock.end().catch(() => undefined);
      }
    });

    it('a catch-up source that purged from its binlog what the winner lacks: no wait for apply_timeout_s, and the node holding the rows wins instead of the prefer node; nothing lost', async () => {
      const l = await lab();
      const cfg = await config(l, { apply_timeout_s: 30 }, { db2: { promotion: 'prefer' } });
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
      await l.sql('db2', stopIo); // db2, the prefer node, stops receiving: behind db3
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db3'], w.acked.at(-1)!);
      // db3 rotates its binlog and purges the older ones: what db2 lacks is in none it keeps.
      // (MariaDB keeps a binlog until its binlog checkpoint has passed it: purge until it is gone.)
      await l.sql('db3', 'FLUSH BINARY LOGS');
      for (let i = 0; ; i++) {
        const logs = await l.sql('db3', 'SHOW BINARY LOGS');
        if (logs.length === 1) break;
        assert.ok(i < 100, `db3 purged its older binlogs: ${logs.map((x) => x.Log_name).join(', ')}`);
        await l.sql('db3', `PURGE BINARY LOGS TO '${String(logs.at(-1)!.Log_name)}'`);
        await sleep(100);
      }
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir()));
      const steps = JSON.stringify(r.steps, null, 1);
      assert.equal(r.newMaster, 'db3', `${r.summary}\n${steps}`);
      const cu = r.steps.find((x) => x.name === 'catch-up')!;
      assert.equal(cu.outcome, 'skipped', steps);
      assert.match(cu.detail, /winner changed at the catch-up: db2 → db3 .*1236/, cu.detail);
      assert.ok((cu.durationMs ?? 0) < 15_000, `the catch-up gave up at the error, not after apply_timeout_s 30 s: ${cu.durationMs} ms`);
      // Only what the dead master may have committed after its last send (no SSH here): nothing a survivor had.
      assert.ok(r.possiblyLost.every((x) => /were not salvaged/.test(x.why)), JSON.stringify(r.possiblyLost));
      // db2 cannot follow db3 (what it lacks is purged): repointed, and its verify says so.
      assert.equal(r.outcome, 'promoted-with-errors', r.summary);
      assert.match(r.steps.find((x) => x.name === 'verify')?.nodes?.find((n) => n.node === 'db2')?.detail ?? '', /1236/, steps);
      await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, leftOut: ['db2'] });
    });

    if (my) {
      /**
       * db2 (promotion: prefer) stops receiving inside a 50,000-row transaction that db3 has
       * received and applied whole: db2's relay log ends in part of it, its applier holding the
       * group open. Returns the lab, the config and the writer (through the address, stopped).
       */
      const halfReceivedByPrefer = async (t: { diagnostic: (s: string) => void }, gtid: boolean, db3: 'allow' | 'never' = 'allow') => {
        const { l, cfg: base } = await salvageLab({ gtid });
        const promotion: Record<string, 'prefer' | 'never'> = { db2: 'prefer', ...(db3 === 'never' ? { db3: 'never' as const } : {}) };
        const cfg = { ...base, nodes: base.nodes.map((n) => (promotion[n.name] ? { ...n, promotion: promotion[n.name] } : n)) };
        await l.sql('db1', 'CREATE TABLE app.bulk (id INT PRIMARY KEY, pad CHAR(100)) ENGINE=InnoDB');
        await syncReplicas(l);
        const w = await startWriter(cfg, addressOf(l));
        await sleep(300);
        // About 0.5 MB/s to db2: the transaction's row events (some 6 MB) take far longer to
        // reach it than they take to reach and be applied on db3.
        await l.throttle('db2', 4000);
        await l.sql('db1', `SET SESSION cte_max_recursion_depth = ${BULK + 1}; INSERT INTO app.bulk WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${BULK}) SELECT i, REPEAT('b', 100) FROM n`);
        await sleep(300);
        await w.stop();
        await waitApplied(l, cfg, ['db3'], w.acked.at(-1)!);
        assert.equal(await bulkRows(l, 'db3'), BULK);
        await l.sql('db2', stopIo); // inside the transaction
        await l.throttle('db2', null);
        const [ms] = await l.sql('db1', 'SHOW BINARY LOG STATUS');
        const [st2] = await l.sql('db2', 'SHOW REPLICA STATUS');
        t.diagnostic(`db2 read ${st2.Source_Log_File}:${st2.Read_Source_Log_Pos}, applied ${st2.Relay_Source_Log_File}:${st2.Exec_Source_Log_Pos}; db1 ends at ${ms.File}:${ms.Position}`);
        assert.ok(Number(st2.Read_Source_Log_Pos) < Number(ms.Position) && st2.Source_Log_File === ms.File, 'db2 stopped receiving inside the transaction');
        assert.equal(await bulkRows(l, 'db2'), 0, 'db2 has not applied it');
        return { l, cfg, w };
      };
      const BULK = 50000;
      const bulkRows = async (l: LabCluster, node: string) => Number((await l.sql(node, 'SELECT COUNT(*) AS c FROM app.bulk'))[0].c);

      it('a catch-up source that purged what the winner lacks, the winner\'s relay log ending inside a transaction: the applier holding it is cut, no STOP REPLICA stall; the node holding the rows wins; nothing lost', async (t) => {
        const { l, cfg, w } = await halfReceivedByPrefer(t, true);
        // db3 rotates its binlog and purges the older ones: what db2 lacks is in none it keeps.
        await l.sql('db3', 'FLUSH BINARY LOGS');
        await l.sql('db3', `PURGE BINARY LOGS TO '${(await binlogFiles(l, 'db3')).at(-1)!}'`);
        assert.equal((await binlogFiles(l, 'db3')).length, 1);
        await l.kill('db1'); // mysqld only: the host answers SSH, nothing is only in its binlog

        const r = await runFailover(request(cfg, tempDir()));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.newMaster, 'db3', `${r.summary}\n${steps}`);
        const cu = r.steps.find((x) => x.name === 'catch-up')!;
        assert.equal(cu.outcome, 'skipped', steps);
        assert.match(cu.detail, /winner changed at the catch-up: db2 → db3 .*1236.*relay log ends inside a transaction .*stopped at once \(KILL\)/, cu.detail);
        assert.ok((cu.durationMs ?? 0) < 15_000, `the catch-up gave up at the error, its STOP REPLICA did not wait for the rest of the transaction: ${cu.durationMs} ms`);
        assert.deepEqual(r.possiblyLost, [], JSON.stringify(r.possiblyLost));
        // db2 cannot follow db3 (what it lacks is purged): repointed, and its verify says so.
        assert.equal(r.outcome, 'promoted-with-errors', r.summary);
        assert.match(r.steps.find((x) => x.name === 'verify')?.nodes?.find((n) => n.node === 'db2')?.detail ?? '', /1236/, steps);
        await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, leftOut: ['db2'] });
        assert.equal(await bulkRows(l, 'db3'), BULK);
      });

      // By GTID the source's stream discards the partial group; by file and position (where a
      // node level by itself outranks one needing a catch-up: db3 is never) the applier is cut.
      for (const gtid of [true, false]) {
        it(`${gtid ? '' : 'file/position: '}a catch-up by the prefer node whose relay log ends inside a transaction: no STOP REPLICA stall; promoted, nothing lost`, async (t) => {
          const { l, cfg, w } = await halfReceivedByPrefer(t, gtid, gtid ? 'allow' : 'never');
          await l.kill('db1'); // mysqld only: the host answers SSH, nothing is only in its binlog

          const r = await runFailover(request(cfg, tempDir()));
          const steps = JSON.stringify(r.steps, null, 1);
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
          assert.equal(r.newMaster, 'db2');
          const cu = r.steps.find((x) => x.name === 'catch-up')!;
          assert.equal(cu.outcome, 'ok', steps);
          if (!gtid) assert.match(cu.detail, /before it, its relay log ends inside a transaction .*stopped at once \(KILL\)/, cu.detail);
          assert.ok((cu.durationMs ?? 0) < 15_000, `its STOP REPLICA did not wait for the rest of the transaction: ${cu.durationMs} ms`);
          assert.deepEqual(r.possiblyLost, [], JSON.stringify(r.possiblyLost));
          await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
          for (const n of ['db2', 'db3']) assert.equal(await bulkRows(l, n), BULK, n);
        });
      }
    }

    it('a long catch-up: the winner fetches from the most advanced survivor what takes longer than apply_timeout_s to apply; waited for while its applier progresses, the source is not dropped, nothing lost', async () => {
      const l = await lab();
      // Varies apply_timeout_s (4, keeps the test short) and drain_max_s (60): the winner's
      // catch-up takes some 7 s, progressing every 1.5 s (each lock released in turn).
      const cfg = await config(l, { apply_timeout_s: 4, drain_max_s: 60 }, { db2: { promotion: 'prefer' } });
      const N = 5;
      const { w, hold } = await writeThenHold(l, cfg, N);
      try {
        await l.sql('db2', stopIo); // db2, the prefer node, lacks the held transactions: it fetches them from db3
        const held = range(800001, N);
        for (let i = 1; i <= N; i++) await hold.commit(i, held[i - 1]!);
        w.acked.push(...held);
        await waitApplied(l, cfg, ['db3'], held.at(-1)!);
        await l.kill('db1');
        let releasing: Promise<void> | undefined;
        const r = await runFailover(
          request(cfg, tempDir(), {
            beforeStep: (step) => {
              if (step !== 'catch-up' || releasing) return;
              releasing = (async () => {
                for (let i = 1; i <= N; i++) {
                  await sleep(i === 1 ? 1000 : 1500);
                  await hold.release(i);
                }
              })();
            },
          }),
        );
        await releasing;
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, 'db2');
        const cu = r.steps.find((x) => x.name === 'catch-up');
        assert.equal(cu?.outcome, 'ok', steps);
        assert.ok(cu!.durationMs! > 4000, `the catch-up took longer than apply_timeout_s: ${cu!.durationMs} ms`);
        assert.match(cu!.detail, /db2 caught up from db3 in .* longer than failover.apply_timeout_s 4s: its applier kept making progress/, steps);
        assert.deepEqual(r.plan!.leftOut, [], steps);
        assert.deepEqual(r.possiblyLost.filter((x) => /dropped/.test(x.why)), []);
        await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
      } finally {
        await hold.releaseAll();
      }
    });

    if (!my) {
      it('MariaDB without GTID positioning: a replica whose relay log takes longer than apply_timeout_s to apply at the freeze is waited for while its applier progresses; nothing lost', async () => {
        const l = await lab({ gtid: false });
        // Varies apply_timeout_s (4, keeps the test short) and drain_max_s (60): db2's relay
        // log takes some 7 s to apply, progressing every 1.5 s (each lock released in turn).
        const cfg = await config(l, { apply_timeout_s: 4, drain_max_s: 60 }, { db3: { promotion: 'prefer' } });
        const N = 5;
        const { w, hold } = await writeThenHold(l, cfg, N);
        try {
          await l.sql('db3', stopIo); // db3, the prefer node, lacks the held transactions: only db2 receives them
          const held = range(800001, N);
          for (let i = 1; i <= N; i++) await hold.commit(i, held[i - 1]!);
          w.acked.push(...held);
          await receivedAll(l, ['db2']);
          const have2 = await idsOn(cfg, 'db2');
          assert.deepEqual(held.filter((id) => have2.has(id)), [], 'db2 has them in its relay log only');
          await l.kill('db1');
          let releasing: Promise<void> | undefined;
          const r = await runFailover(
            request(cfg, tempDir(), {
              beforeStep: (step) => {
                if (step !== 'freeze' || releasing) return;
                releasing = (async () => {
                  for (let i = 1; i <= N; i++) {
                    await sleep(i === 1 ? 1000 : 1500);
                    await hold.release(i);
                  }
                })();
              },
            }),
          );
          await releasing;
          const steps = JSON.stringify(r.steps, null, 1);
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
          assert.equal(r.newMaster, 'db3');
          const freeze = r.steps.find((x) => x.name === 'freeze')!;
          assert.match(freeze.nodes!.find((x) => x.node === 'db2')!.detail, /relay log applied in .* longer than failover.apply_timeout_s 4s: its applier kept making progress/, steps);
          assert.deepEqual(r.plan!.leftOut, [], steps);
          assert.deepEqual(r.warnings.filter((x) => /freeze|dropped/.test(x)), [], r.warnings.join('\n'));
          await assertHealthy(l, cfg, 'db3', ['db2'], w.acked, { probeId: 900001 });
        } finally {
          await hold.releaseAll();
        }
      });

      it('MariaDB without GTID positioning: a replica stuck applying its relay log at the freeze is dropped: not elected, not repointed, its unapplied relay log reported', async () => {
        const l = await lab({ gtid: false });
        // Varies apply_timeout_s (3, keeps the test short): db2's applier never moves.
        const cfg = await config(l, { apply_timeout_s: 3 }, { db2: { promotion: 'prefer' } });
        const { w, hold } = await writeThenHold(l, cfg, 1);
        try {
          await l.sql('db3', stopIo); // only db2 receives the held transaction
          const held = [800001];
          await hold.commit(1, held[0]!);
          w.acked.push(...held);
          await receivedAll(l, ['db2']);
          await l.kill('db1');
          const r = await runFailover(request(cfg, tempDir()));
          const steps = JSON.stringify(r.steps, null, 1);
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
          assert.equal(r.newMaster, 'db3');
          assert.match(r.plan!.leftOut.find((x) => x.node === 'db2')?.why ?? '', /dropped during the failover: its relay log \(MASTER_USE_GTID=no\) was not applied: no progress/, steps);
          assert.equal(r.plan!.repoint.includes('db2'), false);
          assert.ok(r.warnings.some((x) => /^db2 dropped: /.test(x)), r.warnings.join('\n'));
          const reported = r.possiblyLost.find((x) => /received by db2 into its relay log and not applied/.test(x.why));
          assert.ok(reported, JSON.stringify(r.possiblyLost));
          assert.match(reported.transactions, /^db1's binlog from \S+:\d+ up to \S+:\d+$/, reported.transactions);
          assert.ok(r.next.some((x) => /^db2: compare it with the new master/.test(x)), r.next.join('\n'));
          const c2 = await open(cfg, 'db2');
          try {
            const ch = (await readChannels(c2))[0]!;
            const db1 = cfg.nodes.find((n) => n.name === 'db1')!;
            assert.equal(`${ch.sourceHost}:${ch.sourcePort}`, `${db1.host}:${db1.port}`, 'db2 still replicates from the dead master: its relay log is kept');
            assert.equal(ch.ioState, 'No');
          } finally {
            await c2.close();
          }
          const have3 = await idsOn(cfg, 'db3');
          const lost = w.acked.filter((id) => !have3.has(id));
          assert.deepEqual(lost, held, 'exactly what only db2 received');
          await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, allowMissing: new Set(lost), leftOut: ['db2'] });
        } finally {
          await hold.releaseAll();
        }
      });
    }

    it("a long transaction in the winner's relay log: the drain waits past apply_timeout_s while the applier progresses; the winner is promoted, nothing lost", async () => {
      const l = await lab();
      // apply_timeout_s 4 keeps the test short: the winner's relay log takes some 7 s to apply,
      // progressing every 1.5 s (each lock released in turn), so it never stalls for 4 s.
      const cfg = await config(l, { apply_timeout_s: 4, drain_max_s: 60 }, { db2: { promotion: 'prefer' } });
      const N = 5;
      const { w, hold } = await writeThenHold(l, cfg, N);
      try {
        const held = range(800001, N);
        for (let i = 1; i <= N; i++) await hold.commit(i, held[i - 1]!);
        w.acked.push(...held);
        await receivedAll(l, ['db2', 'db3']);
        const have2 = await idsOn(cfg, 'db2');
        assert.deepEqual(held.filter((id) => have2.has(id)), [], 'db2 has them in its relay log only');
        await l.kill('db1');
        let releasing: Promise<void> | undefined;
        const r = await runFailover(
          request(cfg, tempDir(), {
            beforeStep: (step) => {
              if (step !== 'drain' || releasing) return;
              releasing = (async () => {
                for (let i = 1; i <= N; i++) {
                  await sleep(i === 1 ? 1000 : 1500);
                  await hold.release(i);
                }
              })();
            },
          }),
        );
        await releasing;
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, 'db2');
        const drain = r.steps.find((x) => x.name === 'drain')!;
        assert.ok(drain.durationMs! > 4000, `the drain took longer than apply_timeout_s: ${drain.durationMs} ms`);
        assert.match(drain.nodes!.find((x) => x.node === 'db2')!.detail, /longer than failover.apply_timeout_s 4s: its applier kept making progress/, steps);
        assert.deepEqual(r.plan!.leftOut, []);
        assert.deepEqual(r.possiblyLost.filter((x) => /dropped/.test(x.why)), []);
        await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
      } finally {
        await hold.releaseAll();
      }
    });

    it('a winner still applying past drain_max_s is dropped: the next candidate is promoted, what only it received reported lost, it is not repointed', async () => {
      const l = await lab();
      // Small bounds keep the test short: apply_timeout_s 4, drain_max_s 5.
      const cfg = await config(l, { apply_timeout_s: 4, drain_max_s: 5 }, { db2: { promotion: 'prefer' } });
      const N = 3;
      const { w, hold } = await writeThenHold(l, cfg, N);
      try {
        await l.sql('db3', stopIo); // db3 will lack the held transactions: only db2 receives them
        const held = range(800001, N);
        for (let i = 1; i <= N; i++) await hold.commit(i, held[i - 1]!);
        w.acked.push(...held);
        await receivedAll(l, ['db2']);
        await l.kill('db1');
        let released: Promise<void> | undefined;
        const r = await runFailover(
          request(cfg, tempDir(), {
            beforeStep: (step) => {
              // db2 makes progress once (its first held transaction), then nothing more.
              if (step === 'drain' && !released) released = sleep(1500).then(() => hold.release(1));
            },
          }),
        );
        await released;
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, 'db3');
        assert.ok(r.warnings.some((x) => /the winner changed during the drain: db2 → db3/.test(x)), r.warnings.join('\n'));
        const why = r.plan!.leftOut.find((x) => x.node === 'db2')?.why.replace(/^dropped during the failover: /, '') ?? '?';
        assert.equal(r.warnings.filter((x) => x.includes(why)).length, 1, `the drop's reason is reported once, not again with the new plan: ${r.warnings.join('\n')}`);
        const drain = r.steps.find((x) => x.name === 'drain')!;
        assert.match(drain.nodes!.find((x) => x.node === 'db2')!.detail, /still applying .* after failover.drain_max_s 5s/, steps);
        assert.match(r.plan!.leftOut.find((x) => x.node === 'db2')?.why ?? '', /dropped during the failover/, steps);
        assert.equal(r.plan!.repoint.includes('db2'), false);
        const have3 = await idsOn(cfg, 'db3');
        const lost = w.acked.filter((id) => !have3.has(id));
        assert.deepEqual(lost, held, 'exactly the transactions only db2 received');
        const reported = r.possiblyLost.find((x) => /received by db2, which was dropped/.test(x.why));
        assert.ok(reported, JSON.stringify(r.possiblyLost));
        assert.equal(reported.count, N, 'the report counts exactly what only the dropped winner had');
        assert.ok(r.next.some((x) => /db2: it was not repointed .*\(heir rejoin --cluster .* --node db2\) only if it has no transaction the new master lacks/.test(x)), r.next.join('\n'));
        // Not repointed: db2 still points at the dead master, its IO thread stopped.
        const c2 = await open(cfg, 'db2');
        try {
          const ch = (await readChannels(c2))[0]!;
          const db1 = cfg.nodes.find((n) => n.name === 'db1')!;
          assert.equal(`${ch.sourceHost}:${ch.sourcePort}`, `${db1.host}:${db1.port}`, 'db2 still replicates from the dead master');
          assert.equal(ch.ioState, 'No');
        } finally {
          await c2.close();
        }
        await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, allowMissing: new Set(lost), leftOut: ['db2'] });
      } finally {
        await hold.releaseAll();
      }
    });

    if (my) {
      it('file/position: a winner stuck in its drain is dropped: the next candidate is promoted, the report names the part of the dead master\'s binlog only it received, it is not repointed', async () => {
        const l = await lab({ gtid: false });
        // Varies apply_timeout_s (3, keeps the test short): db2's applier never moves.
        const cfg = await config(l, { apply_timeout_s: 3 }, { db2: { promotion: 'prefer' } });
        const { w, hold } = await writeThenHold(l, cfg, 1);
        try {
          await l.sql('db3', stopIo); // only db2 receives the held transaction
          const held = [800001];
          await hold.commit(1, held[0]!);
          w.acked.push(...held);
          await receivedAll(l, ['db2']);
          const [ms] = await l.sql('db1', 'SHOW BINARY LOG STATUS');
          await l.kill('db1');
          const r = await runFailover(request(cfg, tempDir()));
          const steps = JSON.stringify(r.steps, null, 1);
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
          assert.equal(r.plan!.mode, 'file');
          assert.equal(r.newMaster, 'db3');
          assert.ok(r.warnings.some((x) => /the winner changed during the drain: db2 → db3/.test(x)), r.warnings.join('\n'));
          const why = r.plan!.leftOut.find((x) => x.node === 'db2')?.why.replace(/^dropped during the failover: /, '') ?? '?';
          assert.equal(r.warnings.filter((x) => x.includes(why)).length, 1, `the drop's reason is reported once, not again with the new plan: ${r.warnings.join('\n')}`);
          assert.match(r.plan!.leftOut.find((x) => x.node === 'db2')?.why ?? '', /dropped during the failover/, steps);
          assert.equal(r.plan!.repoint.includes('db2'), false);
          const reported = r.possiblyLost.find((x) => /received by db2, which was dropped/.test(x.why));
          assert.ok(reported, JSON.stringify(r.possiblyLost));
          // Where db3 stopped applying db1's binlog, up to where db2 read it: db1's last position.
          assert.match(reported.transactions, new RegExp(`^db1's binlog from \\S+:\\d+ up to ${String(ms.File).replace(/\./g, '\\.')}:${ms.Position}$`), reported.transactions);
          assert.match(reported.why, /^received by db2, which was dropped \(its relay log was not applied: no progress for .* failover.apply_timeout_s 3s\), and the new master lacks them$/, reported.why);
          // No GTIDs to compare by: the next step says what to do with what only db2 read, and to rebuild it.
          assert.ok(r.next.some((x) => /^db2: it was not repointed .* beyond the new master \(possiblyLost names the coordinates\) is not on the new master: .* rebuild db2 from the new master/.test(x)), r.next.join('\n'));
          assert.ok(!r.next.some((x) => /db2.*only if it has no transaction the new master lacks/.test(x)), r.next.join('\n'));
          const c2 = await open(cfg, 'db2');
          try {
            const ch = (await readChannels(c2))[0]!;
            const db1 = cfg.nodes.find((n) => n.name === 'db1')!;
            assert.equal(`${ch.sourceHost}:${ch.sourcePort}`, `${db1.host}:${db1.port}`, 'db2 still replicates from the dead master');
            assert.equal(ch.ioState, 'No');
          } finally {
            await c2.close();
          }
          const have3 = await idsOn(cfg, 'db3');
          const lost = w.acked.filter((id) => !have3.has(id));
          assert.deepEqual(lost, held, 'exactly what only db2 received');
          await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, allowMissing: new Set(lost), leftOut: ['db2'] });
        } finally {
          await hold.releaseAll();
        }
      });
    }

    it('the winner stuck and no other promotable node: failed, the report says what was done; once its applier is free a rerun promotes it, nothing lost', async () => {
      const l = await lab();
      // apply_timeout_s 3 keeps the test short; db3 may never be promoted.
      const cfg = await config(l, { apply_timeout_s: 3 }, { db3: { promotion: 'never' } });
      const { w, hold } = await writeThenHold(l, cfg, 1);
      try {
        const held = [800001];
        await hold.commit(1, held[0]!);
        w.acked.push(...held);
        await receivedAll(l, ['db2', 'db3']);
        await l.kill('db1');
        const sd = tempDir();
        const r = await runFailover(request(cfg, sd));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'failed', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, null);
        assert.match(r.summary, /db2 was dropped \(.*no progress for .* failover.apply_timeout_s 3s.*\) and no promotable node remains/, r.summary);
        assert.equal(r.steps.find((x) => x.name === 'drain')?.outcome, 'failed', steps);
        assert.ok(r.warnings.some((x) => /the fence is not undone: db1 stays read-only and its address stays taken away/.test(x)), r.warnings.join('\n'));
        assert.deepEqual(await addressOf(l).holders(), [], 'as the report says, the address is taken away from db1 and attached nowhere');
        assert.equal(r.undone.filter((u) => /replication restarted/.test(u)).length, 2, r.undone.join('\n'));
        assert.ok(r.notDone.some((x) => x.startsWith('promote')), r.notDone.join('\n'));
        assert.ok(r.next.some((x) => /db2's SQL thread goes on applying its relay log/.test(x)), r.next.join('\n'));
        assert.deepEqual(unfinishedJournals(sd, cfg.name), [], 'a handled failure closes its journal');
        // The cause goes away: db2 applies what it held, and a rerun promotes it with every row.
        await hold.releaseAll();
        await waitApplied(l, cfg, ['db2'], held[0]!);
        const again = await runFailover(request(cfg, sd));
        assert.equal(again.outcome, 'promoted', again.summary);
        assert.equal(again.newMaster, 'db2');
        await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
      } finally {
        await hold.releaseAll();
      }
    });

    /**
     * db2 alone receives a transaction its applier is held in (db3's IO thread stopped), db1 is
     * killed, and the failover (apply_timeout_s 3, to keep it short) drops db2 as stuck and is
     * killed before `crashAt` (attach: db3 promoted). Checks the journal says so; the caller
     * releases `hold`.
     */
    async function droppedWinnerCrashed(o: { gtid?: boolean; crashAt?: 'attach' | 'promote' } = {}) {
      const crashAt = o.crashAt ?? 'attach';
      const l = await lab(o.gtid === undefined ? undefined : { gtid: o.gtid });
      const cfg = await config(l, { apply_timeout_s: 3 }, { db2: { promotion: 'prefer' } });
      const { w, hold } = await writeThenHold(l, cfg, 1);
      const held = [800001];
      try {
        await l.sql('db3', stopIo); // only db2 receives the held transaction
        await hold.commit(1, held[0]!);
        w.acked.push(...held);
        await receivedAll(l, ['db2']);
        await l.kill('db1');
        const sd = tempDir();
        await crashRun(cfg, sd, crashAt);
        const unfinished = unfinishedJournals(sd, cfg.name);
        assert.equal(unfinished.length, 1, 'the crash left its journal');
        const drain = unfinished[0]!.steps.find((x) => x.step === 'drain');
        assert.deepEqual(Object.keys((drain?.data?.dropped as object | undefined) ?? {}), ['db2'], JSON.stringify(drain));
        if (crashAt === 'attach') {
          const promote = unfinished[0]!.steps.find((x) => x.step === 'promote' && x.outcome === 'ok');
          assert.match(promote?.detail ?? '', /^db3 is writable/, JSON.stringify(unfinished[0]!.steps));
        }
        return { l, cfg, w, hold, held, sd };
      } catch (e) {
        await hold.releaseAll();
        throw e;
      }
    }

    it('a crash after a stuck winner was dropped and its replacement promoted: the rerun keeps the replacement; the dropped node is neither promoted nor repointed', async () => {
      const { l, cfg, w, hold, held, sd } = await droppedWinnerCrashed();
      try {

        acknowledge(sd, cfg.name, 'test');
        const r = await runFailover(request(cfg, sd));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, 'db3', 'the rerun keeps the node the journal promoted');
        assert.equal(r.plan!.repoint.includes('db2'), false, steps);
        assert.ok(r.plan!.leftOut.some((x) => x.node === 'db2'), JSON.stringify(r.plan!.leftOut));
        const c2 = await open(cfg, 'db2');
        try {
          const ch = (await readChannels(c2))[0]!;
          const db1 = cfg.nodes.find((n) => n.name === 'db1')!;
          assert.equal(`${ch.sourceHost}:${ch.sourcePort}`, `${db1.host}:${db1.port}`, 'db2 was not repointed');
        } finally {
          await c2.close();
        }
        const have3 = await idsOn(cfg, 'db3');
        const lost = w.acked.filter((id) => !have3.has(id));
        assert.deepEqual(lost, held, 'only what the dropped winner alone received');
        await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, allowMissing: new Set(lost), leftOut: ['db2'] });
      } finally {
        await hold.releaseAll();
      }
    });

    // The dropped winner's applier is let go after the crash: it applies everything, and holds
    // a transaction the replacement lacks. The rerun keeps the replacement (never a second
    // master) and judges the node afresh: with GTIDs it is a catch-up source, then repointed;
    // file/position has no catch-up between replicas: it is left out as having read beyond
    // the new master (not as still stuck), untouched, and what only it has is reported.
    for (const gtid of my ? [true, false] : [true]) {
      it(`${gtid ? '' : 'file/position: '}a crash after a stuck winner was dropped and its replacement promoted, and the dropped node has since applied everything: the rerun keeps the replacement ${gtid ? 'and brings it what only the dropped node had' : 'and reports what only the dropped node has'}`, async () => {
        const { l, cfg, w, hold, held, sd } = await droppedWinnerCrashed({ gtid });
        try {
          // db2's applier is let go: it applies the held transaction, which db3 lacks.
          await hold.releaseAll();
          await waitApplied(l, cfg, ['db2'], held[0]!);
          const have3 = await idsOn(cfg, 'db3');
          assert.equal(have3.has(held[0]!), false);

          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          const steps = JSON.stringify(r.steps, null, 1);
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
          assert.equal(r.newMaster, 'db3', 'the rerun keeps the node the journal promoted');
          assert.equal(r.steps.filter((x) => x.name === 'promote' && x.outcome === 'ok').length <= 1, true, steps);
          assert.deepEqual(r.warnings.filter((x) => /dropped/.test(x)), [], 'db2 is not dropped again');
          assert.equal(r.plan!.leftOut.some((x) => /dropped/.test(x.why)), false, JSON.stringify(r.plan!.leftOut));
          if (gtid) {
            assert.deepEqual(r.plan!.catchUp.map((x) => x.from), ['db2']);
            await assertHealthy(l, cfg, 'db3', ['db2'], w.acked, { probeId: 900001 });
            return;
          }
          assert.match(r.plan!.leftOut.find((x) => x.node === 'db2')?.why ?? '', /^file\/position: it read binlog\.\d+:\d+, beyond the winner's binlog\.\d+:\d+$/, JSON.stringify(r.plan!.leftOut));
          const reported = r.possiblyLost.find((x) => /^received by db2 only/.test(x.why));
          assert.match(reported?.transactions ?? '', /^binlog\.\d+:\d+ \.\. binlog\.\d+:\d+$/, JSON.stringify(r.possiblyLost));
          assert.deepEqual(w.acked.filter((id) => !have3.has(id)), held, 'db3 lacks only what db2 alone received');
          assert.ok((await idsOn(cfg, 'db2')).has(held[0]!), 'db2 keeps it');
          await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, allowMissing: new Set(held), leftOut: ['db2'] });
        } finally {
          await hold.releaseAll();
        }
      });

      // The same crash before the promotion: nothing was promoted, so the rerun elects afresh.
      // The node whose drop the journal records has applied everything: it is judged like any
      // survivor, and wins again (preferred, most advanced); nothing is lost.
      it(`${gtid ? '' : 'file/position: '}a crash after a stuck winner was dropped, before the promotion, and the dropped node has since applied everything: the rerun promotes it, nothing lost`, async () => {
        const { l, cfg, w, hold, held, sd } = await droppedWinnerCrashed({ gtid, crashAt: 'promote' });
        try {
          await hold.releaseAll();
          await waitApplied(l, cfg, ['db2'], held[0]!);

          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          const steps = JSON.stringify(r.steps, null, 1);
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
          assert.equal(r.newMaster, 'db2', steps);
          assert.deepEqual(r.warnings.filter((x) => /dropped/.test(x)), [], 'db2 is not dropped again');
          await assertHealthy(l, cfg, 'db2', ['db3'], w.acked, { probeId: 900001 });
        } finally {
          await hold.releaseAll();
        }
      });
    }

    it('a crash after a stuck winner was dropped, before the promotion: the rerun reads the drop from the journal and does not judge it again while its relay log is still unapplied', async () => {
      // db2's applier never moves.
      const { l, cfg, w, hold, held, sd } = await droppedWinnerCrashed({ crashAt: 'promote' });
      try {

        acknowledge(sd, cfg.name, 'test');
        const r = await runFailover(request(cfg, sd));
        const steps = JSON.stringify(r.steps, null, 1);
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${steps}`);
        assert.equal(r.newMaster, 'db3');
        const again = r.steps.find((x) => x.name === 'drain')!;
        assert.equal(again.nodes?.some((x) => x.node === 'db2'), false, `db2 is not drained again: ${steps}`);
        assert.ok(again.durationMs! < 3000, `the rerun's drain does not wait apply_timeout_s for db2 again: ${again.durationMs} ms`);
        assert.match(r.plan!.leftOut.find((x) => x.node === 'db2')?.why ?? '', /dropped by the earlier run .*its relay log is still not applied/, steps);
        assert.equal(r.plan!.repoint.includes('db2'), false);
        const reported = r.possiblyLost.find((x) => /received by db2, which was dropped/.test(x.why));
        assert.ok(reported, JSON.stringify(r.possiblyLost));
        assert.equal(reported.count, 1, 'the report counts what only db2 received');
        const have3 = await idsOn(cfg, 'db3');
        const lost = w.acked.filter((id) => !have3.has(id));
        assert.deepEqual(lost, held, 'only what the dropped winner alone received');
        await assertHealthy(l, cfg, 'db3', [], w.acked, { probeId: 900001, allowMissing: new Set(lost), leftOut: ['db2'] });
      } finally {
        await hold.releaseAll();
      }
    });

    it('a failure before promotion undoes what it did: replication restarted, nothing promoted; a rerun completes', async () => {
      const { l, cfg, w } = await deadMasterCluster();

      const sd = tempDir();
      const failed = await runFailover(
        request(cfg, sd, {
          beforeStep: (step) => {
            if (step === 'promote') throw new Error('injected failure before promote');
          },
        }),
      );
      assert.equal(failed.outcome, 'failed');
      assert.equal(failed.newMaster, null);
      assert.match(failed.summary, /injected failure before promote/);
      assert.ok(failed.warnings.some((x) => /its address stays taken away/.test(x)), failed.warnings.join('\n'));
      assert.deepEqual(await addressOf(l).holders(), [], 'as the report says, the address is taken away from db1 and attached nowhere');
      assert.equal(failed.undone.filter((u) => /replication restarted/.test(u)).length, 2, failed.undone.join('\n'));
      assert.ok(failed.notDone.some((n) => n.startsWith('promote')));
      for (const n of ['db2', 'db3']) {
        const c = await open(cfg, n);
        try {
          const ch = (await readChannels(c))[0];
          assert.notEqual(ch.ioState, 'No', `${n}: IO thread running again (connecting to the dead master)`);
          const [ro] = await c.query('SELECT @@global.read_only AS ro');
          assert.equal(Number(ro.ro), 1, `${n} still read-only`);
        } finally {
          await c.close();
        }
      }
      assert.deepEqual(unfinishedJournals(sd, cfg.name), [], 'a handled failure closes its journal');
      const r = await runFailover(request(cfg, sd));
      assert.equal(r.outcome, 'promoted', r.summary);
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
    });

    it('refuses when the master answers, unless forced', async () => {
      const l = await lab();
      const cfg = await config(l);
      const r = await runFailover(request(cfg, tempDir()));
      assert.equal(r.outcome, 'refused');
      assert.match(r.summary, /master db1 answers .* it is not dead/);
      const dry = await runFailover(request(cfg, tempDir(), { dryRun: true }));
      assert.equal(dry.outcome, 'dry-run');
      assert.ok(dry.plan!.winner);
      // A master that refuses heir's own account is up all the same: still refused.
      await l.sql('db1', `SET SESSION sql_log_bin = 0; ALTER USER '${l.admin.user}'@'%' ACCOUNT LOCK`);
      try {
        const locked = await runFailover(request(cfg, tempDir()));
        assert.equal(locked.outcome, 'refused', `${locked.summary}`);
        assert.equal(locked.refusedBy, 'master-alive');
        assert.match(locked.summary, /master db1 answers at .* with an error that proves it running .*: it is not dead/);
      } finally {
        await l.sql('db1', `SET SESSION sql_log_bin = 0; ALTER USER '${l.admin.user}'@'%' ACCOUNT UNLOCK`);
      }
      // No failover ran (refused, dry run): the master keeps its address, and takes writes through it.
      assert.deepEqual(await addressOf(l).holders(), ['db1'], 'refused failovers leave the address on the master');
      await writeRows(cfg, addressOf(l), [900001]);
      await assertInvariant({ lab: l, master: 'db1', table: 'app.w', acked: [900001], addressHolders: () => addressOf(l).holders() });
    });

    it('a cluster replicating by file/position fails over (MySQL: by coordinates; MariaDB: by GTID)', async () => {
      const { l, cfg, w } = await deadMasterCluster({ gtid: false });

      const r = await runFailover(request(cfg, tempDir()));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.plan!.mode, my ? 'file' : 'mariadb-gtid');
      const how = String(r.plan!.steps.find((x) => x.name === 'repoint')!.params.how);
      assert.match(how, my ? /binlog position at promotion/ : /slave_pos/);
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
    });

    // MHA's catalogue, the cases its own tests cover that this suite did not.

    it('DDL in flight: an ALTER TABLE the replicas are still applying when the master dies; the failover completes, the schema is the same everywhere', async (t) => {
      const l = await lab();
      const cfg = await config(l);
      const ROWS = 200000;
      await l.sql('db1', 'CREATE TABLE app.big (id INT PRIMARY KEY, pad CHAR(100)) ENGINE=InnoDB');
      const depth = my ? 'SET SESSION cte_max_recursion_depth = 300000; ' : 'SET SESSION max_recursive_iterations = 300000; ';
      await l.sql('db1', `${depth}INSERT INTO app.big WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS}) SELECT i, REPEAT('p', 100) FROM n`);
      await syncReplicas(l);
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
      // A column and an index: the table is rebuilt on each replica, which begins only once
      // the master has finished it and written it to its binlog.
      const t0 = Date.now();
      await l.sql('db1', 'ALTER TABLE app.big ADD COLUMN extra INT NOT NULL DEFAULT 7, ADD INDEX k_pad (pad)');
      const alterMs = Date.now() - t0;
      // Rows acknowledged after the DDL: every replica applies them after it.
      const after = range(100001, 20);
      await writeRows(cfg, addressOf(l), after);
      w.acked.push(...after);
      await receivedAll(l, ['db2', 'db3']);
      const cols = "SELECT COUNT(*) AS c FROM information_schema.columns WHERE table_schema = 'app' AND table_name = 'big' AND column_name = 'extra'";
      for (const n of ['db2', 'db3']) assert.equal(Number((await l.sql(n, cols))[0].c), 0, `${n} is still applying the ALTER`);
      const lastKnownMaster = await readNode(cfg, cfg.nodes[0]);
      await l.kill('db1');
      t.diagnostic(`ALTER took ${alterMs} ms on the master`);

      const r = await runFailover(request(cfg, tempDir(), { lastKnownMaster }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      // The host is down (no salvage): the report counts against the master's last read.
      assert.deepEqual(r.possiblyLost.map((x) => x.count), [0], `every replica received the DDL and the rows after it: ${JSON.stringify(r.possiblyLost)}`);
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
      const create = async (n: string) => String(Object.values((await l.sql(n, 'SHOW CREATE TABLE app.big'))[0])[1]);
      const want = await create(r.newMaster!);
      assert.match(want, /`extra` int(\(11\))? NOT NULL DEFAULT '?7'?/, want);
      assert.match(want, /KEY `k_pad` \(`pad`\)/, want);
      for (const n of survivors) assert.equal(await create(n), want, `${n}: SHOW CREATE TABLE as on ${r.newMaster}`);
      for (const n of [r.newMaster!, ...survivors]) assert.equal(Number((await l.sql(n, 'SELECT COUNT(*) AS c FROM app.big WHERE extra = 7'))[0].c), ROWS, `${n}: every row of app.big`);
    });

    /** A writer's rows reach every replica; then the replicas stop receiving: from here only the master has what is written. */
    async function writeThenCutReplicas(l: LabCluster, cfg: ClusterConfig) {
      const w = await startWriter(cfg, addressOf(l));
      await sleep(300);
      await w.stop();
      assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
      await waitApplied(l, cfg, ['db2', 'db3'], w.acked.at(-1)!);
      await l.sql('db2', stopIo);
      await l.sql('db3', stopIo);
      return w;
    }

    /**
     * 40 rows only the dead master has (the replicas cut off first, its host answering SSH), then
     * a failover run killed at `crashAt`: the lab, the writer, those rows, the state dir and the
     * journal the crash left.
     */
    async function crashedSalvage(crashAt: string, o: { gtid?: boolean } = {}) {
      const { l, cfg } = await salvageLab(o);
      const w = await writeThenCutReplicas(l, cfg);
      const onlyOnMaster = range(100001, 40);
      await writeRows(cfg, addressOf(l), onlyOnMaster);
      w.acked.push(...onlyOnMaster);
      await l.kill('db1'); // mysqld only: the host and its sshd stay up
      const sd = tempDir();
      await crashRun(cfg, sd, crashAt);
      const [j] = unfinishedJournals(sd, cfg.name);
      assert.ok(j, 'the crash left its journal');
      return { l, cfg, w, onlyOnMaster, sd, j };
    }

    it('salvage across many binlog files: what only the master has spans several rotated binlogs (small max_binlog_size), host answers SSH: all of it salvaged', async () => {
      const { l, cfg } = await salvageLab();
      // Varied on purpose: binlogs of 4 KB (the smallest allowed; default 1 GB), so the rows
      // only the master has are spread over many files.
      await l.sql('db1', 'SET GLOBAL max_binlog_size = 4096');
      const w = await writeThenCutReplicas(l, cfg);
      const filesBefore = await binlogFiles(l, 'db1');
      const onlyOnMaster = range(100001, 300);
      await writeRows(cfg, addressOf(l), onlyOnMaster);
      w.acked.push(...onlyOnMaster);
      const rotated = (await binlogFiles(l, 'db1')).filter((f) => !filesBefore.includes(f));
      assert.ok(rotated.length >= 4, `the rows only on the master span several binlogs: ${rotated.length} new file(s)`);
      for (const n of ['db2', 'db3']) {
        const have = await idsOn(cfg, n);
        assert.deepEqual(onlyOnMaster.filter((id) => have.has(id)), [], `${n} has none of them`);
      }
      await l.kill('db1'); // mysqld only: the host and its sshd stay up

      const r = await runFailover(request(cfg, tempDir()));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.equal(r.salvage.count, onlyOnMaster.length, `salvaged exactly the ${onlyOnMaster.length} transactions only the master had: ${r.salvage.why}`);
      const base = (f: string) => path.posix.basename(f);
      for (const f of rotated) assert.ok(r.salvage.files.map(base).includes(f), `${f} was salvaged (${r.salvage.files.map(base).join(', ')})`);
      assert.deepEqual(r.possiblyLost, [], 'nothing reported lost');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001, report: r, onlyOnDeadMaster: onlyOnMaster });
    });

    it('the dead master purged the binlog the replicas still needed: the later binlogs are salvaged, and the report counts exactly what the purged one held', async () => {
      const { l, cfg } = await salvageLab();
      const w = await writeThenCutReplicas(l, cfg);
      // Only the master has these, in a binlog it then purges (a PURGE BINARY LOGS while the
      // replicas were not reading, or expire_logs_seconds): gone with it.
      const purgedRows = range(100001, 10);
      await writeRows(cfg, addressOf(l), purgedRows);
      await l.sql('db1', 'FLUSH BINARY LOGS');
      const [cur] = await l.sql('db1', my ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
      // MariaDB keeps a binlog until its binlog checkpoint passed it (asynchronous): retry.
      const deadline = Date.now() + 10_000;
      for (;;) {
        await l.sql('db1', `PURGE BINARY LOGS TO '${cur.File}'`);
        const [first] = await l.sql('db1', 'SHOW BINARY LOGS');
        if (first.Log_name === cur.File) break;
        assert.ok(Date.now() < deadline, `the older binlogs are purged: ${first.Log_name} is still there`);
        await sleep(100);
      }
      const later = range(100101, 10);
      await writeRows(cfg, addressOf(l), later);
      w.acked.push(...later);
      await l.kill('db1'); // mysqld only: the host and its sshd stay up

      const r = await runFailover(request(cfg, tempDir()));
      assert.match(r.outcome, /^promoted/, `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.equal(r.salvage.count, later.length, `the later binlog salvaged: ${r.salvage.why} ${JSON.stringify({ salvage: r.salvage, lost: r.possiblyLost, warnings: r.warnings })}`);
      const gap = r.possiblyLost.find((x) => /had purged/.test(x.why));
      assert.ok(gap, `the report says what the purged binlog held: ${JSON.stringify(r.possiblyLost)}`);
      assert.equal(gap.count, purgedRows.length, JSON.stringify(gap));
      assert.equal(r.salvage.purgedGap?.count, purgedRows.length);
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001, report: r, onlyOnDeadMaster: [...purgedRows, ...later] });
      for (const n of [r.newMaster!, ...survivors]) {
        const have = await idsOn(cfg, n);
        assert.deepEqual(purgedRows.filter((id) => have.has(id)), [], `${n} has none of the purged rows (they are reported lost)`);
      }
    });

    // File/position: heir dies while the salvage is applied on the new master (before its
    // client starts, and after it committed everything). Those transactions are in no
    // position the winner shows; the rerun counts them in its binlog since where the
    // journal says it stood, and applies each salvaged transaction exactly once.
    if (my) {
      for (const crashAt of ['salvage-apply:applying', 'salvage-apply:applied'] as const) {
        it(`file/position: crash inside ${crashAt.replace(':', ' at ')}: ack and rerun apply each salvaged transaction once`, async () => {
          const { l, cfg, w, onlyOnMaster, sd, j } = await crashedSalvage(crashAt, { gtid: false });
          const first = String(j.steps.find((x) => x.step === 'promote' && x.outcome === 'ok')?.data?.node ?? '');
          assert.ok(first, 'the crashed run had promoted a node');
          const apply = j.steps.find((x) => x.step === 'salvage-apply')!;
          assert.ok(apply.data?.winnerBinlog, `the journal says where ${first}'s binlog stood: ${JSON.stringify(apply)}`);
          const had = await idsOn(cfg, first);
          assert.equal(onlyOnMaster.filter((id) => had.has(id)).length, crashAt.endsWith('applied') ? onlyOnMaster.length : 0, 'what the crashed run applied');

          acknowledge(sd, cfg.name, 'test');
          const r = await runFailover(request(cfg, sd));
          assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
          assert.equal(r.plan!.mode, 'file');
          assert.equal(r.newMaster, first, 'the rerun keeps the node the journal promoted');
          assert.equal(r.salvage.error, undefined, r.salvage.why);
          assert.equal(r.salvage.count, onlyOnMaster.length, `every salvaged transaction counted once: ${r.salvage.why}`);
          if (crashAt.endsWith('applied')) assert.match(r.salvage.why, /done by the earlier run/);
          // Each row once (a primary key would refuse a second insert; the count says no
          // transaction was skipped either), and on every survivor.
          const [cnt] = await l.sql(first, `SELECT COUNT(*) AS n FROM app.w WHERE id BETWEEN ${onlyOnMaster[0]} AND ${onlyOnMaster.at(-1)}`);
          assert.equal(Number(cnt!.n), onlyOnMaster.length);
          const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
          await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
        });
      }
    }

    // GTID modes: the executor dies before the binlogs are fetched, or inside the salvage's
    // apply (before anything is applied); the rerun keeps the promoted node (when there is
    // one) and salvages what only the dead master had, once: the winner's GTIDs filter it.
    for (const crashAt of ['salvage-fetch', 'salvage-apply:applying'] as const) {
      it(`crash ${crashAt.includes(':') ? `inside ${crashAt.replace(':', ' at ')}` : `before ${crashAt}`} (GTID): ack and rerun salvage what only the dead master had, once`, async () => {
        const { l, cfg, w, onlyOnMaster, sd, j } = await crashedSalvage(crashAt);
        const first = j.steps.find((x) => x.step === 'promote' && x.outcome === 'ok')?.data?.node as string | undefined;
        if (crashAt.startsWith('salvage-apply')) assert.ok(first, 'the crashed run had promoted a node');

        acknowledge(sd, cfg.name, 'test');
        const r = await runFailover(request(cfg, sd));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        assert.notEqual(r.plan!.mode, 'file');
        if (first) assert.equal(r.newMaster, first, 'the rerun keeps the node the journal promoted');
        assert.equal(r.salvage.error, undefined, r.salvage.why);
        const [cnt] = await l.sql(r.newMaster!, `SELECT COUNT(*) AS n FROM app.w WHERE id BETWEEN ${onlyOnMaster[0]} AND ${onlyOnMaster.at(-1)}`);
        assert.equal(Number(cnt!.n), onlyOnMaster.length);
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001, report: r, onlyOnDeadMaster: onlyOnMaster });
      });
    }

    // File/position: what only the dead master has is one DDL statement. It commits with no
    // XID or COMMIT, and is salvaged like any transaction.
    if (my) {
      it('file/position: a DDL statement only the dead master has is salvaged', async () => {
        const { l, cfg } = await salvageLab({ gtid: false });
        const w = await writeThenCutReplicas(l, cfg);
        await l.sql('db1', 'CREATE TABLE app.ddl (id INT PRIMARY KEY) ENGINE=InnoDB');
        await l.kill('db1'); // mysqld only: the host and its sshd stay up

        const r = await runFailover(request(cfg, tempDir()));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        assert.equal(r.plan!.mode, 'file');
        assert.equal(r.salvage.error, undefined, r.salvage.why);
        assert.equal(r.salvage.count, 1, r.salvage.why);
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
        for (const n of [r.newMaster!, ...survivors]) assert.equal((await l.sql(n, "SHOW TABLES FROM app LIKE 'ddl'")).length, 1, `${n} has the table`);
      });
    }

    // File/position: heir dies while the salvage client runs, after it applied a DDL statement
    // (CREATE TABLE) and before the next transaction committed (the client waits on a table
    // lock held on the new master). A DDL statement commits by itself, with no XID or COMMIT:
    // the rerun must count it among what the earlier run applied, or it applies it again.
    if (my) {
      it('file/position: crash inside salvage-apply after a salvaged DDL statement: ack and rerun apply it once and the rest after it', async () => {
        const { l, cfg } = await salvageLab({ gtid: false });
        await l.sql('db1', 'CREATE TABLE app.hold (id INT PRIMARY KEY) ENGINE=InnoDB');
        const w = await writeThenCutReplicas(l, cfg); // app.hold reached both replicas before the writer's rows
        const before = range(100001, 10);
        const after = range(100101, 30);
        await writeRows(cfg, addressOf(l), before);
        await l.sql('db1', 'CREATE TABLE app.ddl (id INT PRIMARY KEY) ENGINE=InnoDB');
        const c = await open(appConfig(cfg), addressOf(l));
        await c.exec('INSERT INTO app.hold (id) VALUES (1)');
        await c.close();
        await writeRows(cfg, addressOf(l), after);
        w.acked.push(...before, ...after);
        // On both possible winners a session holds app.hold: the salvage client stops there.
        const locks: mysql.Connection[] = [];
        for (const n of ['db2', 'db3']) {
          const s = await mysql.createConnection({ socketPath: l.nodes.find((x) => x.name === n)!.socket, user: 'root', password: '' });
          locks.push(s);
          await s.query('LOCK TABLES app.hold READ');
        }
        await l.kill('db1'); // mysqld only: the host and its sshd stay up

        const sd = tempDir();
        let waitingOn: string | undefined;
        try {
          await crashRun(cfg, sd, 'never', async () => {
            for (const n of ['db2', 'db3']) {
              const ps = await l.sql(n, 'SHOW PROCESSLIST');
              if (ps.some((p) => /^Waiting for table/.test(String(p.State ?? '')) && p.User === cfg.mysql.user)) {
                waitingOn = n;
                return true;
              }
            }
            return false;
          });
        } finally {
          for (const s of locks) await s.end().catch(() => undefined);
        }
        const [j] = unfinishedJournals(sd, cfg.name);
        const first = String(j!.steps.find((x) => x.step === 'promote' && x.outcome === 'ok')?.data?.node ?? '');
        assert.equal(first, waitingOn, 'the salvage client of the crashed run waited on the node it promoted');
        assert.equal(j!.steps.find((x) => x.step === 'salvage-apply')?.outcome, 'running');
        // What the crashed run applied: the rows before the DDL and the DDL; nothing after it.
        const had = await idsOn(cfg, first);
        assert.deepEqual([before.every((id) => had.has(id)), after.some((id) => had.has(id))], [true, false]);
        assert.equal((await l.sql(first, "SHOW TABLES FROM app LIKE 'ddl'")).length, 1, 'the DDL was applied');
        assert.equal(Number((await l.sql(first, 'SELECT COUNT(*) AS n FROM app.hold'))[0]!.n), 0);

        acknowledge(sd, cfg.name, 'test');
        const r = await runFailover(request(cfg, sd));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        assert.equal(r.newMaster, first, 'the rerun keeps the node the journal promoted');
        assert.equal(r.salvage.error, undefined, r.salvage.why);
        // 10 rows, the DDL, the app.hold row, 30 rows: each counted once.
        assert.equal(r.salvage.count, before.length + 1 + 1 + after.length, r.salvage.why);
        const [cnt] = await l.sql(first, `SELECT COUNT(*) AS n FROM app.w WHERE id BETWEEN ${before[0]} AND ${after.at(-1)}`);
        assert.equal(Number(cnt!.n), before.length + after.length);
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
        for (const n of survivors) assert.equal(Number((await l.sql(n, 'SELECT COUNT(*) AS n FROM app.hold'))[0]!.n), 1, `${n} has the row after the DDL`);
      });
    }

    /**
     * Semi-sync active on the master, then the replicas stop acknowledging: the master falls
     * back to async and acknowledges 31 rows only it has; its last read sees semi-sync off.
     * Varied on purpose: the master waits 500 ms for an acknowledgement before it falls back
     * (default 10 s), so the test does not wait 10 s for it.
     */
    async function fallBackToAsync(l: LabCluster, cfg: ClusterConfig) {
      await l.sql('db1', `SET GLOBAL rpl_semi_sync_${my ? 'source' : 'master'}_timeout = 500`);
      const status = async () => String((await l.sql('db1', `SHOW GLOBAL STATUS LIKE '${semiStatus}'`))[0].Value);
      assert.equal(await status(), 'ON', 'semi-sync active on the master');
      const w = await writeThenCutReplicas(l, cfg);
      const onlyOnMaster = range(100001, 31);
      await writeRows(cfg, addressOf(l), onlyOnMaster.slice(0, 1)); // waits 500 ms, then acknowledged without a replica
      assert.equal(await status(), 'OFF', 'semi-sync fell back to async on the master before the kill');
      await writeRows(cfg, addressOf(l), onlyOnMaster.slice(1));
      w.acked.push(...onlyOnMaster);
      const lastKnownMaster = await readNode(cfg, cfg.nodes[0]);
      assert.equal(lastKnownMaster.semiSync?.sourceActive, false, 'the last read of the master sees semi-sync off');
      for (const n of ['db2', 'db3']) {
        const have = await idsOn(cfg, n);
        assert.deepEqual(onlyOnMaster.filter((id) => have.has(id)), [], `${n} has none of them`);
      }
      return { w, onlyOnMaster, lastKnownMaster };
    }

    it('semi-sync that fell back to async before the crash (replicas stopped acknowledging): what only the master has is salvaged over SSH, and counted', async () => {
      const { l, cfg } = await salvageLab({ semiSync: true });
      const { w, onlyOnMaster, lastKnownMaster } = await fallBackToAsync(l, cfg);
      await l.kill('db1'); // mysqld only: the host and its sshd stay up

      const r = await runFailover(request(cfg, tempDir(), { lastKnownMaster }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.equal(r.salvage.error, undefined, r.salvage.why);
      assert.equal(r.salvage.count, onlyOnMaster.length, `salvaged exactly the ${onlyOnMaster.length} rows acknowledged after the fallback: ${r.salvage.why}`);
      assert.deepEqual(r.possiblyLost, [], 'nothing reported lost');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
    });

    it('semi-sync that fell back to async before the crash, host down: the rows acknowledged after the fallback are counted lost, and the report does not say semi-sync covered them', async () => {
      const l = await lab({ semiSync: true });
      const cfg = await config(l, { semi_sync: true });
      const { w, onlyOnMaster, lastKnownMaster } = await fallBackToAsync(l, cfg);
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir(), { lastKnownMaster }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      assert.match(r.salvage.why, /no binlogs from db1/);
      assert.equal(r.possiblyLost.length, 1, JSON.stringify(r.possiblyLost));
      assert.equal(r.possiblyLost[0].count, onlyOnMaster.length, JSON.stringify(r.possiblyLost));
      assert.doesNotMatch(r.possiblyLost[0].why, /Semi-sync was active/, 'semi-sync had fallen back: it covered none of them');
      const have = await idsOn(cfg, r.newMaster!);
      assert.deepEqual(onlyOnMaster.filter((id) => have.has(id)), [], 'the rows counted lost are the ones acknowledged after the fallback');
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001, allowMissing: new Set(onlyOnMaster), report: r, onlyOnDeadMaster: onlyOnMaster });
    });

    it('a replica whose SQL thread was stopped by hand holds the most, unapplied: it is started and drained before anything is promoted; nothing lost', async () => {
      const l = await lab();
      const cfg = await config(l);
      const w = await startWriter(cfg, addressOf(l));
      await sleep(200);
      await l.sql('db3', stopSql); // by hand: db3 receives everything, applies nothing more
      await sleep(200);
      await l.sql('db2', stopIo); // db2 receives less than db3
      await sleep(200);
      await w.stop();
      assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
      await receivedAll(l, ['db3']);
      const [have2, have3] = [await idsOn(cfg, 'db2'), await idsOn(cfg, 'db3')];
      const onlyInRelay = w.acked.filter((id) => !have2.has(id) && !have3.has(id));
      assert.ok(onlyInRelay.length > 0, 'acknowledged rows are only in db3\'s relay log, unapplied');
      const [st] = await l.sql('db3', my ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
      assert.equal(st.Replica_SQL_Running ?? st.Slave_SQL_Running, 'No', 'db3\'s SQL thread is stopped at failover time');
      const lastKnownMaster = await readNode(cfg, cfg.nodes[0]);
      await l.kill('db1');

      const r = await runFailover(request(cfg, tempDir(), { lastKnownMaster }));
      assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
      const drain = r.steps.find((x) => x.name === 'drain')!;
      const d3 = drain.nodes?.find((n) => n.node === 'db3');
      assert.ok(d3?.ok, `db3's relay log applied before anything was promoted: ${JSON.stringify(drain)}`);
      assert.ok(r.steps.findIndex((x) => x.name === 'drain') < r.steps.findIndex((x) => x.name === 'promote'));
      // The host is down (no salvage): the report counts against the master's last read.
      assert.deepEqual(r.possiblyLost.map((x) => x.count), [0], `nothing lost: ${JSON.stringify(r.possiblyLost)}`);
      const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
      await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
    });

    if (!my) {
      it('MariaDB, GTID positioning: a replica with both threads stopped by hand holds the most only in its relay log, which START SLAVE would delete: not elected on it; what is gone is reported lost, not claimed', async () => {
        const l = await lab();
        const cfg = await config(l);
        const w = await startWriter(cfg, addressOf(l));
        await sleep(200);
        await l.sql('db3', stopSql);
        await sleep(200);
        await l.sql('db2', stopIo);
        await sleep(200);
        await w.stop();
        assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
        await receivedAll(l, ['db3']);
        await l.sql('db3', stopIo); // both of db3's threads stopped, by hand
        const [have2, have3] = [await idsOn(cfg, 'db2'), await idsOn(cfg, 'db3')];
        const onlyInRelay = w.acked.filter((id) => !have2.has(id) && !have3.has(id));
        assert.ok(onlyInRelay.length > 0, "acknowledged rows are only in db3's relay log, unapplied");
        const lastKnownMaster = await readNode(cfg, cfg.nodes[0]);
        await l.kill('db1');

        const r = await runFailover(request(cfg, tempDir(), { lastKnownMaster }));
        assert.equal(r.outcome, 'promoted', `${r.summary}\n${JSON.stringify(r.steps, null, 1)}`);
        assert.ok(
          r.plan?.candidates.find((c) => c.name === 'db3')?.warnings.some((x) => /relay log not counted/.test(x)),
          `db3 relay log is said not to count: ${JSON.stringify(r.plan?.candidates)}`,
        );
        // The host is down (no salvage): exactly the rows only db3's relay log had are counted lost.
        const have = await idsOn(cfg, r.newMaster!);
        const gone = w.acked.filter((id) => !have.has(id));
        assert.deepEqual(gone, onlyInRelay.filter((id) => !have.has(id)), 'only rows that were in no one\'s applied data are missing');
        assert.equal(r.possiblyLost.reduce((a, x) => a + (x.count ?? 0), 0), gone.length, `the report counts them: ${JSON.stringify(r.possiblyLost)}`);
        const survivors = ['db2', 'db3'].filter((n) => n !== r.newMaster);
        await assertHealthy(l, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001, allowMissing: new Set(gone) });
      });
    }
  });
}
