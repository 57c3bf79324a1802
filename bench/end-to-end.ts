/**
 * End to end: from kill -9 of the master's mysqld to the first write accepted
 * through the floating address, with heir's daemon deciding and acting, the ENI
 * moved through the ECS API emulator (default delays: 2 s Detaching, 2 s
 * Attaching), on a 3-host MySQL 9.7 (or MariaDB 10.11) network-namespace lab. This is the sandbox
 * (test/sandbox/scenario.ts) run without output, several times.
 *
 *   node dist/bench/end-to-end.js [kill|host-down] [mysql|mariadb] [eni|havip] [held] [file] [lag]   env: HEIR_BENCH_RUNS (default 10), HEIR_BENCH_ENGINE (daemon)
 *
 * havip: the address is a HaVip associated with the three instances instead of an ENI; heir
 * takes it down on the old master over SSH and brings it up on the new one with a
 * gratuitous ARP, which the manager's ARP cache (the writer's path) follows.
 *
 * The servers run at their stock settings (replication net timeout 60 s, heartbeat 30 s).
 * host-down: the master's host is unplugged instead of its mysqld killed.
 * held: db3's applier is held by a lock (a session on db3 as a backup's or report's would hold
 * one) from just before the fault until 30 s after it, so its STOP REPLICA at the repoint waits
 * up to 30 s (MariaDB; MySQL by file and position): the address must not wait for it.
 * file: replication by file and position instead of GTID.
 * lag: the emulator's Describe actions answer from the state 1 s ago (the API's eventual
 * consistency), and heir's cloud.describe_lag_ms is 1000.
 *
 * The kill lands at a random phase of the daemon's 1 s ping interval. The writer
 * commits one row at a time through the floating address as an application
 * account and retries every 20 ms after a failure; the figure is the
 * first acknowledged write after the kill, on the new master. Every run also counts
 * acknowledged rows missing from the new master.
 */
import { Narrator } from '../test/sandbox/narrator';
import { Sandbox, daemonAvailable, type Engine, type SandboxResult } from '../test/sandbox/scenario';
import { emit, envInt, progress, runMain, stats } from './lib';

