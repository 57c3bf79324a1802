/**
 * Where a cluster's failover state lives: the step journals, the cluster lock, the
 * anti-flapping block with its acknowledgements, and the operations' reports. One interface,
 * two stores:
 *
 *  - LocalDiskStore (the default): state_dir on this manager's disk, exactly the files
 *    journal.ts, lock.ts, guard.ts and report.ts write (a lock held by a pid, fsync'd journal
 *    lines, one JSON file per report).
 *  - EtcdFailoverStore (src/ha, with heir.ha): the same records under heir.ha.prefix in
 *    etcd, each mutation recorded only while this manager leads the cluster; reports are
 *    written to state_dir as above and also recorded in etcd (report-index.ts), so that every
 *    manager lists every manager's reports.
 *
 * Asynchronous because the second store is remote; the first answers at once.
 */
import { ackJournals, Journal, listJournals, unfinishedJournals, type JournalSummary, type Operation, type StepOutcome } from './journal';
import { acquireLock, peekLock, type LockHolder, type LockPeek } from './lock';
import { acknowledge, mayStartFailover, readFailoverState, recordAutoFailover, type FailoverState, type GuardDecision, type Trigger } from './guard';
import { listLocalReports, writeReportFile } from './report';
import { mergeReports, type ReportKind, type ReportList, type SavedReport } from './report-index';

/** An open journal: one record per call, durable when the promise resolves. */
export interface JournalWriter {
  readonly id: string;
  /** The journal's file, for a store on disk. */
  readonly path?: string;
  stepStart(step: string, params?: Record<string, unknown>): Promise<void>;
  stepEnd(step: string, outcome: StepOutcome, detail: string, error?: string, data?: Record<string, unknown>): Promise<void>;
  progress(step: string, data: Record<string, unknown>): Promise<void>;
  note(text: string): Promise<void>;
  /** The last record; later calls are ignored (a background step ending after the operation). */
  end(outcome: string, summary: string): Promise<void>;
}

export interface StoreLock {
  readonly holder: LockHolder;
  /** Holder of a stale lock that was taken over, if any. */
  readonly tookOverFrom?: LockHolder;
  release(): Promise<void>;
}

export interface FailoverStore {
  /** Where the state lives, for messages: "state_dir /var/lib/heir", "etcd /heir/". */
  readonly where: string;
  beginJournal(cluster: string, operation: Operation, detail: Record<string, unknown>, id?: string): Promise<JournalWriter>;
  /** Every journal of the cluster, oldest first. */
  listJournals(cluster: string): Promise<JournalSummary[]>;
  /** Journals that began and neither ended nor were acknowledged, except the one whose holder runs now. */
  unfinishedJournals(cluster: string): Promise<JournalSummary[]>;
  /** Take the cluster lock or throw LockHeldError; a stale lock is taken over. */
  acquireLock(cluster: string, operation: string, detail?: string): Promise<StoreLock>;
  peekLock(cluster: string): Promise<LockPeek>;
  readFailoverState(cluster: string): Promise<FailoverState>;
  recordAutoFailover(cluster: string, last: NonNullable<FailoverState['lastAuto']>): Promise<void>;
  /** `heir ack`: acknowledge unfinished journals and lift the anti-flapping block. */
  acknowledge(cluster: string, by: string): Promise<{ journals: JournalSummary[]; hadBlock: boolean }>;
  /** Acknowledge the unfinished journals only (a resumed failover): the anti-flapping block stays. */
  ackJournals(cluster: string, by: string): Promise<JournalSummary[]>;
  /**
   * Keep a finished operation's report: its file in state_dir/<cluster>/reports/ (sets
   * reportPath on it) and, in etcd, its record in the cluster's index of reports. Never
   * rejects: what could not be kept is in the answer's warnings (for the report's own).
   */
  saveReport(cluster: string, kind: ReportKind, id: string, report: object & { reportPath?: string }): Promise<SavedReport>;
  /** The cluster's reports of these kinds, newest first, at most `limit` (every manager's, in etcd). */
  listReports(cluster: string, o: { kinds: readonly ReportKind[]; limit: number }): Promise<ReportList>;
}

/** May a failover start now? The guard's pure decision on the store's facts. */
export async function checkGuard(store: FailoverStore, cluster: string, trigger: Trigger, blockPeriodS: number, now?: number): Promise<GuardDecision> {
  const [unfinished, state] = await Promise.all([store.unfinishedJournals(cluster), store.readFailoverState(cluster)]);
  // The time is taken once the state is in: a read that took long (a slow store, a process
  // paused meanwhile) must not compare a failover recorded during it with a time before it.
  return mayStartFailover({ trigger, unfinished, state, now: now ?? Date.now(), blockPeriodS });
}

/** state_dir on local disk: the files heir has always written, through journal.ts, lock.ts and guard.ts. */
export class LocalDiskStore implements FailoverStore {
  readonly where: string;

  constructor(readonly stateDir: string) {
    this.where = `state_dir ${stateDir}`;
  }

  async beginJournal(cluster: string, operation: Operation, detail: Record<string, unknown>, id?: string): Promise<JournalWriter> {
    const j = Journal.begin(this.stateDir, cluster, operation, detail, id);
    return {
      id: j.id,
      path: j.path,
      stepStart: async (step, params) => j.stepStart(step, params),
      stepEnd: async (step, outcome, d, error, data) => j.stepEnd(step, outcome, d, error, data),
      progress: async (step, data) => j.progress(step, data),
      note: async (text) => j.note(text),
      end: async (outcome, summary) => j.end(outcome, summary),
    };
  }

  async listJournals(cluster: string): Promise<JournalSummary[]> {
    return listJournals(this.stateDir, cluster);
  }

  async unfinishedJournals(cluster: string): Promise<JournalSummary[]> {
    return unfinishedJournals(this.stateDir, cluster);
  }

  async acquireLock(cluster: string, operation: string, detail?: string): Promise<StoreLock> {
    const l = acquireLock(this.stateDir, cluster, operation, detail);
    return { holder: l.holder, tookOverFrom: l.tookOverFrom, release: async () => l.release() };
  }

  async peekLock(cluster: string): Promise<LockPeek> {
    return peekLock(this.stateDir, cluster);
  }

  async readFailoverState(cluster: string): Promise<FailoverState> {
    return readFailoverState(this.stateDir, cluster);
  }

  async recordAutoFailover(cluster: string, last: NonNullable<FailoverState['lastAuto']>): Promise<void> {
    recordAutoFailover(this.stateDir, cluster, last);
  }

  async acknowledge(cluster: string, by: string): Promise<{ journals: JournalSummary[]; hadBlock: boolean }> {
    return acknowledge(this.stateDir, cluster, by);
  }

  async ackJournals(cluster: string, by: string): Promise<JournalSummary[]> {
    const open = unfinishedJournals(this.stateDir, cluster);
    const acked = new Set(ackJournals(this.stateDir, cluster, by));
    return open.filter((j) => acked.has(j.id));
  }

  async saveReport(cluster: string, kind: ReportKind, id: string, report: object & { reportPath?: string }): Promise<SavedReport> {
    try {
      return { path: writeReportFile(this.stateDir, cluster, kind, id, report), warnings: [] };
    } catch (e) {
      return { warnings: [`could not save the report in ${this.stateDir}: ${(e as Error).message}`] };
    }
  }

  async listReports(cluster: string, o: { kinds: readonly ReportKind[]; limit: number }): Promise<ReportList> {
    return { reports: mergeReports([listLocalReports(this.stateDir, cluster, o.kinds, o.limit)], o.limit).map((r) => r.report), warnings: [] };
  }
}
