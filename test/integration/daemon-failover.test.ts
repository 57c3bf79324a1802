/**
 * The real daemon (`node bin/heir.js daemon`, a child process) against two real 3-node
 * MySQL 9.7 clusters: a killed master is failed over with signed webhooks, metrics and
 * `heir status` follow, the other cluster is untouched; API actions need the token; a
 * broken config on SIGHUP is rejected while the old one keeps running; a good one restarts
 * only the changed cluster; SIGTERM during a failover lets the step in progress finish,
 * leaves a complete journal and exits 0.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort, startCluster, type LabCluster } from '../lab';
import type { ClusterConfig } from '../../src/config/schema';
import { listJournals } from '../../src/failover/journal';
import type { ClusterStatus } from '../../src/daemon/status';
import { apiRequest, jsonLogLines, until } from '../support/cli';
import { assertInvariant } from '../support/invariant';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'heir.js');
const TOKEN = 'daemon-test-token-7f3a9c1e5b2d4f60';
const HOOK_SECRET = 'webhook-hmac-secret-for-the-test';

interface Received {
  event: string;
  cluster: string;
  body: Record<string, any>;
  signatureOk: boolean;
  headers: http.IncomingHttpHeaders;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


let labs: LabCluster[] = [];
let dir = '';
let stateDir = '';
let configPath = '';
let daemon: ChildProcess | undefined;
let daemonExit: Promise<number | null> | undefined;
let out = '';
let apiUrl = '';
let receiver: http.Server | undefined;
let hookUrl = '';
const received: Received[] = [];
let clusters: ClusterConfig[] = [];

function writeConfig(cs: ClusterConfig[]): void {
  const cfg = {
    heir: {
      state_dir: stateDir,
      log_level: 'info',
      api: { listen: apiUrl.replace('http://', ''), token: `\${file:${path.join(dir, 'api-token')}}` },
    },
    clusters: cs,
  };
  fs.writeFileSync(configPath, stringify(cfg));
}

function logLines(): any[] {
  return jsonLogLines(out);
}

function api(method: string, p: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: any; text: string }> {
  return apiRequest(apiUrl, method, p, o);
}

function heirStatus(): { source: string; clusters: ClusterStatus[] } {
  const r = spawnSync(process.execPath, [BIN, 'status', '--config', configPath, '--json'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `heir status exits 0 (stderr: ${r.stderr})`);
  return JSON.parse(r.stdout);
}


before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-daemon-test-'));
  stateDir = path.join(dir, 'state');
  configPath = path.join(dir, 'heir.yaml');
  fs.writeFileSync(path.join(dir, 'api-token'), `${TOKEN}\n`, { mode: 0o600 });

  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const expected = Buffer.from('sha256=' + createHmac('sha256', HOOK_SECRET).update(raw).digest('hex'));
      const got = Buffer.from(String(req.headers['x-heir-signature'] ?? ''));
      let body: Record<string, any> = {};
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        /* recorded as is: the assertions catch it */
      }
      received.push({
        event: String(body.type ?? req.headers['x-heir-event'] ?? ''),
        cluster: String(body.cluster ?? ''),
        body,
        signatureOk: got.length === expected.length && timingSafeEqual(got, expected),
        headers: req.headers,
      });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', () => r()));
  const ra = receiver.address();
  hookUrl = `http://127.0.0.1:${typeof ra === 'object' && ra ? ra.port : 0}/heir-hook`;

  labs = await Promise.all([startCluster({ flavor: 'mysql', name: 'app1' }), startCluster({ flavor: 'mysql', name: 'app2' })]);
  clusters = labs.map((l) =>
    l.clusterConfig({
      detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
      failover: { salvage: { enabled: false } } as ClusterConfig['failover'],
      webhooks: [{ type: 'generic', url: hookUrl, secret: HOOK_SECRET } as ClusterConfig['webhooks'][number]],
    }),
  );
  apiUrl = `http://127.0.0.1:${await freePort()}`;
  writeConfig(clusters);

  daemon = spawn(process.execPath, [BIN, 'daemon', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HEIR_LOG_LEVEL: '' } });
  daemonExit = new Promise((resolve) => daemon!.on('exit', (code) => resolve(code)));
  daemon.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  daemon.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await until('"heir ready: 2 clusters" in the daemon log', 60_000, () => logLines().some((l) => /^heir ready: 2 clusters/.test(l.msg ?? '')));
  // Ready may still mean "without a known master yet; retried" on a loaded machine.
  for (const name of ['app1', 'app2']) {
    await until(`the daemon watching ${name}'s master db1`, 60_000, () => logLines().some((l) => l.msg === `watching ${name}: master db1`));
  }
});

