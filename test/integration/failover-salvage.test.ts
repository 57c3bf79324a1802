/**
 * Salvage, for real: each node is a host (network namespace) with mysqld and
 * sshd. The replicas stop receiving while the writer goes on, so only the
 * master holds the last acknowledged rows; then its mysqld is killed (-9), its
 * host still answering SSH. heir must copy the binlogs over SSH, decode them
 * with mysqlbinlog on the manager, and apply what no survivor received: every
 * acknowledged row ends up on the new master and on the survivors.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClusterConfig } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';
import { startNetLab, type LabFlavor, type NetLab } from '../lab';
import { assertHealthy, createTable, globalSettings, grantSalvage, idsOn, sleep, startWriter, tempStateDir } from './failover-helpers';

function shellQuote(a: string): string {
  return /^[A-Za-z0-9_./=:,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

for (const flavor of ['mysql', 'mariadb'] as LabFlavor[]) {
  describe(`salvage over SSH (${flavor}, namespace hosts)`, () => {
    let lab: NetLab | undefined;
    const dirs: string[] = [];
    afterEach(async () => {
      await lab?.teardown();
      lab = undefined;
      for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    });

    it('async, master killed while writing, host answers SSH: no acknowledged row is lost', async (t) => {
      lab = await startNetLab({ flavor, hosts: 3 });
      await createTable(lab);
      await grantSalvage(lab);
      const base = lab.clusterConfig();
      const cfg = lab.clusterConfig({
        failover: {
          apply_timeout_s: 30,
          salvage: { mysqlbinlog: lab.bin.run([lab.bin.mysqlbinlog]).map(shellQuote).join(' '), timeout_s: 60 },
        } as ClusterConfig['failover'],
        nodes: base.nodes.map((n) => ({ ...n, binlog_dir: lab!.nodes.find((x) => x.name === n.name)!.datadir })),
      });

      const w = await startWriter(cfg, 'db1');
      await sleep(300);
      // The replicas stop receiving; the master goes on acknowledging rows only it has.
      const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
      await lab.sql('db2', stopIo);
      await lab.sql('db3', stopIo);
      const before = w.acked.length;
      await sleep(400);
      await lab.kill('db1'); // mysqld only: the host and its sshd stay up
      await w.failed;
      await w.stop();
      const onlyOnMaster = w.acked.length - before;
      assert.ok(onlyOnMaster > 0, `rows only the master has: ${onlyOnMaster}`);
      const have2 = await idsOn(cfg, 'db2');
      assert.ok(w.acked.some((id) => !have2.has(id)), 'a survivor is behind: without salvage, acknowledged rows would be lost');

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
      await assertHealthy(lab!, cfg, r.newMaster!, survivors, w.acked, { probeId: 900001 });
      // The salvaged rows reached the survivors through the new master's binlog.
      for (const s of survivors) {
        const have = await idsOn(cfg, s);
        assert.deepEqual(w.acked.filter((id) => !have.has(id)), [], `${s} has every acknowledged row`);
      }
    });
  });
}
