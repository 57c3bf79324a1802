/**
 * Several views of the master (heir.ha): two heir daemons on a real three-member etcd watch
 * one real MariaDB cluster on namespace hosts. mgr-a runs as the lab's manager (the root
 * namespace) and leads; mgr-b runs in a namespace host of its own on the lab bridge (another
 * "zone"), reaching etcd through a TCP relay on the bridge.
 *
 * 1. The master's host stops answering mgr-a alone (the lab's manager-only partition) while
 *    mgr-b still reaches it: no failover, and the leader's verdict names mgr-b's view as the
 *    veto. Detection has no ssh check and no secondary checks, and the servers run at their
 *    stock settings (MariaDB's 30 s heartbeat: the replicas cannot tell for a minute), so the
 *    other manager's view is the only witness that the master lives.
 * 2. kill -9 of the master: both managers lose it; the leader fails over with mgr-b's view
 *    counted as a source (min_sources 3: manager, replicas, managers), and the cluster
 *    invariant holds.
 *
 * On the way: `heir status`'s data (GET /clusters/<name>: leader, managers, views with their
 * age) and /metrics (heir_ha_leader, heir_ha_view_age_seconds, heir_ha_etcd_up) from the leader.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startNetLab, type NetLab } from '../lab/netlab';
import { startEtcdLab, type EtcdLab } from '../lab/etcd';
import type { ClusterConfig } from '../../src/config/schema';
import { listJournals, promotedIn } from '../../src/failover/journal';
import { apiRequest, runHeir, until } from '../support/cli';
import { haManagerIsReady, haJournals, killHaManagers, startHaManager, type HaJournals, type HaManager } from '../support/ha-daemon';
import { assertInvariant } from '../support/invariant';

const PREFIX = '/heir-views-test/';
const CLUSTER = 'viewsdb';


let dir = '';
let etcd: EtcdLab | undefined;
let lab: NetLab | undefined;
const managers: HaManager[] = [];
const relays: net.Server[] = [];
let mgrNs = '';
let mgrVeth = '';
let a: HaManager | undefined;
let b: HaManager | undefined;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A TCP relay on `host` to a loopback port (etcd's client port), for the manager in a namespace. */
async function relay(host: string, to: URL): Promise<string> {
  const server = net.createServer((s) => {
    const up = net.connect(Number(to.port), to.hostname);
    s.pipe(up).pipe(s);
    s.on('error', () => up.destroy());
    up.on('error', () => s.destroy());
  });
  await new Promise<void>((resolve, reject) => server.listen(0, host, resolve).once('error', reject));
  relays.push(server);
  return `http://${host}:${(server.address() as net.AddressInfo).port}`;
}


async function startManager(id: string, cluster: ClusterConfig, endpoints: string[], ns?: string): Promise<HaManager> {
  const m = await startHaManager({ dir, id, cluster, endpoints, prefix: PREFIX, leaseTtlS: 3, ...(ns ? { ns } : {}) });
  managers.push(m);
  return m;
}

const ready = haManagerIsReady;
const leads = (m: HaManager) => m.log().some((l) => new RegExp(`^${m.id} leads cluster ${CLUSTER}`).test(l.msg ?? ''));
/** The leader's verdict events (the monitor's log lines), from the n-th line on. */
const verdicts = (m: HaManager, from = 0) => m.log().slice(from).filter((l) => l.event === 'verdict' && l.cluster === CLUSTER);
/** Failover journals: in etcd (heir.ha), and none on a manager's disk. */
let journals: HaJournals | undefined;
const failovers = async () => [
  ...(await journals!.list(CLUSTER)),
  ...managers.flatMap((m) => listJournals(m.stateDir, CLUSTER)),
].filter((j) => j.operation === 'failover');

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ha-views-'));
  [etcd, lab] = await Promise.all([startEtcdLab(), startNetLab({ flavor: 'mariadb', name: CLUSTER })]);
  journals = haJournals(etcd.endpoints, PREFIX);
  // mgr-b's host: a namespace on the lab bridge (named after the lab's slot: its teardown removes it too).
  const k = lab.managerAddress.split('.')[2];
  mgrNs = `heir-${k}-mgrb`;
  mgrVeth = `heir-${k}-mb`;
  ip(['netns', 'add', mgrNs]);
  ip(['link', 'add', mgrVeth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', mgrNs]);
  ip(['link', 'set', mgrVeth, 'master', lab.bridge, 'up']);
  ip(['-n', mgrNs, 'link', 'set', 'lo', 'up']);
  ip(['-n', mgrNs, 'addr', 'add', `10.77.${k}.2/24`, 'dev', 'eth0']);
  ip(['-n', mgrNs, 'link', 'set', 'eth0', 'up']);
});

