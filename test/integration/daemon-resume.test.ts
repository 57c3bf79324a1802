/**
 * The daemon restarted after dying in the middle of its own automatic failover (as
 * `Restart=always` would restart it): the failover process is killed with SIGKILL inside a
 * step, its journal stays in the state dir, and the real daemon (`node bin/heir.js daemon`)
 * starts on that state dir. Where the journal shows a rerun is safe, the daemon finishes the
 * failover at once, without `heir ack`: the node the journal promoted stays the master and
 * the ENI (ECS emulator) ends on it. Where it is not (the dead master answers again), it
 * blocks and says why. Real MySQL 9.7, three nodes on loopback, stock settings.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startCluster, type LabCluster } from '../lab';
import { freePort } from '../lab/ports';
import type { ClusterConfig } from '../../src/config/schema';
import { listJournals, unfinishedJournals } from '../../src/failover/journal';
import { listReports, readReport } from '../../src/failover/report';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, credentialEnv } from '../ecs-emulator/fixture';
import { HEIR_BIN, jsonLogLines, until } from '../support/cli';
import { assertInvariant } from '../support/invariant';
import { createTable, idsOn, sleep, startWriter, writeRows } from './failover-helpers';

let emu: EcsEmulator | undefined;
const labs: LabCluster[] = [];
const dirs: string[] = [];
let daemon: { child: ChildProcess; exit: Promise<unknown>; out: () => string } | undefined;

afterEach(async () => {
  if (daemon) {
    if (daemon.child.exitCode === null && daemon.child.signalCode === null) daemon.child.kill('SIGKILL');
    await daemon.exit;
    daemon = undefined;
  }
  while (labs.length) await labs.pop()!.teardown();
  await emu?.close();
  emu = undefined;
});
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const credentials = (): NodeJS.ProcessEnv => credentialEnv(emu!);

const holderNode = () => {
  const eni = emu!.state.enis.get('eni-floating')!;
  return eni.status === 'InUse' && eni.instanceId ? [eni.instanceId.replace(/^i-/, '')] : [];
};

/** A GTID cluster whose writer's rows reached every replica, the ENI on db1, then db1 killed. */
async function deadMaster(flavor: 'mysql' | 'mariadb' = 'mysql'): Promise<{ l: LabCluster; cfg: ClusterConfig; acked: number[]; dir: string }> {
  emu = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1' }) });
  const l = await startCluster({ flavor, nodes: 3, name: 'resume' });
  labs.push(l);
  await createTable(l);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-resume-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'known_hosts'), '');
  const base = l.clusterConfig();
  const cfg = l.clusterConfig({
    // No SSH on loopback: the salvage finds the host unreachable (nothing listens on the port).
    ssh: { port: await freePort(), known_hosts: path.join(dir, 'known_hosts'), connect_timeout_ms: 1000 } as ClusterConfig['ssh'],
    nodes: base.nodes.map((n, i) => ({ ...n, instance_id: `i-db${i + 1}` })),
    address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '127.0.0.1', verify: false } as ClusterConfig['address'],
    failover: { ...base.failover, auto: true, apply_timeout_s: 30 } as ClusterConfig['failover'],
  });
  const w = await startWriter(cfg, 'db1');
  await sleep(300);
  await w.stop();
  assert.ok(w.acked.length > 0, `the writer wrote: ${w.error?.message}`);
  for (const n of ['db2', 'db3']) await until(`${n} has every acknowledged row`, 20_000, async () => (await idsOn(cfg, n)).has(w.acked.at(-1)!));
  await l.kill('db1');
  return { l, cfg, acked: w.acked, dir };
}

/** The daemon's own failover run, killed (SIGKILL) at `crashAt`. */
async function crashedRun(cfg: ClusterConfig, stateDir: string, crashAt: string): Promise<void> {
  const child = spawn(process.execPath, [path.join(__dirname, 'failover-crash-child.js')], {
    env: {
      ...process.env,
      ...credentials(),
      HEIR_TEST_CLUSTER: JSON.stringify(cfg),
      HEIR_TEST_STATE_DIR: stateDir,
      HEIR_TEST_CRASH_AT: crashAt,
      HEIR_TEST_TRIGGER: 'auto',
      HEIR_TEST_GLOBAL: JSON.stringify({ cloud: cloudFor(emu!) }),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const sig = await new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, s) => resolve(s)));
  assert.equal(sig, 'SIGKILL', `the run died at ${crashAt}: ${out}`);
}

