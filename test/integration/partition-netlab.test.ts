/**
 * A manager-only partition of a busy master must never become a failover.
 *
 * The whole installation runs as an operator would run it (test/sandbox): three hosts in
 * network namespaces, the ECS API emulator holding the ENI with the floating address,
 * heir's daemon with its default detection settings, and an application committing one
 * row every 50 ms through the floating address (and a bursty variant: 20 commits back to
 * back, then 1.5 s of quiet). Then the master's own address stops answering the manager
 * (pings, TCP probes, ssh) for longer than suspect_timeout_ms, while the replicas and the
 * application still reach it. heir must report UnreachableMaster and do nothing: no
 * failover, no fence, no address move, no acknowledged row lost; afterwards the cluster
 * invariant holds with the old master still the master.
 *
 * Server settings are the servers' defaults (stock replication timeouts; MySQL's
 * performance_schema at its default ON, and OFF where a case says so; MariaDB's default is
 * OFF), except one case per flavor that sets a 1 s heartbeat (net timeout 5 s) on purpose:
 * with MySQL and performance_schema off, and the cluster idle before the writes began, that
 * is the setting under which heir once took the replicas' last heartbeat for "last heard"
 * and failed over a live master.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, type PartitionResult } from '../sandbox/scenario';
import { Narrator, lineTime } from '../sandbox/narrator';
import type { LabSettings } from '../lab';

/** suspect_timeout_ms (default 10 s) and a margin. */
const PARTITION_MS = 14_000;

let bursty = false;
/** Steady: 50 ms between commits. Bursty: 20 back to back, then 1.5 s of quiet. */
const pause = (acked: number) => (bursty ? (acked % 20 === 19 ? 1500 : 0) : 50);

interface Case {
  flavor: 'mysql' | 'mariadb';
  settings?: LabSettings;
  what: string;
  /** Idle before the writer starts, so that the replicas' last heartbeat predates the writes. */
  idleMs?: number;
  bursty?: boolean;
}

const CASES: Case[] = [
  { flavor: 'mysql', what: 'stock settings, performance_schema ON (default)' },
  { flavor: 'mysql', settings: { performanceSchema: false }, what: 'stock settings, performance_schema OFF' },
  {
    flavor: 'mysql',
    settings: { performanceSchema: false, shortTimeouts: true },
    what: 'performance_schema OFF, 1 s heartbeat set on purpose, idle before the writes',
    idleMs: 3000,
    bursty: true,
  },
  { flavor: 'mariadb', what: 'stock settings (performance_schema OFF, its default)', bursty: true },
  { flavor: 'mariadb', settings: { shortTimeouts: true }, what: '1 s heartbeat set on purpose, idle before the writes', idleMs: 3000 },
];

/** The invariant with db1 still the master and the address on it, every acknowledged row everywhere. */
function invariantWithDb1(sb: Sandbox): Promise<void> {
  return sb.assertInvariant('db1');
}

function explain(r: PartitionResult): string {
  return `${r.flavor} ${r.version} (${r.settings}); verdicts: ${r.verdicts.map((v) => `+${v.atMs} ms ${v.to}${v.failoverAllowed ? ' (FAILOVER ALLOWED)' : ''} [${v.rule}: ${v.reason}]`).join(' | ') || 'none'}`;
}

for (const c of CASES) {
  describe(`manager-only partition of a busy master, ${c.flavor}: ${c.what}`, () => {
    let sb: Sandbox;

    before(async () => {
      bursty = false;
      sb = new Sandbox({
        flavor: c.flavor,
        mode: 'kill',
        engine: 'daemon',
        narrator: new Narrator({ quiet: true }),
        settings: c.settings,
        writerPauseMs: pause,
        idleBeforeWriterMs: c.idleMs,
      });
      await sb.up();
    });

    after(async () => {
      await sb?.down();
    });

    const run = async (label: string) => {
      const r = await sb.partition(PARTITION_MS);
      const why = explain(r);
      assert.deepEqual(r.problems, [], `${label}: ${why}`);
      assert.equal(r.failovers, 0, `${label}: no failover: ${why}`);
      assert.equal(r.addressMoved, false, `${label}: the address stays: ${why}`);
      assert.deepEqual(r.verdicts.filter((v) => v.failoverAllowed), [], `${label}: no verdict allows failover: ${why}`);
      assert.ok(r.verdicts.some((v) => v.to === 'UnreachableMaster'), `${label}: the partition is reported as UnreachableMaster: ${why}`);
      assert.ok(r.acknowledgedDuring > 0, `${label}: the application kept writing during the partition`);
      await invariantWithDb1(sb);
    };

    test(`steady writes (one row every 50 ms), partition of ${PARTITION_MS / 1000} s: no failover, no fence, nothing lost`, async () => {
      bursty = false;
      await run('steady');
    });

    if (c.bursty) {
      test('bursty writes (20 rows at once, then 1.5 s quiet): no failover, no fence, nothing lost', async () => {
        bursty = true;
        await run('bursty');
      });
    }
  });
}

/**
 * Defence in depth: the executor itself must notice a live master. While the manager alone
 * is cut off from a busy master, an operator runs `heir failover` (the master does not
 * answer heir, so it is not refused as alive). After freezing the IO threads the executor
 * sees that the survivors kept receiving from the master after its first read: it must
 * stop before the promotion (outcome master-alive, exit 1), restart replication and give
 * the address back to the old master. Stock settings, performance_schema OFF.
 */
describe('heir failover during a manager-only partition of a busy master (mysql, stock settings, performance_schema OFF)', () => {
  let sb: Sandbox;

  before(async () => {
    bursty = false;
    sb = new Sandbox({ flavor: 'mysql', mode: 'kill', engine: 'daemon', narrator: new Narrator({ quiet: true }), settings: { performanceSchema: false }, writerPauseMs: 50 });
    await sb.up();
  });

  after(async () => {
    await sb?.down();
  });

  test('the executor sees the survivors still receiving: master-alive, nothing promoted, the address back on the old master, nothing lost', async () => {
    const master = sb.lab.nodes[0]!;
    const cut = Date.now();
    await sb.lab.isolateFromManager(master);
    let r: { code: number; stdout: string; stderr: string };
    try {
      await sb.waitLog((l) => l.event === 'verdict' && l.to === 'UnreachableMaster' && lineTime(l) >= cut - 1000, 30_000, 'UnreachableMaster');
      r = await sb.runHeir(['--json', 'failover', '--cluster', 'sandbox']);
    } finally {
      await sb.lab.heal(master);
    }
    const report = JSON.parse(r.stdout);
    assert.equal(report.outcome, 'master-alive', `outcome (${report.summary}); stderr: ${r.stderr.slice(-2000)}`);
    assert.equal(r.code, 1, 'exit code 1 (failed, nothing promoted)');
    assert.equal(report.newMaster, null);
    assert.ok(!report.steps.some((s: any) => s.name === 'promote'), 'no promote step');
    assert.match(report.summary, /kept receiving from the master/);
    assert.ok(report.undone.some((u: string) => /address is back on db1/.test(u)), `the address went back: ${JSON.stringify(report.undone)}`);
    await invariantWithDb1(sb);
  });
});
