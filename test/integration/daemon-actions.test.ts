/**
 * The HTTP API's actions through the real daemon (`node bin/heir.js daemon`, a child process)
 * against one real 3-node MySQL 9.7 loopback cluster with failover.auto: false:
 *  - POST /api/v1/clusters/:name/switchover {to} with the token: 202 and an operation, followed
 *    to its end; the master moves, the switchover's own report (one copy) is listed by
 *    GET /clusters/:name/reports, metrics count it;
 *  - kill -9 of the master: no automatic failover; POST /clusters/:name/failover without the
 *    token is refused (401), with it the failover runs as an operation, is reported and counted.
 * Every answer of the daemon is checked against its own OpenAPI document
 * (GET /api/v1/openapi.json), and every documented endpoint is exercised.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort, startCluster, type LabCluster } from '../lab';
import type { ClusterConfig } from '../../src/config/schema';
import { apiRequest, jsonLogLines, until } from '../support/cli';
import { assertInvariant } from '../support/invariant';
import { openApiChecker, type OpenApiChecker } from '../support/openapi';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'heir.js');
const TOKEN = 'daemon-actions-token-4c8e2a9f1d7b3e50';
const NAME = 'act';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));



let lab: LabCluster | undefined;
let dir = '';
let stateDir = '';
let daemon: ChildProcess | undefined;
let daemonExit: Promise<number | null> | undefined;
let out = '';
let apiUrl = '';

function logLines(): any[] {
  return jsonLogLines(out);
}

let openapi: OpenApiChecker | undefined;

/** One request to the daemon; its answer must match the OpenAPI document. */
async function api(method: string, p: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const r = await apiRequest(apiUrl, method, p, o);
  openapi?.check(method, p, r.status, r.body ?? r.text, r.headers.get('content-type') ?? undefined);
  return r;
}

/** Follow an operation (its Location) until it ended; the states and step counts seen on the way. */
async function follow(location: string, timeoutMs = 120_000): Promise<{ op: any; seen: { state: string; steps: number }[] }> {
  const seen: { state: string; steps: number }[] = [];
  const op = await until(`operation ${location} to end`, timeoutMs, async () => {
    const r = await api('GET', location);
    assert.equal(r.status, 200, r.text);
    seen.push({ state: r.body.state, steps: r.body.steps.length });
    return r.body.state === 'running' ? undefined : r.body;
  });
  return { op, seen };
}

async function readOnly(node: string): Promise<number> {
  const [r] = await lab!.sql(node, 'SELECT @@global.read_only AS ro');
  return Number(r.ro);
}

/** Source host:port of a replica's channel, '' when it is not a replica. */
async function sourceOf(node: string): Promise<string> {
  const rows = await lab!.sql(node, 'SHOW REPLICA STATUS');
  const r = rows[0];
  return r ? `${r.Source_Host}:${r.Source_Port} IO ${r.Replica_IO_Running} SQL ${r.Replica_SQL_Running}` : '';
}

