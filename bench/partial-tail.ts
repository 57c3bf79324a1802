/**
 * Failover with a partial large transaction in the winner's relay log: a 200,000-row
 * INSERT … SELECT (tens of MB of row events) is streaming to the replicas over links slowed
 * to about 1 MB/s with tc when the master's mysqld is killed (-9, host and sshd up), so every
 * replica's relay log ends inside it. The failover executor then runs as the daemon calls it;
 * salvage applies the transaction whole from the dead master's binlog.
 *
 *   node dist/bench/partial-tail.js        env: HEIR_BENCH_RUNS (default 3 per case)
 *
 * Cases: MySQL 9.7 with GTID auto-positioning, MySQL 9.7 with file/position replication
 * (GTID off), MariaDB 10.11 with GTID (slave_pos). Servers at their default settings (MySQL's
 * multi-threaded applier with 4 workers, MariaDB's serial applier) apart from the tc limit;
 * MariaDB's replicas get max_allowed_packet=1G for the salvage (see bench/salvage.ts).
 * failover.apply_timeout_s stays at its default (120 s), so a STOP REPLICA waiting for the
 * incomplete group shows in full instead of failing the promotion.
 *
 * Figures per run: the promote step (where the winner's STOP REPLICA runs), the whole failover,
 * and whether the winner's relay log ended inside the transaction. Each run checks that all
 * rows reached the new master and that nothing was reported lost.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GlobalSettings, type ClusterConfig } from '../src/config/schema';
import { runFailover } from '../src/failover/execute';
import { startNetLab, type LabFlavor, type NetLab } from '../test/lab';
import { binaries } from '../test/lab/server';
import { emit, envInt, progress, runMain, seedBulkLab, sleep, stats } from './lib';

const B = 'partial-tail';
const ROWS = 200000;

interface Case {
  flavor: LabFlavor;
  gtid: boolean;
  label: string;
}

const CASES: Case[] = [
  { flavor: 'mysql', gtid: true, label: 'GTID auto-position' },
  { flavor: 'mysql', gtid: false, label: 'file/position' },
  { flavor: 'mariadb', gtid: true, label: 'GTID (slave_pos)' },
];

function clusterFor(lab: NetLab): ClusterConfig {
  const base = lab.clusterConfig();
  return lab.clusterConfig({
    failover: { salvage: { timeout_s: 300 } } as ClusterConfig['failover'],
    nodes: base.nodes.map((n) => ({ ...n, binlog_dir: lab.nodes.find((x) => x.name === n.name)!.datadir })),
  });
}

async function oneRun(k: Case, i: number): Promise<Record<string, any>> {
  const { flavor } = k;
  const lab = await startNetLab({ flavor, hosts: 3, gtid: k.gtid, name: `bench-partial-${flavor}` });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-bench-partial-'));
  try {
    await seedBulkLab(lab, ROWS);
    for (const r of ['db2', 'db3']) await lab.throttle(r, 8000);
    await lab.sql('db1', 'INSERT INTO app.bulk SELECT id, pad FROM app.seed');
    await sleep(3000);
    await lab.kill('db1', 'SIGKILL');
    for (const r of ['db2', 'db3']) await lab.throttle(r, null);
    const partial: Record<string, boolean> = {};
    for (const r of ['db2', 'db3']) {
      const [st] = await lab.sql(r, flavor === 'mysql' ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
      partial[r] = Number(st.Read_Source_Log_Pos ?? st.Read_Master_Log_Pos) > Number(st.Exec_Source_Log_Pos ?? st.Exec_Master_Log_Pos);
    }
    const cluster = clusterFor(lab);
    const report = await runFailover({ cluster, global: GlobalSettings.parse({ state_dir: stateDir }), deadMaster: 'db1', trigger: 'auto' });
    const where = `${flavor} ${k.label} run ${i}`;
    if (report.outcome !== 'promoted') throw new Error(`${where}: failover ${report.outcome}: ${report.summary}`);
    if (report.salvage.error) throw new Error(`${where}: salvage failed: ${report.salvage.why}`);
    const promote = report.steps.find((s) => s.name === 'promote')!;
    const rows = Number((await lab.sql(report.newMaster!, 'SELECT COUNT(*) AS c FROM app.bulk'))[0].c);
    if (rows !== ROWS) throw new Error(`${where}: ${rows} of ${ROWS} rows on the new master`);
    return {
      winnerPartial: partial[report.newMaster!] ?? false,
      promoteMs: promote.durationMs,
      promoteDetail: promote.detail,
      failoverMs: report.durationMs,
      possiblyLost: report.possiblyLost.length,
    };
  } finally {
    await lab.teardown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 3);
  const out: Record<string, any>[] = [];
  for (const k of CASES) {
    const rs: Record<string, any>[] = [];
    for (let i = 1; i <= runs; i++) {
      const r = await oneRun(k, i);
      rs.push(r);
      progress(B, `${k.flavor} ${k.label} run ${i}/${runs}: promote ${r.promoteMs} ms, failover ${r.failoverMs} ms, winner's relay log ended inside the transaction: ${r.winnerPartial}; ${r.promoteDetail}`);
    }
    out.push({
      flavor: k.flavor,
      version: binaries(k.flavor).version,
      mode: k.label,
      runs,
      rows: ROWS,
      winnerPartialRuns: rs.filter((r) => r.winnerPartial).length,
      promoteMs: stats(rs.map((r) => r.promoteMs)),
      failoverMs: stats(rs.map((r) => r.failoverMs)),
      possiblyLost: rs.reduce((a, r) => a + r.possiblyLost, 0),
      lastPromoteDetail: rs[rs.length - 1]!.promoteDetail,
    });
  }
  emit({ bench: B, nodes: 3, results: out });
}

runMain(B, main);