after(async () => {
  await killHaManagers(managers);
  await journals?.close();
  for (const m of managers) fs.writeFileSync(path.join(dir, `${m.id}.log`), m.out);
  for (const r of relays) r.close();
  if (mgrVeth) execFileSync('ip', ['link', 'del', mgrVeth], { stdio: 'ignore' });
  if (mgrNs) execFileSync('ip', ['netns', 'del', mgrNs], { stdio: 'ignore' });
  await lab?.teardown().catch(() => undefined);
  await etcd?.stop();
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`HA views test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

test('the leader cut off from the master while mgr-b reaches it: no failover, the verdict names mgr-b\'s view', async () => {
  const cluster = lab!.clusterConfig({
    detection: { ping_type: 'select', ssh_check: false, secondary_checks: [], min_sources: 3, interval_ms: 1000 } as unknown as ClusterConfig['detection'],
    failover: { salvage: { enabled: false } } as ClusterConfig['failover'],
  });
  a = await startManager('mgr-a', cluster, etcd!.endpoints);
  await until('mgr-a ready and leading', 60_000, () => ready(a!) && leads(a!));
  const viaBridge = await Promise.all(etcd!.endpoints.map((e) => relay(lab!.managerAddress, new URL(e))));
  b = await startManager('mgr-b', cluster, viaBridge, mgrNs);
  await until('mgr-b ready', 60_000, () => ready(b!));
  assert.equal(leads(b), false, 'mgr-b leads too');

  // Status and metrics from the leader: both managers, both views fresh.
  const st = await until('both views in the leader\'s status', 20_000, async () => {
    const r = await apiRequest(a!.api, 'GET', `/api/v1/clusters/${CLUSTER}`);
    return r.body?.ha?.views?.length === 2 ? r.body.ha : undefined;
  });
  assert.equal(st.manager, 'mgr-a');
  assert.equal(st.leader, 'mgr-a');
  assert.deepEqual(st.managers, ['mgr-a', 'mgr-b']);
  assert.ok(st.leaseConfirmedMsAgo !== null && st.leaseConfirmedMsAgo < 3000, String(st.leaseConfirmedMsAgo));
  for (const v of st.views) {
    assert.equal(v.master, 'db1');
    assert.equal(v.reachable, true);
    assert.ok(v.ageMs <= st.viewMaxAgeMs, `${v.manager}'s view is ${v.ageMs} ms old`);
  }
  assert.equal(st.etcd.reachable, true);
  const metrics = (await apiRequest(a!.api, 'GET', '/metrics')).text;
  assert.match(metrics, new RegExp(`^heir_ha_leader\\{cluster="${CLUSTER}",manager="mgr-a"\\} 1$`, 'm'));
  assert.match(metrics, new RegExp(`^heir_ha_leader\\{cluster="${CLUSTER}",manager="mgr-b"\\} 0$`, 'm'));
  assert.match(metrics, new RegExp(`^heir_ha_view_age_seconds\\{cluster="${CLUSTER}",manager="mgr-b"\\} [0-9.]+$`, 'm'));
  assert.match(metrics, /^heir_ha_etcd_up 1$/m);
  // The operator's view: `heir status` asks the leader.
  const cli = await runHeir(['--config', path.join(dir, 'mgr-a.yaml'), 'status', '--cluster', CLUSTER]);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^ {2}ha: leader mgr-a \(this manager\) since \S+ \(\d+\.\d s ago\), lease last confirmed by etcd \d+\.\d s ago; managers: mgr-a, mgr-b \(this one: mgr-a\)$/m);
  assert.match(cli.stdout, /^ {2}etcd: reachable \(last answer \d+\.\d s ago\)$/m);
  assert.match(cli.stdout, /^ {2}view of mgr-b: reaches db1, verdict Healthy, \d+\.\d s ago$/m);

  // db1 stops answering the lab's manager address (mgr-a) only, for longer than suspect_timeout_ms (10 s).
  const from = a!.log().length;
  await lab!.isolateFromManager('db1');
  try {
    const veto = await until('the leader\'s verdict naming mgr-b\'s view', 30_000, () =>
      verdicts(a!, from).find((l) => l.to === 'UnreachableMaster' && l.rule === 'other-manager-reaches'),
    );
    assert.equal(veto.failoverAllowed, false);
    assert.match(veto.reason, /^UnreachableMaster: mysqld is alive \(manager mgr-b reaches db1 \(view \d+\.\d s ago, verdict Healthy\)\)/);
    const e = veto.evidence.find((x: any) => x.source === 'managers');
    assert.deepEqual([e?.subject, e?.points], ['mgr-b', 'alive']);
    await new Promise((r) => setTimeout(r, 12_000));
    assert.deepEqual(await failovers(), [], 'a failover started during the partition');
    assert.ok(!verdicts(a!, from).some((l) => l.failoverAllowed), 'a verdict allowed a failover');
  } finally {
    await lab!.heal('db1');
  }
  await until('the leader seeing db1 healthy again', 30_000, () => verdicts(a!, from).find((l) => l.to === 'Healthy'));
  await assertInvariant({ lab: lab!, master: 'db1' });
});

