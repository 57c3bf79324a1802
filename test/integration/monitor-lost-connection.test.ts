/**
 * kill -9 of the master closes heir's persistent ping connection at once (the dead
 * process's kernel does): the monitor pings right then instead of at the next interval.
 * Both modes that keep a persistent connection: ping (COM_PING, the default) and select.
 * The interval is set to 10 s on purpose, so that a failure seen within a few seconds can
 * only come from that path. MySQL 9.7 and MariaDB 10.11, loopback, lab defaults otherwise,
 * an application writing to the master.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type LabCluster } from '../lab';
import { ClusterMonitor, type VerdictEvent } from '../../src/monitor';
import type { ClusterConfig } from '../../src/config/schema';
import { createTable, startWriter } from './failover-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const [flavor, pingType] of [['mysql', 'ping'], ['mysql', 'select'], ['mariadb', 'ping'], ['mariadb', 'select']] as const) {
  describe(`the master closing the ping connection (${flavor}, ping_type ${pingType})`, () => {
    const labs: LabCluster[] = [];
    const monitors: ClusterMonitor[] = [];
    afterEach(async () => {
      for (const m of monitors.splice(0)) await m.stop();
      while (labs.length) await labs.pop()!.teardown();
    });

    it('triggers a ping at once: kill -9 is seen long before the next 10 s interval', async () => {
      const l = await startCluster({ flavor, nodes: 3, name: `lost-${flavor}-${pingType}` });
      labs.push(l);
      await createTable(l);
      const base = l.clusterConfig();
      const cfg: ClusterConfig = { ...base, detection: { ...base.detection, ssh_check: false, secondary_checks: [], interval_ms: 10_000, ping_type: pingType } };
      const w = await startWriter(cfg, 'db1');
      const mon = new ClusterMonitor(cfg, { replicaCheckEveryMs: 1000 });
      monitors.push(mon);
      const verdicts: VerdictEvent[] = [];
      mon.on('verdict', (e) => verdicts.push(e));
      await mon.start();
      await sleep(1500); // the first ping ran and holds its connection
      const killedAt = Date.now();
      await l.kill('db1');
      await w.failed;
      const deadline = Date.now() + 8000;
      while (!verdicts.some((v) => v.verdict !== 'Healthy') && Date.now() < deadline) await sleep(50);
      const first = verdicts.find((v) => v.verdict !== 'Healthy');
      assert.ok(first, `a verdict within 8 s of the kill (interval 10 s); seen: ${verdicts.map((v) => v.verdict).join(', ') || 'none'}`);
      assert.ok(first.firstFailureAt !== null && first.firstFailureAt - killedAt < 5000, `the failed ping came ${first.firstFailureAt! - killedAt} ms after the kill`);
    });
  });
}
