/**
 * Small helpers shared by the benchmarks: statistics, bounded waits, and the
 * result line. Every benchmark prints progress to stderr and exactly one JSON
 * object (its result) as the last line of stdout; bench/run.ts collects it.
 */
import type { NetLab } from '../test/lab';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Stats {
  n: number;
  median: number;
  max: number;
  min: number;
  all: number[];
}

export function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return { n: 0, median: NaN, max: NaN, min: NaN, all: [] };
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { n: s.length, median: Math.round(median), max: Math.round(s[s.length - 1]!), min: Math.round(s[0]!), all: xs.map((x) => Math.round(x)) };
}

export async function waitUntil(what: string, pred: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(everyMs);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

export function envInt(name: string, def: number, min = 1): number {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got ${v})`);
  return n;
}

export function progress(bench: string, msg: string): void {
  process.stderr.write(`[${bench}] ${msg}\n`);
}

export function emit(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Runs main; on failure prints the error to stderr and exits 1. */
export function runMain(bench: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e) => {
      process.stderr.write(`[${bench}] FAILED: ${(e as Error).stack ?? e}\n`);
      process.exit(1);
    },
  );
}

/** How many times each string occurs. */
export function tally(xs: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

/**
 * The salvage benches' set-up on a fresh lab (db1 master, db2/db3 replicas): heir's grants to
 * replay binlog events on db1, tables app.seed and app.bulk, `rows` seed rows on every node.
 */
export async function seedBulkLab(lab: NetLab, rows: number): Promise<void> {
  const flavor = lab.flavor;
  const heir = `'${lab.admin.user}'@'%'`;
  await lab.sql('db1', flavor === 'mysql' ? `GRANT REPLICATION_APPLIER, SESSION_VARIABLES_ADMIN ON *.* TO ${heir}` : `GRANT BINLOG REPLAY ON *.* TO ${heir}`);
  await lab.sql('db1', 'CREATE DATABASE app');
  await lab.sql('db1', `GRANT ALL ON app.* TO ${heir}`);
  await lab.sql('db1', 'CREATE TABLE app.seed (id INT PRIMARY KEY, pad CHAR(100)) ENGINE=InnoDB');
  await lab.sql('db1', 'CREATE TABLE app.bulk (id INT PRIMARY KEY, pad CHAR(100)) ENGINE=InnoDB');
  const depth = flavor === 'mysql' ? 'SET SESSION cte_max_recursion_depth = 300000; ' : 'SET SESSION max_recursive_iterations = 300000; ';
  await lab.sql('db1', `${depth}INSERT INTO app.seed WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}) SELECT i, REPEAT('s', 100) FROM n`);
  for (const r of ['db2', 'db3']) {
    if (flavor === 'mariadb') await lab.sql(r, 'SET GLOBAL max_allowed_packet = 1073741824');
    await waitUntil(`${r} has the seed`, async () => Number((await lab.sql(r, 'SELECT COUNT(*) AS c FROM app.seed'))[0].c) === rows, 120000, 250);
  }
}
