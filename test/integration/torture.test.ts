/**
 * Six seeded torture runs (test/sandbox/torture.ts; the full randomized set is
 * `npm run bench -- torture`). The seeds cover both flavors and the fault classes: kill -9
 * (MySQL), host down with semi-sync (MariaDB), a manager-only partition with semi-sync
 * (MariaDB), a 14.2 s SIGSTOP that is failed over, its mysqld killed by the fence before the promotion (MySQL), and heir's
 * daemon killed as its failover starts the repoint and restarted: it finishes the failover
 * by itself, without `heir ack` (MySQL, semi-sync, a lagging replica); max_connections exhausted on the
 * master for 18 s, its extra CONNECTION_ADMIN slot included, with a lagging replica (MySQL): no failover. Servers at their stock settings;
 * 1–3 writers commit multi-row transactions through the floating address. Each run must
 * end with the cluster invariant, no acknowledged commit lost beyond what the report
 * declared, no write taken by the old master after the new one took writes, and no
 * failover on the partition.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { drawRun, runTorture } from '../sandbox/torture';

const SEEDS = [7, 2, 5, 15, 24, 14];

describe('torture: seeded fault runs through the floating address', () => {
  for (const seed of SEEDS) {
    const d = drawRun(seed);
    it(`seed ${seed}: ${d.flavor} ${d.fault}${d.durationMs ? ` ${d.durationMs} ms` : ''}, semi-sync ${d.semiSync ? 'on' : 'off'}, lag ${d.lag ? `${d.lag.node} ${d.lag.spanMs} ms` : 'none'}, ${d.writers} writer(s) × ${d.rowsPerTx} row(s)`, async () => {
      const r = await runTorture(d);
      const why = JSON.stringify({ problems: r.problems, invariant: r.invariant, outcome: r.outcome, lost: r.lost, declared: r.declaredLost }, null, 1);
      assert.deepEqual(r.invariant, [], why);
      assert.deepEqual(r.problems, [], why);
      assert.ok(r.acknowledged > 0, 'the writers committed');
      assert.equal(r.splitBrainWrites, 0, why);
      if (d.fault === 'partition' || d.fault === 'overload') assert.equal(r.failovers, 0, why);
      if (d.fault === 'kill' || d.fault === 'host-down' || d.fault === 'daemon-crash') assert.match(String(r.outcome), /^promoted/, why);
      // No fault may show two writable nodes at all: a SIGSTOPped master that is failed over
      // is killed before the promotion (failover.kill_unresponsive_master, on by default).
      assert.equal(r.twoWritableS, 0, why);
      if (d.fault === 'hang' && String(r.outcome).startsWith('promoted')) assert.ok(r.oldMasterKilled, `the hung master was not killed by the fence: ${why}`);
    });
  }
});
