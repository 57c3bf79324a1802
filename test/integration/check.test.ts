/**
 * `heir check` as an operator runs it (node bin/heir.js), against a real
 * 3-node MySQL 9.7 GTID cluster: exit 0 when healthy, and non-zero naming the
 * cause for each fault, which is undone before the next one. The cases that read
 * the other flavor's own status (writable, IO threads, heartbeat period) run on a
 * 3-node MariaDB 10.11 cluster too. Servers at their default settings.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startCluster, type LabCluster } from '../lab';
import { startEcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion } from '../ecs-emulator/fixture';
import { runHeir, type CliResult } from '../support/cli';

let lab: LabCluster;
let maria: LabCluster;
let dir: string;
let configFile: string;
let mariaConfig: string;

interface Finding { severity: string; code: string; node?: string; message: string; fix?: string }
interface Liveness { node: string; heartbeatPeriodS: number | null; detection: string }
interface Result { cluster: string; fit: boolean; master?: string; candidates: string[]; findings: Finding[]; liveness: Liveness[] }

function heir(args: string[], password = lab.admin.password): Promise<CliResult> {
  return runHeir(args, { env: { HEIR_TEST_PW: password } });
}

async function check(on: 'mysql' | 'mariadb' = 'mysql'): Promise<{ code: number | null; result: Result; stdout: string }> {
  const r = on === 'mysql' ? await heir(['--config', configFile, '--json', 'check', '--cluster', 'lab']) : await heir(['--config', mariaConfig, '--json', 'check', '--cluster', 'lab'], maria.admin.password);
  let parsed: Result[];
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new Error(`heir check printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, result: parsed[0], stdout: r.stdout };
}

function codes(r: Result, severity = 'error'): string[] {
  return r.findings.filter((f) => f.severity === severity).map((f) => `${f.code}${f.node ? `@${f.node}` : ''}`);
}

before(async () => {
  [lab, maria] = await Promise.all([startCluster({ flavor: 'mysql', nodes: 3, name: 'check' }), startCluster({ flavor: 'mariadb', nodes: 3, name: 'check-maria' })]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-check-'));
  const write = (l: LabCluster, file: string) => {
    const cluster = l.clusterConfig({ name: 'lab' } as never) as unknown as Record<string, any>;
    cluster.mysql = { ...cluster.mysql, password: '${env:HEIR_TEST_PW}' };
    fs.writeFileSync(file, stringify({ heir: { state_dir: path.join(dir, 'state') }, clusters: [cluster] }));
    return file;
  };
  configFile = write(lab, path.join(dir, 'heir.yaml'));
  mariaConfig = write(maria, path.join(dir, 'heir-maria.yaml'));
});

after(async () => {
  await lab?.teardown();
  await maria?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a healthy cluster is fit: exit 0, the master found, both replicas candidates', async () => {
  const { code, result, stdout } = await check();
  assert.deepEqual(codes(result), [], stdout);
  assert.equal(result.fit, true);
  assert.equal(result.master, 'db1');
  assert.equal(code, 0);
  const human = await heir(['--config', configFile, 'check']);
  assert.equal(human.code, 0, human.stdout + human.stderr);
  assert.match(human.stdout, /cluster lab: OK, fit to fail over/);
  assert.match(human.stdout, /candidates: db2, db3/);
});

test('a replica with a stopped SQL thread', async () => {
  await lab.sql('db2', 'STOP REPLICA SQL_THREAD');
  try {
    const { code, result } = await check();
    assert.equal(code, 1);
    assert.ok(codes(result).includes('sql-thread-stopped@db2'), codes(result).join());
  } finally {
    await lab.sql('db2', 'START REPLICA SQL_THREAD');
  }
});

test('a replica with an errant GTID', async () => {
  await lab.sql('db3', 'SET GLOBAL super_read_only = OFF');
  await lab.sql('db3', 'CREATE DATABASE errant_here');
  await lab.sql('db3', 'SET GLOBAL super_read_only = ON');
  const { code, result } = await check();
  assert.equal(code, 1);
  const f = result.findings.find((x) => x.code === 'errant-gtids');
  assert.ok(f, codes(result).join());
  assert.equal(f.node, 'db3');
  const uuid = (await lab.sql('db3', 'SELECT @@server_uuid AS u'))[0].u as string;
  assert.match(f.message, new RegExp(uuid));
  // Undo: the master gets the errant ids as empty transactions; db3 drops the schema without binlog.
  const afterFix = await fixErrant(uuid);
  assert.equal(afterFix, true);
});

/** Injects the errant transactions as empty ones on the master (the standard repair), so the replicas agree again. */
async function fixErrant(uuid: string): Promise<boolean> {
  const executed = (await lab.sql('db3', 'SELECT @@gtid_executed AS g'))[0].g as string;
  const mine = executed.split(',').map((s) => s.trim()).find((s) => s.toLowerCase().startsWith(uuid.toLowerCase()));
  if (!mine) return false;
  const range = mine.split(':')[1];
  const [a, b] = range.split('-').map(Number);
  const stmts: string[] = [];
  for (let i = a; i <= (b ?? a); i++) stmts.push(`SET GTID_NEXT='${uuid}:${i}'`, 'BEGIN', 'COMMIT');
  stmts.push("SET GTID_NEXT='AUTOMATIC'");
  await lab.sql('db1', stmts.join('; '));
  await lab.sql('db3', 'SET GLOBAL super_read_only = OFF');
  await lab.sql('db3', 'SET sql_log_bin = 0; DROP DATABASE errant_here; SET sql_log_bin = 1');
  await lab.sql('db3', 'SET GLOBAL super_read_only = ON');
  const { result } = await check();
  return !result.findings.some((f) => f.code === 'errant-gtids');
}

