/**
 * Detection: time from a fault on the master to heir's verdict that allows a
 * failover, at the default detection settings (1 s interval, ping_type ping: COM_PING on a persistent connection, 1 s
 * ping timeout, two independent sources, SSH host check on, secondary checks from
 * every other host) with the servers at their stock settings, and the number of
 * false verdicts (a verdict allowing failover while the master is alive) in the
 * partition and overload cases.
 *
 *   node dist/bench/detection.js
 *   env: HEIR_BENCH_RUNS (runs per fault, default 10), HEIR_BENCH_FALSE_RUNS (partition
 *        and overload runs, default 3), HEIR_BENCH_HOLD_MS (how long each of those lasts, default 20000)
 *
 * Faults, on a 3-host MySQL 9.7 network-namespace lab (each host its own namespace,
 * mysqld and sshd; the manager is the root namespace):
 *   kill       kill -9 of the master's mysqld (host up)             expected DeadMaster
 *   host-down  the master's host unplugged (mysqld and sshd gone)   expected DeadMasterHost
 *   host-down-lagging  the same after the replicas' IO threads were stopped  expected DeadMasterHost
 *   hang       SIGSTOP of the master's mysqld                       expected HungMaster
 *   partition  the manager alone cut off from the master; replicas still replicate   no failover
 *   overload   max_connections exhausted (ordinary slots and the admin slot)           no failover
 * Each run uses a fresh ClusterMonitor that has seen the master healthy; the fault is
 * injected at a random phase of the ping interval. Time is fault → verdict event.
 */
import { ClusterMonitor, type VerdictEvent } from '../src/monitor';
import type { ClusterConfig } from '../src/config/schema';
import { Conn } from '../src/mysql/conn';
import { describeSettings, startNetLab, type NetLab } from '../test/lab';
import { waitReplicating } from '../test/lab/cluster';
import { emit, envInt, progress, runMain, sleep, stats, tally, waitUntil } from './lib';

const B = 'detection';
type FaultKind = 'kill' | 'host-down' | 'host-down-lagging' | 'hang';
const EXPECTED: Record<FaultKind, string> = { kill: 'DeadMaster', 'host-down': 'DeadMasterHost', 'host-down-lagging': 'DeadMasterHost', hang: 'HungMaster' };

async function healthyMonitor(cluster: ClusterConfig): Promise<{ mon: ClusterMonitor; events: VerdictEvent[] }> {
  const mon = new ClusterMonitor(cluster, { master: 'db1' });
  const events: VerdictEvent[] = [];
  mon.on('verdict', (e) => events.push(e));
  (mon as unknown as NodeJS.EventEmitter).on('error', (e: Error) => progress(B, `monitor error: ${e.message}`));
  await mon.start();
  await waitUntil('monitor Healthy', () => mon.state.state === 'Healthy' && mon.lastVerdict?.kind === 'Healthy', 30000, 100);
  return { mon, events };
}

async function replicasBack(lab: NetLab): Promise<void> {
  for (const n of lab.nodes.slice(1)) await waitReplicating(lab, n, lab.flavor === 'mysql', 90000);
}

