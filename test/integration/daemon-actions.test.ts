/**
 * The HTTP API's actions through the real daemon (`node bin/heir.js daemon`, a child process)
 * against one real 3-node MySQL 9.7 loopback cluster with failover.auto: false:
 *  - POST /clusters/:name/switchover {to} with the token: the master moves, the switchover's
 *    own report (one copy) is listed by GET /clusters/:name/reports, metrics count it;
 *  - kill -9 of the master: no automatic failover; POST /clusters/:name/failover without the
 *    token is refused (401), with it the failover runs, is reported and counted.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startCluster, type LabCluster } from '../lab';
import type { ClusterConfig } from '../../src/config/schema';
import { apiRequest, jsonLogLines, until } from '../support/cli';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'heir.js');
const TOKEN = 'daemon-actions-token-4c8e2a9f1d7b3e50';
const NAME = 'act';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));


function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

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

function api(method: string, p: string, o: { token?: string; body?: unknown } = {}): Promise<{ status: number; body: any; text: string }> {
  return apiRequest(apiUrl, method, p, o);
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

  const r = await api('POST', `/clusters/${NAME}/switchover`, { token: TOKEN, body: { to: 'db2' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.ok, true, r.text);
  assert.equal(r.body.outcome, 'switched', r.text);
  assert.equal(r.body.from, 'db1');
  assert.equal(r.body.to, 'db2');
  assert.equal(typeof r.body.id, 'string');

  // The servers: db2 writable, the others replicate from it.
  assert.equal(await readOnly('db2'), 0);
  assert.equal(await readOnly('db1'), 1);
  for (const n of ['db1', 'db3']) assert.equal(await sourceOf(n), `${addrOf('db2')} IO Yes SQL Yes`, `${n} replicates from db2`);
  // The daemon follows it.
  await until('the daemon to watch db2', 10_000, async () => (await api('GET', `/clusters/${NAME}`)).body?.master === 'db2');

  // Exactly one report: the switchover's own, under its id, listed by the API.
  const files = fs.readdirSync(path.join(stateDir, NAME, 'reports')).filter((f) => f.startsWith('switchover-'));
  assert.deepEqual(files, [`switchover-${r.body.id}.json`], 'one report file, named by the switchover\'s id');
  assert.equal(r.body.report, path.join(stateDir, NAME, 'reports', files[0]!));
  const reports = await api('GET', `/clusters/${NAME}/reports`);
  assert.equal(reports.status, 200);
  const sw = reports.body.reports.filter((x: any) => x.kind === 'switchover');
  assert.equal(sw.length, 1, reports.text);
  assert.equal(sw[0].id, r.body.id);
  assert.equal(sw[0].outcome, 'switched');
  assert.equal(sw[0].reportPath, r.body.report);

  const metrics = await api('GET', '/metrics');
  assert.match(metrics.text, new RegExp(`heir_switchovers_total\\{cluster="${NAME}",result="success"\\} 1\\b`));
  assert.match(metrics.text, new RegExp(`heir_node_master\\{cluster="${NAME}",node="db2"\\} 1\\b`));
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

  const r = await api('POST', `/clusters/${NAME}/failover`, { token: TOKEN, body: {} });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.ok, true, r.text);
  assert.equal(r.body.outcome, 'promoted', r.text);
  assert.equal(r.body.deadMaster, 'db2');
  const newMaster = r.body.newMaster as string;
  assert.ok(newMaster === 'db1' || newMaster === 'db3', `new master is a survivor: ${newMaster}`);
  const other = newMaster === 'db1' ? 'db3' : 'db1';
  assert.equal(await readOnly(newMaster), 0);
  assert.equal(await sourceOf(newMaster), '', `${newMaster} replicates from no one`);
  assert.equal(await sourceOf(other), `${addrOf(newMaster)} IO Yes SQL Yes`, `${other} replicates from ${newMaster}`);

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
});
