/**
 * The HaVip address type end to end (test/sandbox with address 'havip'): three namespace
 * hosts, the ECS/VPC API emulator holding a HaVip associated with all three instances, heir's
 * daemon, and an application committing through the HaVip's address. The VPC's mapping ("the
 * associated instance that announced the address last") is the lab bridge plus the manager's
 * ARP cache: nothing flushes that cache, so the writer reaches the new master only because
 * heir brought the address up there and announced it by gratuitous ARP.
 *
 *   kill -9 of the master (MySQL 9.7): the writes resume on the new master through the
 *     address; the cluster invariant holds.
 *   switchover (MariaDB 10.11): the application writes through the address again, which is on
 *     the new master only (the pause's length is measured in bench/, not bounded here).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Sandbox } from '../sandbox/scenario';
import { Narrator } from '../sandbox/narrator';

describe('havip: kill -9 of the master, MySQL', () => {
  let sb: Sandbox;
  before(async () => {
    sb = new Sandbox({ flavor: 'mysql', mode: 'kill', engine: 'daemon', address: 'havip', narrator: new Narrator({ quiet: true }), writerPauseMs: 20, timeoutS: 60 });
    await sb.up();
  });
  after(async () => {
    await sb?.down();
  });

  test('the writer follows the address to the new master by ARP alone; the invariant holds', async () => {
    assert.equal(sb.lab.arpHolder(), 'db1', "before the fault the manager's ARP cache sends the address to db1");
    sb.emu.control({ op: 'clearRequests' });
    await sb.fault();
    const r = await sb.observe();
    const why = `${r.failoverOutcome}; verdict ${r.verdict} after ${r.faultToVerdictMs} ms; problems: ${r.problems.join('; ')}`;
    assert.equal(r.failoverOutcome, 'promoted', why);
    assert.ok(r.newMaster && r.newMaster !== 'db1', `a new master: ${why}`);
    assert.ok(r.faultToFirstWriteMs !== null, `a write through the address reached the new master: ${why}`);
    assert.equal(r.lost, 0, why);
    assert.deepEqual(r.problems, []);
    // The move: the address taken down on db1 over SSH (its host is up), brought up and
    // announced on the new master; the HaVip's associations untouched.
    const report = sb.reportsSince(0)[0];
    const steps = (report?.steps ?? []) as { name: string; outcome: string; detail?: string }[];
    const fence = steps.find((s) => s.name === 'fence-address');
    const attach = steps.find((s) => s.name === 'attach');
    assert.match(String(attach?.detail), new RegExp(`up on ${r.newMaster} and announced by ARP; verified`), JSON.stringify(steps));
    assert.match(String(fence?.detail), /taken down on db1 over SSH/, JSON.stringify(steps));
    const actions = sb.emu.requests.map((q) => q.action);
    assert.ok(!actions.includes('AssociateHaVip') && !actions.includes('UnassociateHaVip'), `no association changed: ${actions.join(', ')}`);
    assert.equal(sb.lab.arpHolder(), r.newMaster, "the manager's ARP cache now sends the address to the new master");
    const havip = sb.emu.havip!.havips.get('havip-sandbox')!;
    assert.equal(sb.emu.havip!.masterOf(havip), sb.lab.instanceIdOf(r.newMaster!), 'DescribeHaVips reports the new master as MasterInstanceId');
    await sb.assertInvariant(r.newMaster!, { absent: ['db1'] });
  });
});

describe('havip: switchover, MariaDB', () => {
  let sb: Sandbox;
  before(async () => {
    sb = new Sandbox({ flavor: 'mariadb', mode: 'switchover', engine: 'daemon', address: 'havip', narrator: new Narrator({ quiet: true }), writerPauseMs: 20, timeoutS: 60 });
    await sb.up();
  });
  after(async () => {
    await sb?.down();
  });

  test('the address follows the switchover by ARP; the application writes through it again; the invariant holds', async () => {
    await sb.fault();
    const r = await sb.observe();
    assert.equal(r.newMaster, 'db2', r.problems.join('; '));
    assert.equal(r.lost, 0);
    assert.deepEqual(r.problems, []);
    // The pause's length is a figure for bench/ (switchover-address-havip), not a test's bound.
    assert.ok(r.faultToFirstWriteMs !== null, 'the writer committed through the address on db2');
    process.stdout.write(`# the writer's longest gap through the address: ${r.writerGapMs} ms\n`);
    assert.equal(sb.lab.arpHolder(), 'db2');
    await sb.assertInvariant('db2');
  });
});