test('two writable nodes', async () => {
  await lab.sql('db2', 'SET GLOBAL super_read_only = OFF');
  await lab.sql('db2', 'SET GLOBAL read_only = OFF');
  try {
    const { code, result } = await check();
    assert.equal(code, 1);
    const f = result.findings.find((x) => x.code === 'several-writable');
    assert.ok(f, codes(result).join());
    assert.match(f.message, /db1, db2/);
  } finally {
    await lab.sql('db2', 'SET GLOBAL super_read_only = ON');
  }
});

test("every replica's IO thread stopped: each is named, and both stay candidates, as a failover would promote one", async () => {
  for (const n of ['db2', 'db3']) await lab.sql(n, 'STOP REPLICA IO_THREAD');
  try {
    const { code, result } = await check();
    assert.equal(code, 1);
    assert.deepEqual(codes(result).sort(), ['io-thread-not-running@db2', 'io-thread-not-running@db3'], JSON.stringify(result.findings));
    assert.deepEqual(result.candidates, ['db2', 'db3']);
  } finally {
    for (const n of ['db2', 'db3']) await lab.sql(n, 'START REPLICA IO_THREAD');
  }
});

test("each replica's heartbeat period, as the server has it, and what it means for a downed host", async () => {
  const { result } = await check();
  for (const n of ['db2', 'db3']) {
    const [cfg] = await lab.sql(n, "SELECT HEARTBEAT_INTERVAL AS p FROM performance_schema.replication_connection_configuration WHERE CHANNEL_NAME = ''");
    const l = result.liveness.find((x) => x.node === n);
    assert.ok(l, JSON.stringify(result.liveness));
    assert.equal(l.heartbeatPeriodS, Number(cfg.p), `${n}: the server's own period`);
    assert.match(l.detection, new RegExp(`two heartbeat periods of ${Number(cfg.p)} s`));
  }
});

test('a replica that replicates from another replica', async () => {
  const db2 = lab.nodes[1];
  await lab.sql('db3', 'STOP REPLICA');
  await lab.sql(
    'db3',
    `CHANGE REPLICATION SOURCE TO SOURCE_HOST='${db2.host}', SOURCE_PORT=${db2.port}, SOURCE_USER='${lab.repl.user}', SOURCE_PASSWORD='${lab.repl.password}', SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1`,
  );
  await lab.sql('db3', 'START REPLICA');
  try {
    const { code, result } = await check();
    assert.equal(code, 1);
    const f = result.findings.find((x) => x.code === 'wrong-source');
    assert.ok(f, codes(result).join());
    assert.equal(f.node, 'db3');
    assert.match(f.message, /replicates from db2, not from the master db1/);
  } finally {
    const db1 = lab.nodes[0];
    await lab.sql('db3', 'STOP REPLICA');
    await lab.sql('db3', `CHANGE REPLICATION SOURCE TO SOURCE_HOST='${db1.host}', SOURCE_PORT=${db1.port}`);
    await lab.sql('db3', 'START REPLICA');
  }
});

test('missing privileges of the heir user, with the GRANT to run', async () => {
  const rows = await lab.sql('db2', `SELECT host FROM mysql.user WHERE user = '${lab.admin.user}'`);
  const host = rows[0].host as string;
  // Revoke on db2 only, without binlogging, so the other nodes keep theirs.
  await lab.sql(
    'db2',
    `SET GLOBAL super_read_only = OFF; SET sql_log_bin = 0; REVOKE REPLICATION_SLAVE_ADMIN ON *.* FROM '${lab.admin.user}'@'${host}'; SET sql_log_bin = 1; SET GLOBAL super_read_only = ON`,
  );
  try {
    const { code, result } = await check();
    assert.equal(code, 1);
    const f = result.findings.find((x) => x.code === 'missing-privileges');
    assert.ok(f, codes(result).join());
    assert.equal(f.node, 'db2');
    assert.match(f.message, /REPLICATION_SLAVE_ADMIN/);
    assert.match(f.fix ?? '', /GRANT REPLICATION_SLAVE_ADMIN ON \*\.\* TO/);
  } finally {
    await lab.sql(
      'db2',
      `SET GLOBAL super_read_only = OFF; SET sql_log_bin = 0; GRANT REPLICATION_SLAVE_ADMIN ON *.* TO '${lab.admin.user}'@'${host}'; SET sql_log_bin = 1; SET GLOBAL super_read_only = ON`,
    );
  }
});

