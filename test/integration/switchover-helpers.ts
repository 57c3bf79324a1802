/**
 * Shared by the switchover integration tests and bench/switchover.ts: an
 * application writer that follows the master, and checks of cluster health
 * read straight from the servers (not through heir's own topology reader).
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Conn } from '../../src/mysql/conn';
import type { LabCluster, LabNode } from '../lab';
import { assertInvariant } from '../support/invariant';

export const APP = { user: 'app', password: 'app-pass-1' };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The application's schema and account: a plain user, so read_only stops it (unlike root or heir). */
export async function setupApp(lab: LabCluster): Promise<void> {
  const m = lab.nodes[0];
  await lab.sql(m, 'CREATE DATABASE IF NOT EXISTS app');
  await lab.sql(m, 'CREATE TABLE IF NOT EXISTS app.t (id BIGINT PRIMARY KEY, node VARCHAR(16) NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB');
  await lab.sql(m, `CREATE USER IF NOT EXISTS '${APP.user}'@'%' IDENTIFIED BY '${APP.password}'`);
  await lab.sql(m, `GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO '${APP.user}'@'%'`);
  await waitConverged(lab, 30000);
}

export function appConn(node: LabNode, timeoutMs = 3000): Promise<Conn> {
  return Conn.open({ name: `app@${node.name}`, host: node.host, port: node.port, user: APP.user, password: APP.password, connectTimeoutMs: 2000, queryTimeoutMs: timeoutMs });
}

/**
 * Inserts rows as fast as it can through the current master, recording each id
 * the server acknowledged. When a write fails (read-only, killed connection),
 * it asks every node which one is writable now and carries on there.
 */
export class Writer {
  readonly acked: number[] = [];
  /** performance.now() of each acknowledgement, parallel to acked. */
  readonly ackedAt: number[] = [];
  failures = 0;
  readonly masters: string[] = [];
  private nextId: number;
  private stopping = false;
  private loop?: Promise<void>;
  private readonly conns = new Map<string, Conn>();

  constructor(private readonly lab: LabCluster, startId = 1) {
    this.nextId = startId;
  }

  get lastId(): number {
    return this.nextId;
  }

  private async conn(name: string): Promise<Conn> {
    let c = this.conns.get(name);
    if (!c) {
      c = await appConn(this.lab.nodes.find((n) => n.name === name)!);
      this.conns.set(name, c);
    }
    return c;
  }

  private drop(name: string): void {
    const c = this.conns.get(name);
    this.conns.delete(name);
    c?.destroy();
  }

  /** The node that is writable for the application now, if exactly one. */
  private async findMaster(): Promise<string | undefined> {
    const rows = await Promise.all(
      this.lab.nodes.map(async (n) => {
        try {
          const c = await this.conn(n.name);
          const [r] = await c.query<{ ro: number | string }>('SELECT @@GLOBAL.read_only AS ro', undefined, 1000);
          return Number(r.ro) === 0 ? n.name : undefined;
        } catch {
          this.drop(n.name);
          return undefined;
        }
      }),
    );
    const w = rows.filter((x): x is string => !!x);
    return w.length === 1 ? w[0] : undefined;
  }

