/**
 * A replication cluster of real servers: nodes[0] is the master, the others
 * replicate from it (GTID auto-position by default, file/position with gtid:false).
 * The loopback variant puts every server on 127.0.0.1 with a free port; the
 * network-namespace variant (netlab.ts) reuses buildCluster with its own placement.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClusterConfig } from '../../src/config/schema';
import {
  ADMIN, REPL, Binaries, LabFlavor, LabSettings, ServerSpec, binaries, copyTemplate, ensureTemplate, serverArgs, sqlSocket, startServer, waitReady,
} from './server';
import { Tracked, onExitSync, terminate, waitExit, sleep, signal, stopAndWait } from './procs';
import { freePort } from './ports';

export type { LabFlavor } from './server';

export interface LabNode {
  name: string;
  host: string;
  port: number;
  serverId: number;
  datadir: string;
  /** The server's Unix socket (root without a password, from the manager's side). */
  socket: string;
  pid: number | null;
  ns?: string;
  address?: string;
}

export interface LabCluster {
  flavor: LabFlavor;
  version: string;
  nodes: LabNode[];
  bin: { mysqld: string; mysql: string; mysqlbinlog: string; run(argv: string[]): string[] };
  admin: { user: string; password: string };
  repl: { user: string; password: string };
  /** Root folder of this lab (node folders, logs). */
  dir: string;
  clusterConfig(overrides?: Partial<ClusterConfig>): ClusterConfig;
  sql(node: LabNode | string, statement: string): Promise<any[]>;
  kill(node: LabNode | string, signal?: NodeJS.Signals): Promise<void>;
  pause(node: LabNode | string): void;
  resume(node: LabNode | string): void;
  /** Whether the node's server process (started by this lab) is still running. */
  running(node: LabNode | string): boolean;
  start(node: LabNode | string): Promise<void>;
  stop(node: LabNode | string): Promise<void>;
  teardown(): Promise<void>;
  /** Pids of every process this lab started that is still running (servers, sshd). */
  pids(): number[];
}

export interface ClusterOptions {
  flavor: LabFlavor;
  nodes?: number;
  gtid?: boolean;
  semiSync?: boolean;
  name?: string;
  /** Server settings varied on purpose (see LabSettings). */
  settings?: LabSettings;
}

/** Where one node lives. */
export interface Placement {
  name: string;
  host: string;          // what clients and replicas connect to
  bindAddress: string;
  port: number;
  prefix: string[];      // argv prefix to run inside its place (netns)
  ns?: string;
  address?: string;
}

interface NodeState {
  node: LabNode;
  spec: ServerSpec;
  proc: Tracked | null;
}

const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export interface BuiltCluster extends LabCluster {
  /** Extra teardown steps (run after servers stop). */
  onTeardown(fn: () => Promise<void> | void): void;
  /** Settings merged into clusterConfig() before overrides. */
  configBase: Record<string, unknown>;
  /** Extra keys of each node's entry in clusterConfig() (e.g. instance_id). */
  nodeConfigExtra: (n: LabNode) => Record<string, unknown>;
  /** Other processes of the lab (e.g. sshd) reported by pids(). */
  extraPids: () => number[];
}

