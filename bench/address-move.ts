/**
 * Address move: time of a real ENI move between two hosts of the network-namespace
 * lab, through the ECS API emulator with its default delays (2 s Detaching, 2 s
 * Attaching, as on the platform), and heir's overhead on top of those delays.
 *
 *   node dist/bench/address-move.js        env: HEIR_BENCH_RUNS (moves, default 10)
 *
 * The emulator's attach/detach really take the floating address down in one
 * namespace and up in the other, and the mover verifies (verify: true) that a MySQL
 * connection to the floating address reaches the new host's server. One move is
 * fence (DetachNetworkInterface, poll until Available) + attach
 * (AttachNetworkInterface, poll until InUse, verify through MySQL), back and forth.
 * Overhead = move time − (detach delay + attach delay): API round trips over TLS,
 * polling granularity and the MySQL check. Credentials come through the SDK's
 * default chain (ALIBABA_CLOUD_CREDENTIALS_URI served by the emulator).
 */
import { performance } from 'node:perf_hooks';
import { ClusterConfig, GlobalSettings, type NodeConfig } from '../src/config/schema';
import { createMover } from '../src/eni';
import { startNetLab } from '../test/lab';
import { startEcsEmulator } from '../test/ecs-emulator/server';
import { cloudFor, REGION, useCredentials } from '../test/ecs-emulator/fixture';
import { DEFAULT_DELAYS } from '../test/ecs-emulator/state';
import { emit, envInt, progress, runMain, stats } from './lib';

const B = 'address-move';

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 10);
  const lab = await startNetLab({ flavor: 'mysql', hosts: 2, name: 'bench-address' });
  const nodeOf = (instanceId: string) => lab.nodes.find((x) => lab.instanceIdOf(x) === instanceId)!;
  const zone = { zone: `${REGION}-h`, vpc: 'vpc-bench', vswitch: 'vsw-bench' };
  const hookErrors: string[] = [];
  const emu = await startEcsEmulator({
    state: {
      region: REGION,
      delays: { ...DEFAULT_DELAYS },
      instances: lab.nodes.map((n) => ({ id: lab.instanceIdOf(n), status: 'Running' as const, ...zone })),
      enis: [{ id: 'eni-bench', type: 'Secondary', privateIp: lab.floatingIp, status: 'InUse', instanceId: lab.instanceIdOf(lab.nodes[0]!), ...zone }],
    },
    hooks: {
      onAttach: (_e, id) => lab.addFloating(nodeOf(id)),
      onDetach: (_e, id) => lab.removeFloating(nodeOf(id)),
      onHookError: (what, err) => void hookErrors.push(`${what}: ${(err as Error).message}`),
    },
  });
  const restore = useCredentials(emu, 'uri');
  try {
    await lab.addFloating(lab.nodes[0]!);
    const base = lab.clusterConfig();
    const cluster = ClusterConfig.parse({
      ...base,
      nodes: base.nodes.map((n) => ({ ...n, instance_id: lab.instanceIdOf(n.name) })),
      address: { type: 'eni', eni_id: 'eni-bench', floating_ip: lab.floatingIp, verify: true },
    });
    const global = GlobalSettings.parse({ cloud: cloudFor(emu, { operation_timeout_s: 60 }) });
    const mover = createMover(cluster, global);
    const [a, b] = cluster.nodes as [NodeConfig, NodeConfig];
    const totals: number[] = [];
    const fences: number[] = [];
    const attaches: number[] = [];
    const calls: number[] = [];
    for (let i = 0; i < runs; i++) {
      const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
      const ctx = { cluster, oldMaster: from, newMaster: to, reason: 'switchover' as const };
      const before = emu.requests.length;
      const t0 = performance.now();
      const f = await mover.fence(ctx);
      const t1 = performance.now();
      const at = await mover.attach(ctx);
      const t2 = performance.now();
      if (!f.ok || !at.ok) throw new Error(`move ${i + 1}: ${f.detail} / ${at.detail}`);
      totals.push(t2 - t0);
      fences.push(t1 - t0);
      attaches.push(t2 - t1);
      calls.push(emu.requests.length - before);
      progress(B, `move ${i + 1}/${runs} ${from.name} → ${to.name}: ${Math.round(t2 - t0)} ms (fence ${Math.round(t1 - t0)}, attach+verify ${Math.round(t2 - t1)}; ${calls.at(-1)} API calls)`);
    }
    if (hookErrors.length) throw new Error(`emulator hooks failed: ${hookErrors.join('; ')}`);
    const platform = DEFAULT_DELAYS.detachMs + DEFAULT_DELAYS.attachMs;
    const t = stats(totals);
    emit({
      bench: B,
      runs,
      emulatorDelaysMs: { detach: DEFAULT_DELAYS.detachMs, attach: DEFAULT_DELAYS.attachMs },
      verify: 'MySQL connection to the floating address reaches the new host (server_uuid)',
      moveMs: t,
      fenceMs: stats(fences),
      attachMs: stats(attaches),
      overheadMs: { median: t.median - platform, max: t.max - platform },
      apiCallsPerMove: stats(calls),
    });
  } finally {
    restore();
    await emu.close();
    await lab.teardown();
  }
}

runMain(B, main);
