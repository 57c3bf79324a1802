/**
 * deploy/heir.service under a real systemd (Debian's, as PID 1 of its own PID, mount and cgroup
 * namespaces: the machine's processes, files and cgroups are untouched), running heir's daemon
 * on a lab cluster:
 *
 * - `systemctl start heir` returns once heir sent READY=1, which comes after its "heir ready" log
 *   line (the configuration loaded, every cluster's first topology read done);
 * - the journal holds heir's lines with their priority: `journalctl -u heir -p err` shows the
 *   error lines only, without the "<N>" prefix;
 * - WATCHDOG=1 arrives every WatchdogSec/2; a heir stopped with SIGSTOP (a wedged event loop) is
 *   killed by the watchdog and restarted;
 * - `systemctl stop heir` gets STOPPING=1 and a clean exit.
 *
 * systemd runs at log level debug, so its journal names each notification it received and from
 * which unit. The unit is the shipped one with only ExecStart changed (this checkout's node and
 * bin/heir.js) and, in a drop-in, a 4 s watchdog so the test is quick (and still above a start
 * on a busy 2-core machine). /etc and /var are overlays
 * on tmpfs inside the namespace (the heir user, /etc/heir, /var/lib/heir and the journal live
 * there), /run and /tmp are fresh tmpfs (a checkout under /tmp is bound back into both the
 * namespace and, by BindReadOnlyPaths in the drop-in, the service's private /tmp).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startCluster, type LabCluster } from '../lab';
import { freePort } from '../lab/ports';
import type { ClusterConfig } from '../../src/config/schema';
import { until } from '../support/cli';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SYSTEMD = '/lib/systemd/systemd';

let dir = '';
let lab: LabCluster | undefined;
let boot: ChildProcess | undefined;
let bootOut = '';
/** systemd's PID as this machine sees it (the namespaces are entered through it). */
let pid1 = 0;

