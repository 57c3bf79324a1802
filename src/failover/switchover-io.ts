/**
 * The switchover's I/O by node name (SwitchoverIO, what its steps call): one connection per
 * node opened by prepare and kept through the pause, a second one to the master (rollback and
 * the connection killer must work even if the first hangs on the read_only statement), and
 * the reads and writes beyond src/mysql's ops: long transactions on the master, killing
 * leftover application connections, MariaDB's binlog position of a former master. Each goes
 * through a Conn (src/mysql is the only MySQL adapter); the rest through SwitchoverDeps.
 */
import { performance } from 'node:perf_hooks';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import type { Conn } from '../mysql/conn';
import type { ChangeSourceOptions } from '../mysql/dialect';
import { readChannels } from '../mysql/inspect';
import * as ops from '../mysql/ops';
import type { Flavor } from '../mysql/types';
import { sshTarget, sshWarm } from '../ssh';
import type { LockState, LongTransaction, SwitchoverFacts, AddressCheck } from './switchover-preflight';
import type { SwitchoverDeps } from './switchover-deps';
import type { SwitchoverIO } from './switchover-steps';
import type { NodeRepoint } from './switchover-types';

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const round = (ms: number) => Math.round(ms * 10) / 10;

export class ConnectedIO implements SwitchoverIO {
  private readonly conns = new Map<string, Conn>();
  private readonly ownIds = new Map<string, number[]>();

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly deps: SwitchoverDeps,
    private readonly timeoutS: number,
    private readonly lockRequest: { id: string; target: string; requestedBy?: string },
  ) {}

  private node(name: string): NodeConfig {
    const n = this.cluster.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`node ${name} is not in cluster ${this.cluster.name}`);
    return n;
  }

  private conn(name: string): Conn {
    const c = this.conns.get(name);
    if (!c) throw new Error(`no connection to ${name}`);
    return c;
  }

  private aux(name: string): Conn {
    return this.conns.get(`${name}#aux`) ?? this.conn(name);
  }

  lockState(): Promise<LockState> {
    return this.deps.lockState();
  }

  acquireLock() {
    return this.deps.acquireLock({ operation: 'switchover', ...this.lockRequest });
  }

  /** Connections, topology and the facts the preflight needs. */
  async prepare(lock: LockState): Promise<SwitchoverFacts> {
    // An address moved by commands over SSH (a HaVip; an ENI or secondary IP with a
    // post_attach_command): the connections open now, before writes stop, so that the move
    // inside the pause costs a channel each, not a key exchange.
    const a = this.cluster.address;
    if (a.type === 'havip' || ((a.type === 'eni' || a.type === 'secondary-ip') && a.post_attach_command)) {
      for (const n of this.cluster.nodes) sshWarm(sshTarget(this.cluster, n));
    }
    const [topology, address] = await Promise.all([
      this.deps.readTopology(this.cluster),
      this.deps.addressPreflight().catch((e): { kind: string; checks: AddressCheck[] } => ({
        kind: this.cluster.address.type,
        checks: [{ name: 'preflight', ok: false, detail: errText(e) }],
      })),
      ...this.cluster.nodes.map(async (n) => {
        try {
          const c = await this.deps.openConn(this.cluster, n);
          this.conns.set(n.name, c);
          this.ownIds.set(n.name, [await connectionId(c)]);
        } catch {
          /* unreachable: the topology says so and the preflight refuses */
        }
      }),
    ]);
    const master = topology.nodes.filter((n) => n.reachable && n.readOnly === false);
    let longTransactions: LongTransaction[] = [];
    if (master.length === 1 && this.conns.has(master[0].name)) {
      const aux = await this.deps.openConn(this.cluster, this.node(master[0].name));
      this.conns.set(`${master[0].name}#aux`, aux);
      this.ownIds.get(master[0].name)!.push(await connectionId(aux));
      longTransactions = await readLongTransactions(aux, this.ownIds.get(master[0].name)!);
      // SET GLOBAL read_only waits for the global read lock: bound it.
      await this.conn(master[0].name).exec(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(this.timeoutS))}`);
    }
    return { topology, longTransactions, address, lock };
  }

  ensureProbeTable(node: string): Promise<void> {
    return this.deps.ensureProbeTable(this.conn(node));
  }

  finalPosition(node: string, flavor: Flavor): Promise<string> {
    const c = this.conn(node);
    return flavor === 'mariadb' ? mariadbBinlogPos(c) : ops.executedGtid(c);
  }

  waitApplied(node: string, position: string, timeoutS: number): Promise<boolean> {
    return ops.waitForGtid(this.conn(node), position, timeoutS);
  }

  setReadOnly(node: string, on: boolean): Promise<void> {
    return ops.setReadOnly(this.conn(node), on);
  }

  makeWritable(node: string): Promise<void> {
    return ops.setReadOnly(this.aux(node), false);
  }

  killApplicationConnections(node: string) {
    return killApplicationConnections(this.aux(node), this.ownIds.get(node) ?? [], [this.cluster.mysql.user, this.cluster.mysql.replication_user]);
  }

  /**
   * Make the target writable. Its replication from the old master is left configured (reset
   * after the pause): with MySQL's super_read_only nothing can arrive from the old master any
   * more. MariaDB's read_only does not stop privileged users, so there replication stops first.
   */
  async promote(node: string, flavor: Flavor): Promise<void> {
    const c = this.conn(node);
    if (flavor !== 'mysql') await ops.stopReplica(c);
    await ops.setReadOnly(c, false);
  }

  async demote(to: string, from: string): Promise<void> {
    const c = this.conn(to);
    await ops.setReadOnly(c, true);
    await ops.startReplica(c);
    await ops.verifyReplicating(c, 5);
    await ops.setReadOnly(this.aux(from), false);
  }

  probeWrite(node: string): Promise<void> {
    return this.deps.probeWrite(this.conn(node), this.node(node));
  }

  async detach(node: string): Promise<void> {
    const c = this.conn(node);
    await ops.stopReplica(c);
    await ops.resetReplicaAll(c);
  }

  private changeSourceTo(master: NodeConfig, formerMaster: boolean): ChangeSourceOptions {
    return {
      // MariaDB: a former master's own writes are in gtid_binlog_pos only; current_pos covers them.
      ...(formerMaster ? { mariadbUseGtid: 'current_pos' as const } : {}),
      host: master.host,
      port: master.port,
      user: this.cluster.mysql.replication_user,
      password: this.cluster.mysql.replication_password,
      position: { kind: 'gtid' },
      getPublicKey: true,
    };
  }

  /** Point each of `names` at the new master, in parallel. */
  async repoint(names: string[], to: string, from: string, flavor: Flavor): Promise<NodeRepoint[]> {
    const target = this.node(to);
    return Promise.all(
      names.map(async (name): Promise<NodeRepoint> => {
        const start = performance.now();
        try {
          const c = this.conn(name);
          // A replica with a backlog stops at a transaction boundary: bounded by apply_timeout_s.
          await ops.stopReplica(c, this.cluster.failover.apply_timeout_s);
          await ops.changeSource(c, this.changeSourceTo(target, name === from && flavor === 'mariadb'));
          // Semi-sync replica side before the IO thread starts: it acks from its first connection.
          if (this.cluster.failover.semi_sync) await ops.setSemiSync(c, 'replica');
          await ops.startReplica(c);
          const ch = await ops.verifyReplicating(c, Math.max(5, this.timeoutS));
          return { node: name, ok: true, durationMs: round(performance.now() - start), detail: `replicating from ${to} (IO ${ch.ioState}, SQL ${ch.sqlRunning ? 'Yes' : 'No'})${name === from ? ', read-only' : ''}` };
        } catch (e) {
          return { node: name, ok: false, durationMs: round(performance.now() - start), detail: errText(e) };
        }
      }),
    );
  }

  semiSyncSource(node: string): Promise<void> {
    return ops.setSemiSync(this.conn(node), 'source');
  }

  fenceAddress(from: string, to: string) {
    return this.deps.fenceAddress({ oldMaster: this.node(from), newMaster: this.node(to) });
  }

  attachAddress(from: string, to: string) {
    return this.deps.attachAddress({ oldMaster: this.node(from), newMaster: this.node(to) });
  }

  probeThroughAddress(address: string, node: string, timeoutS: number): Promise<void> {
    return this.deps.probeThroughAddress(address, this.node(node), timeoutS);
  }

  async isWritable(node: string): Promise<boolean> {
    const [r] = await this.conn(node).query<{ ro: number | string }>('SELECT @@GLOBAL.read_only AS ro');
    return Number(r.ro) === 0;
  }

  async sourceOf(node: string): Promise<string | null> {
    const ch = (await readChannels(this.conn(node)))[0];
    if (!ch) return null;
    return this.cluster.nodes.find((n) => n.host === ch.sourceHost && n.port === ch.sourcePort)?.name ?? `${ch.sourceHost}:${ch.sourcePort}`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.conns.values()].map((c) => c.close().catch(() => c.destroy())));
    this.conns.clear();
  }
}

interface ProcessRow {
  Id: number | string;
  User: string;
  Host: string;
  db: string | null;
  Command: string;
  Time: number | string | null;
  State: string | null;
  Info: string | null;
}

/** Connections that are not the application's: the server's own threads and replication. */
function isInternal(p: ProcessRow): boolean {
  const cmd = String(p.Command ?? '');
  return (
    p.User === 'system user' ||
    p.User === 'event_scheduler' ||
    cmd.startsWith('Binlog Dump') ||
    cmd === 'Daemon' ||
    cmd === 'Killed' ||
    cmd.startsWith('Slave_') ||
    cmd.startsWith('Replica')
  );
}

function short(q: string | null | undefined, n = 120): string | undefined {
  if (!q) return undefined;
  const s = q.replace(/\s+/g, ' ').trim();
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

/**
 * Transactions holding row locks or changes (information_schema.innodb_trx) and
 * statements other than reads running for at least a second (SHOW FULL PROCESSLIST)
 * on the master; `exclude` are the manager's own connection ids.
 */
export async function readLongTransactions(c: Conn, exclude: number[]): Promise<LongTransaction[]> {
  const [trx, procs] = await Promise.all([
    c.query<{ id: number | string; seconds: number | string; rows_modified: number | string; lock_structs: number | string; query: string | null }>(
      `SELECT trx_mysql_thread_id AS id, TIMESTAMPDIFF(SECOND, trx_started, NOW()) AS seconds,
              trx_rows_modified AS rows_modified, trx_lock_structs AS lock_structs, trx_query AS query
         FROM information_schema.innodb_trx`,
    ),
    c.query<ProcessRow>('SHOW FULL PROCESSLIST'),
  ]);
  const byId = new Map(procs.map((p) => [Number(p.Id), p]));
  const out: LongTransaction[] = [];
  const seen = new Set<number>();
  for (const t of trx) {
    const id = Number(t.id);
    if (exclude.includes(id)) continue;
    if (Number(t.rows_modified) === 0 && Number(t.lock_structs) === 0) continue;
    const p = byId.get(id);
    if (p && isInternal(p)) continue;
    seen.add(id);
    out.push({
      connectionId: id,
      user: p?.User ?? '?',
      host: p?.Host ?? '?',
      seconds: Number(t.seconds),
      kind: 'transaction',
      rowsModified: Number(t.rows_modified),
      query: short(t.query ?? p?.Info),
    });
  }
  for (const p of procs) {
    const id = Number(p.Id);
    if (seen.has(id) || exclude.includes(id) || isInternal(p)) continue;
    if (p.Command !== 'Query' || !p.Info || /^\s*(select|show|set|do)\b/i.test(p.Info)) continue;
    const secs = Number(p.Time ?? 0);
    if (secs < 1) continue;
    out.push({ connectionId: id, user: p.User, host: p.Host, seconds: secs, kind: 'statement', query: short(p.Info) });
  }
  return out;
}

/**
 * Kill every application connection on the (now read-only) old master, so the
 * application's pools reconnect (to the address, which will point at the new
 * master). Leaves the manager's own connections, heir's and the replication
 * account's sessions (`keepUsers`), replication and server threads.
 */
export async function killApplicationConnections(c: Conn, exclude: number[], keepUsers: string[] = []): Promise<{ killed: number[]; failed: string[] }> {
  const procs = await c.query<ProcessRow>('SHOW PROCESSLIST');
  const victims = procs.filter((p) => !exclude.includes(Number(p.Id)) && !isInternal(p) && !keepUsers.includes(p.User));
  const killed: number[] = [];
  const failed: string[] = [];
  await Promise.all(
    victims.map(async (p) => {
      try {
        await c.exec(`KILL CONNECTION ${Number(p.Id)}`);
        killed.push(Number(p.Id));
      } catch (e) {
        // Gone already (ER_NO_SUCH_THREAD) is fine; anything else is reported.
        if ((e as { errno?: number }).errno !== 1094) failed.push(`#${p.Id} ${p.User}: ${(e as Error).message}`);
      }
    }),
  );
  return { killed: killed.sort((a, b) => a - b), failed };
}

export async function connectionId(c: Conn): Promise<number> {
  const [r] = await c.query<{ id: number | string }>('SELECT CONNECTION_ID() AS id');
  return Number(r.id);
}

/** MariaDB: the old master's final position is its binary log position. */
export async function mariadbBinlogPos(c: Conn): Promise<string> {
  const [r] = await c.query<{ pos: string }>('SELECT @@GLOBAL.gtid_binlog_pos AS pos');
  return r.pos;
}
