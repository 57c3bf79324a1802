/**
 * Shared pieces of the failover integration tests: a writer that records
 * acknowledged ids, and the checks every successful failover must pass.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GlobalSettings, type ClusterConfig } from '../../src/config/schema';
import { Conn, connOptions } from '../../src/mysql/conn';
import type { LabCluster } from '../lab';
import { assertInvariant, type InvariantReport } from '../support/invariant';
import type { EniForwarder } from '../support/eni-forwarder';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function tempStateDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'heir-failover-state-'));
}

/** heir's settings with a state folder (and, for an ENI address, the cloud settings: heir.cloud). */
export function globalSettings(stateDir: string, cloud?: Record<string, unknown>): GlobalSettings {
  return GlobalSettings.parse({ state_dir: stateDir, ...(cloud ? { cloud } : {}) });
}

/** Where a connection goes: a node by name, or the application's address (test/support/eni-forwarder.ts). */
export type Target = string | EniForwarder;

export async function open(cfg: ClusterConfig, target: Target, timeoutMs = 5000): Promise<Conn> {
  if (typeof target !== 'string') {
    const via = { ...cfg.nodes[0]!, name: `the address (${target.host}:${target.port})`, host: target.host, port: target.port };
    return Conn.open(connOptions(cfg, via, { timeoutMs }));
  }
  const n = cfg.nodes.find((x) => x.name === target);
  if (!n) throw new Error(`no node named ${target}`);
  return Conn.open(connOptions(cfg, n, { timeoutMs }));
}

export const APP = { user: 'app', password: 'app-lab-pw' };

/** The application's account: the writer and the checks use it, not heir's admin account. */
export function appConfig(cfg: ClusterConfig): ClusterConfig {
  return { ...cfg, mysql: { ...cfg.mysql, user: APP.user, password: APP.password } };
}

/**
 * Every id written to app.w since the table was created (by the writer, writeRows, or a test
 * through noteAttempted), acknowledged or not: assertHealthy requires that no other id exists.
 */
const attemptedIds = new Set<number>();

/** A test writes these ids to app.w by its own statements. */
export function noteAttempted(...ids: number[]): void {
  for (const id of ids) attemptedIds.add(id);
}

/** Create the application schema, account and the writer's table on the master (replicated to everyone). */
export async function createTable(lab: LabCluster, master = 'db1'): Promise<void> {
  attemptedIds.clear();
  await lab.sql(master, 'CREATE DATABASE IF NOT EXISTS app');
  await lab.sql(master, 'CREATE TABLE IF NOT EXISTS app.w (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB');
  await lab.sql(master, `CREATE USER IF NOT EXISTS '${APP.user}'@'%' IDENTIFIED BY '${APP.password}'`);
  await lab.sql(master, `GRANT ALL ON app.* TO '${APP.user}'@'%'`);
  await syncReplicas(lab, master);
}

/**
 * Wait until every replica of `master` applied the master's binlog up to now, so
 * that a test starting from here (stopping IO threads, comparing positions) sees
 * replicas that are equal, not ones still receiving the set-up statements.
 */
