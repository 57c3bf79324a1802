/**
 * One randomized torture run (Jepsen-style), replayable by its seed: the sandbox (three
 * namespace hosts, heir's daemon, the ECS API emulator moving the ENI) with writers
 * committing multi-statement transactions through the floating address, then one fault
 * drawn from the seed, at a drawn moment, with drawn replica lag and semi-sync on or off.
 *
 * Faults: kill -9 of the master's server; its host down; SIGSTOP of the server, SIGCONT
 * later; a manager-only partition (must not fail over); kill -9 of the master's server and
 * then of heir's daemon as its failover reaches a drawn step, the daemon restarted and the
 * restarted daemon must finish the failover by itself (no `heir ack`); max_connections
 * exhausted on the master for a drawn span, the one extra slot for CONNECTION_ADMIN included
 * (must not fail over). Lag: none, or one replica's IO
 * thread stopped a drawn span before the fault (and left stopped).
 *
 * Each run ends with the cluster invariant (test/support/invariant.ts) and measures:
 * seconds during which two answering nodes were writable (sampled every 100 ms), writes
 * the old master acknowledged after the new one had taken one (split brain as the
 * application sees it), acknowledged commits lost against what the failover report
 * declared possibly lost, and failovers on faults that must not cause one.
 */
import { performance } from 'node:perf_hooks';
import mysql from 'mysql2/promise';
import { assertInvariant } from '../support/invariant';
import { Narrator, lineTime } from './narrator';
import { Sandbox, type Mode } from './scenario';
import { APP, Writer } from './writer';

export type TortureFault = 'kill' | 'host-down' | 'hang' | 'partition' | 'daemon-crash' | 'overload';

export interface TortureDraw {
  seed: number;
  flavor: 'mysql' | 'mariadb';
  fault: TortureFault;
  semiSync: boolean;
  /** One replica's IO thread stopped this long before the fault (and not restarted), or none. */
  lag: { node: string; spanMs: number } | null;
  /** Delay before the fault, past the sandbox's start (lands at a random phase of the 1 s ping). */
  phaseMs: number;
  /** hang: SIGCONT after this long; partition: healed after this long. */
  durationMs: number;
  /** daemon-crash: the step at whose start the daemon is killed. */
  crashAt?: string;
  writers: number;
  rowsPerTx: number;
}

export interface TortureResult {
  draw: TortureDraw;
  failovers: number;
  outcome: string | null;
  newMaster: string | null;
  master: string;
  acknowledged: number;
  lost: number;
  /** What the failover report declared possibly lost (null: unknown count). */
  declaredLost: number | null;
  twoWritableS: number;
  /** The failover's fence killed the old master's mysqld (fence-kill step ok). */
  oldMasterKilled: boolean;
  /** Writes the old master acknowledged after another server had acknowledged one. */
  splitBrainWrites: number;
  faultToFirstWriteMs: number | null;
  invariant: string[];
  problems: string[];
  durationS: number;
}

/** mulberry32: a small seeded PRNG, so that a run is replayable from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function drawRun(seed: number, o: { flavor?: 'mysql' | 'mariadb'; faults?: TortureFault[] } = {}): TortureDraw {
  const r = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const flavor = o.flavor ?? pick(['mysql', 'mariadb'] as const);
  const fault = pick(o.faults ?? (['kill', 'host-down', 'hang', 'partition', 'daemon-crash'] as const));
  const semiSync = r() < 0.3;
  const lag = r() < 0.4 ? { node: pick(['db2', 'db3']), spanMs: Math.round(300 + r() * 2700) } : null;
  const phaseMs = Math.round(r() * 1000);
  const durationMs = fault === 'hang' ? Math.round(3000 + r() * 17000) : fault === 'partition' ? Math.round(5000 + r() * 10000) : 0;
  const writers = 1 + Math.floor(r() * 3);
  const rowsPerTx = 1 + Math.floor(r() * 4);
  const crashAt = fault === 'daemon-crash' ? pick(['freeze', 'drain', 'promote', 'repoint', 'attach']) : undefined;
  const base = { seed, flavor, fault, semiSync, lag, phaseMs, durationMs, writers, rowsPerTx, ...(crashAt ? { crashAt } : {}) };
  // One run in six is an overload instead, drawn from a stream of its own so that the other
  // runs draw what they drew before this fault existed (seeds named in tests stay the same).
  const r2 = prng(seed ^ 0x9e3779b9);
  if (!o.faults && r2() < 1 / 6) return { ...base, fault: 'overload', crashAt: undefined, durationMs: Math.round(5000 + r2() * 20000) };
  if (o.faults?.length === 1 && o.faults[0] === 'overload') return { ...base, durationMs: Math.round(5000 + r2() * 20000) };
  return base;
}

const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));

/** read_only of every answering node, each read bounded (a stopped server does not answer). */
async function writableNow(sb: Sandbox, skip: Set<string>): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    sb.lab.nodes.map(async (n) => {
      if (skip.has(n.name)) return;
      const q = (async () => {
        const c = await mysql.createConnection({ socketPath: n.socket, user: 'root', password: '', connectTimeout: 300 });
        try {
          const [rows] = await c.query({ sql: 'SELECT @@global.read_only AS ro', timeout: 300 });
          return Number((rows as any)[0]?.ro);
        } finally {
          c.destroy();
        }
      })();
      q.catch(() => undefined);
      const ro = await Promise.race([q, sleep(400).then(() => null)]).catch(() => null);
      if (ro === 0) out.push(n.name);
    }),
  );
  return out;
}

