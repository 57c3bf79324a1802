/**
 * heir.ha: the leader *daemon* paused past its lease in the middle of an incident. Two heir
 * daemons (`node bin/heir.js daemon`) on a real three-member etcd watch a real MySQL 9.7
 * cluster (GTID) whose floating ENI is in the ECS API emulator (the forwarder plays the
 * network: the application connects to the address and reaches the node the ENI is attached
 * to); an application writes through the address.
 *
 * The master's mysqld is killed; the moment the leader (mgr-a) prints its dead verdict it is
 * stopped with SIGSTOP. mgr-b takes the leadership once mgr-a's lease has ended and fails over
 * (address included). Then mgr-a gets SIGCONT: it resumes where it was stopped, with the
 * failover it had decided on (failover.block_period_s is 0 on purpose, so that mgr-b's failover
 * does not block it: only the leadership does). It is refused and performs no mutating step: nothing more in etcd (journals,
 * last fenced action), no call that changes anything at the cloud, no step of its own in its
 * log; it sees mgr-b lead. The cluster invariant holds, address included, no acknowledged row lost.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCluster, type LabCluster } from '../lab';
import { startEtcdLab, type EtcdLab } from '../lab/etcd';
import type { ClusterConfig } from '../../src/config/schema';
import { promotedIn } from '../../src/failover/journal';
import { connectEtcd, type EtcdHandle } from '../../src/ha/etcd';
import { haKeys } from '../../src/ha/leadership';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, credentialEnv } from '../ecs-emulator/fixture';
import { startEniForwarder, type EniForwarder } from '../support/eni-forwarder';
import { until } from '../support/cli';
import { haManagerIsReady, haJournals, killHaManagers, startHaManager, type HaJournals, type HaManager } from '../support/ha-daemon';
import { assertInvariant } from '../support/invariant';
import { createTable, sleep, startWriter } from './failover-helpers';

const PREFIX = '/heir-pause-test/';
const keys = haKeys(PREFIX);
const CLUSTER = 'hapause';
const LEASE_S = 2;

let dir = '';
let etcd: EtcdLab | undefined;
let lab: LabCluster | undefined;
let emu: EcsEmulator | undefined;
let fwd: EniForwarder | undefined;
let probe: EtcdHandle | undefined;
let journals: HaJournals | undefined;
const managers: HaManager[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ha-pause-'));
  // Semi-sync, varied on purpose: the kill -9 lands while the application writes, and with async
  // replication (and salvage off: no SSH here) a commit acknowledged just before it may be on no
  // replica, which is the async window, not what this test is about.
  [etcd, lab, emu] = await Promise.all([startEtcdLab(), startCluster({ flavor: 'mysql', nodes: 3, name: CLUSTER, semiSync: true }), startEcsEmulator({ state: labRegion() })]);
  fwd = await startEniForwarder(emu, lab.nodes.map((n) => ({ name: n.name, host: n.host, port: n.port })), 'db1');
  probe = connectEtcd({ endpoints: etcd.endpoints, request_timeout_ms: 3000 });
  journals = haJournals(etcd.endpoints, PREFIX);
});

after(async () => {
  // SIGKILL ends a stopped process too.
  await killHaManagers(managers);
  for (const m of managers) fs.writeFileSync(path.join(dir, `${m.id}.log`), m.out);
  probe?.close();
  await journals?.close();
  await fwd?.close();
  await lab?.teardown().catch(() => undefined);
  await emu?.close();
  await etcd?.stop();
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`HA pause test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

const ready = haManagerIsReady;
const leads = (m: HaManager) => m.log().some((l) => new RegExp(`^${m.id} leads cluster ${CLUSTER}`).test(l.msg ?? ''));
/** Calls that change something at the cloud (anything but a Describe*). */
const cloudChanges = () => emu!.requests.filter((r) => !/^Describe/.test(r.action)).map((r) => r.action);

/** Stop `m` with SIGSTOP as soon as a line of its output is its dead verdict (resolves with the time). */
function stopAtDeadVerdict(m: HaManager): Promise<number> {
  return new Promise((resolve) => {
    let buf = '';
    const on = (c: Buffer) => {
      buf += c.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (/"event":"verdict"/.test(line) && /"failoverAllowed":true/.test(line)) {
          m.child.kill('SIGSTOP');
          m.child.stdout!.off('data', on);
          resolve(Date.now());
          return;
        }
      }
    };
    m.child.stdout!.on('data', on);
  });
}

