/**
 * Network-namespace lab: every node is an "ECS host" — its own network
 * namespace with an address on a lab bridge, a mysqld on 0.0.0.0:3306 and an
 * sshd on :22 — so that detection, fencing and the address move see distinct
 * hosts. The root namespace plays the manager (10.77.<k>.1 on the bridge).
 *
 * Everything this lab creates is named after its slot k: bridge heirbr<k>,
 * namespaces heir-<k>-<node>, root-side veths heir-<k>-<i>. A slot is taken with
 * a lock file under <cache>/netlab; a slot whose owner process is gone is a
 * leftover of a crashed run and is cleaned up before reuse. Requires root.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as net from 'node:net';
import { execFile, execFileSync } from 'node:child_process';
import { LabCluster, LabNode, Placement, buildCluster, ClusterOptions } from './cluster';
import { LabFlavor, LabSettings, cacheDir } from './server';
import { Tracked, onExitSync, spawnTracked, terminate, tailFile } from './procs';

type NodeRef = LabNode | string;

export interface NetLab extends LabCluster {
  ssh: { user: string; privateKeyPath: string; knownHostsPath: string };
  floatingIp: string;
  /** The manager's (root namespace's) address on the lab bridge. */
  managerAddress: string;
  /** Name of the lab bridge in the root namespace. */
  bridge: string;
  unplug(node: NodeRef): Promise<void>;
  replug(node: NodeRef): Promise<void>;
  /** Manager-only partition: the host's own address stops answering the manager; the floating address, replicas and other hosts are untouched. */
  isolateFromManager(node: NodeRef): Promise<void>;
  heal(node: NodeRef): Promise<void>;
  /**
   * Slow what reaches the host to `kbit` kbit/s (tc tbf on its bridge-side veth), e.g. so a
   * large transaction streams to a replica for seconds; null removes the limit.
   */
  throttle(node: NodeRef, kbit: number | null): Promise<void>;
  addFloating(node: NodeRef): Promise<void>;
  /** The hosts that have the floating address up right now. */
  floatingHolders(): Promise<string[]>;
  removeFloating(node: NodeRef): Promise<void>;
  /**
   * The host the manager's ARP cache sends the floating address to (by MAC), as the VPC's
   * HaVip mapping would: whoever announced it last. Undefined when the cache has no entry.
   */
  arpHolder(): string | undefined;
  exec(node: NodeRef, argv: string[], o?: { timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  instanceIdOf(node: NodeRef): string;
}

export interface NetLabOptions {
  flavor: LabFlavor;
  hosts?: number;
  gtid?: boolean;
  semiSync?: boolean;
  name?: string;
  /** Server settings varied on purpose (see LabSettings). */
  settings?: LabSettings;
}

function ip(args: string[], o: { ignore?: RegExp } = {}): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e: any) {
    const msg = String(e.stderr || e.message);
    if (o.ignore && o.ignore.test(msg)) return '';
    throw new Error(`lab: ip ${args.join(' ')} failed: ${msg.trim()}`);
  }
}

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Removes everything of slot k: processes inside its namespaces, links, namespaces, bridge. */
function cleanupSlot(k: number): void {
  const prefix = `heir-${k}-`;
  const nsList = ip(['netns', 'list'], { ignore: /./ }).split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(prefix));
  for (const ns of nsList) {
    // Processes in our own namespace are ours (servers of the crashed or finished lab).
    for (const p of ip(['netns', 'pids', ns], { ignore: /./ }).split('\n').map(Number).filter((x) => x > 0)) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  const links = ip(['-o', 'link', 'show'], { ignore: /./ }).split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => !!n && n.startsWith(prefix));
  for (const l of links) ip(['link', 'del', l], { ignore: /Cannot find|does not exist/ });
  for (const ns of nsList) ip(['netns', 'del', ns], { ignore: /No such file|Invalid/ });
  ip(['link', 'del', `heirbr${k}`], { ignore: /Cannot find|does not exist/ });
}

/** Takes a free slot k (1..200), cleaning up leftovers of dead owners. */
function claimSlot(dir: string): { k: number; lock: string } {
  const stateDir = path.join(cacheDir(), 'netlab');
  fs.mkdirSync(stateDir, { recursive: true });
  for (let k = 1; k <= 200; k++) {
    const lock = path.join(stateDir, `${k}.lock`);
    let fd: number;
    try {
      fd = fs.openSync(lock, 'wx');
    } catch (e: any) {
      if (e.code !== 'EEXIST') throw e;
      let owner = 0;
      try { owner = Number(JSON.parse(fs.readFileSync(lock, 'utf8')).pid) || 0; } catch { /* half-written: treat as dead after a while */ }
      if (owner && pidAlive(owner)) continue;
      if (!owner) {
        const age = Date.now() - fs.statSync(lock).mtimeMs;
        if (age < 10000) continue;
      }
      cleanupSlot(k);
      fs.rmSync(lock, { force: true });
      k--; // retry the same slot
      continue;
    }
    fs.writeSync(fd, JSON.stringify({ pid: process.pid, dir, started: new Date().toISOString() }));
    fs.closeSync(fd);
    // Somebody else's use of the subnet (not ours): skip the slot.
    const foreign = ip(['-o', '-4', 'addr', 'show', 'to', `10.77.${k}.0/24`], { ignore: /./ })
      .split('\n').filter((l) => l.trim() && !/\sheirbr\d+\s/.test(l));
    if (foreign.length) { fs.rmSync(lock, { force: true }); continue; }
    cleanupSlot(k); // our names, but no live owner: leftovers
    return { k, lock };
  }
  throw new Error('lab: no free network lab slot (10.77.1-200.0/24); remove stale locks in ' + stateDir);
}

