/**
 * Old news is not evidence. A replica whose IO thread lost the master long before the
 * master died (here: the replication account's password changed, so it keeps failing
 * to connect) looks, once the master dies, exactly like a replica that just lost it.
 * Counted as a witness it turned the manager's view alone into a confirmed failure, and
 * in a two-node cluster it was then promoted with data of any age. On MySQL 9.7 and
 * MariaDB 10.11, two nodes, the lab's default server settings, an application writing
 * to the master; the monitor runs without SSH (the manager is the only other source).
 * Old news is only a failure to connect: a replica an operator had stopped cleanly, started
 * again after the master died, reports a failure as new as the master's and confirms it.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type LabCluster } from '../lab';
import { ClusterMonitor, type VerdictEvent } from '../../src/monitor';
import { runFailover } from '../../src/failover/execute';
import type { ClusterConfig } from '../../src/config/schema';
import { createTable, globalSettings, startWriter, tempStateDir } from './failover-helpers';
import * as fs from 'node:fs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const flavor of ['mysql', 'mariadb'] as const) {
  describe(`a replica that lost the master before it died (${flavor})`, () => {
    const labs: LabCluster[] = [];
    const dirs: string[] = [];
    const monitors: ClusterMonitor[] = [];
    afterEach(async () => {
      for (const m of monitors.splice(0)) await m.stop();
      while (labs.length) await labs.pop()!.teardown();
    });
    after(() => {
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    /**
     * A writer on db1 and a monitor (no SSH: the manager is the only other source) running
     * until two of its healthy-time checks found db2 not connected.
     */
    async function watchWithDb2Disconnected(l: LabCluster) {
      const base = l.clusterConfig();
      const cfg: ClusterConfig = { ...base, detection: { ...base.detection, ssh_check: false, secondary_checks: [], interval_ms: 500, ping_timeout_ms: 1000 } };
      const w = await startWriter(cfg, 'db1');
      const mon = new ClusterMonitor(cfg, { replicaCheckEveryMs: 500 });
      monitors.push(mon);
      const verdicts: VerdictEvent[] = [];
      mon.on('verdict', (e) => verdicts.push(e));
      await mon.start();
      const deadline = Date.now() + 15000;
      while ((mon.healthyViews().db2?.disconnectedChecks ?? 0) < 2) {
        if (Date.now() > deadline) throw new Error(`db2 never seen disconnected: ${JSON.stringify(mon.healthyViews())}`);
        await sleep(100);
      }
      return { cfg, w, mon, verdicts };
    }

    it('is not a witness of the failure, and is not promoted (gate: stale)', async () => {
      const l = await startCluster({ flavor, nodes: 2, name: `stale-${flavor}` });
      labs.push(l);
      await createTable(l);
      const my = flavor === 'mysql';
      // The replica loses the master for good while the master keeps working.
      await l.sql('db1', `ALTER USER '${l.repl.user}'@'%' IDENTIFIED BY 'changed-elsewhere'`);
      await l.sql('db2', my ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD');
      await l.sql('db2', my ? 'START REPLICA IO_THREAD' : 'START SLAVE IO_THREAD');
      const { cfg, w, mon, verdicts } = await watchWithDb2Disconnected(l);
      const healthy = mon.healthyViews();
      assert.equal(healthy.db2!.connected, false);

      await l.kill('db1');
      await w.failed;
      // Watched past suspect_timeout_ms (after which a failure without corroboration either
      // way may count as dead) with a margin.
      const watch = cfg.detection.suspect_timeout_ms + 3000;
      const t0 = Date.now();
      while (Date.now() - t0 < watch) await sleep(200);
      const sight = mon.lastVerdict?.evidence.find((e) => e.subject === 'db2');
      assert.match(sight?.observation ?? '', /already not connected at the last check before the failure began/, JSON.stringify(mon.lastVerdict?.evidence));
      assert.deepEqual(
        verdicts.filter((v) => v.failoverAllowed).map((v) => `${v.verdict}: ${v.reason}`),
        [],
        'the manager alone (plus old news) may not confirm a failure',
      );

      // Asked to fail over anyway (an operator, or a host check saying mysqld is gone), the
      // planner will not pick the stale replica on its own.
      const sd = tempStateDir();
      dirs.push(sd);
      const r = await runFailover({ cluster: cfg, global: globalSettings(sd), deadMaster: 'db1', trigger: 'manual', dryRun: true, healthy });
      assert.equal(r.plan?.winner ?? null, null, r.summary);
      const db2 = r.plan!.candidates.find((c) => c.name === 'db2')!;
      assert.equal(db2.verdict, 'gated');
      assert.ok(db2.reasons.some((x) => /^gate: stale: its IO thread was not connected to db1 in the last \d+ checks/.test(x)), JSON.stringify(db2.reasons));
    });

    it('a replica an operator had stopped, started again after the master died: its failure to connect is news, and confirms', async () => {
      const l = await startCluster({ flavor, nodes: 2, name: `restarted-${flavor}` });
      labs.push(l);
      await createTable(l);
      const my = flavor === 'mysql';
      // Stopped cleanly (IO No, no error) before the monitor starts: every check it makes
      // while the master answers sees the replica not connected.
      await l.sql('db2', my ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD');
      const { cfg, w, mon, verdicts } = await watchWithDb2Disconnected(l);
      assert.equal(mon.healthyViews().db2!.stoppedCleanly, true);

      await l.kill('db1');
      await w.failed;
      await l.sql('db2', my ? 'START REPLICA IO_THREAD' : 'START SLAVE IO_THREAD');
      // Bounded well inside suspect_timeout_ms: the confirmation must come from the replica,
      // not from the manager's view lasting long enough.
      const t0 = Date.now();
      while (!verdicts.some((v) => v.failoverAllowed) && Date.now() - t0 < cfg.detection.suspect_timeout_ms - 2000) await sleep(100);
      const ok = verdicts.find((v) => v.failoverAllowed);
      assert.ok(ok, `no confirmed failure; last analysis: ${JSON.stringify(mon.lastVerdict?.evidence)}`);
      assert.equal(ok.verdict, 'DeadMaster', ok.reason);
      assert.deepEqual([...ok.confirmedBy].sort(), ['manager', 'replicas'], ok.reason);
      const sight = ok.evidence.find((e) => e.subject === 'db2');
      assert.equal(sight?.points, 'dead', JSON.stringify(sight));
    });
  });
}
