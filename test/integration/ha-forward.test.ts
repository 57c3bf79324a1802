/**
 * heir.ha: an action posted to the API of a daemon that does not lead the cluster is forwarded
 * to the leader's API (its address published in etcd) and performed there. Two heir daemons
 * (child processes) on a real three-member etcd and a real MariaDB cluster:
 *  - a switchover posted to the follower is performed by the leader; the answer says it was
 *    forwarded and to whom, its Location is the leader's, the follower relays the operation;
 *    the cluster invariant holds;
 *  - an ack posted to the follower is the leader's; a request that comes forwarded to a daemon
 *    that does not lead is refused, not forwarded again;
 *  - the leader killed (kill -9) while its leadership key lives on in etcd → 503 naming it; once
 *    the follower leads, it performs the switchover itself; the invariant holds;
 *  - each daemon's reports endpoint lists every manager's reports (the index in etcd): the
 *    follower the leader's switchover, which is on the leader's disk only, also once the leader
 *    is dead.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startCluster, type LabCluster } from '../lab';
import { startEtcdLab, type EtcdLab } from '../lab/etcd';
import type { ClusterConfig } from '../../src/config/schema';
import { reportsDir } from '../../src/failover/report';
import { connectEtcd, type EtcdHandle } from '../../src/ha/etcd';
import { haKeys } from '../../src/ha/leadership';
import { apiRequest, runHeir, until } from '../support/cli';
import { haManagerReady, killHaManagers, startHaManager, type HaManager } from '../support/ha-daemon';
import { assertInvariant } from '../support/invariant';
import { openApiChecker, type OpenApiChecker } from '../support/openapi';

const PREFIX = '/heir-forward-test/';
const keys = haKeys(PREFIX);
const NAME = 'fwdb';
const TOKEN = 'forward-test-token-4f1c2a9e7d';

let dir = '';
let etcd: EtcdLab | undefined;
let lab: LabCluster | undefined;
let probe: EtcdHandle | undefined;
let openapi: OpenApiChecker | undefined;
const managers: HaManager[] = [];
let leader: HaManager | undefined;
let follower: HaManager | undefined;

/** One request to a daemon; its answer must match the OpenAPI document. */
async function api(m: HaManager, method: string, p: string, o: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const r = await apiRequest(m.api, method, p, o);
  openapi?.check(method, p, r.status, r.body ?? r.text, r.headers.get('content-type') ?? undefined);
  return r;
}

/** Follow an operation at `m` (relative path) until it ended. */
async function follow(m: HaManager, p: string): Promise<any> {
  return until(`operation ${p} at ${m.id} to end`, 120_000, async () => {
    const r = await api(m, 'GET', p);
    assert.equal(r.status, 200, r.text);
    return r.body.state === 'running' ? undefined : r.body;
  });
}

const switchoverReports = (m: HaManager) => {
  try {
    return fs.readdirSync(reportsDir(m.stateDir, NAME)).filter((f) => f.startsWith('switchover-'));
  } catch {
    return [];
  }
};

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ha-forward-'));
  [etcd, lab] = await Promise.all([startEtcdLab(), startCluster({ flavor: 'mariadb', name: NAME })]);
  probe = connectEtcd({ endpoints: etcd.endpoints, request_timeout_ms: 3000 });
  const cluster = lab.clusterConfig({
    detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
    failover: { salvage: { enabled: false } } as ClusterConfig['failover'],
  });
  // A 5 s lease: a killed leader's key (and its record) outlive it long enough to be asked.
  const start = (id: string) => startHaManager({ dir, id, cluster, endpoints: etcd!.endpoints, prefix: PREFIX, leaseTtlS: 5, token: TOKEN });
  managers.push(...(await Promise.all([start('mgr-a'), start('mgr-b')])));
  const [a, b] = managers as [HaManager, HaManager];
  await Promise.all([haManagerReady(a), haManagerReady(b)]);
  const leads = (m: HaManager) => m.log().some((l) => new RegExp(`^${m.id} leads cluster ${NAME}`).test(l.msg ?? ''));
  leader = await until(`a leader of ${NAME}`, 60_000, () => (leads(a) ? a : leads(b) ? b : undefined));
  follower = leader === a ? b : a;
  await until('both daemons watching db1, the follower naming the leader', 60_000, async () => {
    const [l, f] = await Promise.all([apiRequest(leader!.api, 'GET', `/api/v1/clusters/${NAME}`), apiRequest(follower!.api, 'GET', `/api/v1/clusters/${NAME}`)]);
    return l.body?.master === 'db1' && f.body?.master === 'db1' && f.body?.ha?.leader === leader!.id;
  });
  const doc = await apiRequest(follower.api, 'GET', '/api/v1/openapi.json');
  openapi = await openApiChecker(doc.body);
});

