/**
 * A failover run in its own process that dies (SIGKILL, no cleanup) right
 * before a given step, or at a point inside one: what a crash of the manager
 * mid-failover leaves behind. Input in the environment: HEIR_TEST_CLUSTER
 * (ClusterConfig JSON), HEIR_TEST_STATE_DIR, HEIR_TEST_CRASH_AT (a step name,
 * or step:point, e.g. promote:reset; see FailoverRequest.duringStep); optional
 * HEIR_TEST_TRIGGER ('auto' plays the daemon's own run; default 'manual') and
 * HEIR_TEST_GLOBAL (heir settings JSON, e.g. cloud for an address); HEIR_TEST_HA (heir.ha
 * JSON): the run is a manager's under heir.ha, as the daemon runs it — it waits to lead the
 * cluster, journals and locks in etcd, and checks its leadership before each step.
 */
import { GlobalSettings, HaSettings } from '../../src/config/schema';
import { runFailover } from '../../src/failover/execute';
import { EtcdFailoverStore } from '../../src/ha/etcd-store';
import { createMover } from '../../src/eni';
import { HaSession } from '../../src/ha/leadership';

async function main(): Promise<void> {
  const cluster = JSON.parse(process.env.HEIR_TEST_CLUSTER!);
  const crashAt = process.env.HEIR_TEST_CRASH_AT!;
  const global = GlobalSettings.parse({ ...JSON.parse(process.env.HEIR_TEST_GLOBAL ?? '{}'), state_dir: process.env.HEIR_TEST_STATE_DIR! });
  let ha = {};
  if (process.env.HEIR_TEST_HA) {
    // The cloud SDK loads on first use, holding the event loop for seconds on a busy host: a
    // daemon has it loaded at start (it reads the address), before it leads; so does this run.
    if (cluster.address?.type !== 'none') createMover(cluster, global);
    const session = new HaSession(HaSettings.parse(JSON.parse(process.env.HEIR_TEST_HA)));
    const l = session.leadership(cluster.name);
    await l.waitElected(30_000);
    process.stdout.write(`leads ${cluster.name}\n`);
    ha = {
      store: new EtcdFailoverStore(session, global.state_dir),
      beforeMutation: (what: string) => l.fenced(what, [{ type: 'put', key: `${session.keys.cluster(cluster.name)}last-action`, value: JSON.stringify({ manager: session.manager, what }) }]),
    };
  }
  const r = await runFailover({
    ...ha,
    cluster,
    global,
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
