/**
 * Switchover write pause on a 3-node MySQL 9.7 loopback cluster with a writer
 * running: ROUNDS switchovers back and forth between db1 and db2 (default 12,
 * env HEIR_BENCH_ROUNDS). Self-contained: starts its lab and tears it down.
 *
 * One JSON line per round, then the result object as the last line:
 *   pauseToNewMasterMs  heir's measure: read_only on the old master → probe write
 *                       accepted on the new one (address move excluded; type none)
 *   clientGapMs         the writer's view: longest gap between two acknowledged rows
 * Run: npx tsc -p . && node dist/bench/switchover.js
 */
import { performance } from 'node:perf_hooks';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GlobalSettings } from '../src/config/schema';
import { switchover } from '../src/failover/switchover';
import { startCluster } from '../test/lab';
import { assertHealthy, longestAckGap, setupApp, Writer } from '../test/integration/switchover-helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stats(xs: number[]): { median: number; max: number; min: number; p90: number } {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median: Math.round(median * 10) / 10, max: s[s.length - 1], min: s[0], p90: q(0.9) };
}

async function main(): Promise<void> {
  const rounds = Math.max(10, Number(process.env.HEIR_BENCH_ROUNDS ?? 12));
  const lab = await startCluster({ flavor: 'mysql', name: 'bench-switchover' });
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-bench-switchover-'));
  const writer = new Writer(lab);
  try {
    const cluster = lab.clusterConfig();
    const global = GlobalSettings.parse({ state_dir: stateDir });
    await setupApp(lab);
    writer.start('db1');
    await sleep(500);
    const pauses: number[] = [];
    const gaps: number[] = [];
    const steps: Record<string, number[]> = {};
    for (let i = 0; i < rounds; i++) {
      const to = i % 2 === 0 ? 'db2' : 'db1';
      const t0 = performance.now();
      const r = await switchover(cluster, { to, global });
      const t1 = performance.now();
      if (r.outcome !== 'switched') throw new Error(`round ${i + 1}: ${r.outcome}: ${r.summary}`);
      await sleep(300); // let the writer settle on the new master before the next round
      const pause = r.writePause.toNewMasterMs!;
      const gap = longestAckGap(writer, t0, t1 + 300);
      pauses.push(pause);
      gaps.push(gap);
      for (const s of r.steps) (steps[s.step] ??= []).push(s.durationMs);
      process.stdout.write(
        JSON.stringify({ bench: 'switchover', round: i + 1, from: r.from, to, pauseToNewMasterMs: pause, clientGapMs: gap, readOnlyMs: r.writePause.readOnlyMs, applyWaitMs: r.writePause.applyWaitMs, totalMs: r.durationMs }) + '\n',
      );
    }
    await writer.stop();
    const master = rounds % 2 === 0 ? 'db1' : 'db2';
    await assertHealthy(lab, master);
    const have = new Set((await lab.sql(master, 'SELECT id FROM app.t')).map((r) => Number(r.id)));
    const lostRows = writer.acked.filter((id) => !have.has(id)).length;
    const p = stats(pauses);
    const g = stats(gaps);
    const stepMedians = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, stats(v).median]));
    process.stdout.write(
      JSON.stringify({
        bench: 'switchover',
        flavor: 'mysql',
        version: lab.version,
        nodes: lab.nodes.length,
        rounds,
        writer: { rowsAcknowledged: writer.acked.length, failedAttempts: writer.failures, lostRows },
        pauseToNewMasterMs: { median: p.median, max: p.max, min: p.min, p90: p.p90, all: pauses },
        clientGapMs: { median: g.median, max: g.max, all: gaps },
        stepMedianMs: stepMedians,
        addressMove: 'excluded (address type none); see the eni-move bench',
        targetMs: 300,
        host: { cpus: os.cpus().length, loadAvg1mAtEnd: Math.round(os.loadavg()[0] * 100) / 100 },
        meetsTarget: p.max < 300,
      }) + '\n',
    );
  } finally {
    await writer.stop().catch(() => undefined);
    await lab.teardown();
    fs.rmSync(stateDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`switchover bench: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
