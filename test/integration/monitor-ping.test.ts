/**
 * Detection faults a loopback cluster can show (no SSH needed), on MySQL 9.7 and
 * MariaDB 10.11: max_connections exhausted (alive: no failover), replication stopped by
 * hand on every replica while the master is fine (no failover), and commits blocked
 * (insert mode says CommitsBlocked while a connect-mode monitor stays Healthy).
 * One cluster per flavor; faults one after another, Healthy re-checked in between.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type LabCluster } from '../lab';
import { ClusterMonitor, type VerdictEvent, type ReplicasEvent } from '../../src/monitor';
import { Conn } from '../../src/mysql/conn';
import type { ClusterConfig } from '../../src/config/schema';
import type { VerdictKind } from '../../src/monitor/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records a monitor's events; bounded waits on them. */
class Recorder {
  verdicts: VerdictEvent[] = [];
  replicas: ReplicasEvent[] = [];
  constructor(readonly mon: ClusterMonitor) {
    mon.on('verdict', (e) => this.verdicts.push(e));
    mon.on('replicas', (e) => this.replicas.push(e));
  }
  mark(): number {
    return this.verdicts.length;
  }
  since(mark: number): VerdictEvent[] {
    return this.verdicts.slice(mark);
  }
  async waitVerdict(kind: VerdictKind, mark: number, timeoutMs: number): Promise<VerdictEvent> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const e = this.since(mark).find((x) => x.verdict === kind);
      if (e) return e;
      await sleep(100);
    }
    const seen = this.since(mark).map((x) => `${x.verdict}(${x.rule}: ${x.reason})`);
    throw new Error(`no ${kind} verdict within ${timeoutMs} ms; seen: ${seen.join(' | ') || 'none'}; state ${this.mon.state.state}`);
  }
  async waitHealthy(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.mon.state.state === 'Healthy' && this.mon.lastVerdict?.kind === 'Healthy') return;
      await sleep(100);
    }
    throw new Error(`monitor not Healthy within ${timeoutMs} ms: state ${this.mon.state.state}, last ${this.mon.lastVerdict?.kind} (${this.mon.lastVerdict?.reason})`);
  }
  assertNoFailover(mark: number, what: string): void {
    const bad = this.since(mark).filter((e) => e.failoverAllowed);
    assert.deepEqual(
      bad.map((e) => `${e.verdict}: ${e.reason}`),
      [],
      `${what}: no verdict may allow failover`,
    );
  }
}

