/**
 * Failover: heir's own time from the dead verdict to the promoted master
 * accepting writes, on a 3-host MySQL 9.7 network-namespace lab with a writer
 * running (address type none: the address move is measured by address-move and
 * end-to-end).
 *
 *   node dist/bench/failover.js        env: HEIR_BENCH_RUNS (default 10)
 *
 * Each run: a fresh lab; a writer commits on db1 for 2 s; kill -9 of db1's mysqld;
 * as soon as it has exited, the failover executor is called as the daemon calls it
 * on a dead verdict (trigger auto). Probes on every survivor try an INSERT as the
 * application account every 5 ms (refused by read_only until the promotion).
 * Figures: first probe write accepted on the new master (the client's view), and
 * the report's own toWritableMs and total duration (salvage of the dead master's
 * binlogs over SSH and repointing included). Every run also checks that every
 * acknowledged row is on the new master.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { GlobalSettings, type ClusterConfig } from '../src/config/schema';
import { runFailover } from '../src/failover/execute';
import { Conn } from '../src/mysql/conn';
import { startNetLab, type NetLab } from '../test/lab';
import { binaries } from '../test/lab/server';
import { APP, Writer, appSetupSql } from '../test/sandbox/writer';
import { emit, envInt, progress, runMain, sleep, stats } from './lib';

const B = 'failover';

/** Tries an INSERT every 5 ms until one is accepted; resolves with performance.now() of the acceptance. */
function probeWrites(host: string, idBase: number, stop: { done: boolean }): Promise<number | null> {
  return (async () => {
    let c: Conn | null = null;
    let id = idBase;
    while (!stop.done) {
      try {
        c ??= await Conn.open({ name: `probe ${host}`, host, port: 3306, user: APP.user, password: APP.password, connectTimeoutMs: 500, queryTimeoutMs: 1000 });
        await c.exec(`INSERT INTO ${APP.table} (id, written_at) VALUES (${id++}, NOW(6))`);
        const at = performance.now();
        await c.close().catch(() => undefined);
        return at;
      } catch (e: any) {
        if (e?.errno !== 1290) { c?.destroy(); c = null; } // not read_only: reconnect
        await sleep(5);
      }
    }
    c?.destroy();
    return null;
  })();
}

function clusterFor(lab: NetLab): ClusterConfig {
  const cfg = lab.clusterConfig();
  const mysqlbinlog = lab.bin.run([lab.bin.mysqlbinlog]).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return {
    ...cfg,
    nodes: cfg.nodes.map((n) => ({ ...n, binlog_dir: lab.nodes.find((x) => x.name === n.name)!.datadir })),
    failover: { ...cfg.failover, salvage: { ...cfg.failover.salvage, mysqlbinlog } },
  };
}

async function oneRun(i: number): Promise<Record<string, any>> {
  const lab = await startNetLab({ flavor: 'mysql', hosts: 3, name: 'bench-failover' });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-bench-failover-'));
  const writer = new Writer(lab.nodes[0]!.address!, 3306, undefined, 2);
  const stop = { done: false };
  try {
    for (const s of appSetupSql()) await lab.sql(lab.nodes[0]!, s);
    const cluster = clusterFor(lab);
    writer.start();
    await sleep(2000);
    await lab.kill('db1', 'SIGKILL');
    const t0 = performance.now();
    const probes = lab.nodes.slice(1).map((n, k) => ({ name: n.name, at: probeWrites(n.address!, 10_000_000 * (k + 1), stop) }));
    const report = await runFailover({ cluster, global: GlobalSettings.parse({ state_dir: stateDir }), deadMaster: 'db1', trigger: 'auto' });
    if (report.outcome !== 'promoted') throw new Error(`run ${i}: failover ${report.outcome}: ${report.summary}`);
    const winner = report.newMaster!;
    const probe = probes.find((p) => p.name === winner)!;
    const timer = setTimeout(() => (stop.done = true), 10000); // bounded: no write within 10 s is reported as such
    const accepted = await probe.at;
    clearTimeout(timer);
    stop.done = true;
    await Promise.all(probes.map((p) => p.at));
    await writer.stop();
    const rows = await lab.sql(winner, `SELECT id FROM ${APP.table} WHERE id < 10000000`);
    const present = new Set(rows.map((r) => Number(r.id)));
    const lost = writer.ackedIds().filter((id) => !present.has(id)).length;
    return {
      firstWriteMs: accepted === null ? null : accepted - t0,
      toWritableMs: report.toWritableMs ?? null,
      durationMs: report.durationMs,
      salvaged: report.salvage.count,
      acknowledged: writer.acks.length,
      lost,
      winner,
      steps: Object.fromEntries(report.steps.map((s) => [s.name, s.durationMs ?? null])),
    };
  } finally {
    stop.done = true;
    await writer.stop().catch(() => undefined);
    await lab.teardown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  const results: Record<string, any>[] = [];
  for (let i = 1; i <= runs; i++) {
    const r = await oneRun(i);
    results.push(r);
    progress(B, `run ${i}/${runs}: first write on ${r.winner} ${Math.round(r.firstWriteMs)} ms after the verdict (report: writable at ${r.toWritableMs} ms, done in ${r.durationMs} ms; ` +
      `salvaged ${r.salvaged}; ${r.acknowledged} acknowledged, ${r.lost} lost)`);
  }
  const version = binaries('mysql').version;
  const stepNames = Object.keys(results[0]!.steps);
  emit({
    bench: B,
    flavor: 'mysql',
    version,
    nodes: 3,
    runs,
    addressType: 'none (the address move is measured separately)',
    verdictToFirstWriteMs: stats(results.map((r) => r.firstWriteMs).filter((x): x is number => x !== null)),
    verdictToWritableReportMs: stats(results.map((r) => r.toWritableMs).filter((x): x is number => x !== null)),
    failoverTotalMs: stats(results.map((r) => r.durationMs)),
    stepMedianMs: Object.fromEntries(stepNames.map((s) => [s, stats(results.map((r) => r.steps[s]).filter((x) => typeof x === 'number')).median])),
    salvagedTransactions: results.map((r) => r.salvaged),
    acknowledgedRows: results.reduce((a, r) => a + r.acknowledged, 0),
    lostAcknowledgedRows: results.reduce((a, r) => a + r.lost, 0),
    noFirstWrite: results.filter((r) => r.firstWriteMs === null).length,
  });
}

runMain(B, main);
