/**
 * The master's host goes down, with the servers at their stock settings (replication net
 * timeout 60 s, heartbeat period 30 s: the replicas' IO threads notice nothing for a minute)
 * and heir's default detection settings. heir must not wait for the replicas: the other
 * nodes' hosts probe the master over SSH (detection.secondary_checks: all, the default), and
 * together with the manager's own view that confirms the host is gone.
 *
 * The whole installation (test/sandbox): three namespace hosts, the ECS API emulator holding
 * the ENI, heir's daemon, an application committing a row every 50 ms through the floating
 * address. Each case ends with the cluster invariant (the old master left out: its host is
 * down). Cases: MySQL 9.7 and MariaDB 10.11 with replicas replicating; and with the replicas'
 * IO threads stopped before the host goes down (lagging replicas, where heir once never
 * failed over): rows the master acknowledged after that are lost with the host, and the
 * report says so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox, type SandboxResult } from '../sandbox/scenario';
import { Narrator } from '../sandbox/narrator';
import { APP } from '../sandbox/writer';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A replica's ids once its SQL thread has applied everything it received (two equal reads). */
async function settledIds(sb: Sandbox, node: string): Promise<Set<number>> {
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const rows = await sb.lab.sql(node, `SELECT id FROM ${APP.table}`);
    if (rows.length === last) return new Set(rows.map((r) => Number(r.id)));
    last = rows.length;
    await sleep(200);
  }
  throw new Error(`${node}: its SQL thread never settled after the IO thread stopped`);
}

for (const flavor of ['mysql', 'mariadb'] as const) {
  for (const lagging of [false, true]) {
    describe(`host down, ${flavor}, stock server settings${lagging ? ', replicas\' IO threads stopped' : ''}`, () => {
      let sb: Sandbox;
      before(async () => {
        sb = new Sandbox({ flavor, mode: 'host-down', engine: 'daemon', narrator: new Narrator({ quiet: true }), writerPauseMs: 50, timeoutS: 60 });
        await sb.up();
      });
      after(async () => {
        await sb?.down();
      });

      test(`failover to a replica, the address moved, the invariant holds${lagging ? '; the rows only the dead host had are reported' : ''}`, async () => {
        // The ids some replica holds once the IO threads are stopped and each SQL thread has
        // applied what it received (read from the replicas: the moment of the stop, seen from
        // the writer, races with rows in flight).
        let heldByReplicas: Set<number> | undefined;
        if (lagging) {
          const stop = flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD';
          for (const n of sb.lab.nodes.slice(1)) await sb.lab.sql(n, stop);
          await sleep(1500); // the master takes rows the replicas never receive
          heldByReplicas = new Set();
          for (const n of sb.lab.nodes.slice(1)) for (const id of await settledIds(sb, n.name)) heldByReplicas.add(id);
        }
        await sb.fault();
        const r: SandboxResult = await sb.observe();
        const why = `${r.failoverOutcome}; verdict ${r.verdict} after ${r.faultToVerdictMs} ms; problems: ${r.problems.join('; ')}`;
        assert.ok(r.failoverOutcome === 'promoted', `promoted: ${why}`);
        assert.ok(r.newMaster && r.newMaster !== 'db1', `a new master: ${why}`);
        assert.equal(r.verdict, 'DeadMasterHost', why);
        assert.equal(r.eni.attachedTo, r.newMaster, 'the ENI is on the new master');
        const acked = sb.writer.ackedIds();
        // What the old master acknowledged after the replicas stopped receiving is gone with
        // its host (no salvage without SSH): exactly those rows, and no other.
        const oldId = sb.lab.nodes[0]!.serverId;
        const onlyOnOld = heldByReplicas ? sb.writer.acks.filter((a) => a.serverId === oldId && !heldByReplicas!.has(a.id)).map((a) => a.id) : [];
        if (lagging) assert.ok(onlyOnOld.length > 0, 'the master acknowledged rows after the replicas stopped receiving');
        assert.equal(r.lost, onlyOnOld.length, `acknowledged rows lost: exactly those only the dead host had: ${why}`);
        const lostIds = new Set(onlyOnOld);
        await sb.assertInvariant(r.newMaster!, { absent: ['db1'], acked: acked.filter((id) => !lostIds.has(id)) });
      });
    });
  }
}