function addrOf(node: string): string {
  const n = lab!.nodes.find((x) => x.name === node)!;
  return `${n.host}:${n.port}`;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-daemon-actions-'));
  stateDir = path.join(dir, 'state');
  const configPath = path.join(dir, 'heir.yaml');
  fs.writeFileSync(path.join(dir, 'api-token'), `${TOKEN}\n`, { mode: 0o600 });
  lab = await startCluster({ flavor: 'mysql', name: NAME });
  const cluster = lab.clusterConfig({
    detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
    failover: { auto: false, salvage: { enabled: false } } as ClusterConfig['failover'],
    // Post hooks run in the daemon's background once the report is written.
    hooks: {
      post_switchover: { command: ['/bin/sh', '-c', `env | grep '^HEIR_' > '${path.join(dir, 'post_switchover.env')}'`], timeout_s: 10 },
      post_failover: { command: ['/bin/sh', '-c', `env | grep '^HEIR_' > '${path.join(dir, 'post_failover.env')}'`], timeout_s: 10 },
    },
  });
  apiUrl = `http://127.0.0.1:${await freePort()}`;
  fs.writeFileSync(
    configPath,
    stringify({
      heir: { state_dir: stateDir, log_level: 'info', api: { listen: apiUrl.replace('http://', ''), token: `\${file:${path.join(dir, 'api-token')}}` } },
      clusters: [cluster],
    }),
  );
  daemon = spawn(process.execPath, [BIN, 'daemon', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HEIR_LOG_LEVEL: '' } });
  daemonExit = new Promise((resolve) => daemon!.on('exit', (code) => resolve(code)));
  daemon.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  daemon.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await until('"heir ready: 1 clusters" in the daemon log', 60_000, () => logLines().some((l) => /^heir ready: 1 clusters/.test(l.msg ?? '')));
  await until(`the daemon watching ${NAME}`, 30_000, async () => (await api('GET', `/clusters/${NAME}`)).body?.master === 'db1');
  const doc = await api('GET', '/api/v1/openapi.json');
  assert.equal(doc.status, 200, doc.text);
  openapi = await openApiChecker(doc.body);
  openapi.check('GET', '/api/v1/openapi.json', doc.status, doc.body, doc.headers.get('content-type') ?? undefined);
  openapi.check('GET', `/clusters/${NAME}`, 200, (await api('GET', `/api/v1/clusters/${NAME}`)).body);
});

after(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    const code = await Promise.race([daemonExit!, sleep(30_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      daemon.kill('SIGKILL');
      await daemonExit;
    }
  }
  await lab?.teardown().catch(() => undefined);
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`daemon actions test folder kept: ${dir}\n`);
  else if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('POST switchover with the token moves the master; one report, listed; metrics count it', async () => {
  const refused = await api('POST', `/clusters/${NAME}/switchover`, { body: { to: 'db2' } });
  assert.equal(refused.status, 401, 'no token: refused');
  assert.equal(await readOnly('db1'), 0, 'a refused request changed nothing');

  const accepted = await api('POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db2' } });
  assert.equal(accepted.status, 202, accepted.text);
  assert.equal(accepted.headers.get('location'), `/api/v1/operations/${accepted.body.id}`);
  assert.equal(accepted.body.kind, 'switchover');
  assert.deepEqual(accepted.body.request, { to: 'db2' });
  const { op } = await follow(accepted.headers.get('location')!);
  assert.equal(op.state, 'succeeded', JSON.stringify(op));
  for (const s of ['pause', 'promote', 'repoint']) assert.equal(op.steps.find((x: any) => x.name === s)?.outcome, 'ok', `step ${s}: ${JSON.stringify(op.steps)}`);
  const r = { body: op.result };
  assert.equal(r.body.ok, true, JSON.stringify(op));
  assert.equal(r.body.outcome, 'switched');
  assert.equal(r.body.from, 'db1');
  assert.equal(r.body.to, 'db2');
  assert.equal(typeof r.body.id, 'string');
  assert.equal(op.report.id, r.body.id, 'the operation carries the report');
  assert.equal(op.report.outcome, 'switched');

  // The servers: db2 writable, the others replicate from it.
  assert.equal(await readOnly('db2'), 0);
  assert.equal(await readOnly('db1'), 1);
  for (const n of ['db1', 'db3']) assert.equal(await sourceOf(n), `${addrOf('db2')} IO Yes SQL Yes`, `${n} replicates from db2`);
  await assertInvariant({ lab: lab!, master: 'db2' });
  // The daemon follows it.
  await until('the daemon to watch db2', 10_000, async () => (await api('GET', `/clusters/${NAME}`)).body?.master === 'db2');

  // Exactly one report: the switchover's own, under its id, listed by the API.
  const files = fs.readdirSync(path.join(stateDir, NAME, 'reports')).filter((f) => f.startsWith('switchover-'));
  assert.deepEqual(files, [`switchover-${r.body.id}.json`], 'one report file, named by the switchover\'s id');
  assert.equal(r.body.reportPath, path.join(stateDir, NAME, 'reports', files[0]!));
  const reports = await api('GET', `/clusters/${NAME}/reports`);
  assert.equal(reports.status, 200);
  const sw = reports.body.reports.filter((x: any) => x.kind === 'switchover');
  assert.equal(sw.length, 1, reports.text);
  assert.equal(sw[0].id, r.body.id);
  assert.equal(sw[0].outcome, 'switched');
  assert.equal(sw[0].reportPath, r.body.reportPath);

  const metrics = await api('GET', '/metrics');
  assert.match(metrics.text, new RegExp(`heir_switchovers_total\\{cluster="${NAME}",result="success"\\} 1\\b`));
  assert.match(metrics.text, new RegExp(`heir_node_master\\{cluster="${NAME}",node="db2"\\} 1\\b`));

  // The daemon's post_switchover hook ran after the report and is recorded in it.
  const saved = await until('the post_switchover run in the saved report', 20_000, () => {
    const rep = JSON.parse(fs.readFileSync(r.body.reportPath, 'utf8'));
    return rep.hooks?.length ? rep : undefined;
  });
  assert.equal(saved.hooks[0].hook, 'post_switchover');
  assert.equal(saved.hooks[0].ok, true, saved.hooks[0].detail);
  const env = fs.readFileSync(path.join(dir, 'post_switchover.env'), 'utf8');
  assert.match(env, /^HEIR_OUTCOME=switched$/m);
  assert.match(env, /^HEIR_OLD_MASTER=db1$/m);
  assert.match(env, /^HEIR_NEW_MASTER=db2$/m);
});