test('the leader daemon stopped (SIGSTOP) at its dead verdict past its lease, resumed after the other failed over: it performs no mutating step', async () => {
  const base = lab!.clusterConfig();
  const cluster = lab!.clusterConfig({
    nodes: base.nodes.map((n) => ({ ...n, instance_id: fwd!.instanceIds[n.name] })),
    address: { type: 'eni', eni_id: fwd!.eniId, floating_ip: fwd!.floatingIp, verify: false } as ClusterConfig['address'],
    detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
    // block_period_s 0, varied on purpose: mgr-b's failover must not be what stops mgr-a (the
    // anti-flapping block would); only the leadership may.
    failover: { auto: true, block_period_s: 0, salvage: { enabled: false } } as ClusterConfig['failover'],
  });
  const start = async (id: string) => {
    const m = await startHaManager({ dir, id, cluster, endpoints: etcd!.endpoints, prefix: PREFIX, leaseTtlS: LEASE_S, heir: { cloud: cloudFor(emu!) }, env: credentialEnv(emu!) });
    managers.push(m);
    return m;
  };
  const a = await start('mgr-a');
  await until('mgr-a leads', 60_000, () => ready(a) && leads(a));
  const b = await start('mgr-b');
  await until('mgr-b ready, a follower', 60_000, () => ready(b) && b.log().some((l) => l.msg === `cluster ${CLUSTER} is led by mgr-a`));

  await createTable(lab!);
  const w = await startWriter(cluster, fwd!);
  try {
    await until('the application writing through the address', 20_000, () => w.acked.length >= 20);

    const stopped = stopAtDeadVerdict(a);
    await lab!.kill('db1');
    const stoppedAt = await Promise.race([stopped, sleep(60_000).then(() => Promise.reject(new Error('mgr-a reached no dead verdict within 60 s')))]);
    let resumedAt = 0;
    try {
      // mgr-b leads once mgr-a's lease ended and fails over on its own verdict (or finishes what mgr-a began).
      await until('mgr-b leads', 30_000, () => leads(b));
      const done = await until('mgr-b\'s finished failover in etcd', 90_000, async () =>
        (await journals!.list(CLUSTER)).find((j) => j.manager === 'mgr-b' && j.operation === 'failover' && j.end),
      );
      assert.equal(done.end!.outcome, 'promoted', done.end!.summary);
      const newMaster = promotedIn(done)!.node;
      assert.ok(newMaster === 'db2' || newMaster === 'db3', newMaster);
      await until('the address on the new master', 30_000, async () => (await fwd!.holders()).join() === newMaster);
      assert.ok(Date.now() - stoppedAt > LEASE_S * 1000, 'mgr-a was stopped for longer than its lease');

      // What exists before mgr-a runs again.
      const journalsBefore = JSON.stringify(await journals!.list(CLUSTER));
      const lastAction = await probe!.client.get(`${keys.cluster(CLUSTER)}last-action`).string();
      assert.equal(JSON.parse(lastAction!).manager, 'mgr-b');
      const changesBefore = cloudChanges();
      assert.ok(changesBefore.includes('AttachNetworkInterface'), `mgr-b moved the address: ${changesBefore.join(', ')}`);

      resumedAt = Date.now();
      a.child.kill('SIGCONT');
      const afterResume = () => a.log().filter((l) => Date.parse(l.time ?? '') >= resumedAt);
      await until('mgr-a seeing that it no longer leads', 20_000, () =>
        afterResume().some((l) => l.msg === `cluster ${CLUSTER} is led by mgr-b` || new RegExp(`^mgr-a no longer leads cluster ${CLUSTER}`).test(l.msg ?? '')),
      );
      await sleep(3 * LEASE_S * 1000); // whatever it had in hand, it has had time to try

      const said = afterResume().map((l) => l.msg).join(' | ');
      assert.equal(JSON.stringify(await journals!.list(CLUSTER)), journalsBefore, `etcd's journals changed after mgr-a resumed: ${said}`);
      assert.equal(await probe!.client.get(`${keys.cluster(CLUSTER)}last-action`).string(), lastAction, `a fenced action was recorded after mgr-a resumed: ${said}`);
      assert.deepEqual(cloudChanges(), changesBefore, `a cloud call changing something after mgr-a resumed: ${said}`);
      assert.deepEqual(afterResume().filter((l) => /^\[\d+\] \S+ ok in /.test(l.msg ?? '')).map((l) => l.msg), [], 'mgr-a completed a step after it resumed');
      // The failover it had decided on before the stop was refused for want of the leadership.
      assert.ok(
        // (Where the stop landed decides which check says it: the executor's, or the runtime's
        // before it starts one: "dead but this manager may not act", or "left to the leader"
        // once it has read that mgr-b leads.)
        afterResume().some((l) =>
          /(no failover from this manager|is dead but this manager may not act|left to the leader): .*(lease of cluster hapause was last confirmed|is not the leader of cluster hapause)|not performed.*leadership/.test(l.msg ?? ''),
        ),
        `mgr-a's decided failover was not refused for its leadership: ${said}`,
      );
      assert.equal(JSON.parse((await probe!.client.get(keys.leader(CLUSTER)).string())!).manager, 'mgr-b');
      assert.ok(!a.log().some((l) => /^failover promoted/.test(l.msg ?? '')), 'mgr-a reported a failover of its own');

      const n = w.acked.length;
      await until('more rows acknowledged through the address', 20_000, () => w.acked.length > n + 10);
      await w.stop();
      await assertInvariant({ lab: lab!, master: newMaster, absent: ['db1'], table: 'app.w', acked: w.acked, maxAttemptedId: w.attempted, addressHolders: () => fwd!.holders() });
    } finally {
      if (!resumedAt) a.child.kill('SIGCONT');
    }
  } finally {
    await w.stop();
  }
});
