/**
 * The failover report: one JSON document per failover, kept in
 * state_dir/<cluster>/reports/ (under heir.ha also in the index of reports in etcd,
 * report-index.ts) and handed to the notifier as an event. It says
 * what detection saw, who could have won and why not, every step with its
 * times and outcome, what salvage recovered, what may be lost and why, and the
 * topology at the end. Formatting for a terminal is here too (pure).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TopologySnapshot } from '../mysql/types';
import { clusterDir, writeJsonAtomic } from './lock';
import type { Plan } from './types';
import type { Trigger } from './guard';
import { formatHooks, type HookRun } from './hooks';
import { compareListed, type ListedReport, type ReportKind } from './report-index';

export type FailoverOutcome =
  /** New master promoted, every step ok. */
  | 'promoted'
  /** New master promoted, but something after promotion failed (repoint, verify, salvage, address). */
  | 'promoted-with-errors'
  /** No survivor could be promoted; nothing was changed beyond fencing. */
  | 'no-candidate'
  /** Not started: unfinished journal, block period, lock, master alive. */
  | 'refused'
  /** Stopped before promotion; what was safe to undo was undone. */
  | 'failed'
  /** Stopped on request (daemon stopping) at a step boundary before promotion; undone as after a failure. */
  | 'interrupted'
  /**
   * Stopped before promotion because the survivors kept receiving from the master after it
   * was declared dead: it was alive. Replication restarted, the address given back to it.
   */
  | 'master-alive'
  /** Plan only. */
  | 'dry-run';

export interface StepRecord {
  name: string;
  startedAt: string;
  endedAt?: string;
  durationMs?: number;
  outcome: 'ok' | 'failed' | 'skipped' | 'running';
  detail: string;
  error?: string;
  /** Per-node results, where the step acts on several nodes. */
  nodes?: { node: string; ok: boolean; detail: string; durationMs: number }[];
  /** What the step journals for a rerun (promote: where the winner became the master). */
  data?: Record<string, unknown>;
}

export interface SalvageReport {
  attempted: boolean;
  /** Why it was (not) attempted or how it ended. */
  why: string;
  /** Binlog files read from the dead master's host. */
  files: string[];
  /** Transactions applied to the new master (GTID set / MariaDB list), '' when none. */
  gtids: string;
  count: number;
  /** mysqlbinlog output kept for people, when there was any. */
  outputFile?: string;
  /** What the decoded binlogs held that the new master lacked (applied or not). */
  decoded?: { count: number; gtids: string };
  error?: string;
  /**
   * The dead master had purged the binlog the survivors needed first: what it wrote before its
   * oldest remaining binlog and the new master lacked (GTID modes; count null when unknown).
   */
  purgedGap?: { count: number | null; transactions: string; purged: string };
}

export interface PossiblyLost {
  /** Number of transactions, null when it cannot be known. */
  count: number | null;
  /** What they are (GTIDs, coordinates), when known. */
  transactions: string;
  why: string;
}

export interface FailoverReport {
  kind: 'failover';
  id: string;
  cluster: string;
  trigger: Trigger;
  outcome: FailoverOutcome;
  /** With outcome 'refused': what refused it. */
  refusedBy?: 'guard' | 'lock' | 'master-alive' | 'pre-failover-hook';
  /** One line for the person on call. */
  summary: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
  deadMaster: string;
  newMaster: string | null;
  /** Detection's evidence, as given by the caller (daemon) or "operator". */
  verdict?: unknown;
  /** The plan the executor carried out (computed after the freeze). */
  plan: Plan | null;
  /** The plan from before the freeze, when the winner changed after it. */
  initialPlan?: Plan;
  steps: StepRecord[];
  salvage: SalvageReport;
  possiblyLost: PossiblyLost[];
  /** What was undone after a failure. */
  undone: string[];
  /** Planned steps that did not run. */
  notDone: string[];
  /** ms from the start to the new master accepting writes (read_only off). */
  toWritableMs?: number;
  finalTopology?: TopologySnapshot;
  warnings: string[];
  /** What the operator should do next, when anything. */
  next: string[];
  journal?: string;
  reportPath?: string;
  /** The hooks that ran (pre_failover before the first change, post_failover after the report). */
  hooks?: HookRun[];
}

export function reportsDir(stateDir: string, cluster: string): string {
  return path.join(clusterDir(stateDir, cluster), 'reports');
}

/** Write a report (failover, switchover or rejoin) atomically under reports/; returns its path. */
export function writeReportFile(stateDir: string, cluster: string, kind: ReportKind, id: string, value: { reportPath?: string }): string {
  const p = path.join(reportsDir(stateDir, cluster), `${kind}-${id}.json`);
  value.reportPath = p;
  writeJsonAtomic(p, value);
  return p;
}

/** Report files of one kind for a cluster, newest first. */
export function listReportFiles(stateDir: string, cluster: string, kind: ReportKind): string[] {
  const dir = reportsDir(stateDir, cluster);
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.startsWith(`${kind}-`) && f.endsWith('.json'))
      .sort()
      .reverse()
      .map((f) => path.join(dir, f));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * The reports of these kinds in state_dir/<cluster>/reports/, newest first (by id), at most
 * `limit` read: each with its kind and id from the file's name; a file that cannot be read
 * is listed as such.
 */