test('kill -9 with failover.auto false: no automatic failover; POST failover needs the token, then fails over', async () => {
  await lab!.kill('db2');
  const st = await until('the dead verdict', 60_000, async () => {
    const s = (await api('GET', `/clusters/${NAME}`)).body;
    return s && ['DeadMaster', 'DeadMasterHost'].includes(s.verdict) ? s : undefined;
  });
  assert.equal(st.master, 'db2');
  await until('the "automatic failover is blocked" log line', 20_000, () =>
    logLines().some((l) => /is dead but automatic failover is blocked/.test(l.msg ?? '') && JSON.stringify(l.reasons).includes('failover.auto is false')),
  );
  assert.equal(await readOnly('db1'), 1, 'nothing promoted by itself');
  assert.equal(await readOnly('db3'), 1, 'nothing promoted by itself');

  for (const token of [undefined, 'not-the-token-at-all-0000']) {
    const refused = await api('POST', `/clusters/${NAME}/failover`, { body: {}, ...(token ? { token } : {}) });
    assert.equal(refused.status, 401, `failover ${token ? 'with a wrong token' : 'without a token'}`);
  }
  assert.equal(await readOnly('db1'), 1, 'a refused request changed nothing');
  assert.equal(await readOnly('db3'), 1, 'a refused request changed nothing');

  const accepted = await api('POST', `/clusters/${NAME}/failover`, { token: TOKEN, body: {} });
  assert.equal(accepted.status, 202, accepted.text);
  assert.equal(accepted.body.kind, 'failover');
  const { op, seen } = await follow(accepted.headers.get('location')!);
  assert.equal(op.state, 'succeeded', JSON.stringify(op));
  // Steps appear as the executor reports them: the operation was followed while it ran.
  const steps = [accepted.body.steps.length, ...seen.map((x) => x.steps)];
  assert.ok(steps.every((n, i) => i === 0 || n >= steps[i - 1]!), `the steps so far only grow: ${steps.join(' ')}`);
  for (const s of ['freeze', 'promote', 'attach']) assert.equal(op.steps.find((x: any) => x.name === s)?.outcome, 'ok', `step ${s}: ${JSON.stringify(op.steps)}`);
  assert.equal(op.report.kind, 'failover');
  // (The operation lists steps as they end, the report as they start: parallel steps may differ in order.)
  assert.deepEqual(op.report.steps.map((s: any) => s.name).sort(), op.steps.map((s: any) => s.name).sort(), 'the report has the same steps');
  const r = { body: op.result, text: JSON.stringify(op) };
  assert.equal(r.body.ok, true, r.text);
  assert.equal(r.body.outcome, 'promoted', r.text);
  assert.equal(r.body.deadMaster, 'db2');
  const newMaster = r.body.newMaster as string;
  assert.ok(newMaster === 'db1' || newMaster === 'db3', `new master is a survivor: ${newMaster}`);
  const other = newMaster === 'db1' ? 'db3' : 'db1';
  assert.equal(await readOnly(newMaster), 0);
  assert.equal(await sourceOf(newMaster), '', `${newMaster} replicates from no one`);
  assert.equal(await sourceOf(other), `${addrOf(newMaster)} IO Yes SQL Yes`, `${other} replicates from ${newMaster}`);
  await assertInvariant({ lab: lab!, master: newMaster, absent: ['db2'] });

  await until('the daemon to watch the new master', 10_000, async () => (await api('GET', `/clusters/${NAME}`)).body?.master === newMaster);
  const reports = await api('GET', `/clusters/${NAME}/reports`);
  const fo = reports.body.reports.filter((x: any) => x.kind === 'failover');
  assert.equal(fo.length, 1, reports.text);
  assert.equal(fo[0].id, r.body.id);
  assert.equal(fo[0].outcome, 'promoted');
  assert.equal(fo[0].trigger, 'manual');
  assert.equal(reports.body.reports.filter((x: any) => x.kind === 'switchover').length, 1, 'the switchover report is still listed');

  const metrics = await api('GET', '/metrics');
  assert.match(metrics.text, new RegExp(`heir_failovers_total\\{cluster="${NAME}",result="success"\\} 1\\b`));
  assert.match(metrics.text, new RegExp(`heir_switchovers_total\\{cluster="${NAME}",result="success"\\} 1\\b`));
  assert.ok(!reports.text.includes(TOKEN) && !r.text.includes(TOKEN), 'the token never comes back');

  const env = await until('the post_failover hook', 20_000, () => {
    const f = path.join(dir, 'post_failover.env');
    return fs.existsSync(f) && fs.readFileSync(f, 'utf8');
  });
  assert.match(env, /^HEIR_OUTCOME=promoted$/m);
  assert.match(env, /^HEIR_TRIGGER=manual$/m);
  assert.match(env, new RegExp(`^HEIR_NEW_MASTER=${newMaster}$`, 'm'));
});

