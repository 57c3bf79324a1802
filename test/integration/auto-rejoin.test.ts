/**
 * failover.auto_rejoin with the real daemon (`node bin/heir.js daemon`) and five real 3-node
 * GTID clusters (three MySQL 9.7, two MariaDB 10.11), whose masters are killed together and
 * restarted (writable, as systemd would start them) once the daemon has failed each one over:
 *
 *   rj-clean  auto_rejoin on, nothing written at the kill: the old master comes back and becomes
 *             a read-only replica of the new master by itself (master.rejoined, journal, report);
 *             the cluster invariant holds with it as a survivor.
 *   rj-extra  auto_rejoin on, rows committed on the old master only (the replicas' IO threads were
 *             stopped): it stays fenced, replicating from no one, and master.kept-fenced names
 *             the 3 transactions the new master lacks.
 *   rj-off    auto_rejoin left at its default (off): fenced, and left so.
 *   rj-maria  as rj-clean, on MariaDB (GTID positions).
 *   rj-maria-off  as rj-off, on MariaDB (read_only: MariaDB 10.11 has no super_read_only).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { freePort, startCluster, type LabCluster } from '../lab';
import type { ClusterConfig } from '../../src/config/schema';
import { GtidSet } from '../../src/mysql/gtid';
import { listJournals } from '../../src/failover/journal';
import { listReportFiles } from '../../src/failover/report';
import { apiRequest, jsonLogLines, until } from '../support/cli';
import { assertInvariant } from '../support/invariant';
import { createTable, idsOn, range, sleep, writeRows } from './failover-helpers';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'heir.js');
const NAMES = ['rj-clean', 'rj-extra', 'rj-off', 'rj-maria', 'rj-maria-off'] as const;
type Name = (typeof NAMES)[number];

interface Received {
  type: string;
  cluster: string;
  summary: string;
  details: Record<string, any>;
}

let dir = '';
let stateDir = '';
let daemon: ChildProcess | undefined;
let daemonExit: Promise<unknown> | undefined;
let out = '';
let apiUrl = '';
let receiver: http.Server | undefined;
const received: Received[] = [];
const labs = new Map<Name, LabCluster>();
const cfgs = new Map<Name, ClusterConfig>();
const newMasters = new Map<Name, string>();
const acked = range(1, 20);
const extraIds = range(900001, 3);

/** The daemon's log lines about one cluster, for failure messages. */
const logOf = (cluster: Name) => jsonLogLines(out).filter((l) => l.cluster === cluster).map((l) => `${l.time} ${l.msg}`);
const events = (cluster: Name, type: string) => received.filter((r) => r.cluster === cluster && r.type === type);


