/**
 * The failover state of a cluster in etcd (heir.ha), the same records as on local disk:
 *
 *   <prefix>clusters/<cluster>/journals/<operation>-<id>/<seq>   one journal record a key (seq: 8 digits)
 *   <prefix>clusters/<cluster>/lock                              the lock holder (manager, pid, leadership token)
 *   <prefix>clusters/<cluster>/failover-state                    the anti-flapping block and its acknowledgement
 *   <prefix>clusters/<cluster>/reports/<id>/<kind>                the index of reports (report-index.ts), the newest REPORTS_KEPT
 *
 * Every write of the failover state goes through the cluster leadership's fenced transaction:
 * only the manager that leads the cluster now records anything, and a record is never
 * overwritten (each journal key is created once). Reads are plain. The index of reports is
 * the exception: see saveReport. A lock is stale when it was taken under a
 * leadership that has ended (its token is not the leadership key's create revision any
 * more): whatever its holder left half done is the journal's business, as on disk.
 */
import * as os from 'node:os';
import { summarizeJournal, newOperationId, type JournalRecord, type JournalSummary, type Operation } from '../failover/journal';
import { describeHolder, LockHeldError, processStartTime, type LockHolder, type LockPeek } from '../failover/lock';
import { blockUnacknowledged, type FailoverState } from '../failover/guard';
import { LocalDiskStore, type FailoverStore, type JournalWriter, type StoreLock } from '../failover/store';
import { mergeReports, parseReportRecordName, reportRecord, reportRecordName, reportsToPrune, REPORT_RECORD_CAP, REPORTS_KEPT, type ListedReport, type ReportKind, type ReportList, type SavedReport } from '../failover/report-index';
import { listLocalReports } from '../failover/report';
import { silentLogger, type Logger } from '../util/log';
import { errorText, StoreConflictError, StoreUnavailableError } from './etcd';
import type { HaSession } from './leadership';

export interface EtcdStoreOptions {
  /** Where a failure to record a report is logged. */
  log?: Logger;
  /** Reports kept in etcd per cluster (default REPORTS_KEPT). */
  reportsKept?: number;
  /** Largest report recorded whole (default REPORT_RECORD_CAP bytes). */
  reportCapBytes?: number;
  /**
   * How long saveReport waits for the record in etcd (default 1000 ms): past it, the record
   * goes on in the background (a failure is logged) and the operation ends without waiting.
   */
  reportWaitMs?: number;
}

/** The lock holder in etcd: the local holder's fields, the manager, and the leadership token it was taken under. */
export interface EtcdLockHolder extends LockHolder {
  manager: string;
  token: string;
}

type BeginRecord = Extract<JournalRecord, { type: 'begin' }> & { manager?: string };

const seqKey = (n: number) => String(n).padStart(8, '0');

export class EtcdFailoverStore implements FailoverStore {
  readonly where: string;
  /** This manager's state_dir: each report's whole file, as without heir.ha. */
  private readonly local: LocalDiskStore;
  private readonly log: Logger;

  constructor(
    private readonly s: HaSession,
    private readonly stateDir: string,
    private readonly o: EtcdStoreOptions = {},
  ) {
    this.where = `etcd ${s.settings.prefix}`;
    this.local = new LocalDiskStore(stateDir);
    this.log = o.log ?? silentLogger;
  }

  private async read(what: string, fn: () => Promise<unknown>): Promise<any> {
    try {
      return await fn();
    } catch (e) {
      throw new StoreUnavailableError(what, e, this.s.h.endpoints);
    }
  }

  private async getText(key: string, what: string): Promise<string | undefined> {
    return (await this.read(what, () => this.s.h.client.get(key).exec())).kvs[0]?.value.toString();
  }

  private async getJson<T>(key: string, what: string): Promise<T | undefined> {
    const kv = (await this.read(what, () => this.s.h.client.get(key).exec())).kvs[0];
    if (!kv) return undefined;
    try {
      return JSON.parse(kv.value.toString()) as T;
    } catch {
      throw new Error(`etcd key ${key} does not hold JSON (${what}); fix or remove it`);
    }
  }

