/**
 * A failover that survives the loss of its manager: two heir daemons (`node bin/heir.js
 * daemon`) with heir.ha on a real three-member etcd watch one real MariaDB cluster (stock
 * settings, GTID) whose floating ENI is in the ECS emulator. The master is killed; the leader
 * (mgr-a) fails over, promotes a node, and is killed with SIGKILL while its AttachNetworkInterface
 * call hangs at the emulator (the promotion done, the address attached nowhere: the
 * application cannot write). The other daemon (mgr-b) takes the leadership when mgr-a's lease
 * ends, finds mgr-a's unfinished journal in etcd, resumes it — the node mgr-a promoted stays
 * the master, no second election — and attaches the address to it. The cluster invariant,
 * address included, holds; no acknowledged row is lost.
 *
 * The same on MySQL 9.7 with the executor's own crash point inside the promotion
 * (promote:writable, see failover-crash-child.ts): the failover of a manager holding the
 * leadership (mgr-c, its run journaled and locked in etcd, each step fenced) dies with the
 * winner writable and the address on no node; the daemon that leads next keeps that node.
 */
import { after, before, test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCluster, type LabCluster } from '../lab';
import { startEtcdLab, type EtcdLab } from '../lab/etcd';
import type { ClusterConfig } from '../../src/config/schema';
import { listJournals, promotedIn, type JournalSummary } from '../../src/failover/journal';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, credentialEnv } from '../ecs-emulator/fixture';
import { until } from '../support/cli';
import { haManagerIsReady, haJournals, killHaManagers, startHaManager, type HaJournals, type HaManager } from '../support/ha-daemon';
import { assertInvariant } from '../support/invariant';
import { createTable, idsOn, sleep, startWriter, writeRows } from './failover-helpers';

const PREFIX = '/heir-resume-test/';
const CLUSTER = 'hares';

let dir = '';
let etcd: EtcdLab | undefined;
let lab: LabCluster | undefined;
let emu: EcsEmulator | undefined;
let journals: HaJournals | undefined;
const managers: HaManager[] = [];
const labs: LabCluster[] = [];
const emus: EcsEmulator[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ha-resume-'));
  etcd = await startEtcdLab();
  journals = haJournals(etcd.endpoints, PREFIX);
});

/** A lab cluster and an ECS emulator with the floating ENI on db1's instance, for one test. */
async function labWithEni(flavor: 'mysql' | 'mariadb', name: string): Promise<void> {
  [lab, emu] = await Promise.all([startCluster({ flavor, nodes: 3, name }), startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }) })]);
  labs.push(lab);
  emus.push(emu);
}