export async function runTorture(draw: TortureDraw, narrator = new Narrator({ quiet: true })): Promise<TortureResult> {
  const t0 = performance.now();
  const problems: string[] = [];
  const mode: Mode = draw.fault === 'host-down' ? 'host-down' : draw.fault === 'hang' ? 'hang' : 'kill';
  const sb = new Sandbox({ flavor: draw.flavor, mode, engine: 'daemon', narrator, timeoutS: 90, semiSync: draw.semiSync });
  const extra: Writer[] = [];
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  const res: TortureResult = {
    draw,
    failovers: 0,
    outcome: null,
    newMaster: null,
    master: 'db1',
    acknowledged: 0,
    lost: 0,
    declaredLost: 0,
    twoWritableS: 0,
    oldMasterKilled: false,
    splitBrainWrites: 0,
    faultToFirstWriteMs: null,
    invariant: [],
    problems,
    durationS: 0,
  };
  try {
    await sb.up();
    const lab = sb.lab;
    for (let i = 1; i < draw.writers; i++) {
      const w = new Writer(lab.floatingIp, 3306, () => {}, 5, i * 10_000_000, draw.rowsPerTx);
      w.start();
      extra.push(w);
    }
    const writers = () => [sb.writer, ...extra];
    const unplugged = new Set<string>();
    let twoWritableSamples = 0;
    sampler = (async () => {
      while (sampling) {
        const started = performance.now();
        const w = await writableNow(sb, unplugged);
        if (w.length >= 2) {
          twoWritableSamples++;
          if (process.env.HEIR_TORTURE_DEBUG) process.stderr.write(`[torture] ${new Date().toISOString()} writable: ${w.join(', ')}\n`);
        }
        await sleep(Math.max(0, 100 - (performance.now() - started)));
      }
    })();

    if (draw.lag) {
      await lab.sql(draw.lag.node, draw.flavor === 'mysql' ? 'STOP REPLICA IO_THREAD' : 'STOP SLAVE IO_THREAD');
      await sleep(draw.lag.spanMs);
    }
    await sleep(draw.phaseMs);
    const faultWall = Date.now();
    const faultPerf = performance.now();
    const oldId = lab.nodes[0]!.serverId;

    if (draw.fault === 'kill' || draw.fault === 'host-down') {
      if (draw.fault === 'host-down') unplugged.add('db1');
      await sb.fault();
      const r = await sb.observe();
      res.outcome = r.failoverOutcome;
      res.newMaster = r.newMaster;
      res.faultToFirstWriteMs = r.faultToFirstWriteMs;
      for (const p of r.problems) if (!/does not have every row/.test(p)) problems.push(p);
    } else if (draw.fault === 'hang') {
      await sb.fault();
      await sleep(draw.durationMs);
      // A failover decided during the hang kills the hung mysqld before its promotion
      // (failover.kill_unresponsive_master): then there is nothing to resume.
      if (lab.running('db1')) lab.resume('db1');
      // A failover that started during the hang runs to its end; then the daemon's watch
      // fences a returning old master.
      const until = performance.now() + 60_000;
      while (performance.now() < until) {
        const rs = sb.reportsSince(faultWall);
        if (rs.length) break;
        const running = sb.log.some((l) => /starting auto failover/.test(String(l.msg ?? '')) && lineTime(l) >= faultWall - 1000);
        if (!running && performance.now() - faultPerf > draw.durationMs + 5000) break;
        await sleep(200);
      }
      const [r] = sb.reportsSince(faultWall);
      if (r) {
        res.outcome = String(r.outcome);
        res.newMaster = r.newMaster ?? null;
      }
      await sleep(3000);
    } else if (draw.fault === 'daemon-crash') {
      await sb.fault(); // kill -9 of the master's server
      const step = new RegExp(`^\\[\\d+\\] ${draw.crashAt}: `);
      await sb.waitLog((l) => step.test(String(l.msg ?? '')) && lineTime(l) >= faultWall - 1000, 60_000, `the failover did not reach ${draw.crashAt}`);
      await sb.killDaemon();
      await sb.restartDaemon();
      // The recovery: the restarted daemon finds its own failover interrupted and, the dead
      // master still down and the cluster in GTID mode, finishes it by itself (keeping the
      // master the crashed run promoted, if it got that far), with no heir ack.
      const decided = await sb
        .waitLog((l) => /finishing it now|not finished automatically/.test(String(l.msg ?? '')) && lineTime(l) >= faultWall, 30_000, 'the restarted daemon did not report the interrupted failover')
        .catch((e: Error) => {
          problems.push(e.message);
          return undefined;
        });
      if (decided && /not finished automatically/.test(String(decided.msg ?? ''))) problems.push(`the restarted daemon did not finish the failover: ${String(decided.msg).split('\n').find((x) => /not finished automatically/.test(x))}`);
      const until = performance.now() + 60_000;
      while (!sb.reportsSince(faultWall).length && performance.now() < until) await sleep(200);
      if (!sb.reportsSince(faultWall).length) {
        problems.push('the restarted daemon did not finish the failover within 60 s');
        const ack = await sb.runHeir(['ack', '--cluster', 'sandbox']);
        if (ack.code !== 0) problems.push(`heir ack exited ${ack.code}: ${ack.stderr.trim()}`);
        const fo = await sb.runHeir(['failover', '--cluster', 'sandbox', '--master', 'db1']);
        if (fo.code !== 0) problems.push(`heir failover exited ${fo.code}: ${(fo.stderr || fo.stdout).trim().split('\n').slice(-3).join(' | ')}`);
      }
      const rs = sb.reportsSince(faultWall).sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      const last = rs.at(-1);
      res.outcome = last ? String(last.outcome) : null;
      res.newMaster = last?.newMaster ?? null;
      const onNew = () => sb.writer.acks.find((a) => a.at >= faultPerf && a.serverId !== oldId);
      const deadline = performance.now() + 20_000;
      while (!onNew() && performance.now() < deadline) await sleep(50);
      const firstNew = onNew();
      res.faultToFirstWriteMs = firstNew ? Math.round(firstNew.at - faultPerf) : null;
      if (!firstNew) problems.push('no write through the address on a new master after the recovery');
    } else if (draw.fault === 'overload') {
      await exhaustConnections(sb, narrator, draw.durationMs, problems);
    } else {
      const p = await sb.partition(draw.durationMs);
      problems.push(...p.problems);
    }
    const reports = sb.reportsSince(faultWall);
    res.failovers = reports.length;
    res.oldMasterKilled = reports.some((r) => (r.steps ?? []).some((x: any) => x.name === 'fence-kill' && x.outcome === 'ok' && /^killed /.test(String(x.detail))));
    if (draw.fault === 'partition' && reports.length) problems.push(`${reports.length} failover(s) during a manager-only partition`);
    if (draw.fault === 'overload' && reports.length) problems.push(`${reports.length} failover(s) while max_connections was exhausted`);
    if ((draw.fault === 'kill' || draw.fault === 'host-down' || draw.fault === 'daemon-crash') && !String(res.outcome ?? '').startsWith('promoted')) {
      problems.push(`no promoted failover after ${draw.fault}: ${res.outcome}`);
    }
    const promoted = res.newMaster && String(res.outcome ?? '').startsWith('promoted');
    res.master = promoted ? res.newMaster! : 'db1';
    // Let the writers commit on the final master a little, then stop them.
    await sleep(1500);
    await Promise.all(writers().map((w) => w.stop()));
    sampling = false;
    await sampler;
    res.twoWritableS = twoWritableSamples / 10;

    const acks = writers().flatMap((w) => w.acks);
    res.acknowledged = acks.length;
    const firstOther = Math.min(...acks.filter((a) => a.at >= faultPerf && a.serverId !== oldId).map((a) => a.at));
    res.splitBrainWrites = acks.filter((a) => a.serverId === oldId && a.at > firstOther).length;
    if (res.splitBrainWrites) problems.push(`${res.splitBrainWrites} write(s) acknowledged by the old master after the new one took writes`);

    const declared = reports.flatMap((r) => (r.possiblyLost ?? []) as { count: number | null }[]);
    res.declaredLost = declared.some((d) => d.count === null) ? null : declared.reduce((n, d) => n + (d.count ?? 0), 0);
    const rows = await lab.sql(res.master, `SELECT id FROM ${APP.table}`);
    const have = new Set(rows.map((x: any) => Number(x.id)));
    const lostIds = acks.filter((a) => !have.has(a.id)).map((a) => a.id);
    res.lost = lostIds.length;
    // Transactions are counted as declared; rows per transaction turn them into rows.
    // Declared in transactions; a transaction holds at most rowsPerTx rows.
    const mustKeepAll = draw.semiSync || draw.fault !== 'host-down';
    if (res.lost > 0 && (mustKeepAll || res.declaredLost === null || res.lost > res.declaredLost * draw.rowsPerTx)) {
      problems.push(`${res.lost} acknowledged row(s) lost (${lostIds.slice(0, 8).join(', ')}…); the report declared ${res.declaredLost ?? 'an unknown number of'} transaction(s) possibly lost`);
    }

    // The invariant, on every node still in the cluster: an old master that was failed
    // over (dead, unplugged, or hung and fenced on its return) is out of it.
    const absent = res.master !== 'db1' ? ['db1'] : [];
    // Without a failover the replica whose IO thread the run stopped is restarted (an
    // operator's stop: heir leaves it alone); with one, heir repointed it.
    if (res.master === 'db1' && draw.lag) await lab.sql(draw.lag.node, draw.flavor === 'mysql' ? 'START REPLICA IO_THREAD' : 'START SLAVE IO_THREAD');
    const allowMissing = new Set(draw.fault === 'host-down' && !draw.semiSync ? lostIds : []);
    const maxId = Math.max(...writers().map((w) => w.maxAttemptedId()));
    try {
      await assertInvariant({
        lab,
        master: res.master,
        absent,
        table: APP.table,
        acked: acks.map((a) => a.id).filter((id) => !allowMissing.has(id)),
        maxAttemptedId: maxId,
        addressHolders: () => lab.floatingHolders(),
      });
    } catch (e) {
      res.invariant = String((e as Error).message).split('\n').filter((l) => l.trim());
    }
  } catch (e) {
    problems.push(`run failed: ${(e as Error).message}`);
  } finally {
    sampling = false;
    await sampler.catch(() => undefined);
    await Promise.all(extra.map((w) => w.stop().catch(() => undefined)));
    await sb.down().catch((e) => problems.push(`teardown: ${(e as Error).message}`));
    res.durationS = Math.round((performance.now() - t0) / 100) / 10;
  }
  return res;
}