const B = 'end-to-end';

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  const engine = (process.env.HEIR_BENCH_ENGINE ?? 'daemon') as Engine;
  const fault = process.argv[2] === 'host-down' ? 'host-down' : 'kill';
  const flavor = process.argv[3] === 'mariadb' ? 'mariadb' : 'mysql';
  const address = process.argv[4] === 'havip' ? 'havip' : 'eni';
  const held = process.argv.slice(5).includes('held');
  const gtid = !process.argv.slice(5).includes('file');
  // lag: the ECS API's Describe 1 s behind its writes (and cloud.describe_lag_ms 1000).
  const describeLagMs = process.argv.slice(5).includes('lag') ? 1000 : 0;
  const holdMs = 30_000;
  if (engine === 'daemon' && !daemonAvailable()) throw new Error('heir daemon is not built (dist/src/cli/commands/daemon.js missing)');
  const results: SandboxResult[] = [];
  for (let i = 1; i <= runs; i++) {
    const sb = new Sandbox({ flavor, mode: fault, engine, address, narrator: new Narrator({ quiet: true }), timeoutS: 90, randomPhase: true, gtid, ...(describeLagMs ? { describeLagMs } : {}), ...(held ? { holdApplier: { node: 'db3', releaseAfterMs: holdMs } } : {}) });
    let r: SandboxResult;
    try {
      await sb.up();
      await sb.fault();
      r = await sb.observe();
    } finally {
      await sb.down();
    }
    if (r.faultToFirstWriteMs === null || r.lost === null) throw new Error(`run ${i}: ${r.problems.join('; ') || 'no result'}`);
    if (held && r.invariant !== 'holds') throw new Error(`run ${i}: cluster invariant: ${r.invariant ?? 'not checked'}`);
    results.push(r);
    progress(B, `run ${i}/${runs}: first write through the floating address ${r.faultToFirstWriteMs} ms after the ${fault} (${r.verdict} at ${r.faultToVerdictMs} ms, ` +
      `${r.newMaster} writable at ${r.faultToWritableMs} ms${address === 'eni' ? `, address up at ${r.eni.attachedAtMs} ms` : ''}` +
      `${held ? `, db3's repoint ended at ${stepEnd(r, 'repoint')} ms, its lock released at ${r.heldReleasedAtMs} ms` : ''}); ${r.acknowledged} acknowledged, ${r.lost} lost`);
  }
  const r0 = results[0]!;
  const num = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
  emit({
    bench: B,
    fault,
    servers: 'stock replication timeouts (net timeout 60 s, heartbeat 30 s)',
    flavor: r0.flavor,
    version: r0.version,
    nodes: 3,
    runs,
    engine,
    address,
    replication: gtid ? 'gtid' : 'file/position',
    ...(describeLagMs ? { describeLagMs } : {}),
    ...(held
      ? {
          held: {
            node: 'db3',
            releaseAfterMs: holdMs,
            // When the repoint (db3's STOP REPLICA among it) and the whole failover ended, after the fault.
            killToRepointEndMs: stats(num(results.map((r) => stepEnd(r, 'repoint')))),
            killToFailoverEndMs: stats(num(results.map((r) => stepEnd(r, 'verify')))),
            killToAttachEndMs: stats(num(results.map((r) => stepEnd(r, 'attach')))),
            invariant: results.every((r) => r.invariant === 'holds') ? 'held after every run' : 'violated',
            // Where db3 stood against the other survivor, run by run: it decides what waits for its applier.
            roles: results.map(heldRole),
          },
        }
      : {}),
    ...(address === 'havip' ? { targetMs: 1500 } : {}),
    emulatorDelaysMs: { detach: r0.eni.delays.detachMs, attach: r0.eni.delays.attachMs },
    killToFirstWriteMs: stats(results.map((r) => r.faultToFirstWriteMs!)),
    killToVerdictMs: stats(num(results.map((r) => r.faultToVerdictMs))),
    killToWritableMs: stats(num(results.map((r) => r.faultToWritableMs))),
    killToAddressDetachedMs: stats(num(results.map((r) => r.eni.detachedAtMs))),
    killToAddressUpMs: stats(num(results.map((r) => r.eni.attachedAtMs))),
    // The first write split: detection (fault → verdict), the address's two transitions as
    // heir saw them (verdict → detached, detached → up), and heir's own part: everything
    // beyond detection and the emulator's fixed Detaching + Attaching time.
    ...(address === 'havip'
      ? {
          // No transitions to wait for: detection, then promotion, then heir's SSH + ARP + verify.
          havipSplit: {
            detectionMs: stats(num(results.map((r) => r.faultToVerdictMs))),
            verdictToWritableMs: stats(num(results.map((r) => (r.faultToWritableMs !== null && r.faultToVerdictMs !== null ? r.faultToWritableMs - r.faultToVerdictMs : null)))),
            writableToFirstWriteMs: stats(num(results.map((r) => (r.faultToWritableMs !== null ? r.faultToFirstWriteMs! - r.faultToWritableMs : null)))),
          },
        }
      : {}),
    split: address === 'havip' ? undefined : {
      detectionMs: stats(num(results.map((r) => r.faultToVerdictMs))),
      detachMs: stats(num(results.map((r) => (r.eni.detachedAtMs !== null && r.faultToVerdictMs !== null ? r.eni.detachedAtMs - r.faultToVerdictMs : null)))),
      attachMs: stats(num(results.map((r) => (r.eni.attachedAtMs !== null && r.eni.detachedAtMs !== null ? r.eni.attachedAtMs - r.eni.detachedAtMs : null)))),
      overheadMs: stats(num(results.map((r) => (r.faultToVerdictMs !== null ? r.faultToFirstWriteMs! - r.faultToVerdictMs - r.eni.delays.detachMs - r.eni.delays.attachMs : null)))),
    },
    acknowledgedRows: results.reduce((a, r) => a + r.acknowledged, 0),
    lostAcknowledgedRows: results.reduce((a, r) => a + (r.lost ?? 0), 0),
    outcomes: results.map((r) => r.failoverOutcome),
    newMasters: results.map((r) => r.newMaster),
    mha: { source: 'LAB-NOTES: MHA 0.58, same kind of namespace lab', defaultMedianMs: 15000, withEniHookMs: 20400 },
  });
}

/** When the report's step ended, in ms after the fault. */
/** The held node's part in a run's failover, from the report: winner, catch-up source, behind the winner (level-up), or level with it. */
function heldRole(r: SandboxResult): string {
  const names = (r.steps ?? []).map((x) => x.name);
  if (r.newMaster === 'db3') return 'the winner';
  if (names.includes('catch-up')) return "the winner's catch-up source";
  if (names.includes('level-up')) return 'behind the winner';
  return 'level with the winner';
}

function stepEnd(r: SandboxResult, name: string): number | null {
  return r.steps?.find((x) => x.name === name)?.endedAtMs ?? null;
}

runMain(B, main);