after(async () => {
  await killHaManagers(managers);
  for (const m of managers) fs.writeFileSync(path.join(dir, `${m.id}.log`), m.out);
  await journals?.close();
  for (const l of labs) await l.teardown().catch(() => undefined);
  for (const e of emus) await e.close();
  await etcd?.stop();
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`HA resume test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

const credentials = (): NodeJS.ProcessEnv => credentialEnv(emu!);

async function startManager(id: string, cluster: ClusterConfig): Promise<HaManager> {
  const m = await startHaManager({
    dir,
    id,
    cluster,
    endpoints: etcd!.endpoints,
    prefix: PREFIX,
    leaseTtlS: 2,
    // A hung cloud call stays hung for longer than the test needs to see it.
    heir: { cloud: cloudFor(emu!, { read_timeout_ms: 20_000 }) },
    env: credentials(),
  });
  managers.push(m);
  return m;
}

const ready = haManagerIsReady;
const leads = (m: HaManager) => m.log().some((l) => new RegExp(`^${m.id} leads cluster ${CLUSTER}`).test(l.msg ?? ''));
const holder = () => {
  const eni = emu!.state.enis.get('eni-floating')!;
  return eni.status === 'InUse' && eni.instanceId ? [eni.instanceId.replace(/^i-/, '')] : [];
};

/** The lab's cluster with the ENI, auto failover, detection corroborated by the other manager. */
function clusterWithEni(): ClusterConfig {
  const base = lab!.clusterConfig();
  return lab!.clusterConfig({
    nodes: base.nodes.map((n, i) => ({ ...n, instance_id: `i-db${i + 1}` })),
    address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '127.0.0.1', verify: false } as ClusterConfig['address'],
    detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
    failover: { auto: true, salvage: { enabled: false } } as ClusterConfig['failover'],
  });
}

/** Rows acknowledged on db1 and present on db2 and db3. */
async function ackedRows(cluster: ClusterConfig): Promise<number[]> {
  await createTable(lab!);
  const w = await startWriter(cluster, 'db1');
  await sleep(300);
  await w.stop();
  assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
  for (const n of ['db2', 'db3']) await until(`${n} has every acknowledged row`, 20_000, async () => (await idsOn(cluster, n)).has(w.acked.at(-1)!));
  return w.acked;
}

test('the leader killed between the promotion and the address attach: the other daemon resumes its failover, same master, address on it', async () => {
  await labWithEni('mariadb', CLUSTER);
  const cluster = clusterWithEni();

  // mgr-a first, so that it leads; then mgr-b, a follower.
  const a = await startManager('mgr-a', cluster);
  await until('mgr-a leads', 60_000, () => ready(a) && leads(a));
  const b = await startManager('mgr-b', cluster);
  await until('mgr-b ready, a follower', 60_000, () => ready(b) && b.log().some((l) => new RegExp(`^cluster ${CLUSTER} is led by mgr-a`).test(l.msg ?? '')));

  const acked = await ackedRows(cluster);

  // mgr-a's attach will hang at the cloud: the promotion is done, the address attached nowhere.
  emu!.inject({ kind: 'hang', count: 1, actions: ['AttachNetworkInterface'] });
  await lab!.kill('db1');
  await until('mgr-a\'s attach call reaching the cloud', 90_000, () => emu!.requests.some((r) => r.action === 'AttachNetworkInterface' && r.fault === 'hang'));
  a.child.kill('SIGKILL');
  await a.exited;

  const [interrupted] = await journals!.list(CLUSTER);
  assert.ok(interrupted, 'mgr-a\'s journal is in etcd');
  assert.equal(interrupted.manager, 'mgr-a');
  assert.equal(interrupted.unfinished, true, 'mgr-a\'s failover did not finish');
  const first = promotedIn(interrupted)?.node;
  assert.ok(first === 'db2' || first === 'db3', `mgr-a's journal names the node it promoted: ${JSON.stringify(interrupted.steps)}`);
  assert.equal(interrupted.steps.find((s) => s.step === 'attach')?.outcome, 'running', `the attach was in flight: ${JSON.stringify(interrupted.steps)}`);
  assert.deepEqual(holder(), [], 'the address is on no node');

  // mgr-b leads once mgr-a's lease ends, takes up the journal and finishes the failover.
  await until('mgr-b leads', 30_000, () => leads(b));
  const resumed = await until('mgr-b finishing mgr-a\'s failover', 30_000, () =>
    b.log().find((l) => new RegExp(`finishing it now of manager mgr-a: .*\\(mariadb-gtid\\); the rerun keeps ${first}`).test(l.msg ?? '')),
  );
  assert.ok(resumed);
  const rerun = await until('mgr-b\'s finished failover in etcd', 90_000, async () =>
    (await journals!.list(CLUSTER)).find((j: JournalSummary) => j.manager === 'mgr-b' && j.operation === 'failover' && j.end),
  );
  assert.equal(rerun.end!.outcome, 'promoted', rerun.end!.summary);
  assert.equal(promotedIn(rerun)?.node, first, `the rerun promoted ${promotedIn(rerun)?.node}; mgr-a had promoted ${first}`);
  assert.equal(rerun.steps.find((s) => s.step === 'attach')?.outcome, 'ok');
  const all = await journals!.list(CLUSTER);
  assert.deepEqual(all.map((j) => j.manager), ['mgr-a', 'mgr-b'], 'two journals: mgr-a\'s, and mgr-b\'s rerun');
  assert.match(all[0]!.ack?.by ?? '', /^heir daemon mgr-b .*resumed automatically/);
  assert.deepEqual(await journals!.store.unfinishedJournals(CLUSTER), [], 'no journal is left unfinished');
  assert.deepEqual(listJournals(b.stateDir, CLUSTER), [], 'nothing on mgr-b\'s disk: the journal is in etcd');

  await until('the address on the new master', 30_000, () => holder()[0] === first);
  await writeRows(cluster, first, [900001]);
  await assertInvariant({ lab: lab!, master: first, absent: ['db1'], table: 'app.w', acked: [...acked, 900001], addressHolders: async () => holder() });
});