/**
 * max_connections exhausted on the master (db1) for spanMs: an application account fills every
 * ordinary slot, then an account holding CONNECTION_ADMIN takes the one extra slot the server
 * keeps for such accounts, so heir cannot open a new connection either. The server's own
 * max_connections (151 by default) is left as it is. Then everything is released and the
 * daemon gets time to settle (a failover decided during the overload would show in its reports).
 */
async function exhaustConnections(sb: Sandbox, narrator: Narrator, spanMs: number, problems: string[]): Promise<void> {
  const lab = sb.lab;
  const db1 = lab.nodes[0]!;
  const admin = lab.flavor === 'mysql' ? 'CONNECTION_ADMIN' : 'CONNECTION ADMIN';
  for (const stmt of [
    "CREATE USER IF NOT EXISTS 'filler'@'%' IDENTIFIED BY 'filler-pw'",
    "CREATE USER IF NOT EXISTS 'holder'@'%' IDENTIFIED BY 'holder-pw'",
    `GRANT ${admin} ON *.* TO 'holder'@'%'`,
  ]) await lab.sql(db1, stmt);
  const held: mysql.Connection[] = [];
  const open = (user: string) => mysql.createConnection({ host: db1.host, port: db1.port, user, password: `${user}-pw`, connectTimeout: 3000 });
  let full = false;
  try {
    for (let i = 0; i < 1000 && !full; i++) {
      try {
        held.push(await open('filler'));
      } catch (e: any) {
        if (e.errno !== 1040) throw new Error(`filler connection ${i}: ${e.message}`);
        full = true;
      }
    }
    if (!full) problems.push('max_connections was not reached with 1000 connections');
    for (let i = 0; i < 3; i++) {
      try {
        held.push(await open('holder'));
      } catch (e: any) {
        if (e.errno !== 1040) throw new Error(`holder connection: ${e.message}`);
        break;
      }
    }
    narrator.line('lab', `db1: max_connections exhausted (${held.length} connections held, the extra admin slot included) for ${(spanMs / 1000).toFixed(1)} s`);
    await sleep(spanMs);
  } finally {
    for (const c of held.splice(0)) c.destroy();
  }
  narrator.line('lab', 'db1: connections released');
  await sleep(5000);
}
