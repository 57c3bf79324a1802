/**
 * The failover's I/O plumbing, shared by its steps (execute.ts): one connection per node for
 * the whole failover, a fan-out over nodes that records each node's outcome, the reads the
 * steps make of a node's channel from the dead master and of the winner's position, and the
 * clean-up of the copied binlogs. No step logic: what to do and when is the executor's.
 */
import * as fs from 'node:fs';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { Conn, connOptions, MysqlError } from '../mysql/conn';
import { GtidSet } from '../mysql/gtid';
import { readChannels } from '../mysql/inspect';
import { MariaGtidPos } from '../mysql/mariadb-gtid';
import { executedGtid } from '../mysql/ops';
import type { ReplicationChannel } from '../mysql/types';
import type { PositionMode } from './positions';
import type { StepRecord } from './report';

/** Per-node results of a step that acts on several nodes. */
export type NodeResults = NonNullable<StepRecord['nodes']>;

/** The node `name` of the cluster (throws when the cluster has none). */
export function nodeOf(cluster: ClusterConfig, name: string): NodeConfig {
  const n = cluster.nodes.find((x) => x.name === name);
  if (!n) throw new Error(`cluster ${cluster.name} has no node ${name}`);
  return n;
}

/**
 * One connection per node for the whole failover; one that was dropped (a statement timed
 * out, the server went away) is replaced by a new one at the next use, so a slow step does
 * not fail every later step on that node, undo included.
 */
export class NodeConns {
  private readonly conns = new Map<string, Promise<Conn>>();

  constructor(private readonly cluster: ClusterConfig) {}

  async get(name: string): Promise<Conn> {
    const cached = this.conns.get(name);
    if (cached) {
      const c = await cached.catch(() => undefined);
      if (c && !c.isClosed) return c;
      this.conns.delete(name);
    }
    return this.open(name);
  }

  private open(name: string): Promise<Conn> {
    let p = this.conns.get(name);
    if (!p) {
      p = Conn.open(connOptions(this.cluster, nodeOf(this.cluster, name)));
      p.catch(() => this.conns.delete(name));
      this.conns.set(name, p);
    }
    return p;
  }

  /** Close every connection, without waiting. */
  closeAll(): void {
    for (const p of this.conns.values()) p.then((c) => c.close()).catch(() => undefined);
  }
}

/** Run fn on every node in parallel; each node's outcome is recorded, none stops the others. */
export async function eachNode(nodes: string[], fn: (n: string) => Promise<string>): Promise<NodeResults> {
  return Promise.all(
    nodes.map(async (node) => {
      const t = Date.now();
      try {
        return { node, ok: true, detail: await fn(node), durationMs: Date.now() - t };
      } catch (e) {
        return { node, ok: false, detail: (e as Error).message, durationMs: Date.now() - t };
      }
    }),
  );
}

/** The node's replication channel from the dead master (its host and port), read now; orFirst: else its first channel. */
export async function channelFromDead(c: Conn, dead: NodeConfig, o: { orFirst?: boolean } = {}): Promise<ReplicationChannel | undefined> {
  const chs = await readChannels(c);
  return chs.find((x) => x.sourceHost === dead.host && x.sourcePort === dead.port) ?? (o.orFirst ? chs[0] : undefined);
}

/** What the winner has, as the salvage filter needs it. */
export async function winnerPosition(c: Conn, mode: PositionMode): Promise<string> {
  if (mode === 'mysql-gtid') return executedGtid(c);
  if (mode === 'mariadb-gtid') {
    const [r] = await c.query('SELECT @@global.gtid_binlog_pos AS b, @@global.gtid_slave_pos AS s, @@global.gtid_current_pos AS g');
    return MariaGtidPos.parse(String(r.b ?? ''))
      .max(MariaGtidPos.parse(String(r.s ?? '')))
      .max(MariaGtidPos.parse(String(r.g ?? '')))
      .toString();
  }
  return '';
}

/** What salvage added on the winner, from its positions before and after. */
export function salvagedBetween(mode: PositionMode, before: string, after: string, decoded: number): { gtids: string; count: number } {
  if (mode === 'mysql-gtid') {
    const d = GtidSet.parse(after).subtract(GtidSet.parse(before));
    return { gtids: d.toString(), count: Number(d.count()) };
  }
  if (mode === 'mariadb-gtid') {
    const b = MariaGtidPos.parse(before);
    const a = MariaGtidPos.parse(after);
    const behind = b.behind(a);
    return {
      gtids: behind.map((x) => `domain ${x.domain} seq ${x.from + 1n}-${x.to}`).join(', '),
      count: Number(b.distance(a)),
    };
  }
  return { gtids: '', count: decoded };
}

/**
 * The manager's copies of the dead master's binlogs, once salvage has used them: removed
 * (they can be as large as the binlogs themselves; salvage.sql keeps what was decoded). On a
 * failed salvage they stay, for a person to apply by hand.
 */
export function removeCopies(files: string[]): string {
  const left: string[] = [];
  for (const f of files) {
    try {
      fs.rmSync(f, { force: true });
    } catch (e) {
      left.push(`${f} (${(e as Error).message})`);
    }
  }
  return left.length ? `; could not remove the copied binlogs ${left.join(', ')}` : '; copied binlogs removed (salvage.sql kept)';
}

/** How long a killed salvage session is waited for (its rollback). */
const SESSION_END_MS = 30_000;

/**
 * KILL the salvage client's session on the new master once the client was killed at the
 * deadline, and wait (bounded) until the server has rolled its transaction back and let it
 * go: what is counted as applied afterwards stays so. Says what became of it.
 */
export async function endSalvageSession(c: Conn, node: string, id: number): Promise<string> {
  try {
    await c.exec(`KILL ${Number(id)}`);
  } catch (e) {
    // 1094: unknown thread id, the session had ended by itself.
    if (e instanceof MysqlError && e.errno === 1094) return `its session ${id} on ${node} had ended`;
    throw e;
  }
  const end = Date.now() + SESSION_END_MS;
  for (;;) {
    const rows = await c.query<{ n: number }>('SELECT COUNT(*) AS n FROM information_schema.processlist WHERE id = ?', [id]);
    if (Number(rows[0]?.n ?? 0) === 0) return `its session ${id} on ${node} was killed, its open transaction rolled back`;
    if (Date.now() > end) return `its session ${id} on ${node} was killed and is still rolling back after ${SESSION_END_MS / 1000} s: what it had not committed will not be`;
    await new Promise((r) => setTimeout(r, 100));
  }
}
