/**
 * The HaVip mover's API paths against the emulator's VPC actions, driven by the real VPC SDK:
 * the fence of an old master whose host does not answer SSH (UnassociateHaVip with Force, the
 * master included), STONITH when that fails, the documented errors, and the preflight's
 * vSwitch and association checks. No hosts: SSH targets refuse at once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig, CloudSettings } from '../../src/config/schema';
import { HaVipMover } from '../../src/eni/havip-mover';
import { VpcApi } from '../../src/eni/vpc-api';
import { EcsApi } from '../../src/eni/ecs-api';
import { onCloudCall } from '../../src/eni/observe';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../ecs-emulator/fixture';

let emu: EcsEmulator;
let restore: () => void = () => {};

before(async () => {
  emu = await startEcsEmulator({
    state: labRegion(),
    havip: {
      havips: [{ id: 'havip-db', ipAddress: '10.77.0.200', vpc: 'vpc-lab', vswitch: 'vsw-lab-h', status: 'InUse', associated: ['i-db1', 'i-db2'], associatedType: 'EcsInstance', master: 'i-db1' }],
      associateMs: 200,
      unassociateMs: 200,
    },
  });
  restore = useCredentials(emu, 'env');
});
after(async () => {
  restore();
  await emu.close();
});

function cluster(o: { stonith?: boolean; nodes?: { name: string; instance_id: string }[] } = {}): ClusterConfig {
  return ClusterConfig.parse({
    name: 'vip',
    mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
    // Port 1 on loopback: SSH refuses at once, as for a host whose sshd is gone.
    ssh: { port: 1, known_hosts: '/dev/null', connect_timeout_ms: 500 },
    nodes: (o.nodes ?? [{ name: 'db1', instance_id: 'i-db1' }, { name: 'db2', instance_id: 'i-db2' }, { name: 'db3', instance_id: 'i-db3' }]).map((n) => ({ ...n, host: '127.0.0.1' })),
    failover: { stonith: o.stonith ?? false },
    address: { type: 'havip', havip_id: 'havip-db', floating_ip: '10.77.0.200', verify: false },
  });
}

const cloud = () => CloudSettings.parse({ ...cloudFor(emu), vpc_endpoint: emu.endpoint, operation_timeout_s: 15 });

test('DescribeHaVips through the VPC SDK: the emulator answers version 2016-04-28 with the same signing', async () => {
  const { havip, requestId } = await new VpcApi(cloud()).describeHaVip('havip-db');
  assert.ok(requestId);
  assert.deepEqual(havip?.associated, ['i-db1', 'i-db2']);
  assert.equal(havip?.masterInstanceId, 'i-db1');
  assert.equal(havip?.vSwitchId, 'vsw-lab-h');
  assert.equal((await new VpcApi(cloud()).describeHaVip('havip-nope')).havip, undefined);
  const q = emu.requests.at(-1)!;
  assert.equal(q.params['Filter.1.Key'], 'HaVipId');
  assert.equal(q.params['Filter.1.Value.1'], 'havip-nope');
});

test('documented errors: the master needs Force; an unassociated instance is ResourceNotAssociated', async () => {
  const e = emu.havip!;
  assert.throws(() => e.unassociate('havip-db', 'i-db1', 'EcsInstance', false), /Force is True/);
  assert.throws(() => e.unassociate('havip-db', 'i-db3', 'EcsInstance', true), (err: Error & { code?: string }) => err.code === 'ResourceNotAssociated');
  assert.throws(() => e.associate('havip-db', 'i-otherzone', 'EcsInstance'), /same vSwitch/);
});

test('preflight: a node not associated is a warning; a node in another vSwitch is an error; no SSH is an error', async () => {
  const c = cluster({ nodes: [{ name: 'db1', instance_id: 'i-db1' }, { name: 'db2', instance_id: 'i-db2' }, { name: 'dbz', instance_id: 'i-otherzone' }] });
  const rs = await new HaVipMover(c, cloud()).preflight(c);
  const by = (k: string) => rs.find((r) => r.check === k);
  assert.equal(by('havip-exists')?.ok, true, JSON.stringify(rs));
  assert.equal(by('havip-address')?.ok, true);
  assert.equal(by('same-vswitch:db2')?.ok, true);
  assert.equal(by('same-vswitch:dbz')?.ok, false);
  assert.match(by('same-vswitch:dbz')!.detail, /vsw-lab-k.*vsw-lab-h/);
  assert.equal(by('havip-associations')?.severity, 'warning');
  assert.match(by('havip-associations')!.detail, /dbz \(i-otherzone\)/);
  assert.equal(by('announce:db1')?.ok, false);
});

test('fence without SSH: UnassociateHaVip with Force for the old master; the VPC stops delivering to it', async () => {
  const c = cluster();
  const [db1, db2] = c.nodes;
  const out = await new HaVipMover(c, cloud()).fence({ cluster: c, oldMaster: db1, newMaster: db2, reason: 'failover', oldMasterSshReachable: false });
  assert.equal(out.ok, true, out.detail);
  assert.equal(out.action, 'unassociated');
  assert.deepEqual(emu.havip!.havips.get('havip-db')!.associated, ['i-db2']);
  const call = emu.requests.find((q) => q.action === 'UnassociateHaVip')!;
  assert.equal(call.params.Force, 'true');
  assert.equal(call.params.InstanceId, 'i-db1');
  // Again: nothing left to do.
  const again = await new HaVipMover(c, cloud()).fence({ cluster: c, oldMaster: db1, newMaster: db2, reason: 'failover', oldMasterSshReachable: false });
  assert.equal(again.action, 'already-unassociated', again.detail);
});

test('UnassociateHaVip refused: with stonith the old instance is force-stopped; without, the fence fails naming the code', async () => {
  const c = cluster({ stonith: false });
  const [, db2, db3] = c.nodes;
  emu.havip!.associate('havip-db', 'i-db3', 'EcsInstance');
  await emu.waitFor(() => emu.havip!.havips.get('havip-db')!.associated.includes('i-db3'), 5000);
  emu.inject({ kind: 'error', code: 'InvalidParameter', actions: ['UnassociateHaVip'], count: 1 });
  const failed = await new HaVipMover(c, cloud()).fence({ cluster: c, oldMaster: db3, newMaster: db2, reason: 'failover', oldMasterSshReachable: false });
  assert.equal(failed.ok, false);
  assert.equal(failed.code, 'InvalidParameter');
  assert.match(failed.detail, /UnassociateHaVip failed: HTTP 400 InvalidParameter/);

  const s = cluster({ stonith: true });
  emu.inject({ kind: 'error', code: 'InvalidParameter', actions: ['UnassociateHaVip'], count: 1 });
  const stopped = await new HaVipMover(s, cloud()).fence({ cluster: s, oldMaster: s.nodes[2], newMaster: s.nodes[1], reason: 'failover', oldMasterSshReachable: false });
  assert.equal(stopped.ok, true, stopped.detail);
  assert.equal(stopped.action, 'force-stopped');
  assert.equal(emu.state.instance('i-db3').status, 'Stopped');
  assert.ok(emu.requests.some((q) => q.action === 'StopInstance' && q.params.ForceStop === 'true'));
});

test('status: the holder is the MasterInstanceId the VPC reports', async () => {
  emu.havip!.announce('havip-db', 'i-db2');
  const c = cluster();
  const st = await new HaVipMover(c, cloud()).status({ cluster: c, reason: 'manual' });
  assert.equal(st.holder, 'db2', st.detail);
  assert.equal(st.settled, true);
});

test('the VPC adapter shares the process\'s credential chain and client with the ECS adapter: fetched once, calls counted in the metrics', async () => {
  const sts = await startEcsEmulator({
    state: labRegion(),
    havip: { havips: [{ id: 'havip-db', ipAddress: '10.77.0.200', vpc: 'vpc-lab', vswitch: 'vsw-lab-h', status: 'InUse', associated: ['i-db1'], associatedType: 'EcsInstance', master: 'i-db1' }] },
  });
  const back = useCredentials(sts, 'uri');
  const seen: string[] = [];
  const stop = onCloudCall((action, outcome) => seen.push(`${action}:${outcome}`));
  try {
    const c = CloudSettings.parse({ ...cloudFor(sts), vpc_endpoint: sts.endpoint });
    assert.ok((await new VpcApi(c).describeHaVip('havip-db')).havip);
    assert.ok((await new VpcApi(c).describeHaVip('havip-db')).havip);
    await new EcsApi(c).describeEnis(['eni-floating']);
    assert.equal(sts.credentialFetches, 1, 'two VPC adapters and an ECS adapter walk the credential chain once');
    assert.deepEqual(seen, ['DescribeHaVips:success', 'DescribeHaVips:success', 'DescribeNetworkInterfaces:success']);
  } finally {
    stop();
    back();
    restore = useCredentials(emu, 'env');
    await sts.close();
  }
});
