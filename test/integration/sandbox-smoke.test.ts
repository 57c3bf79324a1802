/**
 * The sandbox end to end, once, as CI runs it (no terminal): scripts/sandbox.sh
 * --no-setup starts three MySQL 9.7 hosts in network namespaces, the ECS
 * emulator, heir's daemon and a writer, kills the master and must report
 * "0 acknowledged rows lost" and exit 0. Needs root (network namespaces); without
 * it the sandbox exits 1 and this test fails.
 *
 * Then once with --ha: three etcd members and two daemons; the leader (mgr-a) is killed with
 * kill -9 while its ENI attach is in flight, and mgr-b must finish the failover keeping the node
 * mgr-a promoted, with the cluster invariant holding and 0 acknowledged rows lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';

const REPO = path.resolve(__dirname, '..', '..', '..');

/** Runs scripts/sandbox.sh --no-setup with `args`; its exit code, output and JSON result. */
async function runSandbox(dir: string, args: string[]): Promise<{ code: number | null; out: string; jsonFile: string }> {
  const jsonFile = path.join(dir, 'result.json');
  const child = spawn('bash', [path.join(REPO, 'scripts', 'sandbox.sh'), '--no-setup', ...args, '--timeout', '90', '--json', jsonFile], {
    cwd: REPO,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += String(d)));
  child.stderr.on('data', (d) => (out += String(d)));
  // Bounded: the sandbox bounds its own waits (90 s after the kill); this is the outer limit.
  const timer = setTimeout(() => child.kill('SIGTERM'), 240000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, out, jsonFile };
}

test('npm run sandbox: kill -9 of the master, heir daemon fails over, 0 acknowledged rows lost', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-sandbox-smoke-'));
  try {
    const { code, out, jsonFile } = await runSandbox(dir, ['--engine', 'daemon']);
    const tail = out.split('\n').slice(-60).join('\n');
    assert.equal(code, 0, `sandbox exited ${code}:\n${tail}`);
    assert.match(out, /^\s*0 acknowledged rows lost$/m, tail);
    assert.match(out, /VERDICT DeadMaster/, 'the verdict is shown');
    assert.match(out, /failover promoted/, 'the failover outcome is shown');
    assert.match(out, /write accepted again through 10\.77\.\d+\.100, now on db[23]/, 'the writer resumed through the floating address');
    assert.match(out, /everything it started is stopped and removed/);

    const r = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
    assert.equal(r.engine, 'daemon');
    assert.equal(r.lost, 0);
    assert.ok(r.acknowledged > 0, 'the writer committed rows');
    assert.ok(r.presentOnNewMaster >= r.acknowledged);
    assert.ok(['db2', 'db3'].includes(r.newMaster), `new master ${r.newMaster}`);
    assert.equal(r.eni.attachedTo, r.newMaster, 'the ENI ended on the new master');
    assert.ok(r.faultToFirstWriteMs !== null && r.faultToFirstWriteMs > 0);
    assert.deepEqual(r.problems, []);
    // Nothing of the sandbox is left behind.
    assert.equal(fs.existsSync(r.configPath), false, `${r.configPath} should be removed`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run sandbox -- --ha: the leader daemon killed in its failover, the other one finishes it, 0 acknowledged rows lost', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-sandbox-smoke-ha-'));
  try {
    const { code, out, jsonFile } = await runSandbox(dir, ['--ha']);
    const tail = out.split('\n').slice(-80).join('\n');
    assert.equal(code, 0, `sandbox --ha exited ${code}:\n${tail}`);
    assert.match(out, /^\s*0 acknowledged rows lost$/m, tail);
    assert.match(out, /etcd\s+up in .*: http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+, http:\/\/127\.0\.0\.1:\d+/, 'three etcd members');
    assert.match(out, /mgr-a leads cluster sandbox/);
    assert.match(out, /kill -9 of mgr-a \(pid \d+\) in the middle of its failover/);
    assert.match(out, /mgr-b leads cluster sandbox [\d.]+ s after the kill of mgr-a/);
    assert.match(out, /mgr-b found mgr-a's unfinished failover in etcd and finishes it, keeping db[23]/);
    assert.match(out, /mgr-b\s+failover promoted/, 'mgr-b reports the outcome');
    assert.doesNotMatch(out, /mgr-a\s+failover promoted/, 'mgr-a was killed before the end of its failover');
    assert.match(out, /cluster invariant\s+holds/);
    assert.match(out, /everything it started is stopped and removed/);

    const r = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
    assert.equal(r.ha?.killed, 'mgr-a');
    assert.equal(r.ha.killedAt, 'attach');
    assert.equal(r.ha.finishedBy, 'mgr-b');
    assert.equal(r.reportBy, 'mgr-b', 'the failover report is mgr-b\'s');
    assert.equal(r.failoverOutcome, 'promoted');
    assert.ok(['db2', 'db3'].includes(r.newMaster), `new master ${r.newMaster}`);
    assert.equal(r.newMaster, r.ha.promotedByKilled, 'mgr-b kept the node mgr-a promoted');
    assert.equal(r.eni.attachedTo, r.newMaster, 'the ENI ended on the new master');
    assert.equal(r.invariant, 'holds');
    assert.equal(r.lost, 0);
    assert.ok(r.acknowledged > 0, 'the writer committed rows');
    assert.deepEqual(r.problems, []);
    assert.equal(fs.existsSync(r.configPath), false, `${r.configPath} should be removed`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