async function faultRun(lab: NetLab, cluster: ClusterConfig, kind: FaultKind): Promise<{ ms: number; verdict: string; falseBefore: number }> {
  const { mon, events } = await healthyMonitor(cluster);
  const stopIo = lab.flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
  if (kind === 'host-down-lagging') for (const n of lab.nodes.slice(1)) await lab.sql(n, stopIo);
  try {
    await sleep(1000 + Math.random() * 1000); // random phase against the 1 s ping schedule
    const falseBefore = events.filter((e) => e.failoverAllowed).length;
    const t0 = Date.now();
    if (kind === 'kill') void lab.kill('db1', 'SIGKILL');
    else if (kind === 'host-down' || kind === 'host-down-lagging') await lab.unplug('db1');
    else lab.pause('db1');
    await waitUntil(`${kind}: verdict allowing failover`, () => events.some((e) => e.failoverAllowed && e.at >= t0), 60000, 10);
    const ev = events.find((e) => e.failoverAllowed && e.at >= t0)!;
    return { ms: ev.at - t0, verdict: ev.verdict, falseBefore };
  } finally {
    await mon.stop();
    if (kind === 'kill') {
      await waitUntil('db1 exited', () => lab.nodes[0]!.pid === null, 30000);
      await lab.start('db1');
    } else if (kind === 'host-down' || kind === 'host-down-lagging') await lab.replug('db1');
    else lab.resume('db1');
    if (kind === 'host-down-lagging') for (const n of lab.nodes.slice(1)) await lab.sql(n, lab.flavor === 'mysql' ? 'START REPLICA' : 'START SLAVE');
    await replicasBack(lab);
  }
}

interface FalseRun { failoverVerdicts: number; verdicts: string[] }

async function partitionRun(lab: NetLab, cluster: ClusterConfig, holdMs: number): Promise<FalseRun> {
  const { mon, events } = await healthyMonitor(cluster);
  const mark = events.length;
  try {
    await lab.isolateFromManager('db1');
    await sleep(holdMs);
  } finally {
    await lab.heal('db1');
  }
  await sleep(3000); // verdicts right after healing count too
  await mon.stop();
  const seen = events.slice(mark);
  return { failoverVerdicts: seen.filter((e) => e.failoverAllowed).length, verdicts: seen.map((e) => e.verdict) };
}