  async beginJournal(cluster: string, operation: Operation, detail: Record<string, unknown>, id: string = newOperationId()): Promise<JournalWriter> {
    const l = this.s.leadership(cluster);
    const base = this.s.keys.journal(cluster, `${operation}-${id}`);
    let seq = 0;
    let ended = false;
    // One record at a time, in the order they were asked for: each takes the next key.
    let queue: Promise<void> = Promise.resolve();
    const write = (r: JournalRecord | BeginRecord, what: string): Promise<void> => {
      const p = queue.then(() => writeNow(r, what));
      queue = p.catch(() => undefined);
      return p;
    };
    const writeNow = async (r: JournalRecord | BeginRecord, what: string) => {
      if (ended) return;
      const key = base + seqKey(seq);
      const value = JSON.stringify(r);
      try {
        await l.fenced(`${operation} ${id} of ${cluster}: ${what}`, [{ type: 'put', key, value, ifAbsent: true }]);
      } catch (e) {
        // An attempt that timed out may have been applied before the client retried it: then the record is ours.
        if (!(e instanceof StoreConflictError) || (await this.getText(key, `reading ${key}`)) !== value) throw e;
      }
      seq++;
    };
    const at = () => new Date().toISOString();
    await write({ type: 'begin', at: at(), id, operation, cluster, pid: process.pid, manager: this.s.manager, detail }, 'begin record');
    return {
      id,
      stepStart: (step, params) => write({ type: 'step-start', at: at(), step, params }, `start of step ${step}`),
      stepEnd: (step, outcome, d, error, data) => write({ type: 'step-end', at: at(), step, outcome, detail: d, error, data }, `end of step ${step}`),
      progress: (step, data) => write({ type: 'step-progress', at: at(), step, data }, `progress of step ${step}`),
      note: (text) => write({ type: 'note', at: at(), text }, 'note'),
      end: async (outcome, summary) => {
        await write({ type: 'end', at: at(), outcome, summary }, 'end record');
        ended = true;
      },
    };
  }

  /** Every journal with the key of its next record. */
  private async journals(cluster: string): Promise<{ summary: JournalSummary; next: string; begin: BeginRecord }[]> {
    const prefix = this.s.keys.journals(cluster);
    const res = await this.read(`reading the journals of ${cluster}`, () => this.s.h.client.getAll().prefix(prefix).sort('Key', 'Ascend').exec());
    const byName = new Map<string, { key: string; record: JournalRecord }[]>();
    for (const kv of res.kvs as { key: Buffer; value: Buffer }[]) {
      const key = kv.key.toString();
      const name = key.slice(prefix.length, key.lastIndexOf('/'));
      let record: JournalRecord;
      try {
        record = JSON.parse(kv.value.toString()) as JournalRecord;
      } catch {
        continue; // not a record heir wrote
      }
      const list = byName.get(name) ?? [];
      list.push({ key, record });
      byName.set(name, list);
    }
    const out: { summary: JournalSummary; next: string; begin: BeginRecord }[] = [];
    for (const [name, list] of byName) {
      const summary = summarizeJournal(`etcd:${prefix}${name}`, list.map((x) => x.record));
      const begin = list.find((x) => x.record.type === 'begin')?.record as BeginRecord | undefined;
      if (!summary || !begin) continue;
      const last = list[list.length - 1]!.key;
      out.push({ summary, begin, next: `${prefix}${name}/${seqKey(Number(last.slice(last.lastIndexOf('/') + 1)) + 1)}` });
    }
    return out.sort((a, b) => a.summary.id.localeCompare(b.summary.id));
  }

  async listJournals(cluster: string): Promise<JournalSummary[]> {
    return (await this.journals(cluster)).map((j) => j.summary);
  }

  private async unfinished(cluster: string) {
    const lock = await this.peekLock(cluster);
    const h = lock.holder as EtcdLockHolder | undefined;
    const running = (b: BeginRecord) => !lock.free && !lock.stale && h?.manager === b.manager && h?.pid === b.pid;
    return (await this.journals(cluster)).filter((j) => j.summary.unfinished && !running(j.begin));
  }

  async unfinishedJournals(cluster: string): Promise<JournalSummary[]> {
    return (await this.unfinished(cluster)).map((j) => j.summary);
  }

  private async token(cluster: string): Promise<string | undefined> {
    const kv = (await this.read(`reading the leadership of ${cluster}`, () => this.s.h.client.get(this.s.keys.leader(cluster)).exec())).kvs[0];
    return kv ? String(kv.create_revision) : undefined;
  }

