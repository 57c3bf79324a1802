/**
 * A returning old master: how long it answers writable beside the new master before heir's
 * daemon fences it, and how many writes it takes meanwhile from a client that connects to its
 * own address (not the floating one, which has moved).
 *
 *   node dist/bench/returning-master.js [mysql] [mariadb]   (default both)   env: HEIR_BENCH_RUNS (default 5)
 *
 * Two cases, each on a fresh sandbox (3 namespace hosts, the ECS API emulator, heir's daemon
 * with its defaults, an application writing through the floating address, servers at stock
 * settings):
 *   restart  kill -9 of the master's mysqld; after the failover it is started again as systemd
 *            would restart it, writable (its my.cnf without super_read_only, the lab's default).
 *            Time counts from its first answer to a client.
 *   resume   the master's mysqld stopped (SIGSTOP), failover.kill_unresponsive_master false
 *            (varied on purpose, so that it survives the failover); after the failover, SIGCONT.
 *            Time counts from the SIGCONT.
 * The probe connects to the old master's own address every 10 ms until it answers, then, on
 * that connection, alternates an INSERT as the application's account (counted when
 * acknowledged) and a read of @@global.read_only, until it reads 1. The daemon reads a
 * watched old master every second while it answers and every 200 ms while it does not
 * (src/daemon/old-master.ts). Target (issue 13 item 5): fenced within 2 s of answering.
 */
import mysql from 'mysql2/promise';
import { Narrator, lineTime } from '../test/sandbox/narrator';
import { Sandbox } from '../test/sandbox/scenario';
import { APP } from '../test/sandbox/writer';
import { emit, envInt, progress, runMain, sleep, stats } from './lib';

const B = 'returning-master';

type Case = 'restart' | 'resume';

interface Probe {
  /** ms from t0 to the first answer (restart: from the start of mysqld). */
  answeredMs: number;
  /** ms from the first answer (restart) or the SIGCONT (resume) to reading read_only=1. */
  writableMs: number;
  /** ms from the same point to the daemon's master.fenced log line. */
  fencedLogMs: number | null;
  /** INSERTs the old master acknowledged before it was read-only. */
  writesAccepted: number;
  /** The fence was persisted for the next restart (the daemon's own word). */
  persisted: boolean;
  version: string;
}

/** Connect every 10 ms to `host:port` as the application until it answers; then write and read until read_only=1. */
async function probe(host: string, port: number, t0: number, firstId: number, timeoutMs: number): Promise<{ answeredAt: number; readOnlyAt: number; accepted: number }> {
  const end = t0 + timeoutMs;
  let c: mysql.Connection | null = null;
  while (!c) {
    if (performance.now() > end) throw new Error(`the old master did not answer within ${timeoutMs} ms`);
    c = await mysql.createConnection({ host, port, user: APP.user, password: APP.password, connectTimeout: 1000 }).catch(() => null);
    if (!c) await sleep(10);
  }
  const answeredAt = performance.now();
  let accepted = 0;
  let id = firstId;
  try {
    for (;;) {
      if (performance.now() > end) throw new Error(`the old master still writable ${timeoutMs} ms after t0`);
      try {
        await c.query(`INSERT INTO ${APP.table} (id, written_at) VALUES (${id++}, NOW(6))`);
        accepted++;
      } catch {
        /* read-only (1290), or it went away: the read below says which */
      }
      const [rows] = await c.query('SELECT @@global.read_only AS ro');
      if (Number((rows as any[])[0].ro) === 1) return { answeredAt, readOnlyAt: performance.now(), accepted };
      await sleep(5);
    }
  } finally {
    await c.end().catch(() => c?.destroy());
  }
}

async function once(flavor: 'mysql' | 'mariadb', kase: Case, run: number): Promise<Probe> {
  const sb = new Sandbox({
    flavor,
    mode: kase === 'restart' ? 'kill' : 'hang',
    engine: 'daemon',
    narrator: new Narrator({ quiet: true }),
    timeoutS: 90,
    writerPauseMs: 50,
    ...(kase === 'resume' ? { failover: { kill_unresponsive_master: false } } : {}),
  });
  try {
    await sb.up();
    await sb.fault();
    const r = await sb.observe();
    if (r.failoverOutcome !== 'promoted' || !r.newMaster) throw new Error(`run ${run}: no failover: ${r.failoverOutcome}: ${r.problems.join('; ')}`);
    const old = sb.cluster.nodes.find((n) => n.name === 'db1')!;
    const wallBefore = Date.now();
    const t0 = performance.now();
    if (kase === 'restart') void sb.lab.start('db1');
    else sb.lab.resume('db1');
    const p = await probe(old.host, old.port, t0, 2_000_000_000 + run * 100_000, 120_000);
    const from = kase === 'restart' ? p.answeredAt : t0;
    const fromWall = wallBefore + (from - t0);
    const fenced = await sb.waitLog((l) => l.event === 'master.fenced' && lineTime(l) >= wallBefore - 1000, 15_000, 'a master.fenced log line').catch(() => null);
    return {
      answeredMs: Math.round(p.answeredAt - t0),
      writableMs: Math.round(p.readOnlyAt - from),
      fencedLogMs: fenced ? Math.max(0, Math.round(lineTime(fenced) - fromWall)) : null,
      writesAccepted: p.accepted,
      persisted: fenced ? /persisted \(SET PERSIST\)/.test(String(fenced.msg)) : false,
      version: r.version,
    };
  } finally {
    if (sb.lab?.running('db1')) sb.lab.resume('db1');
    await sb.down();
  }
}

async function main(): Promise<void> {
  const runs = envInt('HEIR_BENCH_RUNS', 5);
  const asked = process.argv.slice(2).filter((a) => a === 'mysql' || a === 'mariadb') as ('mysql' | 'mariadb')[];
  const results: Record<string, unknown>[] = [];
  for (const flavor of asked.length ? asked : (['mysql', 'mariadb'] as const)) {
    for (const kase of ['restart', 'resume'] as Case[]) {
      const ps: Probe[] = [];
      for (let i = 1; i <= runs; i++) {
        const p = await once(flavor, kase, i);
        ps.push(p);
        progress(B, `${flavor} ${kase} run ${i}/${runs}: answered ${p.answeredMs} ms after the ${kase === 'restart' ? 'start' : 'SIGCONT'}, read-only ${p.writableMs} ms after ${kase === 'restart' ? 'its first answer' : 'the SIGCONT'} (master.fenced logged at ${p.fencedLogMs} ms), ${p.writesAccepted} writes accepted meanwhile${p.persisted ? ', persisted' : ''}`);
      }
      results.push({
        flavor,
        version: ps[0]!.version,
        case: kase,
        runs,
        answeredMs: stats(ps.map((p) => p.answeredMs)),
        writableMs: stats(ps.map((p) => p.writableMs)),
        fencedLogMs: stats(ps.map((p) => p.fencedLogMs).filter((x): x is number => x !== null)),
        writesAccepted: stats(ps.map((p) => p.writesAccepted)),
        persistedRuns: ps.filter((p) => p.persisted).length,
      });
    }
  }
  emit({ bench: B, nodes: 3, servers: 'stock settings; a restarted mysqld comes back writable (no super_read_only in its my.cnf)', results });
}

runMain(B, main);
