/**
 * The step journal: every step of a failover (or switchover) is written to
 * state_dir/<cluster>/<operation>-<id>.journal.jsonl, one JSON record a line,
 * fsync'd before the step starts and after it ends. If heir dies midway, the
 * next start finds a journal without an `end` record and knows exactly which
 * steps ran, which one was in flight, and which never started.
 *
 * An unfinished journal blocks further failovers of that cluster until an
 * operator looks at the cluster and runs `heir ack` (which appends an `ack`
 * record; nothing is deleted).
 *
 * Reading and summarising are pure functions of the records.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import { clusterDir, fsyncDir, peekLock } from './lock';

export type Operation = 'failover' | 'switchover' | 'rejoin';
export type StepOutcome = 'ok' | 'failed' | 'skipped';

export type JournalRecord =
  | { type: 'begin'; at: string; id: string; operation: Operation; cluster: string; pid: number; detail: Record<string, unknown>; manager?: string }
  | { type: 'step-start'; at: string; step: string; params?: Record<string, unknown> }
  | { type: 'step-end'; at: string; step: string; outcome: StepOutcome; detail: string; error?: string; data?: Record<string, unknown> }
  /** Something a step did and a rerun must know even if heir dies before the step ends (e.g. promote: the binlog position read before RESET). */
  | { type: 'step-progress'; at: string; step: string; data: Record<string, unknown> }
  | { type: 'note'; at: string; text: string }
  | { type: 'end'; at: string; outcome: string; summary: string }
  | { type: 'ack'; at: string; by: string };

/** A sortable id: UTC time and a little randomness, e.g. 20250101T120000.123Z-3f9a. */
export function newOperationId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '');
  return `${t}-${randomBytes(2).toString('hex')}`;
}

export function journalPath(stateDir: string, cluster: string, operation: Operation, id: string): string {
  return path.join(clusterDir(stateDir, cluster), `${operation}-${id}.journal.jsonl`);
}

export class Journal {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    readonly id: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Create the journal file and write the begin record (fsync'd, with the directory). */
  static begin(
    stateDir: string,
    cluster: string,
    operation: Operation,
    detail: Record<string, unknown>,
    id: string = newOperationId(),
  ): Journal {
    const dir = clusterDir(stateDir, cluster);
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const p = journalPath(stateDir, cluster, operation, id);
    const fd = fs.openSync(p, 'wx', 0o640);
    fsyncDir(dir);
    const j = new Journal(p, id, fd);
    j.write({ type: 'begin', at: now(), id, operation, cluster, pid: process.pid, detail });
    return j;
  }

  stepStart(step: string, params?: Record<string, unknown>): void {
    this.write({ type: 'step-start', at: now(), step, params });
  }

  stepEnd(step: string, outcome: StepOutcome, detail: string, error?: string, data?: Record<string, unknown>): void {
    this.write({ type: 'step-end', at: now(), step, outcome, detail, error, data });
  }

  progress(step: string, data: Record<string, unknown>): void {
    this.write({ type: 'step-progress', at: now(), step, data });
  }

  note(text: string): void {
    this.write({ type: 'note', at: now(), text });
  }

  /** The last record: the operation is over (whatever the outcome). Closes the file. */
  end(outcome: string, summary: string): void {
    this.write({ type: 'end', at: now(), outcome, summary });
    this.close();
  }

  close(): void {
    if (this.fd !== undefined) {
      fs.closeSync(this.fd);
      this.fd = undefined;
    }
  }

  private write(r: JournalRecord): void {
    // A background step (salvage fetch) may end after the operation ended: the
    // journal is complete by then and the report has what matters.
    if (this.fd === undefined) return;
    fs.writeSync(this.fd, JSON.stringify(r) + '\n');
    fs.fsyncSync(this.fd);
  }
}

function now(): string {
  return new Date().toISOString();
}

/** Records of a journal file; a torn last line (crash during a write) is ignored. */
export function parseJournal(text: string): JournalRecord[] {
  const out: JournalRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as JournalRecord);
    } catch {
      // torn write: the step it described did not complete its record
    }
  }
  return out;
}

export interface StepSummary {
  step: string;
  startedAt: string;
  endedAt?: string;
  /** 'running' when it started and never ended (heir died during it). */
  outcome: StepOutcome | 'running';
  detail?: string;
  error?: string;
  /** What the step recorded for a rerun (e.g. promote: the coordinates where the winner became the master), progress records included. */
  data?: Record<string, unknown>;
  /** What the step was started with. */
  params?: Record<string, unknown>;
}

export interface JournalSummary {
  path: string;
  id: string;
  operation: Operation;
  cluster: string;
  pid: number;
  /** heir.ha: the manager that began it (heir.ha.manager_id). */
  manager?: string;
  begunAt: string;
  detail: Record<string, unknown>;
  steps: StepSummary[];
  /** The end record, when the operation finished. */
  end?: { at: string; outcome: string; summary: string };
  ack?: { at: string; by: string };
  notes: string[];
  /** Began and neither ended nor was acknowledged. */
  unfinished: boolean;
}

