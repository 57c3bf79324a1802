/**
 * deploy/heir.service and deploy/sysusers.d/heir.conf, checked by systemd's own tools.
 *
 * `systemd-analyze verify` needs ExecStart's binary to exist. The unit names the installed path
 * (/usr/local/bin/heir), which a development machine does not have, so the unit is verified twice:
 * as shipped (the only complaint allowed is that missing binary), and as a copy whose ExecStart runs
 * this checkout's bin/heir.js with this node (which must be completely clean).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const UNIT = path.join(ROOT, 'deploy', 'heir.service');
const SYSUSERS = path.join(ROOT, 'deploy', 'sysusers.d', 'heir.conf');
const INSTALLED_BIN = '/usr/local/bin/heir';

let tmp = '';

function tool(name: string): string {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/bin', '/bin'])) {
    const p = path.join(dir, name);
    if (dir && existsSync(p)) return p;
  }
  assert.fail(
    `${name} not found in PATH: it comes with the Debian package "systemd" ` +
      `(apt-get install -y systemd; scripts/setup.sh installs it). This test does not skip.`,
  );
}

function run(bin: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 60_000, cwd: tmp, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' } });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
}

before(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'heir-systemd-'));
});
after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function unitCopy(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmp, 'unit-'));
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

test('systemd-analyze verify reports a typo (the check can fail)', () => {
  const analyze = tool('systemd-analyze');
  const bad = unitCopy('typo.service', `[Service]\nExecStart=${process.execPath} -e 0\nRestartSecs=5\n`);
  const r = run(analyze, ['verify', bad]);
  assert.match(r.out, /Unknown key 'RestartSecs'/);
});

test('heir.service as shipped: no complaint except the not-yet-installed binary', () => {
  const analyze = tool('systemd-analyze');
  const text = readFileSync(UNIT, 'utf8');
  assert.match(text, /^ExecStart=\/usr\/local\/bin\/heir daemon --config \/etc\/heir\/heir\.yaml$/m);
  const r = run(analyze, ['verify', unitCopy('heir.service', text)]);
  const lines = r.out.split('\n').filter((l) => l.trim() !== '');
  const other = existsSync(INSTALLED_BIN)
    ? lines
    : lines.filter((l) => !l.includes(`Command ${INSTALLED_BIN} is not executable`));
  assert.deepEqual(other, [], `systemd-analyze verify complained:\n${r.out}`);
});

test('heir.service with ExecStart pointing at this checkout verifies clean', () => {
  const analyze = tool('systemd-analyze');
  const text = readFileSync(UNIT, 'utf8').replace(
    /^ExecStart=\/usr\/local\/bin\/heir /m,
    `ExecStart=${process.execPath} ${path.join(ROOT, 'bin', 'heir.js')} `,
  );
  assert.ok(text.includes(process.execPath), 'ExecStart was not rewritten');
  const r = run(analyze, ['verify', unitCopy('heir.service', text)]);
  assert.equal(r.out, '', `systemd-analyze verify output should be empty, got:\n${r.out}`);
  assert.equal(r.code, 0);
});

test('heir.service: hardening exposure stays low and node-critical settings are right', () => {
  const analyze = tool('systemd-analyze');
  const r = run(analyze, ['security', '--offline=yes', '--threshold=20', '--no-pager', UNIT]);
  const level = /Overall exposure level for heir\.service: ([0-9.]+)/.exec(r.out);
  assert.ok(level, `no exposure level in output:\n${r.out}`);
  assert.ok(Number(level![1]) <= 2.0, `exposure ${level![1]} > 2.0:\n${r.out}`);
  assert.equal(r.code, 0, r.out);

  const text = readFileSync(UNIT, 'utf8');
  const settings = new Map<string, string>();
  const environment: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1]!, m[2]!);
    if (m?.[1] === 'Environment') environment.push(m[2]!);
  }
  // V8's JIT needs W+X pages: MemoryDenyWriteExecute=yes would kill node at start.
  assert.equal(settings.get('MemoryDenyWriteExecute'), 'no');
  assert.equal(settings.get('User'), 'heir');
  assert.equal(settings.get('StateDirectory'), 'heir');
  assert.equal(settings.get('Restart'), 'on-failure');
  assert.equal(settings.get('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(settings.get('CapabilityBoundingSet'), '');
  assert.equal(settings.get('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
  // Long enough for the longest bounded failover step (the winner's drain: drain_max_s, default 360 s) to finish.
  assert.ok(parseInt(settings.get('TimeoutStopSec') ?? '0', 10) > 360);
  // The young generation's size for the daemon's footprint (bin/heir.js sets the rest).
  assert.ok(environment.includes('NODE_OPTIONS=--max-semi-space-size=4'), environment.join('\n'));
  // Two malloc arenas: the RSS of the TLS state of a connection per monitored master.
  assert.ok(environment.includes('MALLOC_ARENA_MAX=2'), environment.join('\n'));
});

test('sysusers.d/heir.conf creates the heir system user', () => {
  const sysusers = tool('systemd-sysusers');
  const root = path.join(tmp, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  const r = run(sysusers, [`--root=${root}`, SYSUSERS]);
  assert.equal(r.code, 0, r.out);
  const passwd = readFileSync(path.join(root, 'etc', 'passwd'), 'utf8');
  const entry = passwd.split('\n').find((l) => l.startsWith('heir:'));
  assert.ok(entry, `no heir user in ${passwd}`);
  const [, , uid, , , home, shell] = entry!.split(':');
  assert.ok(Number(uid) < 1000, `uid ${uid} is not a system uid`);
  assert.equal(home, '/var/lib/heir');
  assert.equal(shell, '/usr/sbin/nologin');
});