export async function syncReplicas(lab: LabCluster, master = 'db1', timeoutS = 30): Promise<void> {
  const my = lab.flavor === 'mysql';
  const st = (await lab.sql(master, my ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS'))[0];
  if (!st?.File) throw new Error(`${master}: no binary log status`);
  const src = lab.nodes.find((n) => n.name === master)!;
  await Promise.all(lab.nodes.filter((n) => n.name !== master).map(async (n) => {
    const ch = (await lab.sql(n, my ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS'))[0];
    if (!ch || Number(ch.Source_Port ?? ch.Master_Port) !== src.port) return;
    if (![src.host, src.address].includes(ch.Source_Host ?? ch.Master_Host)) return;
    const fn = my ? 'SOURCE_POS_WAIT' : 'MASTER_POS_WAIT';
    const r = await lab.sql(n, `SELECT ${fn}('${st.File}', ${Number(st.Position)}, ${timeoutS}) AS w`);
    const w = r[0]?.w;
    if (w === null || Number(w) < 0) throw new Error(`${n.name} did not apply ${master}'s ${st.File}:${st.Position} (${fn} = ${w})`);
  }));
}

/**
 * What salvage needs on top of heir's monitoring/repointing grants: replaying
 * another server's binlog events keeps their GTIDs and session context
 * (MySQL REPLICATION_APPLIER + SESSION_VARIABLES_ADMIN; MariaDB BINLOG REPLAY),
 * and it writes the application's tables.
 */
export async function grantSalvage(lab: LabCluster, master = 'db1'): Promise<void> {
  const heir = `'${lab.admin.user}'@'%'`;
  if (lab.flavor === 'mysql') await lab.sql(master, `GRANT REPLICATION_APPLIER, SESSION_VARIABLES_ADMIN ON *.* TO ${heir}`);
  else await lab.sql(master, `GRANT BINLOG REPLAY ON *.* TO ${heir}`);
  await lab.sql(master, `GRANT ALL ON app.* TO ${heir}`);
}

export interface Writer {
  /** Ids whose INSERT the server acknowledged (a successful commit), in order. */
  acked: number[];
  /** The highest id ever sent (acknowledged or not): no higher id may exist anywhere. */
  readonly attempted: number;
  /** Stop writing (resolves when the loop ended). */
  stop(): Promise<void>;
  /** Resolves when the writer got its first error (the master died, the address moved). */
  failed: Promise<void>;
  /** The first error. */
  error?: Error;
}

/**
 * Writes rows (autocommit, one per transaction) as fast as they are acknowledged, until
 * stopped. To a node by name it stops at the first error. Through the address it goes on
 * as an application would: on an error it drops the connection, waits 50 ms and connects
 * again, with the next id (the failed one's outcome is unknown: it counts as attempted,
 * never as acknowledged).
 */
export async function startWriter(cfg: ClusterConfig, target: Target, firstId = 1): Promise<Writer> {
  const retry = typeof target !== 'string';
  let c: Conn | undefined = await open(appConfig(cfg), target, 3000);
  const acked: number[] = [];
  let stopping = false;
  let attempted = firstId - 1;
  let resolveFailed!: () => void;
  const failed = new Promise<void>((r) => (resolveFailed = r));
  const w: Writer = {
    acked,
    get attempted() {
      return attempted;
    },
    failed,
    async stop() {
      stopping = true;
      await loop;
      c?.destroy();
    },
  };
  const loop = (async () => {
    let id = firstId;
    while (!stopping) {
      try {
        c ??= await open(appConfig(cfg), target, 1000);
        attempted = id;
        attemptedIds.add(id);
        await c.exec(`INSERT INTO app.w (id, note) VALUES (${id}, 'writer')`);
        acked.push(id);
        id++;
      } catch (e) {
        w.error ??= e as Error;
        resolveFailed();
        if (!retry) return;
        c?.destroy();
        c = undefined;
        if (attempted === id) id++;
        await sleep(50);
      }
    }
  })();
  return w;
}

/** Insert a fixed number of rows on a node and return their ids. */
export async function writeRows(cfg: ClusterConfig, node: Target, ids: number[]): Promise<void> {
  const c = await open(appConfig(cfg), node);
  try {
    for (const id of ids) {
      attemptedIds.add(id);
      await c.exec(`INSERT INTO app.w (id, note) VALUES (${id}, 'batch')`);
    }
  } finally {
    await c.close();
  }
}

export async function idsOn(cfg: ClusterConfig, node: string): Promise<Set<number>> {
  const c = await open(appConfig(cfg), node);
  try {
    const rows = await c.query<{ id: number }>('SELECT id FROM app.w');
    return new Set(rows.map((r) => Number(r.id)));
  } finally {
    await c.close();
  }
}

export function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/**
 * Writes `ids` through the address, connecting again (every 100 ms) while it refuses or
 * reaches a server that refuses the write (read-only), up to `withinMs`: what an
 * application sees while the address moves.
 */
export async function writeThroughAddress(cfg: ClusterConfig, address: EniForwarder, ids: number[], withinMs = 10_000): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await writeRows(cfg, address, ids);
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`no write through the address within ${withinMs} ms (on ${(await address.holders()).join(', ') || 'no node'}): ${(e as Error).message}`);
      await sleep(100);
    }
  }
}

/**
 * The checks of every successful failover: the new master takes a write (a probe row; with
 * an address, written through it) and the cluster invariant holds
 * (test/support/invariant.ts): it is the one writable node, every survivor is read-only,
 * replicates from it and converges, every acknowledged id (but those the report declared
 * possibly lost) and the probe are on every survivor, and the address (when given) is on the
 * new master and nowhere else, as the ECS API emulator has it.
 * Nodes that are neither the new master nor a survivor (the dead master) are left out;
 * leftOut ones (a node the failover dropped) are checked for their role only (read-only).
 */
export async function assertHealthy(
  lab: LabCluster,
  cfg: ClusterConfig,
  newMaster: string,
  survivors: string[],
  acked: number[],
  o: {
    probeId: number;
    allowMissing?: Set<number>;
    delayed?: string[];
    leftOut?: string[];
    address?: EniForwarder;
    /** The failover's report and the ids only the dead master had: see InvariantInput. */
    report?: InvariantReport;
    onlyOnDeadMaster?: number[];
  },
): Promise<void> {
  if (o.address) await writeThroughAddress(cfg, o.address, [o.probeId], 5000);
  else await writeRows(cfg, newMaster, [o.probeId]);
  const keep = new Set([newMaster, ...survivors, ...(o.leftOut ?? [])]);
  await assertInvariant({
    lab,
    master: newMaster,
    absent: lab.nodes.map((n) => n.name).filter((n) => !keep.has(n)),
    table: 'app.w',
    acked: [...acked.filter((id) => !o.allowMissing?.has(id)), o.probeId],
    delayed: o.delayed,
    leftOut: o.leftOut,
    attempted: (id) => attemptedIds.has(id),
    ...(o.address ? { addressHolders: () => o.address!.holders() } : {}),
    ...(o.report ? { report: o.report, onlyOnDeadMaster: o.onlyOnDeadMaster } : {}),
  });
}

/**
 * The application writes to `on` for a moment; returns its acknowledged ids once every
 * node of `replicas` has them all (20 s at most, else it throws naming the node).
 */
export async function writeAndReplicate(cfg: ClusterConfig, on = 'db1', replicas = ['db2', 'db3']): Promise<number[]> {
  const w = await startWriter(cfg, on);
  await sleep(300);
  await w.stop();
  for (const n of replicas) {
    const deadline = Date.now() + 20000;
    while (!(await idsOn(cfg, n)).has(w.acked.at(-1)!)) {
      if (Date.now() > deadline) throw new Error(`${n} did not apply every acknowledged row within 20 s`);
      await sleep(50);
    }
  }
  return w.acked;
}