export function listLocalReports(stateDir: string, cluster: string, kinds: readonly ReportKind[], limit: number): ListedReport[] {
  const files = kinds.flatMap((kind) => listReportFiles(stateDir, cluster, kind).map((p) => ({ kind, p, id: path.basename(p).slice(kind.length + 1, -'.json'.length) })));
  return files
    .sort(compareListed)
    .slice(0, Math.max(0, limit))
    .map(({ kind, id, p }) => {
      try {
        return { kind, id, report: JSON.parse(fs.readFileSync(p, 'utf8')) as Record<string, unknown> };
      } catch (e) {
        return { kind, id, report: { kind, id, file: path.basename(p), error: `unreadable: ${(e as Error).message}` }, unreadable: true };
      }
    });
}

/** Write the report atomically; returns its path. */
export function saveReport(stateDir: string, r: FailoverReport): string {
  return writeReportFile(stateDir, r.cluster, 'failover', r.id, r);
}

/** Reports of a cluster, newest first. */
export function listReports(stateDir: string, cluster: string): string[] {
  return listReportFiles(stateDir, cluster, 'failover');
}

export function readReport(p: string): FailoverReport {
  return JSON.parse(fs.readFileSync(p, 'utf8')) as FailoverReport;
}

// ---------------------------------------------------------------------------
// Text for a terminal

export function formatPlan(p: Plan): string[] {
  const lines: string[] = [];
  lines.push(`Cluster ${p.cluster}: dead master ${p.deadMaster}; positions compared by ${p.mode}`);
  lines.push(`Everything the survivors received: ${p.target || '(nothing)'}`);
  lines.push(`Most advanced: ${p.mostAdvanced ?? '-'}`);
  lines.push('Candidates:');
  for (const c of p.candidates) {
    lines.push(`  ${c.verdict.toUpperCase().padEnd(11)} ${c.name.padEnd(10)} ${c.promotion.padEnd(7)} lag ${c.lagS ?? '?'}s`);
    for (const r of c.reasons) lines.push(`      ${r}`);
    for (const w of c.warnings) lines.push(`      warning: ${w}`);
    if (c.lacks) lines.push(`      lacks: ${c.lacks}`);
  }
  if (p.winner) {
    lines.push(`Winner: ${p.winner}`);
    for (const c of p.catchUp) lines.push(`  catches up from ${c.from}: ${c.brings}`);
  } else {
    lines.push('No winner:');
    for (const r of p.noWinnerReasons) lines.push(`  ${r}`);
  }
  for (const u of p.unobtainable) lines.push(`Unobtainable from ${u.node} (${u.why}): ${u.transactions}`);
  for (const l of p.leftOut) lines.push(`Not repointed: ${l.node}: ${l.why}`);
  for (const w of p.warnings) lines.push(`Warning: ${w}`);
  if (p.steps.length) {
    lines.push('Steps:');
    p.steps.forEach((s, i) => lines.push(`  ${String(i + 1).padStart(2)}. ${s.name.padEnd(14)} ${s.why}`));
  }
  return lines;
}

export function formatReport(r: FailoverReport): string[] {
  const lines: string[] = [];
  lines.push(`Failover ${r.id} of ${r.cluster} (${r.trigger}): ${r.outcome.toUpperCase()} — ${r.summary}`);
  lines.push(`  ${r.deadMaster} → ${r.newMaster ?? 'none'}; ${r.durationMs} ms${r.toWritableMs !== undefined ? `, writable after ${r.toWritableMs} ms` : ''}`);
  for (const s of r.steps) {
    lines.push(`  ${s.outcome.padEnd(7)} ${s.name.padEnd(14)} ${String(s.durationMs ?? '-').padStart(6)} ms  ${s.detail}${s.error ? ` — ${s.error}` : ''}`);
    for (const n of s.nodes ?? []) lines.push(`            ${n.ok ? 'ok  ' : 'FAIL'} ${n.node}: ${n.detail} (${n.durationMs} ms)`);
  }
  // Dry runs and refusals print the whole plan (formatPlan) instead.
  if (r.newMaster) for (const o of r.plan?.leftOut ?? []) lines.push(`  left out: ${o.node} — ${o.why}`);
  lines.push(`  salvage: ${r.salvage.why}${r.salvage.count ? ` — ${r.salvage.count} transaction(s): ${r.salvage.gtids}` : ''}`);
  for (const l of r.possiblyLost) lines.push(`  possibly lost: ${l.count ?? 'unknown number of'} transaction(s) ${l.transactions ? `(${l.transactions}) ` : ''}— ${l.why}`);
  for (const u of r.undone) lines.push(`  undone: ${u}`);
  for (const n of r.notDone) lines.push(`  not done: ${n}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  for (const n of r.next) lines.push(`  next: ${n}`);
  lines.push(...formatHooks(r.hooks));
  if (r.reportPath) lines.push(`  report: ${r.reportPath}`);
  return lines;
}