export async function buildCluster(opts: ClusterOptions, dir: string, placements: Placement[]): Promise<BuiltCluster> {
  const b: Binaries = binaries(opts.flavor);
  const gtid = opts.gtid ?? true;
  const semiSync = opts.semiSync ?? false;
  const template = await ensureTemplate(b);
  const states: NodeState[] = placements.map((p, i) => {
    const nodeDir = path.join(dir, p.name);
    fs.mkdirSync(nodeDir, { recursive: true });
    const datadir = path.join(nodeDir, 'data');
    const spec: ServerSpec = {
      name: `${opts.flavor}:${p.name}`,
      dir: nodeDir,
      datadir,
      socket: path.join(nodeDir, 'mysqld.sock'),
      port: p.port,
      bindAddress: p.bindAddress,
      reportHost: p.host,
      serverId: i + 1,
      gtid,
      semiSync,
      prefix: p.prefix,
      settings: opts.settings ?? {},
    };
    const node: LabNode = { name: p.name, host: p.host, port: p.port, serverId: i + 1, datadir, socket: spec.socket, pid: null };
    if (p.ns) node.ns = p.ns;
    if (p.address) node.address = p.address;
    return { node, spec, proc: null };
  });
  const teardowns: (() => Promise<void> | void)[] = [];
  let tornDown = false;
  // A test process that exits without teardown (SIGINT/SIGTERM/SIGHUP, an uncaught error) has its
  // servers killed by procs.ts; their folder (~150 MB of datadirs per cluster) goes too.
  const removeDirAtExit = onExitSync(() => {
    if (process.env.HEIR_LAB_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
  });

  const stateOf = (n: LabNode | string): NodeState => {
    const name = typeof n === 'string' ? n : n.name;
    const s = states.find((x) => x.node.name === name);
    if (!s) throw new Error(`lab: no node named ${name} (nodes: ${states.map((x) => x.node.name).join(', ')})`);
    return s;
  };

  const startNode = async (s: NodeState) => {
    if (s.proc && s.proc.running) throw new Error(`lab: ${s.node.name} is already running (pid ${s.proc.pid})`);
    s.proc = startServer(b, s.spec);
    s.node.pid = s.proc.pid;
    try {
      await waitReady(s.proc, s.spec.socket, path.join(s.spec.dir, 'error.log'));
    } catch (e) {
      await terminate(s.proc, 2000);
      s.node.pid = null;
      throw e;
    }
    const proc = s.proc;
    void proc.exited.then(() => { if (s.proc === proc) s.node.pid = null; });
  };

  const sql = (n: LabNode | string, statement: string) => sqlSocket(stateOf(n).spec.socket, [statement]);

  const cluster: BuiltCluster = {
    flavor: opts.flavor,
    version: b.version,
    nodes: states.map((s) => s.node),
    bin: { mysqld: b.mysqld, mysql: b.mysql, mysqlbinlog: b.mysqlbinlog, run: b.run },
    admin: { ...ADMIN },
    repl: { ...REPL },
    dir,
    configBase: {},
    nodeConfigExtra: () => ({}),
    extraPids: () => [],
    pids() {
      return [...states.filter((s) => s.proc && s.proc.running).map((s) => s.proc!.pid), ...cluster.extraPids()];
    },
    onTeardown(fn) { teardowns.push(fn); },
    clusterConfig(overrides = {}) {
      const base = {
        name: opts.name ?? `lab-${opts.flavor}`,
        mysql: {
          user: ADMIN.user,
          password: ADMIN.password,
          replication_user: REPL.user,
          replication_password: REPL.password,
        },
        nodes: states.map((s) => ({ name: s.node.name, host: s.node.host, port: s.node.port, ...cluster.nodeConfigExtra(s.node) })),
        ...cluster.configBase,
        ...overrides,
      } as Record<string, any>;
      // Salvage runs the lab's own mysqlbinlog and client (MySQL's through the sid loader)
      // unless a test names others.
      const fo = base.failover ?? {};
      base.failover = { ...fo, salvage: { mysqlbinlog: commandLine(b.run([b.mysqlbinlog])), mysql: commandLine(b.run([b.mysql])), ...(fo.salvage ?? {}) } };
      return ClusterConfig.parse(base);
    },
    sql,
    async kill(n, sig = 'SIGKILL') {
      const s = stateOf(n);
      if (!s.proc || !s.proc.running) throw new Error(`lab: ${s.node.name} is not running`);
      if (sig !== 'SIGKILL') signal(s.proc, 'SIGCONT');
      signal(s.proc, sig);
      if (!(await waitExit(s.proc, 60000))) throw new Error(`lab: ${s.node.name} (pid ${s.proc.pid}) did not exit after ${sig} within 60 s`);
      s.node.pid = null;
    },
    pause(n) {
      const s = stateOf(n);
      if (!s.proc || !s.proc.running) throw new Error(`lab: ${s.node.name} is not running`);
      if (!stopAndWait(s.proc)) throw new Error(`lab: ${s.node.name} (pid ${s.proc.pid}) did not stop within 2 s of SIGSTOP`);
    },
    resume(n) {
      const s = stateOf(n);
      if (!s.proc || !s.proc.running) throw new Error(`lab: ${s.node.name} is not running`);
      signal(s.proc, 'SIGCONT');
    },
    running(n) {
      const s = stateOf(n);
      return !!s.proc && s.proc.running;
    },
    async start(n) {
      await startNode(stateOf(n));
    },
    async stop(n) {
      const s = stateOf(n);
      if (!s.proc || !s.proc.running) return;
      await terminate(s.proc, 60000);
      s.node.pid = null;
    },
    async teardown() {
      if (tornDown) return;
      tornDown = true;
      const errors: string[] = [];
      await Promise.all(states.map(async (s) => {
        // SIGKILL: the datadir is thrown away, a clean shutdown would only cost time.
        if (s.proc && s.proc.running) {
          try { await terminate(s.proc, 0); } catch (e) { errors.push((e as Error).message); }
        }
        s.node.pid = null;
      }));
      for (const fn of teardowns.reverse()) {
        try { await fn(); } catch (e) { errors.push((e as Error).message); }
      }
      if (process.env.HEIR_LAB_KEEP !== '1') fs.rmSync(dir, { recursive: true, force: true });
      removeDirAtExit();
      if (errors.length) throw new Error(`lab teardown: ${errors.join('; ')}`);
    },
  };

  try {
    // Copy the template and start every server in parallel.
    await Promise.all(states.map(async (s) => {
      copyTemplate(template, s.spec.datadir);
      await startNode(s);
    }));
    await wireReplication(cluster, b, states, gtid, semiSync, opts.settings ?? {});
  } catch (e) {
    await cluster.teardown().catch(() => undefined);
    throw e;
  }
  return cluster;
}

async function wireReplication(c: LabCluster, b: Binaries, states: NodeState[], gtid: boolean, semiSync: boolean, settings: LabSettings): Promise<void> {
  const master = states[0];
  const replicas = states.slice(1);
  const mysqlFlavor = b.flavor === 'mysql';
  let file = '';
  let pos = 0;
  if (!gtid) {
    const st = await c.sql(master.node, mysqlFlavor ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
    file = st[0].File;
    pos = Number(st[0].Position);
  }
  // The server's default heartbeat period (half the net timeout) unless short timeouts are asked for.
  const heartbeat = (p: string) => (settings.shortTimeouts ? `${p}_HEARTBEAT_PERIOD=1, ` : '');
  await Promise.all(replicas.map(async (r) => {
    let change: string;
    if (mysqlFlavor) {
      change = `CHANGE REPLICATION SOURCE TO SOURCE_HOST=${q(master.node.host)}, SOURCE_PORT=${master.node.port}, ` +
        `SOURCE_USER=${q(REPL.user)}, SOURCE_PASSWORD=${q(REPL.password)}, GET_SOURCE_PUBLIC_KEY=1, ` +
        `SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400, ${heartbeat('SOURCE')}` +
        (gtid ? 'SOURCE_AUTO_POSITION=1' : `SOURCE_LOG_FILE=${q(file)}, SOURCE_LOG_POS=${pos}`);
    } else {
      change = `CHANGE MASTER TO MASTER_HOST=${q(master.node.host)}, MASTER_PORT=${master.node.port}, ` +
        `MASTER_USER=${q(REPL.user)}, MASTER_PASSWORD=${q(REPL.password)}, ` +
        `MASTER_CONNECT_RETRY=1, ${heartbeat('MASTER')}` +
        (gtid ? 'MASTER_USE_GTID=slave_pos' : `MASTER_LOG_FILE=${q(file)}, MASTER_LOG_POS=${pos}, MASTER_USE_GTID=no`);
    }
    await c.sql(r.node, change);
    if (semiSync) {
      await c.sql(r.node, mysqlFlavor ? 'SET GLOBAL rpl_semi_sync_replica_enabled=1' : 'SET GLOBAL rpl_semi_sync_slave_enabled=1');
    }
    await c.sql(r.node, mysqlFlavor ? 'START REPLICA' : 'START SLAVE');
    await c.sql(r.node, 'SET GLOBAL read_only=1');
    if (mysqlFlavor) await c.sql(r.node, 'SET GLOBAL super_read_only=1');
  }));
  if (semiSync) {
    await c.sql(master.node, mysqlFlavor ? 'SET GLOBAL rpl_semi_sync_source_enabled=1' : 'SET GLOBAL rpl_semi_sync_master_enabled=1');
  }
  await Promise.all(replicas.map((r) => waitReplicating(c, r.node, mysqlFlavor, 60000)));
}

export async function waitReplicating(c: LabCluster, node: LabNode, mysqlFlavor: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: any = {};
  while (Date.now() < deadline) {
    const rows = await c.sql(node, mysqlFlavor ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
    last = rows[0] ?? {};
    const io = last.Replica_IO_Running ?? last.Slave_IO_Running;
    const sqlT = last.Replica_SQL_Running ?? last.Slave_SQL_Running;
    if (io === 'Yes' && sqlT === 'Yes') return;
    await sleep(50);
  }
  throw new Error(`lab: ${node.name} is not replicating after ${timeoutMs} ms: IO=${last.Replica_IO_Running ?? last.Slave_IO_Running} ` +
    `(${last.Last_IO_Error}) SQL=${last.Replica_SQL_Running ?? last.Slave_SQL_Running} (${last.Last_SQL_Error})`);
}

/** Loopback cluster: every server on 127.0.0.1 with a free port, own datadir under a temp folder. */
export async function startCluster(opts: ClusterOptions): Promise<LabCluster> {
  const n = opts.nodes ?? 3;
  if (n < 1) throw new Error('lab: startCluster needs at least one node');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `heir-lab-${opts.flavor}-`));
  const placements: Placement[] = [];
  const used = new Set<number>();
  for (let i = 0; i < n; i++) {
    let port = await freePort();
    while (used.has(port)) port = await freePort();
    used.add(port);
    placements.push({ name: `db${i + 1}`, host: '127.0.0.1', bindAddress: '127.0.0.1', port, prefix: [] });
  }
  try {
    return await buildCluster(opts, dir, placements);
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export { serverArgs };

/** argv as one command line heir's config accepts (quoted where needed). */
export function commandLine(argv: string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_./=:,-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
