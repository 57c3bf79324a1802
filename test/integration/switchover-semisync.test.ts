/**
 * Switchover on a semi-sync MySQL 9.7 cluster (failover.semi_sync: true): the
 * new master ends as the semi-sync source with its replicas acknowledging, the
 * old master as a semi-sync replica, and no acknowledged write is lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GlobalSettings, type ClusterConfig } from '../../src/config/schema';
import { switchover } from '../../src/failover/switchover';
import { startCluster, type LabCluster } from '../lab';
import { assertHealthy, assertNoLoss, setupApp, Writer } from './switchover-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function semiSync(lab: LabCluster, node: string): Promise<Record<string, string>> {
  const vars = await lab.sql(node, "SHOW GLOBAL VARIABLES LIKE 'rpl\\_semi\\_sync\\_%enabled'");
  const status = await lab.sql(node, "SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_source_status', 'Rpl_semi_sync_replica_status', 'Rpl_semi_sync_source_clients')");
  return Object.fromEntries([...vars, ...status].map((r) => [String(r.Variable_name), String(r.Value)]));
}

describe('switchover with semi-sync (mysql)', () => {
  let lab: LabCluster;
  let cfg: ClusterConfig;
  let stateDir: string;

  before(async () => {
    lab = await startCluster({ flavor: 'mysql', semiSync: true, name: 'lab-semisync' });
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-switchover-ss-'));
    const base = lab.clusterConfig();
    cfg = lab.clusterConfig({ failover: { ...base.failover, semi_sync: true } });
    await setupApp(lab);
  });

  after(async () => {
    await lab?.teardown();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('moves the semi-sync source role with the master', async () => {
    assert.equal((await semiSync(lab, 'db1')).rpl_semi_sync_source_enabled, 'ON', 'lab starts semi-sync');
    const w = new Writer(lab);
    w.start('db1');
    await sleep(300);
    let outcome = '';
    let errors: string[] = [];
    try {
      const r = await switchover(cfg, { to: 'db2', global: GlobalSettings.parse({ state_dir: stateDir }) });
      outcome = r.outcome;
      errors = r.errors;
      assert.ok(r.steps.some((s) => s.step === 'semi-sync' && s.ok), JSON.stringify(r.steps));
      await sleep(300);
    } finally {
      await w.stop();
    }
    assert.equal(outcome, 'switched', errors.join('; '));
    await assertHealthy(lab, 'db2');
    await assertNoLoss(lab, w.acked);
    const m = await semiSync(lab, 'db2');
    assert.equal(m.rpl_semi_sync_source_enabled, 'ON');
    assert.equal(m.rpl_semi_sync_replica_enabled, 'OFF');
    assert.equal(m.Rpl_semi_sync_source_status, 'ON', 'the new master has semi-sync replicas connected');
    assert.equal(m.Rpl_semi_sync_source_clients, '2');
    for (const n of ['db1', 'db3']) {
      const s = await semiSync(lab, n);
      assert.equal(s.rpl_semi_sync_replica_enabled, 'ON', `${n} replica side`);
      assert.equal(s.rpl_semi_sync_source_enabled, 'OFF', `${n} source side`);
      assert.equal(s.Rpl_semi_sync_replica_status, 'ON', `${n} acknowledges`);
    }
  });
});