function monitorConfig(lab: LabCluster, over: Partial<ClusterConfig['detection']>): ClusterConfig {
  const cfg = lab.clusterConfig();
  return { ...cfg, detection: { ...cfg.detection, ssh_check: false, secondary_checks: [], interval_ms: 500, ping_timeout_ms: 1000, ...over } };
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  describe(`monitor ping faults (${flavor}, loopback)`, () => {
    let lab: LabCluster;
    const monitors: ClusterMonitor[] = [];
    const held: Conn[] = [];
    let connectRec: Recorder;
    let insertRec: Recorder;

    const master = () => lab.nodes[0]!;
    // How long a "never fails over" case is watched: past the monitors' suspect_timeout_ms
    // (after it a failure with no corroboration either way may count as dead) and a margin.
    const neverWatchMs = () => monitorConfig(lab, {}).detection.suspect_timeout_ms + 3000;
    const openAs = (user: string, password: string) =>
      Conn.open({ name: `${user}@db1`, host: master().host, port: master().port, user, password, connectTimeoutMs: 3000, queryTimeoutMs: 10_000 });
    /**
     * Opens connections as `user` until the server has refused every attempt for 1.5 s (three
     * monitor intervals): a monitor's connect-mode ping holds a slot for a moment, so one 1040
     * may only mean that slot was briefly taken. Returns how many were opened.
     */
    const fill = async (user: string, password: string): Promise<number> => {
      let opened = 0;
      let refusedSince: number | null = null;
      while (opened < 40) {
        try {
          held.push(await openAs(user, password));
          opened++;
          refusedSince = null;
        } catch (e: any) {
          assert.equal(e.errno, 1040, `${user} connection ${opened}: expected 1040 too many connections, got ${e.message}`);
          refusedSince ??= Date.now();
          if (Date.now() - refusedSince >= 1500) break;
          await sleep(50);
        }
      }
      return opened;
    };
    const release = async () => {
      for (const c of held.splice(0)) c.destroy();
      await sleep(200);
    };

    before(async () => {
      lab = await startCluster({ flavor });
      // Test accounts: 'filler' takes ordinary connection slots; 'holder' may take the
      // one extra slot reserved for CONNECTION_ADMIN and hold table locks.
      const admin = flavor === 'mysql' ? 'CONNECTION_ADMIN' : 'CONNECTION ADMIN';
      for (const stmt of [
        "CREATE USER 'filler'@'%' IDENTIFIED BY 'filler-pw'",
        "CREATE USER 'holder'@'%' IDENTIFIED BY 'holder-pw'",
        `GRANT SELECT, LOCK TABLES, ${admin} ON *.* TO 'holder'@'%'`,
      ]) {
        await lab.sql(master(), stmt);
      }
      const connectMon = new ClusterMonitor(monitorConfig(lab, { ping_type: 'connect' }), { replicaCheckEveryMs: 1000 });
      const insertMon = new ClusterMonitor(monitorConfig(lab, { ping_type: 'insert' }), { replicaCheckEveryMs: 1000 });
      monitors.push(connectMon, insertMon);
      connectRec = new Recorder(connectMon);
      insertRec = new Recorder(insertMon);
      await connectMon.start();
      await insertMon.start();
      assert.equal(connectMon.master, 'db1', 'the master is found from the topology');
      await connectRec.waitHealthy(10_000);
      await insertRec.waitHealthy(10_000);
    });

    after(async () => {
      for (const c of held.splice(0)) c.destroy();
      await Promise.all(monitors.map((m) => m.stop()));
      await lab?.teardown();
    });

    test('insert mode created its heartbeat table and writes to it', async () => {
      await sleep(1200);
      const rows = await lab.sql(master(), 'SELECT server_id, manager, ts FROM heir.heartbeat');
      assert.equal(rows.length, 1);
      assert.equal(Number(rows[0].server_id), lab.nodes[0]!.serverId);
    });

    test('max_connections exhausted: AliveWithErrors in connect mode, never a failover', async () => {
      const m1 = connectRec.mark();
      const m2 = insertRec.mark();
      await lab.sql(master(), 'SET GLOBAL max_connections = 12');
      try {
        // Fill every ordinary slot with 'filler', then the extra admin slot with 'holder'.
        const fillers = await fill('filler', 'filler-pw');
        assert.ok(fillers > 0 && fillers < 40, `filled ${fillers} slots`);
        await fill('holder', 'holder-pw');
        const v = await connectRec.waitVerdict('AliveWithErrors', m1, 15_000);
        assert.equal(v.failoverAllowed, false);
        assert.ok(v.evidence.some((e) => /1040|too many/i.test(e.observation)), 'evidence names the server error');
        await sleep(neverWatchMs());
        connectRec.assertNoFailover(m1, 'max_connections (connect mode)');
        insertRec.assertNoFailover(m2, 'max_connections (insert mode, persistent connection)');
      } finally {
        await release();
        await lab.sql(master(), 'SET GLOBAL max_connections = 151');
      }
      await connectRec.waitHealthy(15_000);
      await insertRec.waitHealthy(15_000);
    });

    test('replication stopped by hand on every replica while the master is fine: reported, no failover', async () => {
      const m1 = connectRec.mark();
      const stop = flavor === 'mysql' ? 'STOP REPLICA' : 'STOP SLAVE';
      const start = flavor === 'mysql' ? 'START REPLICA' : 'START SLAVE';
      const r0 = connectRec.replicas.length;
      for (const n of lab.nodes.slice(1)) await lab.sql(n, stop);
      try {
        const end = Date.now() + 10_000;
        let stopped: string[] = [];
        while (Date.now() < end) {
          const last = connectRec.replicas.slice(r0).at(-1);
          stopped = (last?.findings ?? []).filter((f) => f.kind === 'ReplicationStopped').map((f) => f.replica);
          if (stopped.length === 2) break;
          await sleep(200);
        }
        assert.deepEqual(stopped.sort(), ['db2', 'db3'], 'both replicas reported as stopped');
        await sleep(neverWatchMs());
        assert.equal(connectRec.mon.state.state, 'Healthy');
        connectRec.assertNoFailover(m1, 'replication stopped by hand');
        assert.deepEqual(connectRec.since(m1).filter((e) => e.alert).map((e) => e.verdict), [], 'no alerting verdict');
      } finally {
        for (const n of lab.nodes.slice(1)) await lab.sql(n, start);
      }
    });

    test('commits blocked: insert mode says CommitsBlocked, connect mode stays Healthy', async () => {
      await insertRec.waitHealthy(10_000);
      const m1 = connectRec.mark();
      const m2 = insertRec.mark();
      const locker = await openAs('holder', 'holder-pw');
      held.push(locker);
      try {
        await locker.exec('LOCK TABLES heir.heartbeat WRITE');
        const v = await insertRec.waitVerdict('CommitsBlocked', m2, 15_000);
        assert.equal(v.failoverAllowed, false);
        assert.equal(v.rule, 'commits-blocked');
        await sleep(neverWatchMs());
        insertRec.assertNoFailover(m2, 'commits blocked');
        assert.deepEqual(
          connectRec.since(m1).map((e) => e.verdict),
          [],
          'the connect-mode monitor saw nothing (it does not write)',
        );
        assert.equal(connectRec.mon.state.state, 'Healthy');
      } finally {
        await release();
      }
      await insertRec.waitHealthy(15_000);
      // the blocked heartbeat writes did not pile up as waiting server threads
      const waiting = await lab.sql(master(), "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info LIKE 'INSERT INTO `heir`.`heartbeat`%' AND time > 5");
      assert.equal(Number(waiting[0].n), 0);
    });
  });
}