export function summarizeJournal(p: string, records: JournalRecord[]): JournalSummary | undefined {
  const begin = records.find((r) => r.type === 'begin');
  if (!begin || begin.type !== 'begin') return undefined;
  const steps: StepSummary[] = [];
  const notes: string[] = [];
  let end: JournalSummary['end'];
  let ack: JournalSummary['ack'];
  /** The latest start of `step` that has not ended. */
  const running = (step: string) => [...steps].reverse().find((x) => x.step === step && x.outcome === 'running');
  for (const r of records) {
    if (r.type === 'step-start') steps.push({ step: r.step, startedAt: r.at, outcome: 'running', ...(r.params ? { params: r.params } : {}) });
    else if (r.type === 'step-progress') {
      const s = running(r.step);
      if (s) s.data = { ...s.data, ...r.data };
    } else if (r.type === 'step-end') {
      const s = running(r.step);
      if (s) Object.assign(s, { endedAt: r.at, outcome: r.outcome, detail: r.detail, error: r.error, data: r.data || s.data ? { ...s.data, ...r.data } : undefined });
      else steps.push({ step: r.step, startedAt: r.at, endedAt: r.at, outcome: r.outcome, detail: r.detail, error: r.error, data: r.data });
    } else if (r.type === 'note') notes.push(r.text);
    else if (r.type === 'end') end = { at: r.at, outcome: r.outcome, summary: r.summary };
    else if (r.type === 'ack') ack = { at: r.at, by: r.by };
  }
  return {
    path: p,
    id: begin.id,
    operation: begin.operation,
    cluster: begin.cluster,
    pid: begin.pid,
    ...(typeof begin.manager === 'string' ? { manager: begin.manager } : {}),
    begunAt: begin.at,
    detail: begin.detail,
    steps,
    end,
    ack,
    notes,
    unfinished: !end && !ack,
  };
}

export function readJournal(p: string): JournalSummary | undefined {
  return summarizeJournal(p, parseJournal(fs.readFileSync(p, 'utf8')));
}

/**
 * What the last successful promote step of a failover journal recorded (node, binlog, ...),
 * or undefined when the journal never promoted anyone. A rerun and the daemon read it.
 */
export function promotedIn(j: JournalSummary): ({ node: string } & Record<string, unknown>) | undefined {
  if (j.operation !== 'failover') return undefined;
  const p = [...j.steps].reverse().find((s) => s.step === 'promote' && s.outcome === 'ok');
  return naming(p?.data);
}

/** `d` when it names a node. */
function naming(d: Record<string, unknown> | undefined): ({ node: string } & Record<string, unknown>) | undefined {
  return typeof d?.node === 'string' && d.node ? (d as { node: string } & Record<string, unknown>) : undefined;
}

/**
 * A promote step of a failover journal that started and never ended (heir died inside it):
 * its node may be half promoted (replication stopped or reset, perhaps already writable).
 * What it was started with and any progress it recorded, or undefined (pure).
 */
export function promotionStarted(j: JournalSummary): ({ node: string } & Record<string, unknown>) | undefined {
  if (j.operation !== 'failover') return undefined;
  const last = [...j.steps].reverse().find((s) => s.step === 'promote');
  if (!last || last.outcome !== 'running') return undefined;
  return naming({ ...last.params, ...last.data });
}

/** Every journal of the cluster, oldest first. */
export function listJournals(stateDir: string, cluster: string): JournalSummary[] {
  const dir = clusterDir(stateDir, cluster);
  let files: string[];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.journal.jsonl'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: JournalSummary[] = [];
  for (const f of files.sort((a, b) => idOf(a).localeCompare(idOf(b)))) {
    const s = readJournal(path.join(dir, f));
    if (s) out.push(s);
  }
  return out;
}

function idOf(file: string): string {
  return file.replace(/^[a-z]+-/, '');
}

/**
 * Journals of operations that began and neither ended nor were acknowledged,
 * leaving out the one still running: its process holds the cluster lock (a
 * switchover from the CLI seen by the daemon, say). That one is not
 * interrupted, and a second operation is refused by the lock anyway.
 */
export function unfinishedJournals(stateDir: string, cluster: string): JournalSummary[] {
  const lock = peekLock(stateDir, cluster);
  const runningPid = !lock.free && !lock.stale && lock.holder?.host === os.hostname() ? lock.holder.pid : undefined;
  return listJournals(stateDir, cluster).filter((j) => j.unfinished && j.pid !== runningPid);
}

/** Append an ack record to every unfinished journal; returns the ids acknowledged. */
export function ackJournals(stateDir: string, cluster: string, by: string): string[] {
  const acked: string[] = [];
  for (const j of unfinishedJournals(stateDir, cluster)) {
    const fd = fs.openSync(j.path, 'a');
    try {
      fs.writeSync(fd, JSON.stringify({ type: 'ack', at: now(), by } satisfies JournalRecord) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    acked.push(j.id);
  }
  return acked;
}

/** What an unfinished journal says, for people: which steps ran, which was in flight. */
export function describeUnfinished(j: JournalSummary): string[] {
  const lines = [`${j.operation} ${j.id} of cluster ${j.cluster} began ${j.begunAt} (${j.manager ? `manager ${j.manager}, ` : ''}pid ${j.pid}) and did not finish:`];
  for (const s of j.steps) {
    const state = s.outcome === 'running' ? 'IN FLIGHT when heir stopped (may be half done)' : s.outcome;
    lines.push(`  ${s.step.padEnd(14)} ${state}${s.detail ? ` — ${s.detail}` : ''}${s.error ? ` — error: ${s.error}` : ''}`);
  }
  if (j.steps.length === 0) lines.push('  (no step had started)');
  for (const n of j.notes) lines.push(`  note: ${n}`);
  return lines;
}
