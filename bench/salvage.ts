/**
 * Salvage of a large transaction: a 200,000-row INSERT … SELECT (row events, tens of MB of
 * binlog) that only the dead master has (the replicas' IO threads stopped before it), on a
 * 3-host network-namespace lab per flavor. kill -9 of the master's mysqld (its host and sshd
 * stay up), then the failover executor runs as the daemon calls it.
 *
 *   node dist/bench/salvage.js        env: HEIR_BENCH_RUNS (default 3 per flavor)
 *
 * Figures per run: binlog bytes copied, salvage-fetch and salvage-apply times, throughput
 * (binlog MB over fetch + apply), and the manager's event-loop delay during the whole
 * failover (perf_hooks.monitorEventLoopDelay, 10 ms resolution): what every other cluster's
 * pings in the same daemon would wait; and a neighbour cluster's ping latency, measured: a
 * master on loopback (a 2-node cluster of its own, started once per flavor) pinged (COM_PING, as
 * the monitor's ping) every 100 ms from the same process for the whole failover. Each run
 * checks that all 200,000 rows reached the new master and that nothing was reported lost.
 *
 * MariaDB: mariadb-binlog prints the statement's row events as one BINLOG statement of
 * ~30 MB, beyond MariaDB's default max_allowed_packet; heir's grants cannot raise that on
 * MariaDB, so the nodes run with max_allowed_packet=1G (set here, as docs/GRANTS.md says).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { GlobalSettings, type ClusterConfig } from '../src/config/schema';
import { Conn, connOptions } from '../src/mysql/conn';
import { runFailover } from '../src/failover/execute';
import { startCluster, startNetLab, type LabFlavor, type NetLab } from '../test/lab';
import { binaries } from '../test/lab/server';
import { emit, envInt, progress, runMain, seedBulkLab, sleep, stats } from './lib';

const B = 'salvage';
const ROWS = 200000;

function clusterFor(lab: NetLab): ClusterConfig {
  const base = lab.clusterConfig();
  return lab.clusterConfig({
    failover: { apply_timeout_s: 60, salvage: { timeout_s: 300 } } as ClusterConfig['failover'],
    nodes: base.nodes.map((n) => ({ ...n, binlog_dir: lab.nodes.find((x) => x.name === n.name)!.datadir })),
  });
}

/** A neighbour's master pinged every 100 ms until stopped: each round trip in µs. */
function pingEvery100ms(c: Conn): { stop: () => Promise<number[]> } {
  const us: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const t = process.hrtime.bigint();
      await c.ping(5000);
      us.push(Number((process.hrtime.bigint() - t) / 1000n));
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return us;
    },
  };
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
}

async function oneRun(flavor: LabFlavor, i: number, neighbour: Conn): Promise<Record<string, any>> {
  const lab = await startNetLab({ flavor, hosts: 3, name: `bench-salvage-${flavor}` });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-bench-salvage-'));
  try {
    await seedBulkLab(lab, ROWS);
    for (const r of ['db2', 'db3']) await lab.sql(r, flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD');
    await lab.sql('db1', 'INSERT INTO app.bulk SELECT id, pad FROM app.seed');
    await sleep(200);
    await lab.kill('db1', 'SIGKILL');
    const cluster = clusterFor(lab);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const pinger = pingEvery100ms(neighbour);
    const report = await runFailover({ cluster, global: GlobalSettings.parse({ state_dir: stateDir }), deadMaster: 'db1', trigger: 'auto' });
    const pings = await pinger.stop();
    loop.disable();
    if (report.outcome !== 'promoted') throw new Error(`${flavor} run ${i}: failover ${report.outcome}: ${report.summary}`);
    if (report.salvage.error) throw new Error(`${flavor} run ${i}: salvage failed: ${report.salvage.why}`);
    const step = (n: string) => report.steps.find((s) => s.name === n);
    const fetch = step('salvage-fetch')!;
    const apply = step('salvage-apply')!;
    const bytes = Number(/([\d]+) bytes/.exec(fetch.detail)?.[1] ?? NaN);
    const rows = Number((await lab.sql(report.newMaster!, 'SELECT COUNT(*) AS c FROM app.bulk'))[0].c);
    if (rows !== ROWS) throw new Error(`${flavor} run ${i}: ${rows} of ${ROWS} rows on the new master`);
    const salvageMs = (fetch.durationMs ?? 0) + (apply.durationMs ?? 0);
    return {
      binlogBytes: bytes,
      fetchMs: fetch.durationMs,
      applyMs: apply.durationMs,
      mbPerS: Math.round((bytes / 1e6 / (salvageMs / 1000)) * 10) / 10,
      loopDelayMaxMs: Math.round(loop.max / 1e6),
      loopDelayP99Ms: Math.round(loop.percentile(99) / 1e6),
      neighbourPings: pings.length,
      neighbourPingP50Us: percentile(pings, 50),
      neighbourPingP99Us: percentile(pings, 99),
      neighbourPingMaxUs: Math.max(...pings),
      failoverMs: report.durationMs,
      possiblyLost: report.possiblyLost.length,
      transactions: report.salvage.count,
    };
  } finally {
    await lab.teardown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 3);
  const out: Record<string, any>[] = [];
  for (const flavor of ['mysql', 'mariadb'] as LabFlavor[]) {
    const rs: Record<string, any>[] = [];
    const next = await startCluster({ flavor, nodes: 2, name: `bench-salvage-neighbour-${flavor}` });
    const conn = await Conn.open(connOptions(next.clusterConfig(), next.clusterConfig().nodes[0]!));
    try {
      for (let i = 1; i <= runs; i++) {
        const r = await oneRun(flavor, i, conn);
        rs.push(r);
        progress(B, `${flavor} run ${i}/${runs}: ${(r.binlogBytes / 1e6).toFixed(1)} MB, fetch ${r.fetchMs} ms, apply ${r.applyMs} ms (${r.mbPerS} MB/s), event loop delay max ${r.loopDelayMaxMs} ms, neighbour ping p99 ${r.neighbourPingP99Us} µs, max ${r.neighbourPingMaxUs} µs`);
      }
    } finally {
      await conn.close();
      await next.teardown();
    }
    out.push({
      flavor,
      version: binaries(flavor).version,
      runs,
      rows: ROWS,
      binlogMb: Math.round((rs[0]!.binlogBytes / 1e6) * 10) / 10,
      fetchMs: stats(rs.map((r) => r.fetchMs)),
      applyMs: stats(rs.map((r) => r.applyMs)),
      mbPerS: stats(rs.map((r) => r.mbPerS)),
      loopDelayMaxMs: stats(rs.map((r) => r.loopDelayMaxMs)),
      loopDelayP99Ms: stats(rs.map((r) => r.loopDelayP99Ms)),
      neighbourPingP50Us: stats(rs.map((r) => r.neighbourPingP50Us)),
      neighbourPingP99Us: stats(rs.map((r) => r.neighbourPingP99Us)),
      neighbourPingMaxUs: stats(rs.map((r) => r.neighbourPingMaxUs)),
      neighbourPings: rs.reduce((a, r) => a + r.neighbourPings, 0),
      failoverMs: stats(rs.map((r) => r.failoverMs)),
      possiblyLost: rs.reduce((a, r) => a + r.possiblyLost, 0),
    });
  }
  emit({ bench: B, nodes: 3, results: out });
}

runMain(B, main);
