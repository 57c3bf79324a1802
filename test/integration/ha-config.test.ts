/**
 * heir.ha with managers whose configurations disagree. Two heir daemons on a real
 * three-member etcd; mgr-a watches clusters cfgx (3 MariaDB servers) and cfgy (2 more),
 * mgr-b watches cfgx only, with one node configured differently (db3 never promoted).
 * mgr-a leads both. It reports, in its log, in `heir status` (the API's ha.configMismatches)
 * and as an ha.config-mismatch event, that mgr-b's configuration of cfgx differs (nodes) and
 * that cfgy is not in mgr-b's configuration. The leadership does not flap: over several
 * lease periods neither leadership key changes, mgr-b never campaigns for cfgy. Killed, mgr-a
 * leaves cfgy to nobody (mgr-b does not take a cluster it does not watch) and cfgx to mgr-b.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Watcher } from 'etcd3';
import { startCluster, type LabCluster } from '../lab';
import { startEtcdLab, type EtcdLab } from '../lab/etcd';
import type { ClusterConfig } from '../../src/config/schema';
import { connectEtcd, type EtcdHandle } from '../../src/ha/etcd';
import { haKeys } from '../../src/ha/leadership';
import { apiRequest, until } from '../support/cli';
import { killHaManagers, startHaManager, type HaManager } from '../support/ha-daemon';

const PREFIX = '/heir-config-test/';
const keys = haKeys(PREFIX);
const LEASE_S = 2;

let dir = '';
let etcd: EtcdLab | undefined;
const labs: LabCluster[] = [];
let probe: EtcdHandle | undefined;
const managers: HaManager[] = [];
const watchers: Watcher[] = [];
/** mgr-a's webhook (generic): the events it sent. */
let receiver: http.Server | undefined;
let hookUrl = '';
const received: { type: string; cluster: string; summary: string; details: Record<string, unknown> }[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-ha-config-'));
  const [e, x, y] = await Promise.all([startEtcdLab(), startCluster({ flavor: 'mariadb', name: 'cfgx' }), startCluster({ flavor: 'mariadb', name: 'cfgy', nodes: 2 })]);
  etcd = e;
  labs.push(x, y);
  probe = connectEtcd({ endpoints: etcd.endpoints, request_timeout_ms: 3000 });
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += String(c)));
    req.on('end', () => {
      try {
        const b = JSON.parse(body);
        received.push({ type: String(b.type), cluster: String(b.cluster), summary: String(b.summary), details: b.details ?? {} });
      } catch {
        received.push({ type: 'unparsable', cluster: '', summary: body, details: {} });
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r));
  const ra = receiver.address();
  hookUrl = `http://127.0.0.1:${typeof ra === 'object' && ra ? ra.port : 0}/hook`;
});