  async peekLock(cluster: string): Promise<LockPeek> {
    const holder = await this.getJson<EtcdLockHolder>(this.s.keys.lock(cluster), `reading the lock of ${cluster}`);
    if (!holder) return { free: true };
    const stale = holder.token !== (await this.token(cluster));
    return { free: false, holder, stale, text: `${describeHolder(holder)} (manager ${holder.manager})${stale ? ' (stale: its leadership ended)' : ''}` };
  }

  async acquireLock(cluster: string, operation: string, detail?: string): Promise<StoreLock> {
    const l = this.s.leadership(cluster);
    const st = l.state();
    const token = st.role === 'leader' ? st.createRevision : '';
    const key = this.s.keys.lock(cluster);
    const holder: EtcdLockHolder = {
      pid: process.pid,
      pidStart: processStartTime(process.pid),
      host: os.hostname(),
      operation,
      detail,
      since: new Date().toISOString(),
      manager: this.s.manager,
      token,
    };
    const what = `the lock of ${cluster} for ${operation}`;
    let tookOverFrom: LockHolder | undefined;
    try {
      await l.fenced(what, [{ type: 'put', key, value: JSON.stringify(holder), ifAbsent: true }]);
    } catch (e) {
      if (!(e instanceof StoreConflictError)) throw e;
      const peek = await this.peekLock(cluster);
      if (peek.free) return this.acquireLock(cluster, operation, detail);
      if (!peek.stale) throw new LockHeldError(cluster, peek.holder!);
      tookOverFrom = peek.holder;
      await l.fenced(`${what} (taking over a stale lock)`, [{ type: 'put', key, value: JSON.stringify(holder) }]);
    }
    let released = false;
    return {
      holder,
      tookOverFrom,
      release: async () => {
        if (released) return;
        released = true;
        const cur = await this.getJson<EtcdLockHolder>(key, `reading the lock of ${cluster}`);
        if (cur && cur.manager === holder.manager && cur.pid === holder.pid && cur.since === holder.since) {
          await l.fenced(`release of ${what}`, [{ type: 'delete', key }]);
        }
      },
    };
  }

  async readFailoverState(cluster: string): Promise<FailoverState> {
    return (await this.getJson<FailoverState>(this.s.keys.failoverState(cluster), `reading the failover state of ${cluster}`)) ?? {};
  }

  private async writeFailoverState(cluster: string, s: FailoverState, what: string): Promise<void> {
    await this.s.leadership(cluster).fenced(what, [{ type: 'put', key: this.s.keys.failoverState(cluster), value: JSON.stringify(s) }]);
  }

  async recordAutoFailover(cluster: string, last: NonNullable<FailoverState['lastAuto']>): Promise<void> {
    const s = await this.readFailoverState(cluster);
    await this.writeFailoverState(cluster, { ...s, lastAuto: last }, `the automatic failover ${last.id} of ${cluster}`);
  }

  async ackJournals(cluster: string, by: string, at = new Date().toISOString()): Promise<JournalSummary[]> {
    const l = this.s.leadership(cluster);
    const open = await this.unfinished(cluster);
    for (const j of open) {
      await l.fenced(`ack of ${j.summary.operation} ${j.summary.id} of ${cluster}`, [
        { type: 'put', key: j.next, value: JSON.stringify({ type: 'ack', at, by } satisfies JournalRecord), ifAbsent: true },
      ]);
    }
    return open.map((j) => j.summary);
  }

  async acknowledge(cluster: string, by: string): Promise<{ journals: JournalSummary[]; hadBlock: boolean }> {
    const at = new Date().toISOString();
    const journals = await this.ackJournals(cluster, by, at);
    const s = await this.readFailoverState(cluster);
    const hadBlock = blockUnacknowledged(s);
    await this.writeFailoverState(cluster, { ...s, acknowledged: { at, by } }, `ack of ${cluster} by ${by}`);
    return { journals, hadBlock };
  }

