/**
 * heir failover / ack / rejoin through the command line, on a real MySQL 9.7
 * cluster: dry run and refusal on a live master, failover of a dead one, the
 * old master refused on rejoin while it holds transactions the new master
 * lacks (written to a file with their mysqlbinlog output), and rejoined once
 * those are applied to the new master from that very file; both rejoins
 * journaled and reported. And a replica down when the master dies: the
 * failover promotes the other one and exits 5 (partial), naming the node left
 * out and why, as MHA's "recovery on slave partially failed" exits 10.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { ClusterConfig } from '../../src/config/schema';
import { readChannels } from '../../src/mysql/inspect';
import { applySqlFile } from '../../src/failover/salvage';
import { listJournals } from '../../src/failover/journal';
import { listReportFiles } from '../../src/failover/report';
import { startCluster, type LabCluster } from '../lab';
import { assertInvariant } from '../support/invariant';
import { createTable, grantSalvage, idsOn, open, range, sleep, tempStateDir, writeAndReplicate, writeRows } from './failover-helpers';

const repo = path.resolve(__dirname, '..', '..', '..');


describe('heir failover / ack / rejoin (CLI, MySQL 9.7)', () => {
  let lab: LabCluster;
  let stateDir: string;
  let configFile: string;
  let cfg: ClusterConfig;

  function heir(...args: string[]): { code: number; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'heir.js'), '--config', configFile, ...args], {
      encoding: 'utf8',
      timeout: 180000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  before(async () => {
    lab = await startCluster({ flavor: 'mysql', nodes: 3, name: 'fo-cli' });
    await createTable(lab);
    await grantSalvage(lab);
    stateDir = tempStateDir();
    const known = path.join(stateDir, 'known_hosts');
    fs.writeFileSync(known, '');
    const base = lab.clusterConfig();
    cfg = lab.clusterConfig({
      // No sshd on loopback port 1: the dead master's "host" is down, nothing is salvaged.
      ssh: { port: 1, known_hosts: known, connect_timeout_ms: 1000 } as ClusterConfig['ssh'],
      failover: {
        apply_timeout_s: 30,
      } as ClusterConfig['failover'],
      nodes: base.nodes,
    });
    configFile = path.join(stateDir, 'heir.yaml');
    // JSON is YAML.
    fs.writeFileSync(configFile, JSON.stringify({ heir: { state_dir: stateDir }, clusters: [cfg] }, null, 2));
  });

  after(async () => {
    await lab?.teardown();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('dry run on a live master prints every verdict and warns; a real run is refused (exit 3, as --help documents)', () => {
    const dry = heir('--json', 'failover', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    const r = JSON.parse(dry.stdout);
    assert.equal(r.outcome, 'dry-run');
    assert.deepEqual(r.plan.candidates.map((c: { name: string }) => c.name).sort(), ['db2', 'db3']);
    assert.ok(r.warnings.some((w: string) => /db1 answers/.test(w)));
    const real = heir('failover');
    assert.equal(real.code, 3, real.stdout + real.stderr);
    assert.match(real.stdout, /REFUSED — master db1 answers/);
  });

  let extraIds: number[] = [];
  let acked: number[] = [];

  it('fails over a dead master (exit 0), narrating each step', async () => {
    acked = await writeAndReplicate(cfg);
    // These reach only db1: the replicas stopped receiving. Lost to the failover (host down).
    await lab.sql('db2', 'STOP REPLICA IO_THREAD');
    await lab.sql('db3', 'STOP REPLICA IO_THREAD');
    extraIds = range(700001, 3);
    await writeRows(cfg, 'db1', extraIds);
    await lab.kill('db1');

    const r = heir('failover');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /master: db1 \(replicas db2, db3 replicate from db1\)/);
    assert.match(r.stdout, /ok\s+promote/);
    assert.match(r.stdout, /PROMOTED/);
    assert.match(r.stdout, /possibly lost/);
    const newMaster = /db1 → (db[23]);/.exec(r.stdout)?.[1];
    assert.ok(newMaster, r.stdout);
    // The rows only db1 had (extraIds) are the report's possibly lost; every other acknowledged one is everywhere.
    await assertInvariant({ lab, master: newMaster, absent: ['db1'], table: 'app.w', acked, maxAttemptedId: extraIds.at(-1)! });
  });

  it('ack says there is nothing to acknowledge after a manual failover', () => {
    const r = heir('ack');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /nothing was blocked/);
  });

  it('rejoin refuses the returning old master while it holds transactions the new master lacks, and writes them to a file', async () => {
    await lab.start('db1');
    const r = heir('--json', 'rejoin', '--node', 'db1');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.outcome, 'refused');
    assert.match(out.extra, /^[0-9a-f-]+:\d+-\d+$/);
    const text = fs.readFileSync(out.file, 'utf8');
    assert.match(text, new RegExp(`missing on db[23]: ${out.extra}`));
    for (const id of extraIds) assert.match(text, new RegExp(`@1=${id}\\b`), `row ${id} decoded in the file`);
    // Journaled and reported, refusal included.
    assert.equal(out.trigger, 'manual');
    assert.equal(JSON.parse(fs.readFileSync(out.reportPath, 'utf8')).outcome, 'refused');
    const j = listJournals(stateDir, cfg.name).find((x) => x.id === out.id);
    assert.equal(j?.operation, 'rejoin');
    assert.equal(j?.end?.outcome, 'refused');
    // Refused means untouched: db1 is not replicating.
    const c = await open(cfg, 'db1');
    try {
      assert.equal((await readChannels(c)).length, 0);
    } finally {
      await c.close();
    }
  });

  it('rejoin succeeds once those transactions are applied to the new master from the file', async () => {
    const files = fs.readdirSync(path.join(stateDir, cfg.name)).filter((f) => f.startsWith('rejoin-db1-'));
    const text = fs.readFileSync(path.join(stateDir, cfg.name, files[0]), 'utf8');
    const master = /missing on (db[23]):/.exec(text)![1];
    // The file goes to the mysql client whole, as its own header says.
    const m = cfg.nodes.find((n) => n.name === master)!;
    await applySqlFile({
      client: cfg.failover.salvage.mysql,
      file: path.join(stateDir, cfg.name, files[0]),
      target: { name: master, host: m.host, port: m.port, user: cfg.mysql.user, password: cfg.mysql.password, tls: cfg.mysql.tls, connectTimeoutMs: 5000 },
      workDir: stateDir,
      timeoutMs: 30000,
    });
    const r = heir('rejoin', '--node', 'db1');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /REJOINED: db1 is a read-only replica of db[23]/);
    const rejoins = listJournals(stateDir, cfg.name).filter((x) => x.operation === 'rejoin');
    assert.deepEqual(rejoins.map((x) => x.end?.outcome), ['refused', 'rejoined']);
    assert.deepEqual(rejoins[1]!.steps.map((x) => `${x.step}:${x.outcome}`), ['decide:ok', 'read-only:ok', 'source:ok', 'start:ok', 'verify:ok']);
    assert.equal(listReportFiles(stateDir, cfg.name, 'rejoin').length, 2);
    const d = await open(cfg, 'db1');
    try {
      const [ro] = await d.query('SELECT @@global.super_read_only AS s');
      assert.equal(Number(ro.s), 1);
    } finally {
      await d.close();
    }
    await writeRows(cfg, master, [700100]);
    const deadline = Date.now() + 20000;
    while (!(await idsOn(cfg, 'db1')).has(700100)) {
      assert.ok(Date.now() < deadline, 'db1 replicates the new master');
      await sleep(50);
    }
    const have = await idsOn(cfg, master);
    for (const id of [...acked, ...extraIds]) assert.ok(have.has(id), `id ${id} on ${master}`);
  });
});

describe('heir failover with a replica down too (CLI, MySQL 9.7)', () => {
  let lab: LabCluster;
  let stateDir: string;
  let configFile: string;
  let name = '';

  before(async () => {
    lab = await startCluster({ flavor: 'mysql', nodes: 3, name: 'fo-cli-partial' });
    await createTable(lab);
    stateDir = tempStateDir();
    const known = path.join(stateDir, 'known_hosts');
    fs.writeFileSync(known, '');
    const cfg = lab.clusterConfig({
      ssh: { port: 1, known_hosts: known, connect_timeout_ms: 1000 } as ClusterConfig['ssh'],
      failover: { apply_timeout_s: 30 } as ClusterConfig['failover'],
    });
    name = cfg.name;
    configFile = path.join(stateDir, 'heir.yaml');
    fs.writeFileSync(configFile, JSON.stringify({ heir: { state_dir: stateDir }, clusters: [cfg] }, null, 2));
    acked = await writeAndReplicate(cfg);
  });
  let acked: number[] = [];

  after(async () => {
    await lab?.teardown();
    if (stateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('db3 and then db1 die: db2 is promoted, exit 5 (partial), db3 named as left out with why', async () => {
    await lab.kill('db3');
    await lab.kill('db1');
    const r = spawnSync(process.execPath, [path.join(repo, 'bin', 'heir.js'), '--config', configFile, 'failover'], { encoding: 'utf8', timeout: 180000 });
    const out = `${r.stdout}${r.stderr}`;
    assert.equal(r.status, 5, out);
    assert.match(r.stdout, /PROMOTED/);
    assert.match(r.stdout, /db1 → db2;/);
    assert.match(r.stdout, /left out: db3 — .+/);
    const reports = listReportFiles(stateDir, name, 'failover');
    assert.equal(reports.length, 1);
    const rep = JSON.parse(fs.readFileSync(reports[0]!, 'utf8'));
    assert.deepEqual(rep.plan.leftOut.map((x: { node: string }) => x.node), ['db3']);
    await assertInvariant({ lab, master: 'db2', absent: ['db1', 'db3'], table: 'app.w', acked, maxAttemptedId: acked.at(-1)! });
  });
});
