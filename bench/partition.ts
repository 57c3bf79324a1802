/**
 * False verdicts with a busy master: the manager alone cut off from the master while an
 * application keeps writing through the floating address.
 *
 *   node dist/bench/partition.js
 *   env: HEIR_BENCH_RUNS (partitions per case, default 10), HEIR_BENCH_HOLD_MS (how long each
 *        lasts, default 14000: suspect_timeout_ms 10 s and a margin)
 *
 * The sandbox's installation (test/sandbox): three namespace hosts, the ECS API emulator
 * holding the ENI, heir's daemon with its default detection settings, a writer committing
 * one row every 50 ms through the floating address. Each run cuts the master's own address
 * off from the manager (the replicas and the writer still reach it), heals, and waits for
 * Healthy. Counted: verdicts allowing failover, failovers started, address moves, and
 * acknowledged rows missing on the master. Cases: MySQL 9.7 with performance_schema ON and
 * OFF at stock settings; MySQL with performance_schema OFF and a 1 s heartbeat, the cluster
 * idle before the writes (the setting under which heir once failed over a live master);
 * MariaDB 10.11 at stock settings.
 */
import { Sandbox } from '../test/sandbox/scenario';
import { Narrator } from '../test/sandbox/narrator';
import type { LabSettings } from '../test/lab';
import { emit, envInt, progress, runMain, tally } from './lib';

const B = 'partition';

interface Case {
  name: string;
  flavor: 'mysql' | 'mariadb';
  settings?: LabSettings;
  idleMs?: number;
}

const CASES: Case[] = [
  { name: 'mysql-ps-on-stock', flavor: 'mysql' },
  { name: 'mysql-ps-off-stock', flavor: 'mysql', settings: { performanceSchema: false } },
  { name: 'mysql-ps-off-heartbeat-1s', flavor: 'mysql', settings: { performanceSchema: false, shortTimeouts: true }, idleMs: 3000 },
  { name: 'mariadb-stock', flavor: 'mariadb' },
];

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  const holdMs = envInt('HEIR_BENCH_HOLD_MS', 14000);
  const results: unknown[] = [];
  for (const c of CASES) {
    const sb = new Sandbox({ flavor: c.flavor, mode: 'kill', engine: 'daemon', narrator: new Narrator({ quiet: true }), settings: c.settings, writerPauseMs: 50, idleBeforeWriterMs: c.idleMs });
    progress(B, `${c.name}: starting the sandbox`);
    await sb.up();
    try {
      let failoverVerdicts = 0;
      let failovers = 0;
      let addressMoves = 0;
      let lost = 0;
      let acked = 0;
      let settings = '';
      let version = '';
      const seen: string[] = [];
      const problems: string[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await sb.partition(holdMs);
        settings = r.settings;
        version = r.version;
        failoverVerdicts += r.verdicts.filter((v) => v.failoverAllowed).length;
        failovers += r.failovers;
        addressMoves += r.addressMoved ? 1 : 0;
        lost += r.lost ?? 0;
        acked += r.acknowledgedDuring;
        seen.push(...r.verdicts.map((v) => v.to));
        problems.push(...r.problems.map((p) => `run ${i + 1}: ${p}`));
        progress(B, `${c.name} run ${i + 1}/${runs}: ${r.verdicts.map((v) => `${v.to}${v.failoverAllowed ? '!' : ''}`).join(', ') || 'no verdict'}; failovers ${r.failovers}; lost ${r.lost}; ${r.acknowledgedDuring} rows acknowledged during the cut`);
        if (r.failovers) break; // the cluster has a new master: later runs would measure something else
      }
      results.push({ case: c.name, flavor: c.flavor, version, settings, runs, holdMs, failoverVerdicts, failovers, addressMoves, lostAcknowledgedRows: lost, acknowledgedDuringPartitions: acked, verdictsSeen: tally(seen), problems });
    } finally {
      await sb.down();
    }
  }
  emit({ bench: B, writerPauseMs: 50, holdMs, runsPerCase: runs, detection: 'defaults (interval 1000 ms, ping_type ping, 1000 ms timeout, min_sources 2, ssh_check on, suspect_timeout 10000 ms)', cases: results });
}

runMain(B, main);