test('errors carry their code; every endpoint of the OpenAPI document was exercised', async () => {
  const codes: [string, string, { token?: string; body?: unknown }, number, string][] = [
    ['GET', '/api/v1/operations/no-such-operation', {}, 404, 'unknown_operation'],
    ['GET', '/api/v1/clusters/nope', {}, 404, 'unknown_cluster'],
    ['GET', '/api/v1/clusters/nope/reports', {}, 404, 'unknown_cluster'],
    ['POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db9' } }, 404, 'unknown_node'],
    ['POST', `/api/v1/clusters/${NAME}/failover`, { token: TOKEN, body: { to: 'db9' } }, 404, 'unknown_node'],
    ['POST', `/api/v1/clusters/${NAME}/switchover`, { token: TOKEN, body: {} }, 400, 'bad_request'],
    ['POST', `/api/v1/clusters/${NAME}/ack`, {}, 401, 'unauthorized'],
  ];
  for (const [method, p, o, status, code] of codes) {
    const r = await api(method, p, o);
    assert.deepEqual([r.status, r.body?.code], [status, code], `${method} ${p}: ${r.text}`);
    assert.equal(typeof r.body.error, 'string');
  }
  const ack = await api('POST', `/api/v1/clusters/${NAME}/ack`, { token: TOKEN });
  assert.equal(ack.status, 200, ack.text);
  assert.equal((await api('GET', '/health')).status, 200);
  assert.equal((await api('GET', '/api/v1/clusters')).status, 200);
  assert.equal((await api('GET', `/api/v1/clusters/${NAME}/reports`)).status, 200);
  assert.deepEqual(openapi!.unexercised(), [], 'every documented endpoint answered at least once');
});
