/**
 * The switchover pause as the application sees it through the floating address: the
 * sandbox (3 namespace hosts, heir's daemon, the ECS/VPC API emulator) with a writer
 * committing through the address, then `heir switchover --to db2`. The figure is the
 * longest gap between two acknowledged rows around the switchover: read-only on the old
 * master, the address move and the writer's reconnection, all included.
 *
 *   node dist/bench/switchover-address.js [havip|eni] [mysql|mariadb]   env: HEIR_BENCH_RUNS (default 5)
 *
 * A fresh sandbox per run (a switchover back would measure the same path again).
 */
import { Narrator } from '../test/sandbox/narrator';
import { Sandbox, daemonAvailable, type SandboxResult } from '../test/sandbox/scenario';
import { emit, envInt, progress, runMain, stats } from './lib';

const B = 'switchover-address';
const WRITER_PAUSE_MS = 5;

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 5);
  const address = process.argv[2] === 'eni' ? 'eni' : 'havip';
  const flavor = process.argv[3] === 'mariadb' ? 'mariadb' : 'mysql';
  if (!daemonAvailable()) throw new Error('heir daemon is not built (dist/src/cli/commands/daemon.js missing)');
  const results: SandboxResult[] = [];
  for (let i = 1; i <= runs; i++) {
    const sb = new Sandbox({ flavor, mode: 'switchover', engine: 'daemon', address, narrator: new Narrator({ quiet: true }), timeoutS: 90, writerPauseMs: WRITER_PAUSE_MS });
    let r: SandboxResult;
    try {
      await sb.up();
      await sb.fault();
      r = await sb.observe();
    } finally {
      await sb.down();
    }
    if (r.writerGapMs === null || r.faultToFirstWriteMs === null || r.lost === null || r.problems.length) throw new Error(`run ${i}: ${r.problems.join('; ') || 'no result'}`);
    results.push(r);
    progress(B, `run ${i}/${runs} (${address}): longest gap between acknowledged rows ${r.writerGapMs} ms; first write on ${r.newMaster} ${r.faultToFirstWriteMs} ms after the switchover started; ${r.acknowledged} acknowledged, ${r.lost} lost`);
  }
  const r0 = results[0]!;
  emit({
    bench: B,
    address,
    flavor: r0.flavor,
    version: r0.version,
    nodes: 3,
    runs,
    writerPauseMs: WRITER_PAUSE_MS,
    ...(address === 'eni' ? { emulatorDelaysMs: { detach: r0.eni.delays.detachMs, attach: r0.eni.delays.attachMs } } : { targetMs: 500 }),
    clientGapMs: stats(results.map((r) => r.writerGapMs!)),
    startToFirstWriteMs: stats(results.map((r) => r.faultToFirstWriteMs!)),
    acknowledgedRows: results.reduce((a, r) => a + r.acknowledged, 0),
    lostAcknowledgedRows: results.reduce((a, r) => a + (r.lost ?? 0), 0),
  });
}

runMain(B, main);