after(async () => {
  await killHaManagers(managers);
  probe?.close();
  await lab?.teardown().catch(() => undefined);
  await etcd?.stop();
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`HA forward test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

test('a switchover posted to the follower is performed by the leader; the answer says so; the invariant holds', async () => {
  const L = leader!;
  const F = follower!;
  // Each manager's record in etcd carries its advertised API address.
  for (const m of [L, F]) {
    const rec = await until(`the record of ${m.id} in etcd`, 10_000, async () => (await probe!.client.get(keys.manager(m.id)).json()) as any);
    assert.equal(rec.manager, m.id);
    assert.equal(rec.api, m.api);
  }

  const r = await api(F, 'POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db2' } });
  assert.equal(r.status, 202, r.text);
  assert.equal(r.headers.get('heir-forwarded-to'), L.id);
  assert.deepEqual(r.body.forwardedTo, { manager: L.id, url: L.api });
  assert.equal(r.body.kind, 'switchover');
  assert.equal(r.headers.get('location'), `${L.api}/api/v1/operations/${r.body.id}`, 'the Location is the leader\'s');
  assert.match(r.body.requestedBy, new RegExp(`via ${F.id}`));

  // The follower relays the operation it forwarded; the leader has it under the same id.
  const op = await follow(F, `/api/v1/operations/${r.body.id}`);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.result ?? op.error));
  assert.equal(op.result.outcome, 'switched');
  assert.deepEqual(op.forwardedTo, { manager: L.id, url: L.api });
  const atLeader = await apiRequest(L.api, 'GET', `/api/v1/operations/${r.body.id}`);
  assert.equal(atLeader.status, 200);
  assert.equal(atLeader.body.state, 'succeeded');
  assert.equal(atLeader.headers.get('heir-forwarded-to'), null, 'the leader answered itself');

  // Performed by the leader, not by the follower: its report, its fenced step records.
  assert.equal(switchoverReports(L).length, 1, 'the leader wrote the switchover report');
  assert.deepEqual(switchoverReports(F), [], 'the follower performed nothing');
  const last = JSON.parse((await probe!.client.get(`${keys.cluster(NAME)}last-action`).string())!);
  assert.equal(last.manager, L.id);
  assert.ok(L.log().some((l) => l.msg === 'API action requested' && l.action === 'switchover' && String(l.remote).includes(`via ${F.id}`)), 'the leader logged the forwarded request');
  await assertInvariant({ lab: lab!, master: 'db2' });
  // The report is on the leader's disk only; the follower's API lists it from etcd, with its manager.
  const listed = await api(F, 'GET', `/api/v1/clusters/${NAME}/reports`);
  assert.equal(listed.status, 200, listed.text);
  assert.equal(listed.body.warnings, undefined);
  assert.deepEqual(
    listed.body.reports.map((x: any) => [x.kind, x.id, x.outcome, x.manager, x.truncated ?? false]),
    [['switchover', op.result.id, 'switched', L.id, false]],
  );
  assert.equal(listed.body.reports[0].reportPath, path.join(reportsDir(L.stateDir, NAME), `switchover-${op.result.id}.json`));
  assert.deepEqual(listed.body.reports[0].steps, JSON.parse(fs.readFileSync(listed.body.reports[0].reportPath, 'utf8')).steps);
  // The CLI asks the follower's API: the leader, and the new master once the follower's
  // periodic topology read (10 s) has seen it.
  const cli = await until('heir status at the follower showing db2 as master', 30_000, async () => {
    const c = await runHeir(['--config', path.join(dir, `${F.id}.yaml`), 'status', '--cluster', NAME]);
    assert.equal(c.code, 0, c.stderr);
    return /^\S*\s+db2\s+master\s/m.test(c.stdout) ? c : undefined;
  });
  assert.match(cli.stdout, new RegExp(`^ {2}ha: leader ${L.id} since .*\\(this one: ${F.id}\\)$`, 'm'));
});

test('an ack posted to the follower is the leader\'s; a forwarded request to a manager that does not lead is refused', async () => {
  const L = leader!;
  const F = follower!;
  const ack = await api(F, 'POST', `/api/v1/clusters/${NAME}/ack`, { token: TOKEN });
  assert.equal(ack.status, 200, ack.text);
  assert.equal(ack.body.ok, true);
  assert.equal(ack.headers.get('heir-forwarded-to'), L.id);
  assert.deepEqual(ack.body.forwardedTo, { manager: L.id, url: L.api });
  assert.ok(L.log().some((l) => l.msg === 'API action requested' && l.action === 'ack'), 'the leader performed the ack');
  assert.ok(!F.log().some((l) => l.msg === 'API action requested'), 'the follower performed no action');

  // Never a second hop: a request marked as forwarded, to a manager that does not lead.
  const loop = await api(F, 'POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db1' }, headers: { 'Heir-Forwarded-By': 'mgr-x' } });
  assert.equal(loop.status, 503, loop.text);
  assert.equal(loop.body.code, 'not_leader');
  assert.match(loop.body.error, new RegExp(`^switchover of cluster ${NAME} forwarded by mgr-x to ${F.id}, which does not lead the cluster .*not forwarded again`));
  // The same marker at the leader: performed there (a one-hop forward is the normal case).
  const here = await api(L, 'POST', `/api/v1/clusters/${NAME}/ack`, { token: TOKEN, headers: { 'Heir-Forwarded-By': F.id } });
  assert.equal(here.status, 200, here.text);
  assert.equal(here.headers.get('heir-forwarded-to'), null);
  // A wrong token is refused by the follower itself, never forwarded.
  const bad = await api(F, 'POST', `/api/v1/clusters/${NAME}/ack`, { token: 'not-the-token-at-all' });
  assert.equal(bad.status, 401);
});

test('the leader killed: the follower answers 503 naming it while its key lives; once it leads, it performs the switchover', async () => {
  const L = leader!;
  const F = follower!;
  const first = (await api(L, 'GET', `/api/v1/clusters/${NAME}/reports`)).body.reports.map((x: any) => x.id);
  assert.equal(first.length, 1, 'the first switchover');
  L.child.kill('SIGKILL');
  await L.exited;
  // The dead leader's report is still listed by the follower.
  const listed = await api(F, 'GET', `/api/v1/clusters/${NAME}/reports`);
  assert.deepEqual(listed.body.reports.map((x: any) => [x.id, x.manager]), [[first[0], L.id]]);
  const r = await api(F, 'POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db1' } });
  assert.equal(r.status, 503, r.text);
  assert.equal(r.body.code, 'leader_unavailable');
  assert.match(r.body.error, new RegExp(`^switchover of cluster ${NAME}: its leader ${L.id} at ${L.api.replace(/\./g, '\\.')} cannot be reached \\(ECONNREFUSED\\): not performed`));
  assert.equal(switchoverReports(F).length, 0);

  await until(`${F.id} leading ${NAME}`, 30_000, async () => {
    const s = await apiRequest(F.api, 'GET', `/api/v1/clusters/${NAME}`);
    return s.body?.ha?.leader === F.id && s.body.ha.whyNot === null && s.body.master === 'db2';
  });
  const own = await api(F, 'POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db1' } });
  assert.equal(own.status, 202, own.text);
  assert.equal(own.headers.get('heir-forwarded-to'), null, 'performed by the new leader itself');
  assert.equal(own.body.forwardedTo, undefined);
  assert.equal(own.headers.get('location'), `/api/v1/operations/${own.body.id}`);
  const op = await follow(F, `/api/v1/operations/${own.body.id}`);
  assert.equal(op.state, 'succeeded', JSON.stringify(op.result ?? op.error));
  assert.equal(switchoverReports(F).length, 1);
  await assertInvariant({ lab: lab!, master: 'db1' });
  // Both managers' switchovers, newest first, each with the manager that performed it.
  const both = await api(F, 'GET', `/api/v1/clusters/${NAME}/reports`);
  assert.deepEqual(both.body.reports.map((x: any) => [x.id, x.manager, x.outcome]), [[op.result.id, F.id, 'switched'], [first[0], L.id, 'switched']]);
});