async function nodeState(lab: LabCluster, node: string) {
  const [v] = await lab.sql(node, 'SELECT @@global.read_only AS ro, @@global.super_read_only AS sro, @@global.gtid_executed AS ex');
  const channels = await lab.sql(node, 'SHOW REPLICA STATUS');
  return { ro: Number(v.ro), sro: Number(v.sro), executed: String(v.ex).replace(/\s+/g, ''), channels };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-auto-rejoin-'));
  stateDir = path.join(dir, 'state');
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const b = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        received.push({ type: String(b.type), cluster: String(b.cluster), summary: String(b.summary), details: b.details ?? {} });
      } catch {
        received.push({ type: 'unparsable', cluster: '', summary: '', details: {} });
      }
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', () => r()));
  const ra = receiver.address();
  const hookUrl = `http://127.0.0.1:${typeof ra === 'object' && ra ? ra.port : 0}/hook`;

  const started = await Promise.all(NAMES.map((name) => startCluster({ flavor: name.startsWith('rj-maria') ? 'mariadb' : 'mysql', name })));
  NAMES.forEach((n, i) => labs.set(n, started[i]!));
  for (const name of NAMES) {
    const lab = labs.get(name)!;
    await createTable(lab);
    const cfg = lab.clusterConfig({
      detection: { ping_type: 'select', ssh_check: false, min_sources: 2, interval_ms: 1000 } as ClusterConfig['detection'],
      failover: { salvage: { enabled: false }, ...(name === 'rj-off' || name === 'rj-maria-off' ? {} : { auto_rejoin: true }) } as ClusterConfig['failover'],
      webhooks: [{ type: 'generic', url: hookUrl } as ClusterConfig['webhooks'][number]],
    });
    cfgs.set(name, cfg);
    await writeRows(cfg, 'db1', acked);
  }
  assert.equal(cfgs.get('rj-off')!.failover.auto_rejoin, false, 'off unless configured');
  assert.equal(cfgs.get('rj-maria-off')!.failover.auto_rejoin, false, 'off unless configured');
  apiUrl = `http://127.0.0.1:${await freePort()}`;
  const configPath = path.join(dir, 'heir.yaml');
  fs.writeFileSync(configPath, stringify({ heir: { state_dir: stateDir, log_level: 'info', api: { listen: apiUrl.replace('http://', '') } }, clusters: [...cfgs.values()] }));
  daemon = spawn(process.execPath, [BIN, 'daemon', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HEIR_LOG_LEVEL: '' } });
  daemonExit = new Promise((resolve) => daemon!.on('exit', resolve));
  daemon.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  daemon.stderr!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  await until('"heir ready: 5 clusters" in the daemon log', 60_000, () => jsonLogLines(out).some((l) => /^heir ready: 5 clusters/.test(l.msg ?? '')));
  // Ready may mean "a cluster without a known master yet; retried": the kill comes once the
  // daemon watches every master, so it has seen each cluster replicating.
  for (const name of NAMES) {
    await until(`the daemon watching ${name}'s master db1`, 60_000, async () => (await apiRequest(apiUrl, 'GET', `/api/v1/clusters/${name}`)).body?.master === 'db1');
  }
});

after(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGKILL');
    await daemonExit;
  }
  for (const l of labs.values()) await l.teardown().catch(() => undefined);
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  if (dir) fs.writeFileSync(path.join(dir, 'daemon.log'), out);
  if (process.env.HEIR_TEST_KEEP) process.stderr.write(`auto-rejoin test folder kept: ${dir}\n`);
  else fs.rmSync(dir, { recursive: true, force: true });
});

test('the five masters are killed (rj-extra after rows only it has) and failed over; then they are started again', async () => {
  // rj-extra: the replicas stop receiving, db1 commits 3 rows, db1 dies. The replicas then try
  // to reconnect and fail, which corroborates the death at once.
  const x = labs.get('rj-extra')!;
  for (const n of ['db2', 'db3']) await x.sql(n, 'STOP REPLICA IO_THREAD');
  await writeRows(cfgs.get('rj-extra')!, 'db1', extraIds);
  await Promise.all(NAMES.map((n) => labs.get(n)!.kill('db1')));
  for (const n of ['db2', 'db3']) await x.sql(n, 'START REPLICA IO_THREAD');

  for (const name of NAMES) {
    const fin = await until(`the failover of ${name}`, 90_000, () =>
      received.find((r) => r.cluster === name && ['failover.finished', 'failover.failed', 'failover.blocked'].includes(r.type)),
    ).catch((e: Error) => {
      throw new Error(`${e.message}; the daemon said:\n${logOf(name).slice(-40).join('\n')}`);
    });
    assert.equal(fin.type, 'failover.finished', `${name}: ${fin.summary}\n${logOf(name).slice(-40).join('\n')}`);
    newMasters.set(name, String(fin.details.newMaster));
  }
  assert.equal(received.filter((r) => r.type.startsWith('master.rejoined') || r.type === 'master.kept-fenced').length, 0, 'nothing rejoined while the old masters are down');
  await Promise.all(NAMES.map((n) => labs.get(n)!.start('db1')));
});