test('a typo in a config key: exit 2, the key, its line and a suggestion', async () => {
  const bad = path.join(dir, 'typo.yaml');
  fs.writeFileSync(bad, fs.readFileSync(configFile, 'utf8').replace('interval_ms:', 'intreval_ms:').replace(/^(\s+)promotion:/m, '$1promtion:'));
  const r = await heir(['--config', bad, 'check']);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stderr + r.stdout, /promtion/);
  assert.match(r.stderr + r.stdout, /:\d+:/);
  assert.match(r.stderr + r.stdout, /promotion/);
});

test('an ENI address whose credentials lack ecs:StopInstance: the permission is named before any failover needs it', async () => {
  const emu = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }) });
  try {
    const key = emu.keys[0]!;
    emu.control({ op: 'deny', actions: ['StopInstance'], accessKeyId: key.id });
    const base = lab.clusterConfig({ name: 'lab' } as never) as unknown as Record<string, any>;
    const cluster = {
      ...base,
      mysql: { ...base.mysql, password: '${env:HEIR_TEST_PW}' },
      nodes: base.nodes.map((n: Record<string, unknown>, i: number) => ({ ...n, instance_id: `i-db${i + 1}` })),
      failover: { ...(base.failover ?? {}), stonith: true },
      address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '10.77.0.100', verify: false },
    };
    const file = path.join(dir, 'heir-eni.yaml');
    fs.writeFileSync(file, stringify({ heir: { state_dir: path.join(dir, 'state'), cloud: cloudFor(emu) }, clusters: [cluster] }));
    const env = {
      HEIR_TEST_PW: lab.admin.password,
      ALIBABA_CLOUD_ACCESS_KEY_ID: key.id,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: key.secret,
      ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
      ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true',
      ALIBABA_CLOUD_CREDENTIALS_FILE: '/nonexistent/heir-test-credentials',
    };
    const r = await runHeir(['--config', file, '--json', 'check', '--cluster', 'lab'], { env, timeoutMs: 90_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const result = (JSON.parse(r.stdout) as Result[])[0]!;
    const denied = result.findings.filter((f) => f.code.startsWith('address:permission:ecs:StopInstance'));
    assert.equal(denied.length, 3, r.stdout);
    for (const f of denied) {
      assert.equal(f.severity, 'error');
      assert.match(f.message, /does not grant ecs:StopInstance/);
    }
    // what was allowed is not reported, and nothing was stopped: StopInstance went out only as a dry run
    assert.deepEqual(codes(result).filter((c) => !c.startsWith('address:permission:ecs:StopInstance')), [], r.stdout);
    assert.ok(emu.requests.filter((q) => q.action === 'StopInstance').every((q) => q.params.DryRun === 'true'));
    assert.equal(emu.state.instances.get('i-db1')!.status, 'Running');
  } finally {
    await emu.close();
  }
});

test('after every fault was undone, the cluster is fit again', async () => {
  const { code, result } = await check();
  assert.deepEqual(codes(result), []);
  assert.equal(code, 0);
});

test('MariaDB: a healthy cluster is fit; each replica\'s heartbeat period as the server has it', async () => {
  const { code, result, stdout } = await check('mariadb');
  assert.deepEqual(codes(result), [], stdout);
  assert.equal(code, 0);
  assert.equal(result.master, 'db1');
  assert.deepEqual(result.candidates, ['db2', 'db3']);
  for (const n of ['db2', 'db3']) {
    const [st] = await maria.sql(n, 'SHOW ALL SLAVES STATUS');
    const l = result.liveness.find((x) => x.node === n);
    assert.ok(l, JSON.stringify(result.liveness));
    assert.equal(l.heartbeatPeriodS, Number(st.Slave_heartbeat_period), `${n}: the server's own period`);
  }
});

test('MariaDB: two writable nodes', async () => {
  await maria.sql('db2', 'SET GLOBAL read_only = OFF');
  try {
    const { code, result } = await check('mariadb');
    assert.equal(code, 1);
    const f = result.findings.find((x) => x.code === 'several-writable');
    assert.ok(f, codes(result).join());
    assert.match(f.message, /db1, db2/);
  } finally {
    await maria.sql('db2', 'SET GLOBAL read_only = ON');
  }
});

test("MariaDB: every replica's IO thread stopped: each is named, and both stay candidates", async () => {
  for (const n of ['db2', 'db3']) await maria.sql(n, 'STOP SLAVE IO_THREAD');
  try {
    const { code, result } = await check('mariadb');
    assert.equal(code, 1);
    assert.deepEqual(codes(result).sort(), ['io-thread-not-running@db2', 'io-thread-not-running@db3'], JSON.stringify(result.findings));
    assert.deepEqual(result.candidates, ['db2', 'db3']);
  } finally {
    for (const n of ['db2', 'db3']) await maria.sql(n, 'START SLAVE IO_THREAD');
  }
  const again = await check('mariadb');
  assert.deepEqual(codes(again.result), []);
});
