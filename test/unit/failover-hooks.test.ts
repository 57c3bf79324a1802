/**
 * Hooks (src/failover/hooks.ts) with real programs (/bin/sh): the document on stdin, the
 * HEIR_* environment, exit codes, the timeout killing the whole process group, a program
 * that cannot start, the report saved again with the post hook's run; and the hooks' keys
 * in the configuration.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, parseConfigText, validateConfigText } from '../../src/config';
import type { ClusterConfig } from '../../src/config/schema';
import { formatHooks, HOOK_ENV_NAMES, hookEnv, runHook, runPostHook } from '../../src/failover/hooks';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-hooks-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const BASE = `clusters:
  - name: app1
    mysql: { user: heir, password: pw, replication_user: repl, replication_password: rpw }
    nodes:
      - { name: db1, host: 10.0.0.1 }
      - { name: db2, host: 10.0.0.2, port: 3307 }
    address: { type: script, path: /usr/local/bin/mip, floating_ip: 10.0.0.100 }
`;

function cluster(hooks: string): ClusterConfig {
  return parseConfigText(`${BASE}    hooks:\n${hooks}`, { env: {} }).clusters[0]!;
}

function sh(script: string, timeout = 10, extra = ''): string {
  return `        command: ["/bin/sh", "-c", ${JSON.stringify(script)}]\n        timeout_s: ${timeout}\n${extra}`;
}

/** Running (a killed process may stay a zombie until some parent reaps it: that is dead). */
const alive = (pid: number): boolean => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return false;
  }
};

test('the configuration: argv lists, absolute programs, abort_on_failure only on pre_failover', () => {
  const c = cluster(`      pre_failover:\n${sh('true', 5, '        abort_on_failure: true\n')}      post_rejoin:\n        command: [/usr/local/bin/x, --flag, "a b; c"]\n`);
  assert.deepEqual(c.hooks.pre_failover, { command: ['/bin/sh', '-c', 'true'], timeout_s: 5, abort_on_failure: true });
  assert.deepEqual(c.hooks.post_rejoin, { command: ['/usr/local/bin/x', '--flag', 'a b; c'], timeout_s: 30 });
  assert.equal(c.hooks.post_failover, undefined);
  assert.deepEqual(parseConfigText(BASE, { env: {} }).clusters[0]!.hooks, {});

  const bad = (hooks: string): string[] => {
    try {
      parseConfigText(`${BASE}    hooks:\n${hooks}`, { env: {}, sourceName: 'heir.yaml' });
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.issues.map((i) => `${i.path}: ${i.message}`);
    }
    assert.fail('the configuration was accepted');
  };
  assert.match(bad('      post_failover:\n        command: [repoint.sh]\n').join('\n'), /clusters\[0\]\.hooks\.post_failover\.command\[0\]: the program must be an absolute path \(got 'repoint.sh'\)/);
  assert.match(bad('      post_failover:\n        command: /usr/local/bin/x --y\n').join('\n'), /hooks\.post_failover\.command: expected a list/);
  assert.match(bad('      post_failover:\n        command: []\n').join('\n'), /hooks\.post_failover\.command: /);
  assert.match(bad('      post_failover:\n        command: [/bin/true]\n        abort_on_failure: true\n').join('\n'), /unknown key 'abort_on_failure'/);
  assert.match(bad('      pre_failover:\n        command: [/bin/true]\n        timeout_s: 0\n').join('\n'), /timeout_s: must be more than 0/);
  assert.match(bad('      post_swtichover:\n        command: [/bin/true]\n').join('\n'), /did you mean 'post_switchover'/);
  const w = validateConfigText(`${BASE}    hooks:\n      post_failover:\n        command: ["/usr/local/bin/x --y"]\n`, { env: {} }).warnings;
  assert.match(w.map((i) => `${i.path}: ${i.message}`).join('\n'), /hooks\.post_failover\.command\[0\]: looks like a whole command line/);
});

test('hookEnv: every documented variable is set, empty when unknown; inherited HEIR_* values do not leak through', () => {
  const c = cluster(`      post_failover:\n${sh('true')}`);
  const env = hookEnv(c, 'post_failover', { operation: 'failover', id: 'x1', trigger: 'auto', outcome: 'promoted', oldMaster: 'db1', newMaster: 'db2', reportPath: '/r.json' }, { PATH: '/bin', HEIR_NODE: 'stale', OTHER: 'kept' });
  for (const k of HOOK_ENV_NAMES) assert.equal(typeof env[k], 'string', k);
  assert.equal(env.OTHER, 'kept');
  assert.equal(env.HEIR_NODE, '');
  assert.equal(env.HEIR_OLD_MASTER_HOST, '10.0.0.1');
  assert.equal(env.HEIR_OLD_MASTER_PORT, '3306');
  assert.equal(env.HEIR_NEW_MASTER_HOST, '10.0.0.2');
  assert.equal(env.HEIR_NEW_MASTER_PORT, '3307');
  assert.equal(env.HEIR_FLOATING_IP, '10.0.0.100');
  assert.equal(env.HEIR_REPORT, '/r.json');
  const none = hookEnv(c, 'post_failover', { operation: 'failover', newMaster: null }, {});
  assert.equal(none.HEIR_NEW_MASTER, '');
  assert.equal(none.HEIR_NEW_MASTER_HOST, '');
});