test('auto_rejoin on, nothing lost: the old master becomes a read-only replica of the new master by itself', async () => {
  const name = 'rj-clean';
  const lab = labs.get(name)!;
  const master = newMasters.get(name)!;
  const ev = await until('master.rejoined of rj-clean', 60_000, () => events(name, 'master.rejoined')[0]);
  assert.equal(ev.details.node, 'db1');
  assert.equal(ev.details.master, master);
  assert.equal(ev.details.trigger, 'auto');
  assert.match(ev.summary, new RegExp(`db1 rejoined automatically: db1 is a read-only replica of ${master}`));

  const s = await nodeState(lab, 'db1');
  assert.equal(s.ro, 1);
  assert.equal(s.sro, 1);
  assert.equal(s.channels.length, 1);
  assert.equal(s.channels[0].Source_Port, lab.nodes.find((n) => n.name === master)!.port);
  assert.equal(s.channels[0].Replica_IO_Running, 'Yes');
  assert.equal(s.channels[0].Replica_SQL_Running, 'Yes');

  // Journaled and reported like heir rejoin.
  const j = listJournals(stateDir, name).filter((x) => x.operation === 'rejoin');
  assert.equal(j.length, 1);
  assert.equal(j[0]!.end?.outcome, 'rejoined');
  assert.deepEqual(j[0]!.steps.map((x) => `${x.step}:${x.outcome}`), ['decide:ok', 'read-only:ok', 'source:ok', 'start:ok', 'verify:ok']);
  const reports = listReportFiles(stateDir, name, 'rejoin');
  assert.equal(reports.length, 1);
  assert.equal(ev.details.report, reports[0]);
  const rep = JSON.parse(fs.readFileSync(reports[0]!, 'utf8'));
  assert.equal(rep.outcome, 'rejoined');
  assert.equal(rep.trigger, 'auto');

  // It replicates what the new master takes from now on; the invariant holds with it as a survivor.
  await writeRows(cfgs.get(name)!, master, [5000]);
  await assertInvariant({ lab, master, table: 'app.w', acked: [...acked, 5000], maxAttemptedId: 5000 });
  assert.ok((await idsOn(cfgs.get(name)!, 'db1')).has(5000));
  const m = await apiRequest(apiUrl, 'GET', '/metrics');
  assert.match(m.text, /heir_auto_rejoins_total\{cluster="rj-clean",result="rejoined"\} 1\b/);
});

test('auto_rejoin on, the old master has transactions the new master lacks: it stays fenced and the alert names them', async () => {
  const name = 'rj-extra';
  const lab = labs.get(name)!;
  const master = newMasters.get(name)!;
  const ev = await until('master.kept-fenced of rj-extra', 60_000, () => events(name, 'master.kept-fenced')[0]);
  const old = await nodeState(lab, 'db1');
  const now = await nodeState(lab, master);
  const lacking = GtidSet.parse(old.executed).subtract(GtidSet.parse(now.executed));
  assert.equal(Number(lacking.count()), 3, `db1 has the 3 rows' transactions only: ${lacking.toString()}`);
  assert.equal(ev.details.node, 'db1');
  assert.equal(ev.details.master, master);
  assert.equal(ev.details.extra, lacking.toString());
  assert.equal(ev.details.transactions, 3);
  assert.match(ev.summary, new RegExp(`db1 kept fenced \\(read-only, not replicating\\): has 3 transactions the new master ${master} lacks: ${lacking.toString()}`));
  const file = String(ev.details.file);
  const text = fs.readFileSync(file, 'utf8');
  assert.match(text, new RegExp(`missing on ${master}: ${lacking.toString()}`));
  for (const id of extraIds) assert.match(text, new RegExp(`@1=${id}\\b`), `row ${id} decoded in the file`);

  const j = listJournals(stateDir, name).filter((x) => x.operation === 'rejoin');
  assert.equal(j.length, 1);
  assert.equal(j[0]!.end?.outcome, 'refused');

  // Left fenced, and not asked again while the answer is the same.
  await sleep(4000);
  const s = await nodeState(lab, 'db1');
  assert.deepEqual([s.ro, s.sro, s.channels.length], [1, 1, 0]);
  for (const id of extraIds) assert.ok(!(await idsOn(cfgs.get(name)!, master)).has(id), `row ${id} is not on ${master}`);
  assert.equal(events(name, 'master.kept-fenced').length, 1);
  assert.equal(events(name, 'master.rejoined').length, 0);
  // The surviving cluster: one writable master, the other survivor replicating with every
  // acknowledged row (the 3 rows only db1 had are nowhere else); db1 read-only.
  await writeRows(cfgs.get(name)!, master, [5000]);
  await assertInvariant({ lab, master, leftOut: ['db1'], table: 'app.w', acked: [...acked, 5000], maxAttemptedId: 5000 });
});

