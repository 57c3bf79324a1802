/**
 * The secondary-ip mover with the real SDK against the ECS emulator: the floating
 * address moves between the nodes' primary ENIs (UnassignPrivateIpAddresses,
 * AssignPrivateIpAddresses), through the documented Operation.Conflict and a
 * Describe that lags behind the mutations; the preflight checks the vSwitch.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig, GlobalSettings } from '../../src/config/schema';
import { createMover, type MoveContext } from '../../src/eni';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../ecs-emulator/fixture';

const IP = '10.77.0.150';
let emu: EcsEmulator;
let restore: () => void = () => {};

before(async () => {
  emu = await startEcsEmulator({ state: labRegion() });
});
after(async () => {
  restore();
  await emu.close();
});

function cluster(floatingIp = IP): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c2',
    mysql: { user: 'heir', password: 'pw', replication_user: 'repl', replication_password: 'pw' },
    nodes: [1, 2, 3].map((n) => ({ name: `db${n}`, host: '127.0.0.1', port: 3305 + n, instance_id: `i-db${n}` })),
    address: { type: 'secondary-ip', floating_ip: floatingIp, enis: { db1: 'eni-primary1', db2: 'eni-primary2', db3: 'eni-primary3' }, verify: false },
  });
}

function global(over: Record<string, unknown> = {}): GlobalSettings {
  return GlobalSettings.parse({ cloud: { ...cloudFor(emu), operation_timeout_s: 15, ...over } });
}

function ctx(c: ClusterConfig, from: string, to: string): MoveContext {
  return { cluster: c, reason: 'failover', oldMaster: c.nodes.find((n) => n.name === from)!, newMaster: c.nodes.find((n) => n.name === to)! };
}

/** The address on `eniId` only. */
function place(eniId: string): void {
  emu.clearFaults();
  for (const id of ['eni-primary1', 'eni-primary2', 'eni-primary3']) emu.control({ op: 'setEni', eni: { id, secondaryIps: id === eniId ? [IP] : [] } });
}

function holders(): string[] {
  return [...emu.state.enis.values()].filter((e) => (e.secondaryIps ?? []).includes(IP)).map((e) => e.id);
}

test('Operation.Conflict on unassign and assign is retried (the ENI is busy with another task)', async () => {
  restore = useCredentials(emu, 'env');
  place('eni-primary1');
  const c = cluster();
  const m = createMover(c, global());
  emu.inject({ kind: 'conflict', count: 2, actions: ['UnassignPrivateIpAddresses'] });
  const f = await m.fence(ctx(c, 'db1', 'db2'));
  assert.equal(f.ok, true, f.detail);
  assert.deepEqual(holders(), []);
  emu.inject({ kind: 'conflict', count: 2, actions: ['AssignPrivateIpAddresses'] });
  const a = await m.attach(ctx(c, 'db1', 'db2'));
  assert.equal(a.ok, true, a.detail);
  assert.deepEqual(holders(), ['eni-primary2']);
  assert.equal(emu.requests.filter((r) => r.code === 'Operation.Conflict').length, 4);
});

test('preflight: the address must lie in the CIDR block of the ENIs\' vSwitch, not only in their VPC', async () => {
  restore = useCredentials(emu, 'env');
  place('eni-primary1');
  const good = await createMover(cluster(), global()).preflight(cluster());
  assert.deepEqual(good.filter((r) => !r.ok), [], JSON.stringify(good));
  assert.match(good.find((r) => r.check === 'address-in-vswitch:vsw-lab-h')!.detail, /10\.77\.0\.150 lies in vSwitch vsw-lab-h \(10\.77\.0\.0\/16\)/);
  // same VPC, but an address of the other vSwitch
  const c = cluster('10.78.0.9');
  const bad = await createMover(c, global()).preflight(c);
  assert.equal(bad.find((r) => r.check === 'same-vpc')!.ok, true);
  const v = bad.find((r) => r.check === 'address-in-vswitch:vsw-lab-h')!;
  assert.equal(v.ok, false);
  assert.match(v.detail, /10\.78\.0\.9 is outside vSwitch vsw-lab-h \(10\.77\.0\.0\/16\).*InvalidVSwitchId\.IpInvalid/);
});

test('a Describe lagging 1 s behind the changes: two moves back to back conclude nothing from a stale answer', async () => {
  restore = useCredentials(emu, 'env');
  place('eni-primary1');
  const c = cluster();
  const m = createMover(c, global({ describe_lag_ms: 1200 }));
  await new Promise((r) => setTimeout(r, 1100)); // the set-up above is older than the lag
  emu.control({ op: 'lag', ms: 1000 });
  try {
    assert.equal((await m.fence(ctx(c, 'db1', 'db2'))).ok, true);
    const a1 = await m.attach(ctx(c, 'db1', 'db2'));
    assert.equal(a1.ok, true, a1.detail);
    // straight back: a stale Describe would still show the address on db1 (or on no ENI)
    const f2 = await m.fence(ctx(c, 'db2', 'db1'));
    assert.equal(f2.ok, true, f2.detail);
    assert.equal(f2.action, 'unassigned', f2.detail);
    const a2 = await m.attach(ctx(c, 'db2', 'db1'));
    assert.equal(a2.ok, true, a2.detail);
    assert.equal(a2.action, 'assigned', a2.detail);
    assert.deepEqual(holders(), ['eni-primary1']);
    // no mutation was repeated because of a stale answer
    const all = [...a1.apiCalls, ...f2.apiCalls, ...a2.apiCalls];
    assert.equal(all.filter((x) => x.action === 'AssignPrivateIpAddresses').length, 2);
    assert.equal(all.filter((x) => x.action === 'UnassignPrivateIpAddresses').length, 1);
  } finally {
    emu.clearFaults();
  }
});

test('preflight names a permission the RAM policy lacks (vpc:DescribeVSwitches)', async () => {
  restore = useCredentials(emu, 'env');
  place('eni-primary1');
  emu.control({ op: 'deny', actions: ['DescribeVSwitches'] });
  try {
    const r = await createMover(cluster(), global()).preflight(cluster());
    const v = r.find((x) => x.check === 'vswitch:vsw-lab-h')!;
    assert.equal(v.ok, false);
    assert.match(v.detail, /DescribeVSwitches failed: Forbidden\.SubUser/);
    assert.match(v.detail, /does not grant vpc:DescribeVSwitches/);
    assert.equal(r.find((x) => x.check === 'credentials')!.ok, true);
    assert.ok(r.some((x) => x.check === 'permission:assign-unassign' && x.severity === 'warning'));
  } finally {
    emu.clearFaults();
  }
});
