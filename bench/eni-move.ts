/**
 * Time of an ENI move (fence + attach) against the ECS emulator with its default
 * delays (2 s Detaching, 2 s Attaching, as on the platform), and heir's overhead
 * on top of those delays (polling granularity, API round trips, TLS).
 *
 *   node dist/bench/eni-move.js [rounds=5]
 *
 * Prints one JSON object: per-round totals, the emulator's own delay, and the
 * overhead (median, max). verify is off (no MySQL here); the post-attach check
 * through MySQL is measured by the failover benchmarks.
 */
import { ClusterConfig, GlobalSettings } from '../src/config/schema';
import { createMover } from '../src/eni';
import { startEcsEmulator } from '../test/ecs-emulator/server';
import { cloudFor, labRegion, useCredentials } from '../test/ecs-emulator/fixture';
import { DEFAULT_DELAYS } from '../test/ecs-emulator/state';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const state = labRegion({ eniOn: 'i-db1' });
  delete state.delays; // the emulator's defaults
  const emu = await startEcsEmulator({ state });
  const restore = useCredentials(emu, 'env');
  try {
    const cluster = ClusterConfig.parse({
      name: 'bench',
      mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'x' },
      nodes: [
        { name: 'db1', host: '127.0.0.1', port: 3306, instance_id: 'i-db1' },
        { name: 'db2', host: '127.0.0.1', port: 3307, instance_id: 'i-db2' },
      ],
      address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '10.77.0.100', verify: false },
    });
    const mover = createMover(cluster, GlobalSettings.parse({ cloud: cloudFor(emu, { operation_timeout_s: 60 }) }));
    const platformMs = DEFAULT_DELAYS.detachMs + DEFAULT_DELAYS.attachMs;
    const totals: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const [from, to] = i % 2 === 0 ? [cluster.nodes[0]!, cluster.nodes[1]!] : [cluster.nodes[1]!, cluster.nodes[0]!];
      const t0 = performance.now();
      const f = await mover.fence({ cluster, oldMaster: from, newMaster: to, reason: 'switchover' });
      const a = await mover.attach({ cluster, oldMaster: from, newMaster: to, reason: 'switchover' });
      const ms = performance.now() - t0;
      if (!f.ok || !a.ok) throw new Error(`round ${i}: ${f.detail} / ${a.detail}`);
      totals.push(Math.round(ms));
    }
    const sorted = [...totals].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    process.stdout.write(
      `${JSON.stringify({ bench: 'eni-move', rounds, totalsMs: totals, medianMs: median, platformDelayMs: platformMs, overheadMedianMs: median - platformMs, overheadMaxMs: sorted.at(-1)! - platformMs, apiCalls: emu.requests.length })}\n`,
    );
  } finally {
    restore();
    await emu.close();
  }
}

main().catch((err) => {
  process.stderr.write(`eni-move bench: ${(err as Error).message}\n`);
  process.exit(1);
});
