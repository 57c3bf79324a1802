/**
 * The `script` mover driving an MHA-style master_ip_failover script
 * (test/fixtures/eni/master_ip_failover, which rejects options MHA never passes).
 */
import { after, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ClusterConfig, GlobalSettings } from '../../src/config/schema';
import { createMover, type MoveContext } from '../../src/eni';

const SCRIPT = resolve(__dirname, '../../../test/fixtures/eni/master_ip_failover');
const dir = mkdtempSync(join(tmpdir(), 'heir-eni-script-'));
const logFile = join(dir, 'calls.log');

after(() => {
  for (const k of ['HEIR_TEST_SCRIPT_LOG', 'HEIR_TEST_SCRIPT_EXIT', 'HEIR_TEST_SCRIPT_SLEEP']) delete process.env[k];
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  writeFileSync(logFile, '');
  process.env.HEIR_TEST_SCRIPT_LOG = logFile;
  delete process.env.HEIR_TEST_SCRIPT_EXIT;
  delete process.env.HEIR_TEST_SCRIPT_SLEEP;
});

function cluster(path = SCRIPT, timeout_s = 10): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir_admin', password: 's3cret-pw', replication_user: 'repl', replication_password: 'pw' },
    ssh: { user: 'dbops' },
    nodes: [
      { name: 'db1', host: '127.0.0.11', port: 3306 },
      { name: 'db2', host: '127.0.0.12', port: 3307 },
    ],
    address: { type: 'script', path, floating_ip: '10.77.0.100', timeout_s },
  });
}

function ctx(c: ClusterConfig, o: Partial<MoveContext> = {}): MoveContext {
  return { cluster: c, oldMaster: c.nodes[0]!, newMaster: c.nodes[1]!, reason: 'failover', ...o };
}

const calls = () => readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean);

test('fence with the old host reachable over SSH: --command=stopssh with --ssh_user', async () => {
  const c = cluster();
  const r = await createMover(c, GlobalSettings.parse({})).fence(ctx(c, { oldMasterSshReachable: true }));
  assert.equal(r.ok, true, r.detail);
  assert.equal(r.action, 'stopssh');
  assert.equal(calls()[0], 'argv: --command=stopssh --ssh_user=dbops --orig_master_host=127.0.0.11 --orig_master_ip=127.0.0.11 --orig_master_port=3306');
});

test('fence with the old host unreachable: --command=stop without --ssh_user', async () => {
  const c = cluster();
  const r = await createMover(c, GlobalSettings.parse({})).fence(ctx(c, { oldMasterSshReachable: false }));
  assert.equal(r.ok, true, r.detail);
  assert.equal(r.action, 'stop');
  assert.equal(calls()[0], 'argv: --command=stop --orig_master_host=127.0.0.11 --orig_master_ip=127.0.0.11 --orig_master_port=3306');
});

test('attach: --command=start with orig and new master; the password is not on the command line', async () => {
  const c = cluster();
  const r = await createMover(c, GlobalSettings.parse({})).attach(ctx(c));
  assert.equal(r.ok, true, r.detail);
  const [argv, env] = calls();
  assert.equal(
    argv,
    'argv: --command=start --ssh_user=dbops --orig_master_host=127.0.0.11 --orig_master_ip=127.0.0.11 --orig_master_port=3306 --new_master_host=127.0.0.12 --new_master_ip=127.0.0.12 --new_master_port=3307',
  );
  assert.doesNotMatch(argv!, /s3cret-pw/);
  assert.equal(env, 'env: cluster=c1 reason=failover floating=10.77.0.100 new_name=db2 new_user=heir_admin new_password=s3cret-pw');
  assert.match(r.detail, /exited 0: start done for 127\.0\.0\.11 -> 127\.0\.0\.12/);
});

test('a non-zero exit fails the step with the exit code and stderr', async () => {
  process.env.HEIR_TEST_SCRIPT_EXIT = '10';
  const c = cluster();
  const r = await createMover(c, GlobalSettings.parse({})).attach(ctx(c));
  assert.equal(r.ok, false);
  assert.equal(r.code, 'ExitCode10');
  assert.match(r.detail, /exited 10: Failed to start the VIP \(test\)/);
});

test('a script that hangs is killed at address.timeout_s', async () => {
  process.env.HEIR_TEST_SCRIPT_SLEEP = '30';
  const c = cluster(SCRIPT, 1);
  const r = await createMover(c, GlobalSettings.parse({})).fence(ctx(c, { oldMasterSshReachable: false }));
  assert.equal(r.ok, false);
  assert.equal(r.code, 'ScriptTimeout');
  assert.ok(r.durationMs < 10000, `killed after ${r.durationMs} ms`);
});

test('status runs --command=status; preflight checks the script is executable', async () => {
  const c = cluster();
  const m = createMover(c, GlobalSettings.parse({}));
  const s = await m.status({ cluster: c, oldMaster: c.nodes[0]!, reason: 'manual' });
  assert.equal(s.settled, true, s.detail);
  assert.match(calls()[0]!, /^argv: --command=status --ssh_user=dbops --orig_master_host=127\.0\.0\.11/);
  assert.deepEqual((await m.preflight(c)).map((p) => p.ok), [true]);
  const missing = cluster(join(dir, 'no-such-script'));
  const p = await createMover(missing, GlobalSettings.parse({})).preflight(missing);
  assert.equal(p[0]!.ok, false);
  assert.match(p[0]!.detail, /not an executable file/);
  const r = await createMover(missing, GlobalSettings.parse({})).attach(ctx(missing));
  assert.equal(r.ok, false);
  assert.equal(r.code, 'ScriptNotRunnable');
});

test('none: no-op success', async () => {
  const c = ClusterConfig.parse({ ...cluster(), address: { type: 'none' } });
  const m = createMover(c, GlobalSettings.parse({}));
  assert.equal(m.kind, 'none');
  assert.equal((await m.fence(ctx(c))).ok, true);
  assert.equal((await m.attach(ctx(c))).ok, true);
});
