/**
 * The test lab itself: loopback clusters and the network-namespace lab come up
 * for both flavors, replicate, survive kill/start, and leave nothing behind.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { execFile, execFileSync } from 'node:child_process';
import { startCluster, startNetLab, queryTcp, LabCluster, NetLab, LabFlavor } from '../lab';

const FLAVORS: LabFlavor[] = ['mysql', 'mariadb'];

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); } catch { return false; }
  // A zombie is not running.
  try { return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
}

function tcpReachable(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function status(c: LabCluster, node: string) {
  return c.sql(node, c.flavor === 'mysql' ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS').then((r) => r[0]);
}

const running = (st: any) =>
  (st?.Replica_IO_Running ?? st?.Slave_IO_Running) === 'Yes' && (st?.Replica_SQL_Running ?? st?.Slave_SQL_Running) === 'Yes';

async function rowCount(c: LabCluster, node: string, table: string): Promise<number> {
  const r = await c.sql(node, `SELECT COUNT(*) AS n FROM ${table}`);
  return Number(r[0].n);
}

for (const flavor of FLAVORS) {
  describe(`loopback cluster (${flavor})`, () => {
    let c: LabCluster;
    before(async () => { c = await startCluster({ flavor, name: `labtest-${flavor}` }); });
    after(async () => { if (c) await c.teardown(); });

    it('comes up with three nodes, distinct server ids, replicas read-only', async () => {
      assert.equal(c.nodes.length, 3);
      assert.match(c.version, flavor === 'mysql' ? /^9\.7\./ : /^10\.11\./);
      const ids = new Set<number>();
      for (const n of c.nodes) {
        assert.equal(n.host, '127.0.0.1');
        assert.ok(n.pid && alive(n.pid), `${n.name} running`);
        const [row] = await c.sql(n, 'SELECT @@server_id AS id, @@read_only AS ro, @@log_bin AS lb');
        ids.add(Number(row.id));
        assert.equal(Number(row.lb), 1, `${n.name} binlog on`);
        assert.equal(Number(row.ro), n.name === 'db1' ? 0 : 1, `${n.name} read_only`);
      }
      assert.equal(ids.size, 3);
      const cfg = c.clusterConfig();
      assert.equal(cfg.nodes.length, 3);
      assert.equal(cfg.mysql.user, c.admin.user);
    });

    it('replicas use GTID auto-position from the master', async () => {
      for (const r of ['db2', 'db3']) {
        const st = await status(c, r);
        assert.ok(running(st), `${r} both threads running`);
        assert.equal(Number(st.Source_Port ?? st.Master_Port), c.nodes[0].port);
        if (flavor === 'mysql') assert.equal(Number(st.Auto_Position), 1);
        else assert.equal(st.Using_Gtid, 'Slave_Pos');
      }
    });

    it('a row written on the master appears on every replica', async () => {
      await c.sql('db1', 'CREATE DATABASE labt');
      await c.sql('db1', 'CREATE TABLE labt.t (id INT PRIMARY KEY)');
      await c.sql('db1', 'INSERT INTO labt.t VALUES (1)');
      for (const r of ['db2', 'db3']) await eventually(`row on ${r}`, async () => (await rowCount(c, r, 'labt.t')) === 1);
    });

    it('the admin and replication accounts work over TCP', async () => {
      const n = c.nodes[1];
      const [me] = await queryTcp({ host: n.host, port: n.port, user: c.admin.user, password: c.admin.password }, 'SELECT CURRENT_USER() AS u');
      assert.equal(me.u, `${c.admin.user}@%`);
      const grants = (await queryTcp({ host: n.host, port: n.port, user: c.admin.user, password: c.admin.password }, 'SHOW GRANTS'))
        .map((r) => String(Object.values(r)[0])).join('\n');
      assert.match(grants, /REPLICATION CLIENT|BINLOG MONITOR/);
      const [r] = await queryTcp({ host: n.host, port: n.port, user: c.repl.user, password: c.repl.password }, 'SELECT CURRENT_USER() AS u');
      assert.equal(r.u, `${c.repl.user}@%`);
    });

    it('kill and start of a replica: it comes back and catches up', async () => {
      const pid = c.nodes[2].pid!;
      await c.kill('db3');
      assert.equal(c.nodes[2].pid, null);
      assert.equal(alive(pid), false);
      await c.sql('db1', 'INSERT INTO labt.t VALUES (2)');
      await c.start('db3');
      assert.ok(c.nodes[2].pid && c.nodes[2].pid !== pid);
      await eventually('db3 caught up', async () => (await rowCount(c, 'db3', 'labt.t')) === 2);
      await eventually('db3 replicating', async () => running(await status(c, 'db3')));
    });

    it('replicas notice a killed master and reconnect when it returns', async () => {
      await c.kill('db1');
      await eventually('db2 io thread not running', async () => !running(await status(c, 'db2')));
      await c.start('db1');
      await eventually('db2 replicating again', async () => running(await status(c, 'db2')), 30000);
      await c.sql('db1', 'INSERT INTO labt.t VALUES (3)');
      await eventually('row 3 on db2', async () => (await rowCount(c, 'db2', 'labt.t')) === 3);
    });

    it('stop, pause and resume', async () => {
      await c.stop('db2');
      assert.equal(c.nodes[1].pid, null);
      await c.start('db2');
      c.pause('db3');
      await eventually('db3 stopped', async () => /^State:\s+T/m.test(fs.readFileSync(`/proc/${c.nodes[2].pid}/status`, 'utf8')), 5000);
      c.resume('db3');
      await eventually('db3 answers after resume', async () => (await c.sql('db3', 'SELECT 1 AS one'))[0].one === 1);
    });

    it('teardown leaves no process of ours', async () => {
      const pids = c.pids();
      assert.equal(pids.length, 3);
      const dir = c.dir;
      await c.teardown();
      for (const p of pids) assert.equal(alive(p), false, `pid ${p} gone`);
      assert.equal(fs.existsSync(dir), false);
    });
  });

  describe(`file/position cluster with semi-sync (${flavor})`, () => {
    let c: LabCluster;
    before(async () => { c = await startCluster({ flavor, nodes: 2, gtid: false, semiSync: true }); });
    after(async () => { if (c) await c.teardown(); });

    it('replicates by file and position, semi-synchronously', async () => {
      const st = await status(c, 'db2');
      assert.ok(running(st));
      if (flavor === 'mysql') {
        assert.equal(Number(st.Auto_Position), 0);
        const [g] = await c.sql('db1', 'SELECT @@gtid_mode AS m');
        assert.equal(g.m, 'OFF');
      } else {
        assert.equal(st.Using_Gtid, 'No');
      }
      await c.sql('db1', 'CREATE DATABASE fp');
      await c.sql('db1', 'CREATE TABLE fp.t (id INT PRIMARY KEY)');
      await c.sql('db1', 'INSERT INTO fp.t VALUES (1)');
      await eventually('row on db2', async () => (await rowCount(c, 'db2', 'fp.t')) === 1);
      const v = flavor === 'mysql' ? 'Rpl_semi_sync_source_status' : 'Rpl_semi_sync_master_status';
      const clients = flavor === 'mysql' ? 'Rpl_semi_sync_source_clients' : 'Rpl_semi_sync_master_clients';
      const rows = await c.sql('db1', `SHOW GLOBAL STATUS WHERE Variable_name IN ('${v}', '${clients}')`);
      const m = Object.fromEntries(rows.map((r: any) => [r.Variable_name, r.Value]));
      assert.equal(m[v], 'ON');
      assert.equal(m[clients], '1');
    });
  });

  describe(`network-namespace lab (${flavor})`, () => {
    let lab: NetLab;
    before(async () => { lab = await startNetLab({ flavor }); });
    after(async () => { if (lab) await lab.teardown(); });

    const sshArgs = (address: string, command: string) => [
      '-F', '/dev/null', '-i', lab.ssh.privateKeyPath, '-o', `UserKnownHostsFile=${lab.ssh.knownHostsPath}`,
      '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', `${lab.ssh.user}@${address}`, command,
    ];
    const ssh = (address: string, command: string) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('ssh', sshArgs(address, command), { encoding: 'utf8', timeout: 15000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : 255) : 0, stdout, stderr });
      });
    });

    it('hosts have their own addresses and replicate across namespaces', async () => {
      assert.equal(lab.nodes.length, 3);
      for (const n of lab.nodes) {
        assert.ok(n.ns && n.address && n.host === n.address && n.port === 3306);
        assert.match(n.address!, /^10\.77\.\d+\.\d+$/);
      }
      const st = await status(lab, 'db2');
      assert.ok(running(st));
      assert.equal(st.Source_Host ?? st.Master_Host, lab.nodes[0].address);
      await lab.sql('db1', 'CREATE DATABASE nl');
      await lab.sql('db1', 'CREATE TABLE nl.t (id INT PRIMARY KEY)');
      await lab.sql('db1', 'INSERT INTO nl.t VALUES (1)');
      for (const r of ['db2', 'db3']) await eventually(`row on ${r}`, async () => (await rowCount(lab, r, 'nl.t')) === 1);
      const cfg = lab.clusterConfig();
      assert.equal(cfg.nodes[0].instance_id, lab.instanceIdOf('db1'));
      assert.equal(cfg.ssh.known_hosts, lab.ssh.knownHostsPath);
    });

    it('ssh to a host runs the command inside that host, with host key checking', async () => {
      const n = lab.nodes[1];
      const r = await ssh(n.address!, 'ip -4 -o addr show dev eth0');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`inet ${n.address!.replace(/\./g, '\\.')}/24`));
      // The known_hosts file really is checked: db1's key does not pass for db2's address.
      const wrong = fs.mkdtempSync('/tmp/heir-labtest-');
      try {
        const db1Line = fs.readFileSync(lab.ssh.knownHostsPath, 'utf8').split('\n').find((l) => l.startsWith(`${lab.nodes[0].address} `))!;
        fs.writeFileSync(`${wrong}/kh`, db1Line.replace(lab.nodes[0].address!, n.address!) + '\n');
        const args = sshArgs(n.address!, 'true').map((a) => (a.startsWith('UserKnownHostsFile=') ? `UserKnownHostsFile=${wrong}/kh` : a));
        assert.throws(() => execFileSync('ssh', args, { stdio: 'pipe', timeout: 15000 }));
      } finally {
        fs.rmSync(wrong, { recursive: true, force: true });
      }
      const e = await lab.exec('db3', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.equal(e.code, 0);
      assert.match(e.stdout, new RegExp(`inet ${lab.nodes[2].address!.replace(/\./g, '\\.')}/24`));
    });

    it('the floating address moves between hosts and reaches the right server', async () => {
      const account = { host: lab.floatingIp, port: 3306, user: lab.admin.user, password: lab.admin.password, connectTimeoutMs: 3000 };
      await lab.addFloating('db1');
      assert.equal(Number((await queryTcp(account, 'SELECT @@server_id AS id'))[0].id), lab.nodes[0].serverId);
      await lab.removeFloating('db1');
      assert.equal(await tcpReachable(lab.floatingIp, 3306, 1000), false);
      await lab.addFloating('db2');
      assert.equal(Number((await queryTcp(account, 'SELECT @@server_id AS id'))[0].id), lab.nodes[1].serverId);
      await lab.removeFloating('db2');
      await lab.removeFloating('db2'); // idempotent
    });

    it('unplug makes a host unreachable for everyone; replug brings it back', async () => {
      const n = lab.nodes[2];
      await lab.unplug('db3');
      assert.equal(await tcpReachable(n.address!, 3306), false);
      assert.equal(await tcpReachable(n.address!, 22), false);
      const probe = ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${n.address}/3306`];
      assert.notEqual((await lab.exec('db1', probe)).code, 0);
      await lab.replug('db3');
      assert.ok(await eventually('db3 reachable again', () => tcpReachable(n.address!, 3306)));
      assert.equal((await lab.exec('db1', probe)).code, 0);
    });

    it('isolateFromManager cuts only the manager off; heal undoes it', async () => {
      const n = lab.nodes[1];
      await lab.isolateFromManager('db2');
      assert.equal(await tcpReachable(n.address!, 3306), false);
      assert.equal((await ssh(n.address!, 'true')).code, 255);
      // Another host still reaches it, and it still replicates from the master.
      const probe = ['timeout', '2', 'bash', '-c', `exec 3<>/dev/tcp/${n.address}/3306`];
      assert.equal((await lab.exec('db3', probe)).code, 0);
      await lab.sql('db1', 'INSERT INTO nl.t VALUES (2)');
      await eventually('row 2 on isolated db2', async () => (await rowCount(lab, 'db2', 'nl.t')) === 2);
      await lab.heal('db2');
      assert.equal(await tcpReachable(n.address!, 3306), true);
      assert.equal((await ssh(n.address!, 'true')).code, 0);
    });

    it('teardown removes processes, namespaces and the bridge', async () => {
      const pids = lab.pids();
      assert.equal(pids.length, 6, 'three mysqld and three sshd');
      const namespaces = lab.nodes.map((n) => n.ns!);
      const bridge = lab.bridge;
      await lab.teardown();
      for (const p of pids) assert.equal(alive(p), false, `pid ${p} gone`);
      const nsList = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
      for (const ns of namespaces) assert.ok(!nsList.split('\n').some((l) => l.split(' ')[0] === ns), `${ns} deleted`);
      assert.throws(() => execFileSync('ip', ['link', 'show', bridge], { stdio: 'pipe' }));
    });
  });
}
