/**
 * A failover run in its own process that dies (SIGKILL, no cleanup) right
 * before a given step, or at a point inside one: what a crash of the manager
 * mid-failover leaves behind. Input in the environment: HEIR_TEST_CLUSTER
 * (ClusterConfig JSON), HEIR_TEST_STATE_DIR, HEIR_TEST_CRASH_AT (a step name,
 * or step:point, e.g. promote:reset; see FailoverRequest.duringStep); optional
 * HEIR_TEST_TRIGGER ('auto' plays the daemon's own run; default 'manual') and
 * HEIR_TEST_GLOBAL (heir settings JSON, e.g. cloud for an address).
 */
import { GlobalSettings } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';

async function main(): Promise<void> {
  const cluster = JSON.parse(process.env.HEIR_TEST_CLUSTER!);
  const crashAt = process.env.HEIR_TEST_CRASH_AT!;
  const r = await runFailover({
    cluster,
    global: GlobalSettings.parse({ ...JSON.parse(process.env.HEIR_TEST_GLOBAL ?? '{}'), state_dir: process.env.HEIR_TEST_STATE_DIR! }),
    deadMaster: 'db1',
    trigger: process.env.HEIR_TEST_TRIGGER === 'auto' ? 'auto' : 'manual',
    beforeStep: (step) => {
      if (step === crashAt) process.kill(process.pid, 'SIGKILL');
    },
    duringStep: (step, point) => {
      if (`${step}:${point}` === crashAt) process.kill(process.pid, 'SIGKILL');
    },
  });
  // Reaching this line means the crash point was never reached.
  process.stdout.write(JSON.stringify({ outcome: r.outcome, summary: r.summary }));
  process.exit(3);
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(4);
});
