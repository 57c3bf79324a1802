/**
 * The address really moves: in the namespace lab each node is an ECS host; the
 * emulator's attach/detach hooks bring the floating address up or down in the
 * host's namespace, so a MySQL client using the floating address follows the ENI.
 * Needs root (network namespaces); without it startNetLab fails and so does this test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig, GlobalSettings, type NodeConfig } from '../../src/config/schema';
import { createMover, type MoveContext } from '../../src/eni';
import { connOptions, withConn } from '../../src/mysql/conn';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, REGION, useCredentials } from '../ecs-emulator/fixture';
import { startNetLab, type NetLab } from '../lab';

let lab: NetLab;
let emu: EcsEmulator;
let restore: () => void = () => {};
let cluster: ClusterConfig;
const hookErrors: string[] = [];

before(async () => {
  lab = await startNetLab({ flavor: 'mysql', hosts: 2 });
  const nodeOf = (instanceId: string) => {
    const n = lab.nodes.find((x) => lab.instanceIdOf(x) === instanceId);
    if (!n) throw new Error(`no lab node for instance ${instanceId}`);
    return n;
  };
  const zone = { zone: `${REGION}-h`, vpc: 'vpc-netlab', vswitch: 'vsw-netlab' };
  emu = await startEcsEmulator({
    state: {
      region: REGION,
      delays: { attachMs: 500, detachMs: 500 },
      instances: lab.nodes.map((n) => ({ id: lab.instanceIdOf(n), status: 'Running' as const, ...zone })),
      enis: [{ id: 'eni-netlab', type: 'Secondary', privateIp: lab.floatingIp, status: 'InUse', instanceId: lab.instanceIdOf(lab.nodes[0]!), ...zone }],
    },
    hooks: {
      onAttach: (_eni, instanceId) => lab.addFloating(nodeOf(instanceId)),
      onDetach: (_eni, instanceId) => lab.removeFloating(nodeOf(instanceId)),
      onHookError: (what, err) => void hookErrors.push(`${what}: ${(err as Error).message}`),
    },
  });
  await lab.addFloating(lab.nodes[0]!); // the ENI starts InUse on db1
  restore = useCredentials(emu, 'uri');
  const base = lab.clusterConfig();
  cluster = ClusterConfig.parse({
    ...base,
    nodes: base.nodes.map((n) => ({ ...n, instance_id: lab.instanceIdOf(n.name) })),
    address: { type: 'eni', eni_id: 'eni-netlab', floating_ip: lab.floatingIp, verify: true },
  });
});

after(async () => {
  restore();
  await emu?.close();
  await lab?.teardown();
});

async function serverIdVia(host: string, node: NodeConfig): Promise<string> {
  return withConn(connOptions(cluster, { ...node, host, name: `${node.name} via ${host}` }, { timeoutMs: 2000 }), async (c) => {
    const [r] = await c.query<{ id: unknown }>('SELECT @@server_id AS id');
    return String(r?.id);
  });
}

async function holdsFloating(node: string): Promise<boolean> {
  const r = await lab.exec(node, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.includes(`${lab.floatingIp}/32`);
}

test('a move takes the address off db1 and brings it up on db2; clients follow', async () => {
  const [db1, db2] = cluster.nodes as [NodeConfig, NodeConfig];
  const id1 = await serverIdVia(db1.host, db1);
  const id2 = await serverIdVia(db2.host, db2);
  assert.notEqual(id1, id2);
  assert.equal(await serverIdVia(lab.floatingIp, db1), id1, 'before the move the floating address reaches db1');

  const mover = createMover(cluster, GlobalSettings.parse({ cloud: cloudFor(emu) }), { tuning: { pollMs: 100 } });
  const ctx: MoveContext = { cluster, oldMaster: db1, newMaster: db2, reason: 'switchover' };
  const f = await mover.fence(ctx);
  assert.equal(f.ok, true, f.detail);
  assert.equal(await holdsFloating('db1'), false, 'fenced: db1 no longer has the address');
  await assert.rejects(serverIdVia(lab.floatingIp, db1), 'between fence and attach nobody answers on the address');

  const a = await mover.attach(ctx);
  assert.equal(a.ok, true, a.detail);
  assert.match(a.detail, new RegExp(`verified: ${lab.floatingIp.replace(/\./g, '\\.')}:\\d+ reaches db2`));
  assert.equal(await holdsFloating('db2'), true);
  assert.equal(await holdsFloating('db1'), false);
  assert.equal(await serverIdVia(lab.floatingIp, db2), id2, 'after the move the floating address reaches db2');
  assert.deepEqual(hookErrors, []);
});