test('runHook: the document on stdin, facts in the environment, output captured; a non-zero exit is a failed run', async () => {
  const out = path.join(dir, 'env.txt');
  const c = cluster(
    `      post_failover:\n${sh(`cat > ${out}.json; env | grep ^HEIR_ | sort > ${out}; echo "moved it"; echo "a note" >&2`)}` +
      `      post_switchover:\n${sh('echo refusing >&2; exit 3')}`,
  );
  const r = await runHook(c, 'post_failover', { outcome: 'promoted', text: "quotes ' \" and $(no expansion)" }, { operation: 'failover', outcome: 'promoted', oldMaster: 'db1', newMaster: 'db2' });
  assert.ok(r);
  assert.equal(r.ok, true, r.detail);
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout.trim(), 'moved it');
  assert.equal(r.stderr.trim(), 'a note');
  assert.deepEqual(JSON.parse(fs.readFileSync(`${out}.json`, 'utf8')), { outcome: 'promoted', text: "quotes ' \" and $(no expansion)" });
  const env = fs.readFileSync(out, 'utf8');
  assert.match(env, /^HEIR_HOOK=post_failover$/m);
  assert.match(env, /^HEIR_CLUSTER=app1$/m);
  assert.match(env, /^HEIR_OUTCOME=promoted$/m);
  assert.match(env, /^HEIR_NEW_MASTER=db2$/m);

  const f = await runHook(c, 'post_switchover', {}, { operation: 'switchover' });
  assert.equal(f?.ok, false);
  assert.equal(f?.exitCode, 3);
  assert.match(f!.detail, /^post_switchover exited 3 after \d+ ms$/);
  assert.match(formatHooks([f!]).join('\n'), /FAIL post_switchover exited 3[\s\S]*stderr: refusing/);
  assert.equal(await runHook(c, 'post_rejoin', {}, { operation: 'rejoin' }), undefined, 'not configured: nothing runs');
});

test('runHook: a hook past its timeout is killed with its whole process group', async () => {
  const pidFile = path.join(dir, 'grandchild.pid');
  // The hook starts a grandchild that would outlive it, then hangs itself.
  const c = cluster(`      pre_failover:\n${sh(`sleep 60 & echo $! > ${pidFile}; sleep 60`, 0.5)}`);
  const t = Date.now();
  const r = await runHook(c, 'pre_failover', { winner: 'db2' }, { operation: 'failover' });
  assert.ok(r);
  assert.equal(r.ok, false);
  assert.equal(r.timedOut, true);
  assert.match(r.detail, /did not finish within hooks\.pre_failover\.timeout_s=0\.5 s: its process group was killed/);
  assert.ok(Date.now() - t < 5000, `returned ${Date.now() - t} ms after the start`);
  const grandchild = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(grandchild > 0);
  const deadline = Date.now() + 3000;
  while (alive(grandchild) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.equal(alive(grandchild), false, `the hook's background child ${grandchild} was killed too`);
});

test('runHook: a program that cannot be started is a failed run that says so', async () => {
  const c = cluster('      post_rejoin:\n        command: [/nonexistent/heir-hook]\n');
  const r = await runHook(c, 'post_rejoin', {}, { operation: 'rejoin' });
  assert.equal(r?.ok, false);
  assert.match(r!.detail, /could not be started: cannot run \/nonexistent\/heir-hook: spawn \/nonexistent\/heir-hook ENOENT \(check hooks\.post_rejoin\.command\)/);
});

test('runPostHook: the run is added to the report, which is saved again; a failure is a warning', async () => {
  const c = cluster(`      post_failover:\n${sh('echo done; exit 1')}`);
  const reportPath = path.join(dir, 'failover-x.json');
  const report = { kind: 'failover', outcome: 'promoted', warnings: [] as string[], reportPath };
  fs.writeFileSync(reportPath, JSON.stringify(report));
  const run = await runPostHook(c, 'post_failover', report, { operation: 'failover', outcome: 'promoted' });
  assert.equal(run?.ok, false);
  const saved = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
  assert.equal(saved.outcome, 'promoted', 'the outcome is not changed');
  assert.equal(saved.hooks.length, 1);
  assert.equal(saved.hooks[0].stdout.trim(), 'done');
  assert.match(saved.warnings[0], /^hook post_failover exited 1/);
});