async function overloadRun(lab: NetLab, cluster: ClusterConfig, holdMs: number): Promise<{ ping: FalseRun; connect: FalseRun; filled: number }> {
  const a = await healthyMonitor(cluster);
  const b = await healthyMonitor({ ...cluster, detection: { ...cluster.detection, ping_type: 'connect' } });
  const ma = a.events.length;
  const mb = b.events.length;
  const master = lab.nodes[0]!;
  const [row] = await lab.sql(master, 'SELECT @@max_connections AS m');
  const original = Number(row.m);
  const held: Conn[] = [];
  let filled = 0;
  const open = (user: string, password: string) =>
    Conn.open({ name: `${user}@db1`, host: master.host, port: master.port, user, password, connectTimeoutMs: 3000, queryTimeoutMs: 10000 });
  try {
    await lab.sql(master, 'SET GLOBAL max_connections = 12');
    for (let i = 0; i < 40; i++) {
      try { held.push(await open('bench_filler', 'bench-filler-pw')); } catch (e: any) {
        if (e.errno !== 1040) throw e;
        break;
      }
    }
    for (let i = 0; i < 3; i++) {
      try { held.push(await open('bench_holder', 'bench-holder-pw')); } catch (e: any) {
        if (e.errno !== 1040) throw e;
        break;
      }
    }
    await sleep(holdMs);
  } finally {
    filled = held.length;
    for (const c of held.splice(0)) c.destroy();
    await sleep(200);
    await lab.sql(master, `SET GLOBAL max_connections = ${original}`);
  }
  await sleep(3000);
  await a.mon.stop();
  await b.mon.stop();
  const sa = a.events.slice(ma);
  const sb = b.events.slice(mb);
  return {
    ping: { failoverVerdicts: sa.filter((e) => e.failoverAllowed).length, verdicts: sa.map((e) => e.verdict) },
    connect: { failoverVerdicts: sb.filter((e) => e.failoverAllowed).length, verdicts: sb.map((e) => e.verdict) },
    filled,
  };
}

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  const falseRuns = envInt('HEIR_BENCH_FALSE_RUNS', 3);
  const holdMs = envInt('HEIR_BENCH_HOLD_MS', 20000);
  progress(B, 'starting a 3-host MySQL network-namespace lab');
  // Stock server settings: replication net timeout 60 s, heartbeat period 30 s.
  const lab = await startNetLab({ flavor: 'mysql', hosts: 3, name: 'bench-detection' });
  try {
    const admin = lab.flavor === 'mysql' ? 'CONNECTION_ADMIN' : 'CONNECTION ADMIN';
    for (const s of [
      "CREATE USER 'bench_filler'@'%' IDENTIFIED BY 'bench-filler-pw'",
      "CREATE USER 'bench_holder'@'%' IDENTIFIED BY 'bench-holder-pw'",
      `GRANT SELECT, ${admin} ON *.* TO 'bench_holder'@'%'`,
    ]) await lab.sql(lab.nodes[0]!, s);
    const cluster = lab.clusterConfig();
    const faults: Record<string, unknown> = {};
    let falseDuringWarmup = 0;
    for (const kind of ['kill', 'host-down', 'host-down-lagging', 'hang'] as FaultKind[]) {
      const ms: number[] = [];
      const verdicts: string[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await faultRun(lab, cluster, kind);
        falseDuringWarmup += r.falseBefore;
        ms.push(r.ms);
        verdicts.push(r.verdict);
        progress(B, `${kind} run ${i + 1}/${runs}: ${r.verdict} after ${r.ms} ms`);
      }
      faults[kind] = { expected: EXPECTED[kind], verdicts: tally(verdicts), wrongVerdicts: verdicts.filter((v) => v !== EXPECTED[kind]).length, ms: stats(ms) };
    }
    const partition: FalseRun[] = [];
    for (let i = 0; i < falseRuns; i++) {
      const r = await partitionRun(lab, cluster, holdMs);
      partition.push(r);
      progress(B, `partition run ${i + 1}/${falseRuns}: ${r.failoverVerdicts} verdict(s) allowing failover; seen ${r.verdicts.join(', ') || 'none'}`);
    }
    const overload: { ping: FalseRun; connect: FalseRun; filled: number }[] = [];
    for (let i = 0; i < falseRuns; i++) {
      const r = await overloadRun(lab, cluster, holdMs);
      overload.push(r);
      progress(B, `overload run ${i + 1}/${falseRuns}: ${r.filled} connections held; ping ${r.ping.failoverVerdicts}, connect ${r.connect.failoverVerdicts} verdict(s) allowing failover; seen ${[...r.ping.verdicts, ...r.connect.verdicts].join(', ') || 'none'}`);
    }
    emit({
      bench: B,
      flavor: lab.flavor,
      version: lab.version,
      nodes: lab.nodes.length,
      servers: describeSettings(lab.flavor, {}),
      settings: {
        secondary_checks: cluster.detection.secondary_checks,
        interval_ms: cluster.detection.interval_ms,
        ping_timeout_ms: cluster.detection.ping_timeout_ms,
        ping_type: cluster.detection.ping_type,
        min_sources: cluster.detection.min_sources,
        ssh_check: cluster.detection.ssh_check,
        suspect_timeout_ms: cluster.detection.suspect_timeout_ms,
      },
      runsPerFault: runs,
      faults,
      falseVerdicts: {
        holdMs,
        partition: { runs: falseRuns, failoverVerdicts: partition.reduce((a, r) => a + r.failoverVerdicts, 0), verdictsSeen: tally(partition.flatMap((r) => r.verdicts)) },
        overload: {
          runs: falseRuns,
          monitors: `ping_type ${cluster.detection.ping_type} (the default) and connect, side by side`,
          failoverVerdicts: overload.reduce((a, r) => a + r.ping.failoverVerdicts + r.connect.failoverVerdicts, 0),
          verdictsSeen: { ping: tally(overload.flatMap((r) => r.ping.verdicts)), connect: tally(overload.flatMap((r) => r.connect.verdicts)) },
        },
        duringWarmup: falseDuringWarmup,
      },
    });
  } finally {
    await lab.teardown();
  }
}

runMain(B, main);