function startDaemon(cfg: ClusterConfig, dir: string): void {
  const configPath = path.join(dir, 'heir.yaml');
  fs.writeFileSync(configPath, stringify({ heir: { state_dir: path.join(dir, 'state'), log_level: 'info', cloud: cloudFor(emu!) }, clusters: [cfg] }));
  // Log lines (stdout) apart from anything else the process prints: a long line may arrive
  // in several chunks, and a chunk of stderr must not land between them.
  let out = '';
  let err = '';
  const child = spawn(process.execPath, [HEIR_BIN, 'daemon', '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...credentials(), HEIR_LOG_LEVEL: '' } });
  child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  daemon = { child, exit: new Promise((r) => child.on('exit', r)), out: () => out + (err ? `\n${err}` : '') };
}

const logs = () => jsonLogLines(daemon!.out());

describe('a daemon restarted in the middle of its failover', () => {
  // MySQL: killed inside the promotion (the node writable, the address not yet moved).
  // MariaDB: killed after the survivors were repointed, with the address detached from the
  // dead master and attached nowhere: the application cannot write until heir attaches it.
  for (const [flavor, crashAt, mode] of [['mysql', 'promote:writable', 'mysql-gtid'], ['mariadb', 'attach', 'mariadb-gtid']] as const) {
    it(`${flavor}: crash ${crashAt.includes(':') ? `inside ${crashAt.replace(':', ' at ')}` : `before ${crashAt}`}: finished without heir ack, the same node stays master and the ENI ends on it`, async () => {
      const { l, cfg, acked, dir } = await deadMaster(flavor);
      const sd = path.join(dir, 'state');
      await crashedRun(cfg, sd, crashAt);
      const [j] = unfinishedJournals(sd, cfg.name);
      assert.ok(j, 'the crash left its journal');
      const first = String(j.steps.find((s) => s.step === 'promote')?.params?.node ?? '');
      assert.ok(first, 'the journal names the node the promotion began on');
      assert.notEqual(emu!.state.enis.get('eni-floating')!.instanceId, `i-${first}`, 'the address is not on it yet');
      if (crashAt === 'attach') await until('the address left the dead master', 10_000, () => emu!.state.enis.get('eni-floating')!.status === 'Available');

      startDaemon(cfg, dir);
      const report = await until('the resumed failover\'s report', 90_000, () => listReports(sd, cfg.name).map(readReport).find((r) => r.outcome !== undefined));
      assert.equal(report.outcome, 'promoted', `${report.summary}\n${daemon!.out()}`);
      assert.equal(report.newMaster, first, `the rerun promoted ${report.newMaster}; the interrupted run had begun promoting ${first}`);
      const why = new RegExp(`finishing it now: (steps? .* (was|were) in flight|its last step was \\S+) \\(${mode}\\); the rerun keeps ${first}`);
      assert.ok(logs().some((x) => why.test(x.msg ?? '')), `the daemon says why it resumes:\n${logs().filter((x) => x.level >= 50).map((x) => x.msg).join('\n')}`);
      const acked0 = listJournals(sd, cfg.name).find((x) => x.id === j.id)!;
      assert.match(acked0.ack?.by ?? '', /resumed automatically/);
      assert.deepEqual(unfinishedJournals(sd, cfg.name), [], 'no journal is left unfinished');
      await until('the daemon watches the new master', 30_000, () => logs().some((x) => new RegExp(`watching ${cfg.name}: master ${first}`).test(x.msg ?? '')));

      await writeRows(cfg, first, [900001]);
      await assertInvariant({ lab: l, master: first, absent: ['db1'], table: 'app.w', acked: [...acked, 900001], addressHolders: async () => holderNode() });
    });
  }

  it('blocks with the reason when the dead master answers again: nothing more is promoted', async () => {
    const { l, cfg, dir } = await deadMaster();
    const sd = path.join(dir, 'state');
    await crashedRun(cfg, sd, 'promote:writable');
    await l.start('db1');
    startDaemon(cfg, dir);
    const line = await until('the interrupted failover reported', 60_000, () => logs().find((x) => /not finished automatically: its dead master db1 answers again/.test(x.msg ?? '')));
    assert.match(line.msg, /blocked until `heir ack --cluster/);
    await sleep(3000);
    assert.equal(listReports(sd, cfg.name).length, 0, 'no failover ran');
    assert.equal(unfinishedJournals(sd, cfg.name).length, 1, 'the journal waits for heir ack');
  });
});
