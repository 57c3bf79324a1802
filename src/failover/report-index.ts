/**
 * The index of a cluster's reports (failover, switchover, rejoin), as the failover stores keep
 * and list them (pure):
 *
 *  - what a report is recorded as in etcd under heir.ha: the whole report, with the manager
 *    that wrote it, up to REPORT_RECORD_CAP bytes; beyond, a summary of the fields that matter
 *    with `truncated: true`, the manager and the path of the whole report on that manager;
 *  - which records go when a cluster holds more than REPORTS_KEPT (the oldest);
 *  - how the lists of several places (this manager's state_dir, etcd) merge: one entry per
 *    report, the most complete copy, newest first.
 *
 * Report ids are operation ids (journal.ts newOperationId: UTC time first), so the order of
 * ids is the order in which the operations began.
 */

export type ReportKind = 'failover' | 'switchover' | 'rejoin';

/** Reports the etcd index keeps per cluster: the newest. */
export const REPORTS_KEPT = 50;

/** Largest report recorded whole in etcd (bytes of JSON); a larger one is recorded as its summary. */
export const REPORT_RECORD_CAP = 512 * 1024;

/** What keeping a report did: its file (when written) and what could not be kept, for the report's warnings. */
export interface SavedReport {
  /** The report's file in this manager's state_dir; undefined when it could not be written. */
  path?: string;
  /** What could not be kept, and why (never thrown: a report is a record, the operation's outcome stands). */
  warnings: string[];
}

/** A cluster's reports, newest first, and why the list may be incomplete. */
export interface ReportList {
  reports: object[];
  /** E.g. etcd did not answer: only this manager's own reports are listed. */
  warnings: string[];
}

/** One report found somewhere, with what identifies it. */
export interface ListedReport {
  kind: ReportKind;
  id: string;
  report: Record<string, unknown>;
  /** The report could not be read (a torn or foreign file): `report` says so. */
  unreadable?: boolean;
}

/** Fields a summary keeps when they are scalars (the others are left out). */
const SUMMARY_SCALARS = [
  'outcome',
  'summary',
  'trigger',
  'refusedBy',
  'startedAt',
  'endedAt',
  'finishedAt',
  'durationMs',
  'toWritableMs',
  'deadMaster',
  'newMaster',
  'from',
  'to',
  'node',
  'master',
  'requestedBy',
  'next',
  'journal',
];
/** Lists of text a summary keeps (each item and the list bounded). */
const SUMMARY_LISTS = ['warnings', 'errors', 'next', 'undone', 'notDone'];
const TEXT_MAX = 2000;
const LIST_MAX = 20;

const cut = (s: string, max: number) => (s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s);

function textList(v: unknown[]): string[] {
  const items = v.filter((x): x is string => typeof x === 'string').map((x) => cut(x, TEXT_MAX / 4));
  return items.length > LIST_MAX ? [...items.slice(0, LIST_MAX), `… ${items.length - LIST_MAX} more`] : items;
}

/** The steps as name and outcome (failover, switchover), or their lines (rejoin), at most 100. */
function stepList(v: unknown[]): unknown[] {
  return v.slice(0, 100).map((s) => {
    if (typeof s === 'string') return cut(s, TEXT_MAX / 4);
    const o = (s ?? {}) as Record<string, unknown>;
    return { name: o.name, outcome: o.outcome };
  });
}

export interface ReportRecordInput {
  kind: ReportKind;
  cluster: string;
  id: string;
  /** The manager that ran the operation and keeps the whole report in its state_dir. */
  manager: string;
  report: object & { reportPath?: string };
  /** Default REPORT_RECORD_CAP. */
  capBytes?: number;
}

/**
 * The value recorded in etcd for a report: the whole report with kind, cluster, id and manager,
 * when its JSON fits capBytes; else its summary (`truncated: true`, the size of the whole one,
 * the manager and reportPath: where the whole one is).
 */
export function reportRecord(o: ReportRecordInput): string {
  const cap = o.capBytes ?? REPORT_RECORD_CAP;
  const whole = JSON.stringify({ ...o.report, kind: o.kind, cluster: o.cluster, id: o.id, manager: o.manager });
  const bytes = Buffer.byteLength(whole);
  if (bytes <= cap) return whole;
  const r = o.report as Record<string, unknown>;
  const base = { kind: o.kind, cluster: o.cluster, id: o.id, manager: o.manager, truncated: true, bytes, ...(typeof r.reportPath === 'string' ? { reportPath: r.reportPath } : {}) };
  const summary: Record<string, unknown> = { ...base };
  for (const f of SUMMARY_SCALARS) {
    const v = r[f];
    if (typeof v === 'string') summary[f] = cut(v, TEXT_MAX);
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) summary[f] = v;
  }
  for (const f of SUMMARY_LISTS) if (Array.isArray(r[f])) summary[f] = textList(r[f] as unknown[]);
  if (Array.isArray(r.steps)) summary.steps = stepList(r.steps);
  const text = JSON.stringify(summary);
  if (Buffer.byteLength(text) <= cap) return text;
  // Still too large (a tiny cap): what identifies it and where the whole one is.
  return JSON.stringify({ ...base, outcome: typeof r.outcome === 'string' ? cut(r.outcome, 100) : undefined, summary: typeof r.summary === 'string' ? cut(r.summary, 200) : undefined });
}

/** Newest first: the later id first; the same id (never expected), by kind. */
export function compareListed(a: { id: string; kind: string }, b: { id: string; kind: string }): number {
  return b.id.localeCompare(a.id) || a.kind.localeCompare(b.kind);
}

/** The name of a report's record under the cluster's reports/ prefix: `<id>/<kind>` (ids sort as their start times). */
export function reportRecordName(id: string, kind: ReportKind): string {
  return `${id}/${kind}`;
}

const KINDS: readonly string[] = ['failover', 'switchover', 'rejoin'];

/** Kind and id from a record's name, undefined for a name heir did not write. */
export function parseReportRecordName(name: string): { id: string; kind: ReportKind } | undefined {
  const i = name.lastIndexOf('/');
  if (i <= 0) return undefined;
  const kind = name.slice(i + 1);
  return KINDS.includes(kind) ? { id: name.slice(0, i), kind: kind as ReportKind } : undefined;
}

/** The record names to delete so that only the newest `keep` remain (names heir did not write are left alone). */
export function reportsToPrune(names: string[], keep: number): string[] {
  const ours = names.flatMap((n) => {
    const p = parseReportRecordName(n);
    return p ? [{ ...p, name: n }] : [];
  });
  return ours.sort(compareListed).slice(Math.max(0, keep)).map((x) => x.name);
}

/** How complete a copy is: the whole report with its manager, the whole report, a summary, an unreadable file. */
function completeness(r: ListedReport): number {
  if (r.unreadable) return 0;
  if (r.report.truncated === true) return 1;
  return typeof r.report.manager === 'string' ? 3 : 2;
}

/**
 * One list from several, newest first, at most `limit`: a report found in several places
 * (by kind and id) once, its most complete copy (on a tie, the first list's).
 */
export function mergeReports(lists: ListedReport[][], limit: number): ListedReport[] {
  const best = new Map<string, ListedReport>();
  for (const list of lists) {
    for (const r of list) {
      const k = `${r.kind}/${r.id}`;
      const cur = best.get(k);
      if (!cur || completeness(r) > completeness(cur)) best.set(k, r);
    }
  }
  return [...best.values()].sort(compareListed).slice(0, Math.max(0, limit));
}
