/**
 * `heir check` as an operator runs it (node bin/heir.js), against a real
 * 3-node MySQL 9.7 GTID cluster: exit 0 when healthy, and non-zero naming the
 * cause for each fault, which is undone before the next one.
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
let dir: string;
let configFile: string;

interface Finding { severity: string; code: string; node?: string; message: string; fix?: string }
interface Result { cluster: string; fit: boolean; master?: string; findings: Finding[] }

function heir(args: string[]): Promise<CliResult> {
  return runHeir(args, { env: { HEIR_TEST_PW: lab.admin.password } });
}

async function check(): Promise<{ code: number | null; result: Result; stdout: string }> {
  const r = await heir(['--config', configFile, '--json', 'check', '--cluster', 'lab']);
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
  lab = await startCluster({ flavor: 'mysql', nodes: 3, name: 'check' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-check-'));
  const cluster = lab.clusterConfig({ name: 'lab' } as never) as unknown as Record<string, any>;
  cluster.mysql = { ...cluster.mysql, password: '${env:HEIR_TEST_PW}' };
  configFile = path.join(dir, 'heir.yaml');
  fs.writeFileSync(configFile, stringify({ heir: { state_dir: path.join(dir, 'state') }, clusters: [cluster] }));
});

after(async () => {
  await lab?.teardown();
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