test('auto_rejoin off (the default): the old master is fenced and stays so', async () => {
  const name = 'rj-off';
  const lab = labs.get(name)!;
  await until('db1 of rj-off fenced', 60_000, () => events(name, 'master.fenced').find((e) => e.details.node === 'db1' && e.details.ok));
  await sleep(4000);
  const s = await nodeState(lab, 'db1');
  assert.deepEqual([s.ro, s.sro, s.channels.length], [1, 1, 0]);
  assert.equal(events(name, 'master.rejoined').length + events(name, 'master.kept-fenced').length, 0);
  assert.equal(listJournals(stateDir, name).filter((x) => x.operation === 'rejoin').length, 0);
  // The surviving cluster holds the invariant, db1 read-only beside it.
  const master = newMasters.get(name)!;
  await writeRows(cfgs.get(name)!, master, [5000]);
  await assertInvariant({ lab, master, leftOut: ['db1'], table: 'app.w', acked: [...acked, 5000], maxAttemptedId: 5000 });
});

test('MariaDB, auto_rejoin on, nothing lost: the old master becomes a replica of the new master by itself', async () => {
  const name = 'rj-maria';
  const lab = labs.get(name)!;
  const master = newMasters.get(name)!;
  const ev = await until('master.rejoined of rj-maria', 60_000, () => events(name, 'master.rejoined')[0]);
  assert.equal(ev.details.node, 'db1');
  assert.equal(ev.details.master, master);
  assert.equal(events(name, 'master.kept-fenced').length, 0);
  await writeRows(cfgs.get(name)!, master, [5000]);
  await assertInvariant({ lab, master, table: 'app.w', acked: [...acked, 5000], maxAttemptedId: 5000 });
  assert.ok((await idsOn(cfgs.get(name)!, 'db1')).has(5000));
});

test('MariaDB, auto_rejoin off (the default): the old master, started writable, is fenced and stays so', async () => {
  const name = 'rj-maria-off';
  const lab = labs.get(name)!;
  await until('db1 of rj-maria-off fenced', 60_000, () => events(name, 'master.fenced').find((e) => e.details.node === 'db1' && e.details.ok));
  await sleep(4000);
  const [v] = await lab.sql('db1', 'SELECT @@global.read_only AS ro');
  assert.equal(Number(v.ro), 1, 'db1 read-only');
  assert.deepEqual(await lab.sql('db1', 'SHOW ALL SLAVES STATUS'), [], 'db1 replicates from no one');
  assert.equal(events(name, 'master.rejoined').length + events(name, 'master.kept-fenced').length, 0);
  assert.equal(listJournals(stateDir, name).filter((x) => x.operation === 'rejoin').length, 0);
  const master = newMasters.get(name)!;
  await writeRows(cfgs.get(name)!, master, [5000]);
  await assertInvariant({ lab, master, leftOut: ['db1'], table: 'app.w', acked: [...acked, 5000], maxAttemptedId: 5000 });
});
