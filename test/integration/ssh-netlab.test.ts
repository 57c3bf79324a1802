/**
 * The SSH adapter against real sshd hosts of the namespace lab: commands with exit
 * codes and timeouts, SFTP reads with offsets, and every refusal kind (host key
 * unknown/changed, auth, refused, unreachable).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startNetLab, type NetLab } from '../lab';
import { sshExec, sshReadFile, sshCopyFile, sshStat, sshTarget, sshWarm, closeSshConnections, sshConnectionStats, SshError, type SshTarget } from '../../src/ssh';
import { spawn } from 'node:child_process';
import { runCheck } from '../../src/check/run';
import { GlobalSettings } from '../../src/config/schema';
import { takesGtidStart } from '../../src/failover/salvage';
import { binaries } from '../lab/server';
import { commandLine } from '../lab/cluster';

describe('ssh adapter (namespace lab)', () => {
  let lab: NetLab;
  let t: SshTarget;
  let dir: string;
  const remoteFile = () => join(lab.nodes[0]!.datadir, '..', 'ssh-test.bin');
  const data = randomBytes(300_000);

  before(async () => {
    lab = await startNetLab({ flavor: 'mariadb', hosts: 2 });
    const cfg = lab.clusterConfig();
    t = sshTarget(cfg, cfg.nodes[0]!);
    dir = mkdtempSync(join(tmpdir(), 'heir-ssh-test-'));
    // The lab's hosts share the file system with the manager: a file written here is the
    // "remote" file over SFTP.
    writeFileSync(remoteFile(), data);
  });
  after(async () => {
    closeSshConnections();
    await lab?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("heir check: salvage's SSH access to every node's binlogs; a node whose binlog_dir holds none is named", async () => {
    const base = lab.clusterConfig();
    const maria = binaries('mariadb');
    const cfg = {
      ...base,
      failover: { ...base.failover, salvage: { ...base.failover.salvage, mysqlbinlog: maria.mysqlbinlog, mysql: maria.mysql } },
      nodes: base.nodes.map((n, i) => ({ ...n, binlog_dir: i === 1 ? join(dir, 'empty') : lab.nodes[i]!.datadir })),
    };
    const r = await runCheck(cfg, GlobalSettings.parse({ state_dir: dir }), { skipAddress: true });
    const ssh = r.findings.filter((f) => f.code === 'salvage-ssh');
    assert.deepEqual(ssh.map((f) => f.node), ['db2'], JSON.stringify(r.findings, null, 1));
    assert.match(ssh[0]!.message, /no binlog index \(\*\.index\) found on db2's host/);
    // The lab's mariadb-binlog (10.11) was asked whether it takes a GTID start, and does.
    assert.deepEqual(r.findings.filter((f) => f.code === 'salvage-tool'), []);
  });

  test("a GTID list as mysqlbinlog's --start-position: MariaDB 10.11's mariadb-binlog takes it, MySQL 9.7's mysqlbinlog refuses it", async () => {
    assert.deepEqual(await takesGtidStart(binaries('mariadb').mysqlbinlog), { ok: true, detail: 'takes a GTID list as --start-position' });
    const my = binaries('mysql');
    const refused = await takesGtidStart(commandLine(my.run([my.mysqlbinlog])));
    assert.equal(refused.ok, false);
    assert.match(refused.detail, /^it refused --start-position=0-1-1: .*start-position/);
  });

  test('target from the cluster config', () => {
    assert.equal(t.host, lab.nodes[0]!.address);
    assert.equal(t.port, 22);
    assert.equal(t.user, 'root');
    assert.equal(t.knownHostsPath, lab.ssh.knownHostsPath);
    assert.equal(t.privateKeyPath, lab.ssh.privateKeyPath);
  });

  test('exec: exit code, stdout, stderr, stdin; runs in the host’s network namespace', async () => {
    const r = await sshExec(t, 'echo out; echo err >&2; exit 3');
    assert.deepEqual(r, { code: 3, stdout: 'out\n', stderr: 'err\n' });
    const s = await sshExec(t, 'cat | tr a-z A-Z', { stdin: Buffer.from('hello') });
    assert.equal(s.stdout, 'HELLO');
    const ip = await sshExec(t, 'ip -4 -o addr show dev eth0');
    assert.match(ip.stdout, new RegExp(lab.nodes[0]!.address!.replace(/\./g, '\\.')));
  });

  test('exec: a command that outlives its timeout is a timeout error and the connection is dropped', async () => {
    await assert.rejects(sshExec(t, 'sleep 30', { timeoutMs: 500 }), (e: unknown) => e instanceof SshError && e.kind === 'timeout' && /sleep 30/.test(e.message));
    // the adapter is still usable afterwards
    assert.equal((await sshExec(t, 'echo ok')).stdout, 'ok\n');
  });

  test('SFTP: whole file, from an offset, streamed to a local copy that resumes, stat', async () => {
    assert.ok((await sshReadFile(t, remoteFile())).equals(data));
    assert.ok((await sshReadFile(t, remoteFile(), { offset: 123_456 })).equals(data.subarray(123_456)));
    assert.equal((await sshReadFile(t, remoteFile(), { offset: data.length })).length, 0);
    const local = join(dir, 'copy.bin');
    writeFileSync(local, data.subarray(0, 100_000));
    const n = await sshCopyFile(t, remoteFile(), local, { offset: 100_000 });
    assert.equal(n, data.length - 100_000);
    assert.ok(readFileSync(local).equals(data));
    assert.equal((await sshStat(t, remoteFile())).size, data.length);
    await assert.rejects(sshReadFile(t, '/nonexistent/file'), (e: unknown) => e instanceof SshError && e.kind === 'command' && /no such file/i.test(e.message));
  });

  test('host key not in known_hosts: hostkey error with the fingerprint', async () => {
    const empty = join(dir, 'known_hosts_empty');
    writeFileSync(empty, '');
    const expected = execFileSync('ssh-keygen', ['-lf', join(lab.dir, 'db1', 'ssh_host_ed25519_key.pub')], { encoding: 'utf8' }).split(/\s+/)[1];
    await assert.rejects(sshExec({ ...t, knownHostsPath: empty }, 'true'), (e: unknown) => {
      assert.ok(e instanceof SshError);
      assert.equal(e.kind, 'hostkey');
      assert.equal(e.fingerprint, expected);
      assert.ok(e.message.includes(expected!), e.message);
      assert.match(e.message, /not in/);
      return true;
    });
  });

  test('changed host key: hostkey mismatch naming the known_hosts line', async () => {
    const other = join(dir, 'otherkey');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const [type, b64] = readFileSync(`${other}.pub`, 'utf8').split(/\s+/);
    const kh = join(dir, 'known_hosts_changed');
    writeFileSync(kh, `${t.host} ${type} ${b64}\n`);
    await assert.rejects(sshExec({ ...t, knownHostsPath: kh }, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'hostkey' && /MISMATCH/.test(e.message) && /line\(s\) 1/.test(e.message));
    // hashed known_hosts (ssh-keygen -H) with the right key works
    const hashed = join(dir, 'known_hosts_hashed');
    writeFileSync(hashed, readFileSync(lab.ssh.knownHostsPath));
    execFileSync('ssh-keygen', ['-q', '-H', '-f', hashed], { stdio: 'ignore' });
    assert.ok(!readFileSync(hashed, 'utf8').includes(t.host));
    assert.equal((await sshExec({ ...t, knownHostsPath: hashed }, 'echo ok')).stdout, 'ok\n');
  });

  test('wrong private key: auth error', async () => {
    const other = join(dir, 'stranger');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    await assert.rejects(sshExec({ ...t, privateKeyPath: other }, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'auth');
    await assert.rejects(sshExec({ ...t, privateKeyPath: join(dir, 'missing') }, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'auth' && /cannot read private key/.test(e.message));
  });

  // The client's end of the connection as the server sees it: "client-ip client-port server-ip server-port".
  const connectionOf = async (x: SshTarget) => (await sshExec(x, 'echo $SSH_CONNECTION')).stdout.trim();

  test('kept connections: calls reuse one connection (commands and SFTP, at once too); keep_open_s 0 opens one per call', async () => {
    closeSshConnections();
    assert.ok((t.keepOpenMs ?? 0) > 0, 'ssh.keep_open_s defaults to more than 0');
    const before = sshConnectionStats().opened;
    const first = await connectionOf(t);
    await sshStat(t, remoteFile());
    const again = await Promise.all([connectionOf(t), connectionOf(t), connectionOf(t), sshReadFile(t, remoteFile()).then(() => first)]);
    assert.deepEqual(again, [first, first, first, first]);
    // Fast commands on the open connection: their exit status can arrive with the channel's
    // confirmation, and every one must still have it.
    for (let i = 0; i < 20; i++) {
      const rs = await Promise.all([1, 2, 3, 4].map((k) => sshExec(t, `exit ${k}`)));
      assert.deepEqual(rs.map((r) => r.code), [1, 2, 3, 4]);
    }
    assert.equal(sshConnectionStats().opened - before, 1, 'one connection for all of them');
    assert.equal(sshConnectionStats().open, 1);
    const own = { ...t, keepOpenMs: 0 };
    const a = await connectionOf(own);
    const b = await connectionOf(own);
    assert.notEqual(a, b);
    assert.notEqual(a, first);
    assert.equal(sshConnectionStats().open, 1, 'keep_open_s 0 keeps nothing');
  });

  test('kept connections: one the server closed is replaced, and the call on it succeeds', async () => {
    closeSshConnections();
    const first = await connectionOf(t);
    // The command's parent is the server process of this connection: killing it ends the connection.
    await sshExec(t, 'kill -9 $PPID').catch(() => undefined);
    const next = await connectionOf(t);
    assert.notEqual(next, first);
    assert.equal(await connectionOf(t), next, 'the new connection is kept in turn');
  });

  test('kept connections: the host key is checked at every reuse (known_hosts changed meanwhile: refused)', async () => {
    closeSshConnections();
    const kh = join(dir, 'known_hosts_changing');
    writeFileSync(kh, readFileSync(lab.ssh.knownHostsPath));
    const tk = { ...t, knownHostsPath: kh };
    await connectionOf(tk);
    await connectionOf(tk);
    // The operator replaces the host's entry with another key: the open connection is not trusted any more.
    const other = join(dir, 'other-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const [type, b64] = readFileSync(`${other}.pub`, 'utf8').split(/\s+/);
    writeFileSync(kh, `${lab.nodes[0]!.address} ${type} ${b64}\n`);
    await assert.rejects(sshExec(tk, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'hostkey' && /MISMATCH/.test(e.message));
    // Unreadable known_hosts: refused too, as a new connection would be.
    rmSync(kh);
    await assert.rejects(sshExec(tk, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'hostkey' && /cannot read known_hosts/.test(e.message));
  });

  test('kept connections: warm opens ahead; closeAll ends them on the server too; a process with idle ones exits', async () => {
    closeSshConnections();
    const before = sshConnectionStats().opened;
    sshWarm(t);
    sshWarm(t);
    const c = await connectionOf(t);
    assert.equal(sshConnectionStats().opened - before, 1, 'the call used the warmed connection');
    const port = c.split(' ')[1]!;
    const serverSees = async () => (await lab.exec('db1', ['ss', '-Htn', 'state', 'established', `( sport = :22 and dport = :${port} )`])).stdout.trim();
    assert.notEqual(await serverSees(), '');
    closeSshConnections();
    assert.equal(sshConnectionStats().open, 0);
    const until = Date.now() + 5000;
    while ((await serverSees()) !== '' && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await serverSees(), '', 'the server side of the connection is gone');
    // A child process that ran a command and keeps its connection for 60 s still exits at once.
    const script = `const s = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'ssh'))}); ` +
      `s.sshExec(${JSON.stringify({ ...t, keepOpenMs: 60000 })}, 'true').then((r) => { console.log('ran', r.code, s.sshConnectionStats().open); });`;
    const started = Date.now();
    const out = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += String(d)));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout });
      });
    });
    assert.equal(out.stdout.trim(), 'ran 0 1', 'the connection was kept');
    assert.equal(out.code, 0);
    assert.ok(Date.now() - started < 15000, `the process exited without waiting for its idle connection (${Date.now() - started} ms)`);
  });

  test('nothing listening: connect error ECONNREFUSED; host unplugged: timeout', async () => {
    await assert.rejects(sshExec({ ...t, port: 2222 }, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'connect' && e.code === 'ECONNREFUSED');
    await lab.unplug('db2');
    try {
      const cfg = lab.clusterConfig();
      const t2 = { ...sshTarget(cfg, cfg.nodes[1]!), connectTimeoutMs: 1000 };
      await assert.rejects(sshExec(t2, 'true'), (e: unknown) => e instanceof SshError && (e.kind === 'timeout' || (e.kind === 'connect' && e.code === 'EHOSTUNREACH')));
      // A connection kept from before the host went away: no answer within connect_timeout_ms is a timeout too.
      const t1 = { ...t, connectTimeoutMs: 1000 };
      await sshExec(t1, 'true');
      await lab.unplug('db1');
      try {
        const started = Date.now();
        await assert.rejects(sshExec(t1, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'timeout' && /open connection did not answer within 1000 ms/.test(e.message));
        assert.ok(Date.now() - started < 3000, `bounded by connect_timeout_ms, not command_timeout_ms (${Date.now() - started} ms)`);
      } finally {
        await lab.replug('db1');
      }
    } finally {
      await lab.replug('db2');
    }
  });
});