test('kill -9 of the master: both managers lose it, the leader fails over with mgr-b\'s view as a source', async () => {
  assert.ok(a && b, 'the partition test ran first');
  const from = a.log().length;
  await until('both views reaching db1 again', 20_000, async () => {
    const r = await apiRequest(a!.api, 'GET', `/api/v1/clusters/${CLUSTER}`);
    const vs = r.body?.ha?.views ?? [];
    return vs.length === 2 && vs.every((v: any) => v.master === 'db1' && v.reachable && v.ageMs < 5000);
  });
  await lab!.kill('db1');
  const dead = await until('the leader\'s dead verdict allowing failover', 30_000, () => verdicts(a!, from).find((l) => l.failoverAllowed));
  assert.equal(dead.to, 'DeadMaster', dead.reason);
  assert.ok(dead.confirmedBy.includes('managers'), `confirmed by ${dead.confirmedBy.join(', ')}: ${dead.reason}`);
  const e = dead.evidence.find((x: any) => x.source === 'managers');
  assert.equal(e?.subject, 'mgr-b');
  assert.equal(e?.points, 'dead');
  assert.match(e?.observation, /^lost: mgr-b cannot reach db1 either/);

  const done = await until('a finished failover journal in etcd', 90_000, async () => {
    const j = (await journals!.list(CLUSTER)).find((x) => x.operation === 'failover' && x.end);
    return j ? { m: [a!, b!].find((m) => m.id === j.manager), j } : undefined;
  });
  assert.equal(done.m, a, `${done.j.manager} failed over, not the leader`);
  assert.equal(done.j.end!.outcome, 'promoted', done.j.end!.summary);
  const newMaster = promotedIn(done.j)!.node;
  assert.ok(newMaster === 'db2' || newMaster === 'db3', newMaster);
  assert.deepEqual((await journals!.list(CLUSTER)).map((j) => j.manager), ['mgr-a'], 'one journal, the leader\'s');
  for (const m of [a!, b!]) assert.deepEqual(listJournals(m.stateDir, CLUSTER), [], `${m.id} kept a journal on its disk`);
  await assertInvariant({ lab: lab!, master: newMaster, absent: ['db1'] });
});
