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
import { sshExec, sshReadFile, sshCopyFile, sshStat, sshTarget, SshError, type SshTarget } from '../../src/ssh';
import { runCheck } from '../../src/check/run';
import { GlobalSettings } from '../../src/config/schema';

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
    await lab?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("heir check: salvage's SSH access to every node's binlogs; a node whose binlog_dir holds none is named", async () => {
    const base = lab.clusterConfig();
    const cfg = { ...base, nodes: base.nodes.map((n, i) => ({ ...n, binlog_dir: i === 1 ? join(dir, 'empty') : lab.nodes[i]!.datadir })) };
    const r = await runCheck(cfg, GlobalSettings.parse({ state_dir: dir }), { skipAddress: true });
    const ssh = r.findings.filter((f) => f.code === 'salvage-ssh');
    assert.deepEqual(ssh.map((f) => f.node), ['db2'], JSON.stringify(r.findings, null, 1));
    assert.match(ssh[0]!.message, /no binlog index \(\*\.index\) found on db2's host/);
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

  test('nothing listening: connect error ECONNREFUSED; host unplugged: timeout', async () => {
    await assert.rejects(sshExec({ ...t, port: 2222 }, 'true'), (e: unknown) => e instanceof SshError && e.kind === 'connect' && e.code === 'ECONNREFUSED');
    await lab.unplug('db2');
    try {
      const cfg = lab.clusterConfig();
      const t2 = { ...sshTarget(cfg, cfg.nodes[1]!), connectTimeoutMs: 1000 };
      await assert.rejects(sshExec(t2, 'true'), (e: unknown) => e instanceof SshError && (e.kind === 'timeout' || (e.kind === 'connect' && e.code === 'EHOSTUNREACH')));
    } finally {
      await lab.replug('db2');
    }
  });
});
