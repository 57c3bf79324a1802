/**
 * Small helpers shared by the benchmarks: statistics, bounded waits, and the
 * result line. Every benchmark prints progress to stderr and exactly one JSON
 * object (its result) as the last line of stdout; bench/run.ts collects it.
 */
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