function waitTcp(host: string, port: number, timeoutMs: number, what: string, log: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`lab: ${what} not listening on ${host}:${port} after ${timeoutMs} ms; ${log}:\n${tailFile(log)}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

export async function startNetLab(opts: NetLabOptions): Promise<NetLab> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('lab: startNetLab needs root (network namespaces, veth, bridge); run the integration tests as root');
  }
  const n = opts.hosts ?? 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `heir-netlab-${opts.flavor}-`));
  const { k, lock } = claimSlot(dir);
  const bridge = `heirbr${k}`;
  const managerAddress = `10.77.${k}.1`;
  const floatingIp = `10.77.${k}.100`;
  const hosts = Array.from({ length: n }, (_, i) => ({
    name: `db${i + 1}`,
    ns: `heir-${k}-db${i + 1}`,
    veth: `heir-${k}-${i + 1}`,
    address: `10.77.${k}.${11 + i}`,
  }));
  const sshds: Tracked[] = [];
  let netDone = false;
  const cleanupNet = () => {
    if (netDone) return;
    netDone = true;
    try { cleanupSlot(k); } finally { fs.rmSync(lock, { force: true }); }
  };
  const removeExitHook = onExitSync(cleanupNet);

  try {
    // --- network -----------------------------------------------------------------
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['addr', 'add', `${managerAddress}/24`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
    for (const h of hosts) {
      ip(['netns', 'add', h.ns]);
      ip(['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns]);
      ip(['link', 'set', h.veth, 'master', bridge, 'up']);
      ip(['-n', h.ns, 'link', 'set', 'lo', 'up']);
      ip(['-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      ip(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
    }

    // --- ssh: keys, known_hosts, one sshd per host -----------------------------------
    const sshDir = path.join(dir, 'ssh');
    fs.mkdirSync(sshDir, { mode: 0o700 });
    const privateKeyPath = path.join(sshDir, 'id_ed25519');
    const knownHostsPath = path.join(sshDir, 'known_hosts');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'heir-lab-manager', '-f', privateKeyPath]);
    fs.copyFileSync(`${privateKeyPath}.pub`, path.join(sshDir, 'authorized_keys'));
    const known: string[] = [];
    for (const h of hosts) {
      const hdir = path.join(dir, h.name);
      fs.mkdirSync(hdir, { recursive: true });
      const hostKey = path.join(hdir, 'ssh_host_ed25519_key');
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `heir-lab-${h.name}`, '-f', hostKey]);
      const pub = fs.readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
      known.push(`${h.address} ${pub}`);
      const cfg = path.join(hdir, 'sshd_config');
      fs.writeFileSync(cfg, [
        'Port 22',
        'ListenAddress 0.0.0.0',
        `HostKey ${hostKey}`,
        'PidFile none',
        `AuthorizedKeysFile ${path.join(sshDir, 'authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        'PrintMotd no',
        'PrintLastLog no',
        'UseDNS no',
        // bash skips ~/.bashrc for ssh commands when it is not a top-level shell (SHLVL >= 1).
        'SetEnv SHLVL=1',
        'Subsystem sftp internal-sftp',
        'MaxStartups 200:30:400',
        'MaxSessions 100',
        'LogLevel INFO',
        '',
      ].join('\n'));
      // A private tmpfs /run gives sshd its privilege-separation dir without touching the real /run.
      const script = 'mount -t tmpfs -o mode=755 heir-lab-run /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -e -f "$0"';
      const t = spawnTracked(`sshd:${h.name}`, ['ip', 'netns', 'exec', h.ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, cfg],
        path.join(hdir, 'sshd.log'));
      sshds.push(t);
    }
    fs.writeFileSync(knownHostsPath, known.join('\n') + '\n');
    await Promise.all(hosts.map((h, i) => waitTcp(h.address, 22, 20000, `sshd of ${h.name}`, sshds[i].logFile)));

    // --- database servers -------------------------------------------------------------
    const placements: Placement[] = hosts.map((h) => ({
      name: h.name, host: h.address, bindAddress: '0.0.0.0', port: 3306, prefix: ['ip', 'netns', 'exec', h.ns], ns: h.ns, address: h.address,
    }));
    const clusterOpts: ClusterOptions = { flavor: opts.flavor, nodes: n, gtid: opts.gtid, semiSync: opts.semiSync, name: opts.name ?? `netlab-${opts.flavor}`, settings: opts.settings };
    const c = await buildCluster(clusterOpts, dir, placements);

    const hostOf = (node: NodeRef) => {
      const name = typeof node === 'string' ? node : node.name;
      const h = hosts.find((x) => x.name === name);
      if (!h) throw new Error(`lab: no host named ${name} (hosts: ${hosts.map((x) => x.name).join(', ')})`);
      return h;
    };
    const flushNeighbours = () => {
      ip(['neigh', 'flush', 'to', floatingIp], { ignore: /./ });
      for (const h of hosts) ip(['-n', h.ns, 'neigh', 'flush', 'to', floatingIp], { ignore: /./ });
    };
    const ssh = { user: 'root', privateKeyPath, knownHostsPath };
    let macs: Map<string, string> | undefined;
    c.configBase = {
      ssh: { user: 'root', port: 22, private_key: privateKeyPath, known_hosts: knownHostsPath },
    };
    c.nodeConfigExtra = (node) => ({ instance_id: `i-lab${node.name}` });
    c.extraPids = () => sshds.filter((t) => t.running).map((t) => t.pid);
    c.onTeardown(async () => {
      for (const t of sshds) await terminate(t, 0).catch(() => undefined);
      cleanupNet();
      removeExitHook();
    });

    const lab: NetLab = Object.assign(c, {
      ssh,
      floatingIp,
      managerAddress,
      bridge,
      async unplug(node: NodeRef) {
        const h = hostOf(node);
        ip(['link', 'set', h.veth, 'down']);
        ip(['-n', h.ns, 'link', 'set', 'eth0', 'down']);
      },
      async replug(node: NodeRef) {
        const h = hostOf(node);
        ip(['-n', h.ns, 'link', 'set', 'eth0', 'up']);
        ip(['link', 'set', h.veth, 'up']);
      },
      async isolateFromManager(node: NodeRef) {
        // Only what the host sends from its own address to the manager is dropped (the
        // answers to the manager's pings, TCP probes and ssh): the manager's view alone is
        // cut, while the replicas, the other hosts and an application talking to the
        // floating address (answered from that address) still reach the host.
        const h = hostOf(node);
        ip(['-n', h.ns, 'rule', 'add', 'from', `${h.address}/32`, 'to', `${managerAddress}/32`, 'priority', '100', 'blackhole'], { ignore: /File exists/ });
      },
      async heal(node: NodeRef) {
        const h = hostOf(node);
        ip(['-n', h.ns, 'rule', 'del', 'from', `${h.address}/32`, 'to', `${managerAddress}/32`, 'priority', '100', 'blackhole'], { ignore: /No such file|not found|No such process/i });
      },
      async throttle(node: NodeRef, kbit: number | null) {
        const h = hostOf(node);
        const args = kbit === null ? ['qdisc', 'del', 'dev', h.veth, 'root'] : ['qdisc', 'replace', 'dev', h.veth, 'root', 'tbf', 'rate', `${kbit}kbit`, 'burst', '32kbit', 'latency', '1s'];
        try {
          execFileSync('tc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e: any) {
          const msg = String(e.stderr || e.message);
          if (!(kbit === null && /No such file|Cannot delete|Invalid handle/i.test(msg))) throw new Error(`lab: tc ${args.join(' ')} failed: ${msg.trim()}`);
        }
      },
      async addFloating(node: NodeRef) {
        const h = hostOf(node);
        ip(['-n', h.ns, 'addr', 'replace', `${floatingIp}/32`, 'dev', 'eth0']);
        flushNeighbours();
      },
      async floatingHolders() {
        return hosts
          .filter((h) => ip(['-n', h.ns, '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { ignore: /./ }).includes(` ${floatingIp}/`))
          .map((h) => h.name);
      },
      async removeFloating(node: NodeRef) {
        const h = hostOf(node);
        ip(['-n', h.ns, 'addr', 'del', `${floatingIp}/32`, 'dev', 'eth0'], { ignore: /Cannot assign requested address|Address not found/ });
        flushNeighbours();
      },
      arpHolder() {
        const mac = /lladdr ([0-9a-f:]+)/.exec(ip(['neigh', 'show', 'to', floatingIp, 'dev', bridge], { ignore: /./ }))?.[1];
        if (!mac) return undefined;
        macs ??= new Map(hosts.map((h) => [/link\/ether ([0-9a-f:]+)/.exec(ip(['-n', h.ns, 'link', 'show', 'eth0']))?.[1] ?? '', h.name]));
        return macs.get(mac);
      },
      exec(node: NodeRef, argv: string[], o: { timeoutMs?: number } = {}) {
        const h = hostOf(node);
        return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile('ip', ['netns', 'exec', h.ns, ...argv], { timeout: o.timeoutMs ?? 60000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
            (err, stdout, stderr) => {
              const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : 255) : 0;
              resolve({ code, stdout, stderr });
            });
        });
      },
      instanceIdOf(node: NodeRef) {
        return `i-lab${hostOf(node).name}`;
      },
    });
    return lab;
  } catch (e) {
    for (const t of sshds) await terminate(t, 0).catch(() => undefined);
    cleanupNet();
    removeExitHook();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