  start(master = this.lab.nodes[0].name): void {
    let current: string | undefined = master;
    this.masters.push(master);
    this.loop = (async () => {
      while (!this.stopping) {
        if (!current) {
          current = await this.findMaster();
          if (!current) {
            await sleep(1);
            continue;
          }
          if (this.masters[this.masters.length - 1] !== current) this.masters.push(current);
        }
        const id = this.nextId++;
        try {
          const c = await this.conn(current);
          await c.query('INSERT INTO app.t (id, node) VALUES (?, ?)', [id, current]);
          this.acked.push(id);
          this.ackedAt.push(performance.now());
        } catch {
          this.failures++;
          this.drop(current);
          current = undefined;
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    for (const name of [...this.conns.keys()]) this.drop(name);
  }
}

export function isMysql(lab: LabCluster): boolean {
  return lab.flavor === 'mysql';
}

export async function executed(lab: LabCluster, n: LabNode | string): Promise<string> {
  const [r] = await lab.sql(n, isMysql(lab) ? 'SELECT @@GLOBAL.gtid_executed AS g' : 'SELECT @@GLOBAL.gtid_binlog_pos AS g');
  return String(r.g).replace(/\s+/g, '');
}

/** Wait until every node has executed the same GTID set (bounded). */
export async function waitConverged(lab: LabCluster, timeoutMs = 30000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let sets: string[] = [];
  while (Date.now() < deadline) {
    sets = await Promise.all(lab.nodes.map((n) => executed(lab, n)));
    if (sets.every((s) => s === sets[0])) return sets[0];
    await sleep(50);
  }
  throw new Error(`GTID sets did not converge within ${timeoutMs} ms: ${lab.nodes.map((n, i) => `${n.name}=${sets[i]}`).join(' | ')}`);
}

export interface ReplicaRow {
  io: string;
  sql: string;
  host: string;
  port: number;
  ioError: string;
  sqlError: string;
}

export async function replicaStatus(lab: LabCluster, n: LabNode | string): Promise<ReplicaRow[]> {
  const rows = await lab.sql(n, isMysql(lab) ? 'SHOW REPLICA STATUS' : 'SHOW ALL SLAVES STATUS');
  return rows.map((r) => ({
    io: r.Replica_IO_Running ?? r.Slave_IO_Running,
    sql: r.Replica_SQL_Running ?? r.Slave_SQL_Running,
    host: r.Source_Host ?? r.Master_Host,
    port: Number(r.Source_Port ?? r.Master_Port),
    ioError: r.Last_IO_Error ?? '',
    sqlError: r.Last_SQL_Error ?? '',
  }));
}

export async function readOnly(lab: LabCluster, n: LabNode | string): Promise<{ ro: boolean; sro: boolean | null }> {
  const [r] = await lab.sql(n, isMysql(lab) ? 'SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.super_read_only AS sro' : 'SELECT @@GLOBAL.read_only AS ro, NULL AS sro');
  return { ro: Number(r.ro) === 1, sro: r.sro === null ? null : Number(r.sro) === 1 };
}

/**
 * The cluster is healthy with `master` as master: the cluster invariant
 * (test/support/invariant.ts) over every node, waiting a bounded while for
 * threads and convergence.
 */
export async function assertHealthy(lab: LabCluster, master: string, timeoutMs = 30000): Promise<void> {
  await assertInvariant({ lab, master, convergeMs: timeoutMs });
  await waitConverged(lab, timeoutMs);
}

/** Every acknowledged id is on every node. */
export async function assertNoLoss(lab: LabCluster, acked: number[]): Promise<void> {
  await waitConverged(lab);
  for (const n of lab.nodes) {
    const rows = await lab.sql(n, 'SELECT id FROM app.t');
    const have = new Set(rows.map((r) => Number(r.id)));
    const missing = acked.filter((id) => !have.has(id));
    assert.deepEqual(missing.slice(0, 20), [], `${n.name} lacks ${missing.length} acknowledged row(s)`);
  }
}

/** The node that is currently writable (per the servers). */
export async function currentMaster(lab: LabCluster): Promise<string> {
  const w: string[] = [];
  for (const n of lab.nodes) if (!(await readOnly(lab, n)).ro) w.push(n.name);
  assert.equal(w.length, 1, `exactly one writable node, found ${w.join(', ') || 'none'}`);
  return w[0];
}

/** The longest gap between two acknowledged writes within [from, to] (performance.now() times). */
export function longestAckGap(w: Writer, from: number, to: number): number {
  let prev: number | undefined;
  let gap = 0;
  for (const t of w.ackedAt) {
    if (t < from) {
      prev = t;
      continue;
    }
    if (prev !== undefined) gap = Math.max(gap, t - prev);
    prev = t;
    if (t > to) break;
  }
  return Math.round(gap * 10) / 10;
}