function inside(args: string[], timeoutMs = 60_000): { code: number; out: string } {
  const r = spawnSync('nsenter', ['-t', String(pid1), '-m', '-p', '-C', '-u', '-i', '--', ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LANG: 'C.UTF-8' },
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function show(...props: string[]): Record<string, string> {
  const r = inside(['systemctl', 'show', 'heir.service', ...props.map((p) => `--property=${p}`)]);
  assert.equal(r.code, 0, r.out);
  return Object.fromEntries(r.out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

interface Entry {
  MESSAGE?: string;
  PRIORITY?: string;
  _PID?: string;
  __REALTIME_TIMESTAMP: string;
}

function journal(args: string[]): Entry[] {
  const r = inside(['journalctl', '--no-pager', '-o', 'json', ...args]);
  return r.out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Entry);
}

/** For failure messages: heir's last lines and systemd's lines about it. */
function diag(): string {
  const heir = inside(['journalctl', '--no-pager', '-u', 'heir.service', '-n', '40']).out;
  const sd = inside(['journalctl', '--no-pager', '_PID=1', '--grep', 'heir\\.service', '-n', '40']).out;
  return `\n--- heir.service ---\n${heir}\n--- systemd about heir.service ---\n${sd}`;
}

/** systemd's own debug lines about notifications it accepted for heir.service. */
function notifications(): { at: bigint; text: string }[] {
  return journal(['_PID=1', '--grep', 'heir\\.service: Got notification message'])
    .filter((e) => typeof e.MESSAGE === 'string' && /heir\.service: Got notification message from PID/.test(e.MESSAGE))
    .map((e) => ({ at: BigInt(e.__REALTIME_TIMESTAMP), text: e.MESSAGE! }));
}

before(async () => {
  for (const t of ['unshare', 'nsenter', SYSTEMD, 'systemctl', 'journalctl', 'systemd-sysusers', 'systemd-notify']) {
    const found = t.startsWith('/') ? fs.existsSync(t) : spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
    assert.ok(found, `${t} not found: it comes with the Debian packages systemd and util-linux (scripts/setup.sh installs them); this test does not skip`);
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-systemd-run-'));
  lab = await startCluster({ flavor: 'mysql', nodes: 2, name: 'sd' });
  const cluster = lab.clusterConfig({
    detection: { ping_type: 'select', ssh_check: false, min_sources: 1, interval_ms: 500 } as ClusterConfig['detection'],
    failover: { auto: false, salvage: { enabled: false } } as ClusterConfig['failover'],
  });
  // A second cluster nobody listens for: its first read fails at once, and heir logs an error.
  const ghostPorts = [await freePort(), await freePort()];
  const ghost = lab.clusterConfig({ name: 'ghost', nodes: cluster.nodes.map((n, i) => ({ ...n, port: ghostPorts[i]! })) } as Partial<ClusterConfig>);
  const config = {
    heir: { state_dir: '/var/lib/heir', log_level: 'info', api: { listen: `127.0.0.1:${await freePort()}` } },
    clusters: [cluster, ghost],
  };
  fs.writeFileSync(path.join(dir, 'heir.yaml'), stringify(config));
  const unit = fs
    .readFileSync(path.join(ROOT, 'deploy', 'heir.service'), 'utf8')
    .replace(/^ExecStart=\/usr\/local\/bin\/heir /m, `ExecStart=${process.execPath} ${path.join(ROOT, 'bin', 'heir.js')} `);
  assert.ok(unit.includes(process.execPath), 'ExecStart was not rewritten');
  fs.writeFileSync(path.join(dir, 'heir.service'), unit);
  // A checkout under /tmp (a CI clone) is hidden from the service by PrivateTmp=yes: bound back
  // read-only into the service's namespace; everywhere else the unit runs as shipped.
  const inTmp = /^\/(var\/)?tmp\//.test(ROOT + '/');
  fs.writeFileSync(
    path.join(dir, 'quick.conf'),
    `[Service]\nWatchdogSec=4s\nRestartSec=1s\nTimeoutAbortSec=3s\n${inTmp ? `BindReadOnlyPaths=${ROOT}\n` : ''}`,
  );
  fs.writeFileSync(
    path.join(dir, 'heir-test.target'),
    '[Unit]\nDescription=heir test\nDefaultDependencies=no\nWants=systemd-journald.socket systemd-journald.service\nAfter=systemd-journald.socket\n',
  );
  fs.writeFileSync(
    path.join(dir, 'boot.sh'),
    `set -eu
D=${JSON.stringify(dir)}
mount --make-rprivate /
mount -t proc proc /proc
W="$D/w"; mkdir -p "$W"; mount -t tmpfs tmpfs "$W"
for d in etc var; do mkdir -p "$W/$d-up" "$W/$d-work"; mount -t overlay overlay -o "lowerdir=/$d,upperdir=$W/$d-up,workdir=$W/$d-work" "/$d"; done
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /sys/fs/cgroup
mount -t cgroup2 cgroup2 /sys/fs/cgroup
rm -rf /etc/systemd/system/* /var/log/journal/*
mkdir -p /etc/systemd/system/heir.service.d
cp "$D/heir.service" "$D/heir-test.target" /etc/systemd/system/
cp "$D/quick.conf" /etc/systemd/system/heir.service.d/
systemd-sysusers ${JSON.stringify(path.join(ROOT, 'deploy', 'sysusers.d', 'heir.conf'))}
install -d -m 0750 -g heir /etc/heir
install -m 0640 -g heir "$D/heir.yaml" /etc/heir/heir.yaml
systemd-machine-id-setup >/dev/null 2>&1 || true
R=${JSON.stringify(ROOT)}
case "$R/" in
  /tmp/*) mkdir -p /run/heir-checkout; mount --bind "$R" /run/heir-checkout
          mount -t tmpfs tmpfs /tmp
          mkdir -p "$R"; mount --bind /run/heir-checkout "$R" ;;  # the checkout stays visible
  *) mount -t tmpfs tmpfs /tmp ;;
esac
exec env container=heir-test ${SYSTEMD} --system --unit=heir-test.target --log-target=journal --log-level=debug
`,
  );
  boot = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount', '--cgroup', '--uts', '--ipc', '--', 'bash', path.join(dir, 'boot.sh')], { stdio: ['ignore', 'pipe', 'pipe'] });
  boot.stdout!.on('data', (c: Buffer) => (bootOut += c.toString()));
  boot.stderr!.on('data', (c: Buffer) => (bootOut += c.toString()));
  pid1 = await until(`systemd started in its namespaces (output so far: ${bootOut})`, 20_000, () => {
    const kids = fs.readFileSync(`/proc/${boot!.pid}/task/${boot!.pid}/children`, 'utf8').trim();
    const p = Number(kids.split(' ')[0]);
    return p > 0 && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd' ? p : undefined;
  });
  await until('systemd reached heir-test.target', 30_000, () => {
    const s = inside(['systemctl', 'is-system-running']).out.trim();
    return s === 'running' || s === 'degraded';
  });
});

after(async () => {
  if (pid1) {
    try {
      process.kill(pid1, 'SIGKILL'); // PID 1 of the namespace: everything in it goes with it
    } catch {
      /* already gone */
    }
  }
  // unshare --kill-child takes systemd (and so the namespace) with it, should it not have started.
  if (boot && boot.exitCode === null && boot.signalCode === null) {
    const exited = new Promise((r) => boot!.on('exit', r));
    boot.kill('SIGKILL');
    await exited;
  }
  await lab?.teardown().catch(() => undefined);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('heir.service under systemd: READY after the first reads, priorities in the journal, watchdog restart, STOPPING', async () => {
  // The unit as systemd reads it.
  const unit = show('Type', 'NotifyAccess', 'User');
  assert.deepEqual(unit, { Type: 'notify', NotifyAccess: 'all', User: 'heir' });

  // Start: systemctl returns when READY=1 arrived.
  const t0 = Date.now();
  const start = inside(['systemctl', 'start', 'heir.service'], 150_000);
  assert.equal(start.code, 0, `systemctl start failed: ${start.out}\n${inside(['journalctl', '--no-pager', '-u', 'heir', '-n', '50']).out}`);
  const s1 = show('ActiveState', 'SubState', 'StatusText', 'MainPID', 'NRestarts', 'WatchdogUSec');
  assert.equal(s1.WatchdogUSec, '4s');
  assert.equal(s1.NRestarts, '0', `no restart before the SIGSTOP: ${diag()}`);
  assert.equal(s1.ActiveState, 'active');
  assert.equal(s1.SubState, 'running');
  assert.equal(s1.StatusText, '2 clusters (1 without a known master yet; retried)');
  const firstPid = s1.MainPID;

  // READY=1 came after the "heir ready" line, which follows every cluster's first read.
  const entries = await until('the "heir ready" line in the journal', 10_000, () => {
    const e = journal(['-u', 'heir.service']);
    return e.some((x) => x.MESSAGE?.includes('"msg":"heir ready: 2 clusters')) ? e : undefined;
  });
  const readyLine = entries.find((x) => x.MESSAGE?.includes('"msg":"heir ready: 2 clusters'))!;
  const ready = notifications().find((n) => /READY=1/.test(n.text));
  assert.ok(ready, 'systemd received READY=1 for heir.service');
  assert.match(ready.text, /STATUS=2 clusters/);
  // heir's own time of the line (journald stamps a stdout line when it reads it, which may be later).
  const loggedAt = BigInt(Date.parse(JSON.parse(readyLine.MESSAGE!).time)) * 1000n;
  assert.ok(ready.at >= loggedAt, `READY=1 (${ready.at} µs) after the "heir ready" line (${loggedAt} µs)`);

  // Priorities: info is 6, the ghost cluster's error is 3, and the prefix is gone from the message.
  assert.equal(readyLine.PRIORITY, '6');
  assert.ok(readyLine.MESSAGE!.startsWith('{"level":30'), readyLine.MESSAGE);
  const errs = journal(['-u', 'heir.service', '-p', 'err']);
  const heirErrs = errs.filter((e) => e.MESSAGE?.startsWith('{'));
  assert.ok(heirErrs.some((e) => /ghost/.test(e.MESSAGE!)), `an error about the ghost cluster in journalctl -p err: ${JSON.stringify(errs.map((e) => e.MESSAGE))}`);
  for (const e of heirErrs) {
    assert.ok(Number(JSON.parse(e.MESSAGE!).level) >= 50, `not an error line: ${e.MESSAGE}`);
    assert.ok(Number(e.PRIORITY) <= 3);
  }

  // Watchdog pings, every 2 s with WatchdogSec=4s.
  const pings = await until('three WATCHDOG=1 notifications', 15_000, () => {
    const w = notifications().filter((n) => /WATCHDOG=1/.test(n.text));
    return w.length >= 3 ? w : undefined;
  });
  assert.ok(pings.at(-1)!.at > ready.at);

  // A wedged daemon (stopped: no event loop) is killed by the watchdog and restarted.
  const stop = inside(['systemctl', 'kill', '--kill-who=main', '--signal=SIGSTOP', 'heir.service']);
  assert.equal(stop.code, 0, stop.out);
  const s2 = await until('heir restarted after the watchdog fired', 60_000, () => {
    const s = show('ActiveState', 'SubState', 'MainPID', 'NRestarts');
    return Number(s.NRestarts) >= 1 && s.ActiveState === 'active' && s.SubState === 'running' && s.MainPID !== firstPid ? s : undefined;
  });
  assert.equal(s2.NRestarts, '1', `one restart, by the SIGSTOP: ${diag()}`);
  const pid1Lines = journal(['_PID=1', '--grep', 'heir\\.service: Watchdog timeout']).map((e) => e.MESSAGE ?? '');
  assert.ok(pid1Lines.some((l) => /heir\.service: Watchdog timeout/.test(l)), 'systemd says the watchdog fired');

  // Stop: STOPPING=1, then a clean exit.
  const before = notifications().length;
  const halt = inside(['systemctl', 'stop', 'heir.service'], 200_000);
  assert.equal(halt.code, 0, halt.out);
  const after = notifications().slice(before);
  assert.ok(after.some((n) => /STOPPING=1/.test(n.text)), `STOPPING=1 received: ${after.map((n) => n.text).join(' | ')}`);
  const s3 = show('ActiveState', 'Result', 'ExecMainStatus');
  assert.deepEqual(s3, { ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
  assert.ok(Date.now() - t0 < 120_000);
});
