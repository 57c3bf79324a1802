/**
 * End to end under heir.ha: kill -9 of the master's mysqld, and kill -9 of the leader heir
 * daemon at its dead verdict → the first write accepted through the floating address.
 *
 *   node dist/bench/ha-end-to-end.js   env: HEIR_BENCH_RUNS (default 10)
 *
 * The sandbox with --ha (test/sandbox/scenario.ts), without output, once per run: 3 MySQL 9.7
 * hosts in network namespaces at stock server settings, the ECS API emulator moving the ENI
 * (2 s Detaching, 2 s Attaching), three etcd members on loopback, two heir daemons (mgr-a
 * leads, mgr-b follows; heir.ha and detection at their defaults), a writer committing through
 * the floating address and retrying every 20 ms. The master's mysqld is killed at a random
 * phase of the 1 s ping; as soon as mgr-a logs the dead verdict that allows failover, mgr-a
 * is killed with kill -9 (its process group) before it acts. mgr-b leads once mgr-a's lease
 * ends and fails over. Each run ends with the cluster invariant and counts acknowledged rows
 * missing from the new master; a run that violates either fails the benchmark.
 */
import { Narrator } from '../test/sandbox/narrator';
import { Sandbox, daemonAvailable, type SandboxResult } from '../test/sandbox/scenario';
import { etcdAvailable } from '../test/lab/etcd';
import { HaSettings } from '../src/config/schema';
import { emit, envInt, progress, runMain, stats } from './lib';

const B = 'ha-end-to-end';

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  if (!daemonAvailable()) throw new Error('heir daemon is not built (dist/src/cli/commands/daemon.js missing)');
  const missing = etcdAvailable();
  if (missing) throw new Error(missing);
  const ha = HaSettings.parse({ etcd: { endpoints: ['http://127.0.0.1:2379'] }, manager_id: 'defaults' });
  const results: SandboxResult[] = [];
  for (let i = 1; i <= runs; i++) {
    const sb = new Sandbox({ flavor: 'mysql', mode: 'kill', engine: 'daemon', ha: true, haKillAt: 'verdict', narrator: new Narrator({ quiet: true }), timeoutS: 90, randomPhase: true });
    let r: SandboxResult;
    try {
      await sb.up();
      await sb.fault();
      await sb.haTakeover(90_000);
      r = await sb.observe();
    } finally {
      await sb.down();
    }
    if (r.faultToFirstWriteMs === null || r.lost === null || !r.ha) throw new Error(`run ${i}: ${r.problems.join('; ') || 'no result'}`);
    if (!r.ok) throw new Error(`run ${i}: ${r.problems.join('; ') || `${r.lost} acknowledged rows lost`}`);
    results.push(r);
    progress(B, `run ${i}/${runs}: first write through the floating address ${r.faultToFirstWriteMs} ms after the kill (verdict at ${r.faultToVerdictMs} ms, ` +
      `${r.ha.killed} killed at ${r.ha.faultToKillMs} ms, ${r.ha.finishedBy} leads at ${r.ha.faultToLeaderMs} ms, ${r.newMaster} writable at ${r.faultToWritableMs} ms, ` +
      `address up at ${r.eni.attachedAtMs} ms); ${r.acknowledged} acknowledged, ${r.lost} lost; invariant ${r.invariant}`);
  }
  const r0 = results[0]!;
  const num = (xs: (number | null)[]) => xs.filter((x): x is number => x !== null);
  const ha0 = (r: SandboxResult) => r.ha!;
  emit({
    bench: B,
    fault: 'kill',
    servers: 'stock replication timeouts (net timeout 60 s, heartbeat 30 s)',
    flavor: r0.flavor,
    version: r0.version,
    nodes: 3,
    runs,
    etcdMembers: 3,
    managers: 2,
    leaseTtlS: ha.lease_ttl_s,
    requestTimeoutMs: ha.etcd.request_timeout_ms,
    // The takeover's own target (lease_ttl_s + 1 s); the renderer adds the end-to-end median.
    takeoverTargetMs: ha.lease_ttl_s * 1000 + 1000,
    emulatorDelaysMs: { detach: r0.eni.delays.detachMs, attach: r0.eni.delays.attachMs },
    killToFirstWriteMs: stats(results.map((r) => r.faultToFirstWriteMs!)),
    killToVerdictMs: stats(num(results.map((r) => r.faultToVerdictMs))),
    killToLeaderKilledMs: stats(results.map((r) => ha0(r).faultToKillMs)),
    killToNewLeaderMs: stats(results.map((r) => ha0(r).faultToLeaderMs)),
    killToWritableMs: stats(num(results.map((r) => r.faultToWritableMs))),
    killToAddressUpMs: stats(num(results.map((r) => r.eni.attachedAtMs))),
    split: {
      // Detection, then the takeover (the leader killed at its verdict → the other leads),
      // then the failover by the new leader up to the first write through the address.
      detectionMs: stats(num(results.map((r) => r.faultToVerdictMs))),
      takeoverMs: stats(results.map((r) => ha0(r).killToLeaderMs)),
      leaderToFirstWriteMs: stats(results.map((r) => r.faultToFirstWriteMs! - ha0(r).faultToLeaderMs)),
    },
    acknowledgedRows: results.reduce((a, r) => a + r.acknowledged, 0),
    lostAcknowledgedRows: results.reduce((a, r) => a + (r.lost ?? 0), 0),
    invariantHeld: results.filter((r) => r.invariant === 'holds').length,
    outcomes: results.map((r) => r.failoverOutcome),
    finishedBy: results.map((r) => r.reportBy),
    resumedFromKilled: results.filter((r) => r.ha?.promotedByKilled).length,
  });
}

runMain(B, main);