  /**
   * The report's file in state_dir (the whole report, as without heir.ha), then its record in
   * the cluster's index in etcd, where every manager lists it (listReports), and the index
   * pruned to the newest reportsKept.
   *
   * Not fenced, unlike every other write here: the record says what happened, it performs
   * nothing, so it needs no leadership compare. The manager that ran the operation records its
   * report even when its leadership ended meanwhile (the report of an operation stopped by the
   * loss of leadership matters most), and any manager may prune the index.
   *
   * Best effort: never rejects, and waits for etcd at most reportWaitMs (then the record goes
   * on in the background). A failure is logged, and returned as a warning when it came in time.
   */
  async saveReport(cluster: string, kind: ReportKind, id: string, report: object & { reportPath?: string }): Promise<SavedReport> {
    const saved = await this.local.saveReport(cluster, kind, id, report);
    const what = `the ${kind} report ${id} of ${cluster}`;
    const recorded = this.recordReport(cluster, kind, id, report).then(
      () => undefined,
      (e) => {
        this.s.noteEtcd(false, e);
        const where = saved.path ? `in ${saved.path} on manager ${this.s.manager} only` : `nowhere (not in state_dir either)`;
        const text = `could not record ${what} in etcd (${this.s.h.endpoints.join(', ')}): ${errorText(e)}; the other managers do not list it, it is kept ${where}`;
        this.log.warn({ cluster, kind, id }, text);
        return text;
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const late = Symbol('late');
    const waitMs = this.o.reportWaitMs ?? 1000;
    const first = await Promise.race([recorded, new Promise<typeof late>((r) => (timer = setTimeout(() => r(late), waitMs)))]);
    clearTimeout(timer);
    if (first === late) {
      this.log.warn({ cluster, kind, id }, `${what}: etcd has not answered within ${waitMs} ms; recording it goes on in the background`);
    } else if (first !== undefined) {
      saved.warnings.push(first);
    }
    return saved;
  }

  private async recordReport(cluster: string, kind: ReportKind, id: string, report: object & { reportPath?: string }): Promise<void> {
    const prefix = this.s.keys.reports(cluster);
    const value = reportRecord({ kind, cluster, id, manager: this.s.manager, report, capBytes: this.o.reportCapBytes ?? REPORT_RECORD_CAP });
    const c = this.s.h.client;
    await c.put(prefix + reportRecordName(id, kind)).value(value).exec();
    const names = (await c.getAll().prefix(prefix).keys()).map((k) => k.slice(prefix.length));
    const old = reportsToPrune(names, this.o.reportsKept ?? REPORTS_KEPT);
    // Two managers pruning at once delete the same keys: deleting a deleted key is no error.
    await Promise.all(old.map((n) => c.delete().key(prefix + n).exec()));
    this.s.noteEtcd(true);
  }

  /**
   * This manager's reports (state_dir) and every manager's (the index in etcd), merged: each
   * report once, its most complete copy, newest first. etcd not answering: this manager's
   * reports only, and a warning saying so.
   */
  async listReports(cluster: string, o: { kinds: readonly ReportKind[]; limit: number }): Promise<ReportList> {
    const mine = listLocalReports(this.stateDir, cluster, o.kinds, o.limit);
    let remote: ListedReport[] = [];
    const warnings: string[] = [];
    try {
      remote = await this.readIndex(cluster, o);
      this.s.noteEtcd(true);
    } catch (e) {
      this.s.noteEtcd(false, e);
      warnings.push(`etcd did not answer (${this.s.h.endpoints.join(', ')}): ${errorText(e)}; listed are the reports in this manager's (${this.s.manager}) state_dir only`);
    }
    return { reports: mergeReports([remote, mine], o.limit).map((r) => r.report), warnings };
  }

  /** The newest `limit` records of these kinds: the names first, then each value (a record may be up to the cap). */
  private async readIndex(cluster: string, o: { kinds: readonly ReportKind[]; limit: number }): Promise<ListedReport[]> {
    const prefix = this.s.keys.reports(cluster);
    const c = this.s.h.client;
    const names = (await c.getAll().prefix(prefix).keys()).flatMap((k) => {
      const p = parseReportRecordName(k.slice(prefix.length));
      return p && o.kinds.includes(p.kind) ? [p] : [];
    });
    const newest = mergeReports([names.map((p) => ({ ...p, report: {} }))], o.limit);
    const values = await Promise.all(newest.map((p) => c.get(prefix + reportRecordName(p.id, p.kind)).string()));
    return newest.flatMap((p, i) => {
      const v = values[i];
      if (v === null || v === undefined) return []; // pruned since the names were read
      try {
        return [{ kind: p.kind, id: p.id, report: JSON.parse(v) as Record<string, unknown> }];
      } catch {
        return []; // not a record heir wrote
      }
    });
  }
}