after(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGKILL');
    await daemonExit;
  }
  for (const l of labs) await l.teardown().catch(() => undefined);
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`daemon test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

test('the daemon watches both clusters; reads are open, actions need the bearer token', async () => {
  const health = await api('GET', '/health');
  assert.equal(health.status, 200);
  assert.equal(health.body.clusters, 2);
  assert.equal(health.body.watching, 2);
  const list = await api('GET', '/clusters');
  assert.deepEqual(list.body.clusters.map((c: any) => [c.name, c.master]).sort(), [
    ['app1', 'db1'],
    ['app2', 'db1'],
  ]);
  for (const [p, body] of [
    ['/clusters/app1/ack', undefined],
    ['/clusters/app1/failover', {}],
    ['/clusters/app1/switchover', { to: 'db2' }],
  ] as const) {
    const none = await api('POST', p, { body });
    assert.equal(none.status, 401, `${p} without a token`);
    const wrong = await api('POST', p, { token: 'not-the-token-at-all-0000', body });
    assert.equal(wrong.status, 401, `${p} with a wrong token`);
  }
  const ack = await api('POST', '/clusters/app1/ack', { token: TOKEN });
  assert.equal(ack.status, 200);
  assert.equal(ack.body.ok, true);
  assert.ok(!ack.text.includes(TOKEN), 'the token never comes back in a response');
});

test('kill -9 of app1\'s master: failover, signed webhooks, metrics and status follow; app2 untouched', async () => {
  const [app1, app2] = labs;
  await app1!.kill('db1');
  const finished = await until('failover.finished of app1 at the webhook', 90_000, () =>
    received.find((r) => r.cluster === 'app1' && (r.event === 'failover.finished' || r.event === 'failover.failed')),
  );
  assert.equal(finished.event, 'failover.finished', `failover finished: ${finished.body.summary}`);
  assert.equal(finished.body.details.outcome, 'promoted');
  const newMaster = finished.body.details.newMaster as string;
  assert.ok(newMaster === 'db2' || newMaster === 'db3', `new master is a former replica: ${newMaster}`);

  const app1Events = received.filter((r) => r.cluster === 'app1').map((r) => r.event);
  const iStarted = app1Events.indexOf('failover.started');
  assert.ok(iStarted >= 0, `failover.started was sent (got ${app1Events.join(', ')})`);
  assert.ok(iStarted < app1Events.indexOf('failover.finished'), 'started before finished');
  const verdict = received.find((r) => r.cluster === 'app1' && r.event === 'verdict' && r.body.details.failoverAllowed);
  assert.ok(verdict, 'the dead verdict was sent');
  assert.ok(['DeadMaster', 'DeadMasterHost'].includes(verdict.body.details.verdict), verdict.body.summary);
  for (const r of received) {
    assert.equal(r.signatureOk, true, `HMAC signature of ${r.event} verifies`);
    assert.equal(r.headers['x-heir-event'], r.event);
    assert.ok(typeof r.body.at === 'string' && !Number.isNaN(Date.parse(r.body.at)), 'event time is ISO 8601');
    assert.ok(['info', 'warning', 'critical'].includes(r.body.severity));
    assert.ok(typeof r.body.summary === 'string' && r.body.summary.length > 0);
  }

  const metrics = await api('GET', '/metrics');
  assert.match(metrics.text, /heir_failovers_total\{cluster="app1",result="success"\} 1\b/);
  assert.match(metrics.text, /heir_failovers_total\{cluster="app2",result="success"\} 0\b/);
  assert.match(metrics.text, new RegExp(`heir_node_master\\{cluster="app1",node="${newMaster}"\\} 1\\b`));
  assert.match(metrics.text, /heir_webhook_deliveries_total\{cluster="app1",type="generic",result="delivered"\} [1-9]/);

  const st = await until('heir status to show the new master', 30_000, () => {
    const s = heirStatus();
    const a = s.clusters.find((c) => c.name === 'app1');
    return a && a.master === newMaster && a.nodes.find((n) => n.name === 'db1')?.role === 'unreachable' ? s : undefined;
  });
  assert.equal(st.source, 'daemon');
  const a1 = st.clusters.find((c) => c.name === 'app1')!;
  assert.equal(a1.blocked, true, 'an automatic failover blocks the next one until acknowledged');
  assert.equal(a1.nodes.find((n) => n.name === newMaster)!.role, 'master');
  assert.equal(a1.nodes.find((n) => n.name === newMaster)!.readOnly, false);
  const other = a1.nodes.find((n) => n.name !== newMaster && n.name !== 'db1')!;
  assert.equal(other.role, 'replica');
  assert.equal(other.source, newMaster);

  // The other cluster: same master, writable, no failover event, replicas following it.
  const a2 = st.clusters.find((c) => c.name === 'app2')!;
  assert.equal(a2.master, 'db1');
  assert.equal(a2.verdict, 'Healthy');
  assert.equal(a2.blocked, false);
  assert.ok(a2.nodes.every((n) => n.reachable));
  assert.deepEqual(
    a2.nodes.filter((n) => n.name !== 'db1').map((n) => [n.name, n.source, n.io, n.sql]),
    [
      ['db2', 'db1', 'Yes', 'Yes'],
      ['db3', 'db1', 'Yes', 'Yes'],
    ],
  );
  assert.equal(received.filter((r) => r.cluster === 'app2' && r.event.startsWith('failover')).length, 0);
  const [ro] = await app2!.sql('db1', 'SELECT @@global.read_only AS ro');
  assert.equal(Number(ro.ro), 0);

  // One writable node in each cluster, the others read-only, replicating from it and converged.
  await assertInvariant({ lab: app1!, master: newMaster, absent: ['db1'] });
  await assertInvariant({ lab: app2!, master: 'db1' });

  const reports = await api('GET', '/clusters/app1/reports');
  assert.equal(reports.status, 200);
  assert.equal(reports.body.reports[0].outcome, 'promoted');
  assert.ok(!reports.text.includes('heir-lab-admin') && !reports.text.includes(HOOK_SECRET), 'no secret in the reports');
});

test('SIGHUP with a broken configuration: rejected, the old one keeps running', async () => {
  const good = fs.readFileSync(configPath, 'utf8');
  fs.writeFileSync(configPath, good.replace(/ping_type: select/, 'ping_type: telepathy'));
  const before = logLines().length;
  daemon!.kill('SIGHUP');
  const line = await until('the rejection in the log', 20_000, () => logLines().slice(before).find((l) => /rejected/.test(l.msg ?? '')));
  assert.equal(line.level, 50);
  assert.match(line.msg, /running configuration stays in force/);
  assert.match(JSON.stringify(line.issues), /ping_type/);
  const health = await api('GET', '/health');
  assert.equal(health.status, 200);
  assert.equal(health.body.clusters, 2);
  assert.equal(health.body.lastReload.ok, false);
  const app2 = await api('GET', '/clusters/app2');
  assert.equal(app2.body.monitor, 'running');
  assert.ok(!logLines().slice(before).some((l) => /watching app|configuration reloaded/.test(l.msg ?? '')), 'nothing restarted');
  fs.writeFileSync(configPath, good);
});

test('SIGHUP with a good change restarts only that cluster; SIGTERM during its failover finishes the step, journals, exits 0', async () => {
  // app2's address moves through a script whose attach takes 4 s: SIGTERM arrives during it.
  const script = path.join(dir, 'slow_master_ip_failover');
  const marker = path.join(dir, 'attach-started');
  fs.writeFileSync(
    script,
    `#!/bin/sh\ncase "$*" in *--command=start*) touch '${marker}'; sleep 4;; esac\nexit 0\n`,
    { mode: 0o755 },
  );
  const app2Cfg = { ...clusters[1]!, address: { type: 'script', path: script, timeout_s: 30 } as ClusterConfig['address'] };
  const before = logLines().length;
  writeConfig([clusters[0]!, app2Cfg]);
  daemon!.kill('SIGHUP');
  const reloaded = await until('the reload in the log', 30_000, () => logLines().slice(before).find((l) => /^configuration reloaded/.test(l.msg ?? '')));
  assert.deepEqual(reloaded.changed, [{ name: 'app2', keys: ['address'] }]);
  assert.equal(reloaded.unchanged, 1);
  await until('app2 watched again', 30_000, () => logLines().slice(before).some((l) => l.msg === 'watching app2: master db1'));
  assert.ok(!logLines().slice(before).some((l) => /^watching app1/.test(l.msg ?? '')), 'app1 was not restarted');

  await labs[1]!.kill('db1');
  await until('the attach step to start (script running)', 90_000, () => fs.existsSync(marker));
  daemon!.kill('SIGTERM');
  const code = await Promise.race([daemonExit!, sleep(60_000).then(() => 'timeout' as const)]);
  assert.equal(code, 0, 'exit code 0 after SIGTERM');

  const lines = logLines();
  assert.ok(lines.some((l) => /heir stopping: SIGTERM received; waiting for app2 \(failover\)/.test(l.msg ?? '')), 'the stop waited for the failover');
  assert.ok(lines.some((l) => /^heir stopped/.test(l.msg ?? '')));
  const journals = listJournals(stateDir, 'app2');
  assert.equal(journals.length, 1);
  const j = journals[0]!;
  assert.ok(j.end, 'the journal has its end record');
  assert.equal(j.end!.outcome, 'promoted');
  assert.equal(j.unfinished, false);
  assert.deepEqual(j.steps.filter((s) => s.outcome === 'running'), [], 'no step left in flight');
  const attach = j.steps.find((s) => s.step === 'attach');
  assert.equal(attach?.outcome, 'ok', 'the attach step in progress at SIGTERM finished');
  assert.ok(received.some((r) => r.cluster === 'app2' && r.event === 'failover.finished'), 'the webhook got the end before exit');

  for (const secret of [TOKEN, HOOK_SECRET, 'heir-lab-admin', 'heir-lab-repl']) {
    assert.ok(!out.includes(secret), `the log never contains the secret ${secret.slice(0, 6)}…`);
  }
});

test('with no daemon running, heir status reads the servers directly', async () => {
  assert.ok(daemon!.exitCode !== null || daemon!.signalCode !== null, 'the daemon has exited');
  const s = heirStatus();
  assert.equal(s.source, 'direct');
  const byName = new Map(s.clusters.map((c) => [c.name, c]));
  for (const name of ['app1', 'app2']) {
    const c = byName.get(name)!;
    assert.ok(c.master === 'db2' || c.master === 'db3', `${name}: the promoted node is the master (${c.master})`);
    assert.equal(c.nodes.find((n) => n.name === 'db1')!.role, 'unreachable');
    assert.equal(c.verdict, 'unknown (no daemon)');
    assert.equal(c.blocked, true, `${name}: blocked after its automatic failover (read from the state dir)`);
  }
  const text = spawnSync(process.execPath, [BIN, 'status', '--config', configPath], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(text.status, 0);
  assert.match(text.stdout, /CLUSTER +NODE +ROLE +READ-ONLY +IO\/SQL +LAG +GTID +VERDICT +BLOCKED/);
  assert.match(text.stdout, /no heir daemon answers/);
});
