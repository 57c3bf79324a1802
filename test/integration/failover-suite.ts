/**
 * The failover integration suite, run against real servers of one flavor
 * (failover-mysql.test.ts: MySQL 9.7, failover-mariadb.test.ts: MariaDB 10.11).
 * The executor is run directly (not through the daemon). Each destructive case
 * gets a fresh loopback cluster; the lab stops only its own processes.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { ClusterConfig } from '../../src/config/schema';
import { readNode } from '../../src/mysql/inspect';
import { runFailover, type FailoverRequest } from '../../src/failover/execute';
import { unfinishedJournals } from '../../src/failover/journal';
import { peekLock } from '../../src/failover/lock';
import { startCluster, type LabCluster, type LabFlavor } from '../lab';
import {
  assertHealthy,
  createTable,
  globalSettings,
  idsOn,
  range,
  sleep,
  startWriter,
  tempStateDir,
  writeRows,
} from './failover-helpers';

/** A loopback port with nothing listening: SSH to the dead master's "host" fails at once. */
async function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

export function failoverSuite(flavor: LabFlavor): void {
  const labs: LabCluster[] = [];
  const dirs: string[] = [];
  const stopIo = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';

  async function lab(o: { semiSync?: boolean } = {}): Promise<LabCluster> {
    const l = await startCluster({ flavor, nodes: 3, semiSync: o.semiSync, name: `fo-${flavor}` });
    labs.push(l);
    await createTable(l);
    return l;
  }

  async function config(l: LabCluster, failover: Record<string, unknown> = {}, nodes?: Record<string, Record<string, unknown>>): Promise<ClusterConfig> {
    const known = path.join(tempDir(), 'known_hosts');
    fs.writeFileSync(known, '');
    const base = l.clusterConfig();
    return l.clusterConfig({
      ssh: { port: await closedPort(), known_hosts: known, connect_timeout_ms: 1000 } as ClusterConfig['ssh'],
      failover: { apply_timeout_s: 30, ...failover } as ClusterConfig['failover'],
      nodes: base.nodes.map((n) => ({ ...n, ...(nodes?.[n.name] ?? {}) })),
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

  function request(cfg: ClusterConfig, stateDir: string, extra: Partial<FailoverRequest> = {}): FailoverRequest {
    return { cluster: cfg, global: globalSettings(stateDir), deadMaster: 'db1', trigger: 'manual', ...extra };
  }

  afterEach(async () => {
    while (labs.length) await labs.pop()!.teardown();
  });
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe(`failover (${flavor})`, () => {
    it('async, dead master host down: promoted, and the report counts exactly what is lost', async () => {
      const l = await lab();
      const cfg = await config(l);
      const w = await startWriter(cfg, 'db1');
      await sleep(300);
      await w.stop();
      assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
      const lastAcked = w.acked.at(-1)!;
      await waitApplied(l, cfg, ['db2', 'db3'], lastAcked);
      // Only the master gets these: the replicas stopped receiving.
      await l.sql('db2', stopIo);
      await l.sql('db3', stopIo);
      const onlyOnMaster = range(100001, 5);
      await writeRows(cfg, 'db1', onlyOnMaster);
      const lastKnownMaster = await readNode(cfg, cfg.nodes[0]);
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
      await assertHealthy(cfg, r.newMaster!, survivors, [...w.acked, ...onlyOnMaster], {
        probeId: 900001,
        allowMissing: new Set(onlyOnMaster),
      });
      const have = await idsOn(cfg, r.newMaster!);
      assert.deepEqual(onlyOnMaster.filter((id) => have.has(id)), [], 'the rows only the dead master had are the ones reported lost');
      assert.ok(fs.existsSync(r.reportPath!), 'report saved');
      assert.deepEqual(unfinishedJournals(sd, cfg.name), []);
      assert.equal(peekLock(sd, cfg.name).free, true, 'lock released');
    });
  });
}
