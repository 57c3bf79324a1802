/**
 * Detection against real hosts of the namespace lab, on MySQL 9.7 and MariaDB 10.11:
 * SIGSTOP of mysqld → HungMaster; manager cut off from the master while replicas still
 * replicate → UnreachableMaster, never a failover; kill -9 of mysqld (host up) →
 * DeadMaster; host unplugged → DeadMasterHost. One lab per flavor; faults one after
 * another with recovery (and Healthy re-checked) in between.
 *
 * Two monitors watch at once: "full" (select pings, SSH host check, secondary checks
 * from both replicas' hosts) and "plain" (connect pings, SSH host check, no secondary
 * checks), so each verdict is reached with and without MHA's secondary check.
 *
 * Varied on purpose: the replication timeouts are tuned short (net timeout 5 s, heartbeat
 * 1 s) and no application writes. This file checks each source's part in each verdict,
 * the replicas' own view included, which with an idle master and the servers' defaults
 * says nothing for a minute (two 30 s heartbeat periods). The same faults at the servers'
 * defaults with an application writing through the address: host-down-netlab,
 * partition-netlab, old-master-netlab.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startNetLab, type NetLab } from '../lab';
import { ClusterMonitor, type VerdictEvent } from '../../src/monitor';
import type { ClusterConfig } from '../../src/config/schema';
import type { VerdictKind } from '../../src/monitor/types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SUSPECT_TIMEOUT_MS = 4000;

class Recorder {
  verdicts: VerdictEvent[] = [];
  constructor(
    readonly name: string,
    readonly mon: ClusterMonitor,
  ) {
    mon.on('verdict', (e) => this.verdicts.push(e));
  }
  mark(): number {
    return this.verdicts.length;
  }
  since(mark: number): VerdictEvent[] {
    return this.verdicts.slice(mark);
  }
  private describe(mark: number): string {
    return this.since(mark).map((x) => `${x.verdict}${x.failoverAllowed ? '!' : ''}(${x.rule}: ${x.reason})`).join(' | ') || 'none';
  }
  async waitFor(pred: (e: VerdictEvent) => boolean, what: string, mark: number, timeoutMs: number): Promise<VerdictEvent> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const e = this.since(mark).find(pred);
      if (e) return e;
      await sleep(100);
    }
    throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; seen: ${this.describe(mark)}; last analysis: ${this.mon.lastVerdict?.kind} (${this.mon.lastVerdict?.reason})`);
  }
  waitVerdict(kind: VerdictKind, mark: number, timeoutMs: number, allowed?: boolean): Promise<VerdictEvent> {
    return this.waitFor((e) => e.verdict === kind && (allowed === undefined || e.failoverAllowed === allowed), `${kind}${allowed ? ' (failover allowed)' : ''}`, mark, timeoutMs);
  }
  /** Wait until the latest analysis (reported or not) satisfies pred: for sources that report after the verdict. */
  async waitLast(pred: (v: NonNullable<ClusterMonitor['lastVerdict']>) => boolean, what: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const v = this.mon.lastVerdict;
      if (v && pred(v)) return;
      await sleep(100);
    }
    const v = this.mon.lastVerdict;
    throw new Error(`${this.name}: ${what} not seen within ${timeoutMs} ms; last analysis ${v?.kind} (${v?.reason}); evidence ${JSON.stringify(v?.evidence)}`);
  }
  async waitHealthy(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.mon.state.state === 'Healthy' && this.mon.lastVerdict?.kind === 'Healthy') return;
      await sleep(100);
    }
    throw new Error(`${this.name}: not Healthy within ${timeoutMs} ms: state ${this.mon.state.state}, last ${this.mon.lastVerdict?.kind} (${this.mon.lastVerdict?.reason})`);
  }
  assertNoFailover(mark: number, what: string): void {
    assert.deepEqual(
      this.since(mark).filter((e) => e.failoverAllowed).map((e) => `${e.verdict}: ${e.reason}`),
      [],
      `${this.name}, ${what}: no verdict may allow failover`,
    );
  }
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  describe(`monitor on the namespace lab (${flavor})`, () => {
    let lab: NetLab;
    let full: Recorder;
    let plain: Recorder;
    const monitors: ClusterMonitor[] = [];
    const both = () => [full, plain];

    const config = (over: Partial<ClusterConfig['detection']>): ClusterConfig => {
      const cfg = lab.clusterConfig();
      return { ...cfg, detection: { ...cfg.detection, suspect_timeout_ms: SUSPECT_TIMEOUT_MS, ...over } };
    };

    /** Replicas connected to the master again (IO and SQL running). */
    const replicasRunning = async (timeoutMs: number) => {
      const end = Date.now() + timeoutMs;
      let last = '';
      while (Date.now() < end) {
        const states = await Promise.all(
          lab.nodes.slice(1).map(async (n) => {
            const [r] = await lab.sql(n, flavor === 'mysql' ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
            return `${r?.Replica_IO_Running ?? r?.Slave_IO_Running}/${r?.Replica_SQL_Running ?? r?.Slave_SQL_Running}`;
          }),
        );
        last = states.join(', ');
        if (states.every((s) => s === 'Yes/Yes')) return;
        await sleep(200);
      }
      throw new Error(`replicas not replicating again within ${timeoutMs} ms: ${last}`);
    };

    const recovered = async () => {
      await replicasRunning(30_000);
      for (const r of both()) await r.waitHealthy(30_000);
    };

    before(async () => {
      lab = await startNetLab({ flavor, settings: { shortTimeouts: true } });
      const fullMon = new ClusterMonitor(config({ ping_type: 'select', ssh_check: true, secondary_checks: ['db2', 'db3'] }));
      const plainMon = new ClusterMonitor(config({ ping_type: 'connect', ssh_check: true, secondary_checks: [] }));
      monitors.push(fullMon, plainMon);
      full = new Recorder('full', fullMon);
      plain = new Recorder('plain', plainMon);
      await fullMon.start();
      await plainMon.start();
      assert.equal(fullMon.master, 'db1');
      await recovered();
      // Let the healthy-time replica read learn the heartbeat periods.
      await sleep(1500);
    });

    after(async () => {
      // Whatever failed, leave the master running for teardown.
      try {
        lab?.resume('db1');
      } catch {
        /* not paused */
      }
      await Promise.all(monitors.map((m) => m.stop()));
      await lab?.teardown();
    });

    test('SIGSTOP of mysqld: HungMaster, failover allowed only after suspect_timeout_ms', async () => {
      const marks = both().map((r) => r.mark());
      lab.pause('db1');
      try {
        for (const [i, r] of both().entries()) {
          const first = await r.waitVerdict('HungMaster', marks[i]!, 20_000);
          assert.equal(first.failoverAllowed, false, `${r.name}: not before the bound: ${first.reason}`);
          const confirmed = await r.waitVerdict('HungMaster', marks[i]!, 20_000, true);
          assert.ok(confirmed.detail.failingForMs >= SUSPECT_TIMEOUT_MS);
          assert.equal(confirmed.rule, 'process-stopped', `${r.name}: ssh saw the stopped process: ${confirmed.reason}`);
          assert.ok(confirmed.confirmedBy.includes('ssh'));
          assert.ok(
            confirmed.evidence.some((e) => e.source === 'ssh' && /state T/.test(e.observation)),
            `${r.name}: evidence shows state T`,
          );
          assert.ok(r.since(marks[i]!).every((e) => e.verdict === 'Suspect' || e.verdict === 'HungMaster'), `${r.name}: nothing but Suspect/HungMaster`);
        }
        await full.waitLast((x) => x.evidence.some((e) => e.source === 'secondary' && e.points === 'hung'), 'secondary checks: TCP accepted, no greeting', 10_000);
      } finally {
        lab.resume('db1');
      }
      await recovered();
    });

    test('manager cut off from the master, replicas still replicating: UnreachableMaster, no failover', async () => {
      const marks = both().map((r) => r.mark());
      await lab.isolateFromManager('db1');
      try {
        for (const [i, r] of both().entries()) {
          const v = await r.waitVerdict('UnreachableMaster', marks[i]!, 20_000);
          assert.equal(v.failoverAllowed, false);
          assert.equal(v.rule, 'manager-cut-off');
          const aliveFrom = new Set(v.evidence.filter((e) => e.points === 'alive' && e.source !== 'manager').map((e) => e.source));
          assert.ok(aliveFrom.size > 0, `${r.name}: someone other than the manager sees the master alive`);
        }
        // Without secondary checks it is the replicas that still hear the master.
        assert.ok(plain.since(marks[1]!).some((e) => e.evidence.some((x) => x.source === 'replicas' && x.points === 'alive')), 'plain: a replica hears the master');
        assert.ok(full.since(marks[0]!).some((e) => e.evidence.some((x) => x.source === 'secondary' && x.points === 'alive')), 'full: secondary checks got the greeting');
        // Stay cut off well past suspect_timeout_ms: still never a failover.
        await sleep(SUSPECT_TIMEOUT_MS + 3000);
        for (const [i, r] of both().entries()) {
          r.assertNoFailover(marks[i]!, 'manager partitioned');
          assert.equal(r.mon.state.state, 'UnreachableMaster');
        }
      } finally {
        await lab.heal('db1');
      }
      await recovered();
    });

    test('kill -9 of mysqld, host up: DeadMaster confirmed by ssh', async () => {
      const marks = both().map((r) => r.mark());
      await lab.kill('db1', 'SIGKILL');
      try {
        for (const [i, r] of both().entries()) {
          const v = await r.waitVerdict('DeadMaster', marks[i]!, 20_000, true);
          assert.ok(v.confirmedBy.includes('manager'));
          // The verdict may come before the SSH check reports (other sources already
          // agreed); the SSH check then agrees too.
          await r.waitLast((x) => x.kind === 'DeadMaster' && x.confirmedBy.includes('ssh'), 'ssh finding mysqld gone', 15_000);
          assert.ok(v.firstFailureAt !== null && v.at >= v.firstFailureAt);
          assert.ok(r.since(marks[i]!).every((e) => e.verdict === 'Suspect' || e.verdict === 'DeadMaster'), `${r.name}: no other verdict on the way`);
        }
      } finally {
        await lab.start('db1');
      }
      await recovered();
    });

    test('host unplugged: DeadMasterHost', async () => {
      const marks = both().map((r) => r.mark());
      await lab.unplug('db1');
      try {
        for (const [i, r] of both().entries()) {
          const v = await r.waitVerdict('DeadMasterHost', marks[i]!, 30_000, true);
          assert.ok(v.confirmedBy.includes('manager'));
          assert.ok(v.confirmedBy.includes('replicas') || v.confirmedBy.includes('secondary'), `${r.name}: confirmed from elsewhere than the manager: ${v.reason}`);
          if (r === full) {
            // Corroboration starts while the first failing ping is still unanswered, not after
            // its timeout: the other hosts are asked by the time it gives up.
            const timeout = r.mon.cluster.detection.ping_timeout_ms;
            const asked = v.evidence.filter((e) => e.source === 'secondary');
            assert.ok(asked.length > 0 && v.firstFailureAt !== null, `${r.name}: evidence from the secondary checks: ${JSON.stringify(v.evidence)}`);
            for (const e of asked) {
              assert.ok(e.at < v.firstFailureAt! + timeout, `${r.name}: ${e.source} ${e.subject} asked ${e.at - v.firstFailureAt!} ms after the failing ping began (its timeout: ${timeout} ms)`);
            }
          }
          // ssh may still be waiting for its connect timeout when the others agree; it agrees later.
          await r.waitLast((x) => x.kind === 'DeadMasterHost' && x.evidence.some((e) => e.source === 'ssh' && e.points === 'host-down'), 'ssh failing to reach the host', 15_000);
        }
        await full.waitLast(
          (x) => x.kind === 'DeadMasterHost' && x.confirmedBy.includes('secondary') && x.evidence.filter((e) => e.source === 'secondary' && e.points === 'host-down').length === 2,
          'both secondary checks failing to reach the port',
          15_000,
        );
      } finally {
        await lab.replug('db1');
      }
      await recovered();
    });
  });
}
