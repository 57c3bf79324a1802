/**
 * A failover run from the CLI while the daemon watches the dead master (here the daemon
 * has failover.auto: false, as an operator who fails over by hand would set it). The
 * daemon then sees a second writable node that replicates from no one; it used to take it
 * for a returning old master and fence it, leaving the cluster with no writable node. It
 * must follow it instead: the journal of the finished failover says it was promoted.
 * Sandbox: 3 MySQL 9.7 namespace hosts at stock settings, the ECS API emulator, a writer
 * through the floating address.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { assertInvariant } from '../support/invariant';
import { Narrator, lineTime } from '../sandbox/narrator';
import { Sandbox } from '../sandbox/scenario';
import { APP } from '../sandbox/writer';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('heir failover from the CLI next to a running daemon', () => {
  it('the daemon follows the master the CLI promoted and does not fence it', async () => {
    const sb = new Sandbox({ flavor: 'mysql', mode: 'kill', engine: 'daemon', narrator: new Narrator({ quiet: true }), auto: false });
    try {
      await sb.up();
      const lab = sb.lab;
      const oldId = lab.nodes[0]!.serverId;
      const t0 = Date.now();
      await sb.fault();
      const faultPerf = performance.now();
      await sb.waitLog((l) => /automatic failover is off|not acted on|auto: false|failover\.auto/.test(String(l.msg ?? '')) && lineTime(l) >= t0, 30_000, 'the daemon did not report the dead master');
      const fo = await sb.runHeir(['failover', '--cluster', 'sandbox']);
      assert.equal(fo.code, 0, fo.stdout + fo.stderr);
      await sb.waitLog((l) => /changed outside this daemon: db1 → db2/.test(String(l.msg ?? '')), 30_000, 'the daemon did not follow db2');
      // A few more of the daemon's refreshes: db2 must stay writable and take the writes.
      const until = performance.now() + 5000;
      while (performance.now() < until) {
        const [r] = await lab.sql('db2', 'SELECT @@global.read_only AS ro');
        assert.equal(Number(r.ro), 0, 'db2 is writable');
        await sleep(250);
      }
      assert.ok(sb.writer.acks.some((a) => a.at > faultPerf && a.serverId !== oldId), 'the writer commits on db2 through the address');
      await sb.writer.stop();
      await assertInvariant({
        lab,
        master: 'db2',
        absent: ['db1'],
        table: APP.table,
        acked: sb.writer.ackedIds(),
        maxAttemptedId: sb.writer.maxAttemptedId(),
        addressHolders: () => lab.floatingHolders(),
      });
      assert.ok(!sb.log.some((l) => l.event === 'master.fenced' && l.node === 'db2'), 'db2 was never fenced');
    } finally {
      await sb.down();
    }
  });
});
