/**
 * Randomized torture (issue 12): seeded runs of test/sandbox/torture.ts, each drawing a
 * fault (kill -9, host down, SIGSTOP then SIGCONT, manager-only partition, max_connections
 * exhausted, heir's daemon killed mid-failover), its moment,
 * replica lag (none, or one replica's IO thread stopped a while before), semi-sync on or
 * off, 1–3 writers committing 1–4-row transactions through the floating address. Both
 * flavors. Every run ends with the cluster invariant.
 *
 *   node dist/bench/torture.js [runs] [first-seed]    env: HEIR_BENCH_RUNS (default 20), HEIR_TORTURE_SEED
 *
 * A run is replayed with its seed: node dist/bench/torture.js 1 SEED.
 */
import { drawRun, runTorture, type TortureResult } from '../test/sandbox/torture';
import { emit, envInt, progress, runMain, stats, tally } from './lib';

const B = 'torture';

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? envInt('HEIR_BENCH_RUNS', 20));
  const first = Number(process.argv[3] ?? process.env.HEIR_TORTURE_SEED ?? 1);
  const results: TortureResult[] = [];
  for (let i = 0; i < runs; i++) {
    const draw = drawRun(first + i);
    const r = await runTorture(draw);
    results.push(r);
    const bad = [...r.problems, ...r.invariant];
    progress(
      B,
      `seed ${draw.seed}: ${draw.flavor} ${draw.fault}${draw.durationMs ? ` ${draw.durationMs} ms` : ''}, semi-sync ${draw.semiSync ? 'on' : 'off'}, ` +
        `lag ${draw.lag ? `${draw.lag.node} ${draw.lag.spanMs} ms` : 'none'}, ${draw.writers}×${draw.rowsPerTx} → ${r.outcome ?? 'no failover'}` +
        `${r.newMaster ? ` (${r.newMaster})` : ''}; ${r.acknowledged} acknowledged, ${r.lost} lost (declared ${r.declaredLost ?? '?'}), ` +
        `two writable ${r.twoWritableS} s, split-brain writes ${r.splitBrainWrites}; ${bad.length ? `VIOLATIONS: ${bad.join(' | ')}` : 'invariant holds'} (${r.durationS} s)`,
    );
  }
  const by = (f: string) => results.filter((r) => r.draw.fault === f);
  emit({
    bench: B,
    runs,
    firstSeed: first,
    servers: 'stock replication timeouts (net timeout 60 s, heartbeat 30 s)',
    faults: tally(results.map((r) => r.draw.fault)),
    flavors: tally(results.map((r) => r.draw.flavor)),
    semiSyncRuns: results.filter((r) => r.draw.semiSync).length,
    lagRuns: results.filter((r) => r.draw.lag).length,
    acknowledged: results.reduce((a, r) => a + r.acknowledged, 0),
    lostBeyondDeclared: results.filter((r) => r.problems.some((p) => /acknowledged row\(s\) lost/.test(p))).reduce((a, r) => a + r.lost, 0),
    lostDeclared: results.reduce((a, r) => a + (r.problems.some((p) => /acknowledged row\(s\) lost/.test(p)) ? 0 : r.lost), 0),
    twoWritableS: results.reduce((a, r) => a + r.twoWritableS, 0),
    twoWritableRuns: results.filter((r) => r.twoWritableS > 0).map((r) => ({ seed: r.draw.seed, fault: r.draw.fault, flavor: r.draw.flavor, s: r.twoWritableS })),
    splitBrainWrites: results.reduce((a, r) => a + r.splitBrainWrites, 0),
    failoversOnPartition: by('partition').reduce((a, r) => a + r.failovers, 0),
    failoversOnOverload: by('overload').reduce((a, r) => a + r.failovers, 0),
    faultToFirstWriteMs: stats(results.map((r) => r.faultToFirstWriteMs).filter((x): x is number => x !== null)),
    violations: results
      .filter((r) => r.problems.length || r.invariant.length)
      .map((r) => ({ seed: r.draw.seed, draw: r.draw, problems: r.problems, invariant: r.invariant })),
    rows: results.map((r) => ({
      seed: r.draw.seed,
      flavor: r.draw.flavor,
      fault: r.draw.fault,
      durationMs: r.draw.durationMs,
      semiSync: r.draw.semiSync,
      lag: r.draw.lag,
      writers: `${r.draw.writers}×${r.draw.rowsPerTx}`,
      outcome: r.outcome,
      acknowledged: r.acknowledged,
      lost: r.lost,
      declaredLost: r.declaredLost,
      twoWritableS: r.twoWritableS,
      ok: !r.problems.length && !r.invariant.length,
    })),
  });
}

runMain(B, main);