test('mysql: the leading manager\'s failover killed inside the promotion (crash point promote:writable): the daemon that leads next keeps that node and attaches the address', async () => {
  const name = 'hares2';
  await labWithEni('mysql', name);
  const cluster = clusterWithEni();
  const acked = await ackedRows(cluster);
  await lab!.kill('db1');

  // mgr-c leads the cluster and runs its automatic failover, as the daemon does; it dies inside the promotion.
  const child = spawn(process.execPath, [path.join(__dirname, 'failover-crash-child.js')], {
    env: {
      ...process.env,
      ...credentials(),
      HEIR_TEST_CLUSTER: JSON.stringify(cluster),
      HEIR_TEST_STATE_DIR: path.join(dir, 'mgr-c'),
      HEIR_TEST_CRASH_AT: 'promote:writable',
      HEIR_TEST_TRIGGER: 'auto',
      HEIR_TEST_GLOBAL: JSON.stringify({ cloud: cloudFor(emu!) }),
      HEIR_TEST_HA: JSON.stringify({ etcd: { endpoints: etcd!.endpoints, request_timeout_ms: 1000 }, manager_id: 'mgr-c', lease_ttl_s: 2, prefix: PREFIX }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const sig = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  assert.equal(sig, 'SIGKILL', `mgr-c's run died inside the promotion: ${out}`);
  assert.match(out, new RegExp(`^leads ${name}$`, 'm'));

  const [interrupted] = await journals!.list(name);
  assert.equal(interrupted?.manager, 'mgr-c', 'mgr-c\'s journal is in etcd');
  assert.equal(interrupted.unfinished, true);
  const promote = interrupted.steps.find((s) => s.step === 'promote');
  assert.equal(promote?.outcome, 'running', 'it died inside the promotion');
  const first = String(promote?.params?.node ?? '');
  assert.ok(first === 'db2' || first === 'db3', JSON.stringify(interrupted.steps));
  assert.deepEqual(holder(), [], 'the address is on no node');
  assert.deepEqual(listJournals(path.join(dir, 'mgr-c'), name), [], 'nothing on mgr-c\'s disk');

  // mgr-d, a daemon, leads once mgr-c's lease ends and finishes the failover with the same node.
  const d = await startManager('mgr-d', cluster);
  await until('mgr-d leads', 60_000, () => leads(d));
  await until('mgr-d finishing mgr-c\'s failover', 30_000, () =>
    d.log().find((l) => new RegExp(`finishing it now of manager mgr-c: steps? .*promote.* (was|were) in flight \\(mysql-gtid\\); the rerun keeps ${first}, which it had begun to promote`).test(l.msg ?? '')),
  );
  const rerun = await until('mgr-d\'s finished failover in etcd', 90_000, async () =>
    (await journals!.list(name)).find((j: JournalSummary) => j.manager === 'mgr-d' && j.operation === 'failover' && j.end),
  );
  assert.equal(rerun.end!.outcome, 'promoted', rerun.end!.summary);
  assert.equal(promotedIn(rerun)?.node, first, `the rerun promoted ${promotedIn(rerun)?.node}; mgr-c had begun promoting ${first}`);
  assert.deepEqual(await journals!.store.unfinishedJournals(name), [], 'no journal is left unfinished');
  await until('the address on the new master', 30_000, () => holder()[0] === first);
  await writeRows(cluster, first, [900001]);
  await assertInvariant({ lab: lab!, master: first, absent: ['db1'], table: 'app.w', acked: [...acked, 900001], addressHolders: async () => holder() });
});