after(async () => {
  for (const w of watchers) await w.cancel().catch(() => undefined);
  await killHaManagers(managers);
  for (const m of managers) fs.writeFileSync(path.join(dir, `${m.id}.log`), m.out);
  probe?.close();
  await new Promise((r) => receiver?.close(r) ?? r(undefined));
  for (const l of labs) await l.teardown().catch(() => undefined);
  await etcd?.stop();
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`HA config test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

const detection = { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'];
const lines = (m: HaManager, re: RegExp) => m.log().filter((l) => re.test(l.msg ?? ''));
const leaderOf = async (cluster: string) => {
  const v = await probe!.client.get(keys.leader(cluster)).string();
  return v === null ? undefined : (JSON.parse(v) as { manager: string }).manager;
};

test('a cluster missing from one manager and a node configured differently: the leader reports both, the leadership does not flap', async () => {
  const [x, y] = labs as [LabCluster, LabCluster];
  const webhooks = [{ type: 'generic', url: hookUrl } as ClusterConfig['webhooks'][number]];
  const cfgx = x.clusterConfig({ detection, webhooks });
  const cfgy = y.clusterConfig({ detection, webhooks });
  // mgr-b's cfgx: db3 is never to be promoted there; everything else the same.
  const cfgxB = { ...cfgx, nodes: cfgx.nodes.map((n) => (n.name === 'db3' ? { ...n, promotion: 'never' as const } : n)) };

  const a = await startHaManager({ dir, id: 'mgr-a', cluster: cfgx, more: [cfgy], endpoints: etcd!.endpoints, prefix: PREFIX, leaseTtlS: LEASE_S });
  managers.push(a);
  await until('mgr-a leads cfgx and cfgy', 60_000, async () => (await leaderOf('cfgx')) === 'mgr-a' && (await leaderOf('cfgy')) === 'mgr-a');
  const b = await startHaManager({ dir, id: 'mgr-b', cluster: cfgxB, endpoints: etcd!.endpoints, prefix: PREFIX, leaseTtlS: LEASE_S });
  managers.push(b);
  await until('mgr-b following mgr-a on cfgx', 60_000, () => lines(b, /^cluster cfgx is led by mgr-a$/).length > 0);

  // The leader reports both, in its log (and the event that goes with it)...
  const differs = await until('mgr-a reporting mgr-b\'s cfgx', 30_000, () => lines(a, /^manager mgr-b's configuration of cluster cfgx differs from mgr-a's \(nodes\)/)[0]);
  assert.equal(differs.level, 40, 'a warning');
  const missing = await until('mgr-a reporting cfgy missing from mgr-b', 30_000, () => lines(a, /^cluster cfgy is not in manager mgr-b's configuration \(it is in mgr-a's\): mgr-b does not watch it and never campaigns for it/)[0]);
  assert.equal(missing.manager, 'mgr-b');
  const ex = await until('the ha.config-mismatch event of cfgx', 30_000, () => received.find((r) => r.type === 'ha.config-mismatch' && r.cluster === 'cfgx'));
  assert.equal(ex.summary, `cfgx: ${differs.msg}`);
  assert.deepEqual([ex.details.manager, ex.details.leader, ex.details.kind, ex.details.parts, ex.details.resolved], ['mgr-b', 'mgr-a', 'differs', ['nodes'], false]);
  const ey = await until('the ha.config-mismatch event of cfgy', 30_000, () => received.find((r) => r.type === 'ha.config-mismatch' && r.cluster === 'cfgy'));
  assert.deepEqual([ey.details.manager, ey.details.kind], ['mgr-b', 'missing']);

  // ...and in status.
  const sx = await apiRequest(a.api, 'GET', '/api/v1/clusters/cfgx');
  assert.equal(sx.status, 200, sx.text);
  assert.deepEqual(sx.body.ha.configMismatches.map((m: any) => [m.manager, m.kind, m.parts]), [['mgr-b', 'differs', ['nodes']]]);
  const sy = await apiRequest(a.api, 'GET', '/api/v1/clusters/cfgy');
  assert.deepEqual(sy.body.ha.configMismatches.map((m: any) => [m.manager, m.kind]), [['mgr-b', 'missing']]);
  // The follower leads nothing: it reports nothing.
  const bx = await apiRequest(b.api, 'GET', '/api/v1/clusters/cfgx');
  assert.equal(bx.body.ha.leader, 'mgr-a');
  assert.deepEqual(bx.body.ha.configMismatches, []);
  assert.equal((await apiRequest(b.api, 'GET', '/api/v1/clusters/cfgy')).status, 404, 'mgr-b does not know cfgy');

  // No flapping: over five lease periods neither leadership key changes, and each is reported once.
  const changes: string[] = [];
  for (const c of ['cfgx', 'cfgy']) {
    const w = await probe!.client.watch().key(keys.leader(c)).create();
    watchers.push(w);
    w.on('put', (kv) => changes.push(`${c}: put ${kv.value.toString()}`));
    w.on('delete', () => changes.push(`${c}: deleted`));
  }
  await new Promise((r) => setTimeout(r, 5 * LEASE_S * 1000));
  assert.deepEqual(changes, [], 'the leadership changed while the configurations disagree');
  assert.equal(await leaderOf('cfgx'), 'mgr-a');
  assert.equal(await leaderOf('cfgy'), 'mgr-a');
  assert.equal(lines(a, /^manager mgr-b's configuration of cluster cfgx differs/).length, 1, 'reported once, not at every check');
  assert.equal(lines(a, /^cluster cfgy is not in manager mgr-b's configuration/).length, 1, 'reported once, not at every check');
  assert.equal(received.filter((r) => r.type === 'ha.config-mismatch').length, 2, 'one event each');
  assert.deepEqual(lines(b, /cfgy/).map((l) => l.msg), [], 'mgr-b never speaks of cfgy: it never campaigns for it');
  assert.equal(lines(a, /leads cluster cfgx/).length, 1);
  assert.equal(lines(b, /leads cluster/).length, 0);

  // mgr-a killed: mgr-b takes cfgx (it watches it), nobody takes cfgy.
  a.child.kill('SIGKILL');
  await a.exited;
  await until('mgr-b leading cfgx', 30_000, async () => (await leaderOf('cfgx')) === 'mgr-b');
  await until('cfgy without a leader (mgr-a\'s lease ended)', 30_000, async () => (await leaderOf('cfgy')) === undefined);
  await new Promise((r) => setTimeout(r, 2 * LEASE_S * 1000));
  assert.equal(await leaderOf('cfgy'), undefined, 'a manager that does not watch cfgy took its leadership');
  // mgr-b, leading now, has nobody to compare with: mgr-a's record went with it.
  const nb = await apiRequest(b.api, 'GET', '/api/v1/clusters/cfgx');
  assert.equal(nb.body.ha.leader, 'mgr-b');
  assert.deepEqual(nb.body.ha.configMismatches, []);
});
