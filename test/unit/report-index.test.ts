/** The index of reports (pure): a report's record up to the cap or its summary, pruning, the merge of several lists. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compareListed, mergeReports, parseReportRecordName, reportRecord, reportRecordName, reportsToPrune, REPORT_RECORD_CAP, type ListedReport } from '../../src/failover/report-index';

const id = (n: number) => `20260101T0000${String(n).padStart(2, '0')}.000Z-ab${String(n).padStart(2, '0')}`;

describe('reportRecord', () => {
  it('a report within the cap is recorded whole, with its kind, cluster, id and manager', () => {
    const report = { kind: 'failover', id: id(1), cluster: 'app', outcome: 'promoted', summary: 'db1 → db2', steps: [{ name: 'fence', outcome: 'ok' }], reportPath: '/var/lib/heir/app/reports/failover-x.json' };
    const v: any = JSON.parse(reportRecord({ kind: 'failover', cluster: 'app', id: id(1), manager: 'mgr-a', report }));
    assert.equal(v.truncated, undefined);
    assert.deepEqual(v, { ...report, manager: 'mgr-a' });
  });

  it('a rejoin report (no kind nor cluster of its own) gets them in its record', () => {
    const report = { outcome: 'rejoined', node: 'db1', master: 'db2', summary: 'ok', steps: ['stop', 'start'] };
    const v = JSON.parse(reportRecord({ kind: 'rejoin', cluster: 'app', id: id(2), manager: 'mgr-b', report }));
    assert.equal(v.kind, 'rejoin');
    assert.equal(v.cluster, 'app');
    assert.equal(v.id, id(2));
    assert.equal(v.manager, 'mgr-b');
    assert.deepEqual(v.steps, ['stop', 'start']);
  });

  it('a report over the cap is recorded as its summary: truncated, its size, the manager and the path of the whole one', () => {
    const huge = 'x'.repeat(REPORT_RECORD_CAP);
    const report = {
      kind: 'failover',
      id: id(3),
      cluster: 'app',
      trigger: 'auto',
      outcome: 'promoted-with-errors',
      summary: 'db1 → db2',
      startedAt: '2026-01-01T00:00:03.000Z',
      endedAt: '2026-01-01T00:00:05.000Z',
      durationMs: 2000,
      deadMaster: 'db1',
      newMaster: 'db2',
      toWritableMs: 800,
      salvage: { gtids: huge },
      steps: [{ name: 'fence', outcome: 'ok', detail: huge }, { name: 'attach', outcome: 'failed', detail: 'timeout' }],
      warnings: Array.from({ length: 30 }, (_, i) => `warning ${i} ${'w'.repeat(1000)}`),
      next: ['run heir ack'],
      reportPath: '/var/lib/heir/app/reports/failover-3.json',
    };
    const text = reportRecord({ kind: 'failover', cluster: 'app', id: id(3), manager: 'mgr-a', report });
    assert.ok(Buffer.byteLength(text) <= REPORT_RECORD_CAP);
    const v = JSON.parse(text);
    assert.equal(v.truncated, true);
    assert.equal(v.bytes, Buffer.byteLength(JSON.stringify({ ...report, manager: 'mgr-a' })));
    assert.equal(v.manager, 'mgr-a');
    assert.equal(v.reportPath, report.reportPath);
    for (const f of ['kind', 'id', 'cluster', 'trigger', 'outcome', 'summary', 'startedAt', 'endedAt', 'durationMs', 'deadMaster', 'newMaster', 'toWritableMs'] as const) {
      assert.equal(v[f], report[f], f);
    }
    assert.equal(v.salvage, undefined, 'objects are left out');
    assert.deepEqual(v.steps, [{ name: 'fence', outcome: 'ok' }, { name: 'attach', outcome: 'failed' }]);
    assert.equal(v.warnings.length, 21);
    assert.equal(v.warnings[20], '… 10 more');
    assert.match(v.warnings[0], /^warning 0 w+… \(\d+ more characters\)$/);
    assert.deepEqual(v.next, ['run heir ack']);
  });

  it('with a cap too small even for the summary: what identifies the report and where the whole one is', () => {
    const report = { kind: 'switchover', outcome: 'switched', summary: 's'.repeat(5000), steps: Array.from({ length: 100 }, (_, i) => ({ name: `step${i}`, outcome: 'ok' })), reportPath: '/x/switchover-4.json' };
    const text = reportRecord({ kind: 'switchover', cluster: 'app', id: id(4), manager: 'mgr-c', report, capBytes: 2000 });
    const v = JSON.parse(text);
    assert.deepEqual(Object.keys(v).sort(), ['bytes', 'cluster', 'id', 'kind', 'manager', 'outcome', 'reportPath', 'summary', 'truncated']);
    assert.equal(v.truncated, true);
    assert.equal(v.reportPath, '/x/switchover-4.json');
    assert.ok(v.summary.length < 300);
    assert.ok(Buffer.byteLength(text) <= 2000);
  });
});

describe('record names and pruning', () => {
  it('a name is <id>/<kind>; names heir did not write parse to nothing', () => {
    assert.deepEqual(parseReportRecordName(reportRecordName(id(1), 'switchover')), { id: id(1), kind: 'switchover' });
    assert.equal(parseReportRecordName('whatever'), undefined);
    assert.equal(parseReportRecordName(`${id(1)}/backup`), undefined);
    assert.equal(parseReportRecordName('/failover'), undefined);
  });

  it('keeps the newest N records and leaves foreign names alone', () => {
    const names = [5, 1, 3, 2, 4].map((n) => reportRecordName(id(n), n % 2 ? 'failover' : 'rejoin'));
    assert.deepEqual(reportsToPrune([...names, 'notes', `${id(0)}/backup`], 3).sort(), [reportRecordName(id(1), 'failover'), reportRecordName(id(2), 'rejoin')].sort());
    assert.deepEqual(reportsToPrune(names, 5), []);
    assert.deepEqual(reportsToPrune(names, 50), []);
    assert.equal(reportsToPrune(names, 0).length, 5);
  });
});

describe('mergeReports', () => {
  const r = (n: number, kind: ListedReport['kind'], report: Record<string, unknown>, unreadable?: boolean): ListedReport => ({ kind, id: id(n), report: { ...report, n }, ...(unreadable ? { unreadable } : {}) });

  it('one entry per report (kind and id), newest first, at most limit', () => {
    const etcd = [r(4, 'failover', { manager: 'mgr-b' }), r(2, 'switchover', { manager: 'mgr-a' })];
    const local = [r(3, 'failover', {}), r(2, 'switchover', {}), r(1, 'failover', {})];
    const m = mergeReports([etcd, local], 10);
    assert.deepEqual(m.map((x) => [x.id, x.kind]), [[id(4), 'failover'], [id(3), 'failover'], [id(2), 'switchover'], [id(1), 'failover']]);
    assert.deepEqual(mergeReports([etcd, local], 2).map((x) => x.id), [id(4), id(3)]);
    // The same id of another kind is another report.
    assert.equal(mergeReports([[r(2, 'failover', {})], local], 10).filter((x) => x.id === id(2)).length, 2);
  });

  it('the most complete copy wins: whole with its manager, whole, summary, unreadable file', () => {
    const whole = r(1, 'failover', { manager: 'mgr-a', outcome: 'promoted' });
    const file = r(1, 'failover', { outcome: 'promoted' });
    const summary = r(1, 'failover', { manager: 'mgr-a', truncated: true });
    const torn = r(1, 'failover', { error: 'unreadable' }, true);
    const pick = (...lists: ListedReport[][]) => mergeReports(lists, 10)[0]!;
    assert.equal(pick([file], [whole]), whole);
    assert.equal(pick([whole], [file]), whole);
    assert.equal(pick([summary], [file]), file, 'this manager\'s whole file rather than the summary in etcd');
    assert.equal(pick([torn], [summary]), summary);
    assert.equal(pick([torn]), torn);
  });

  it('compareListed orders by id, newest first, then kind', () => {
    const xs = [{ id: id(1), kind: 'switchover' }, { id: id(2), kind: 'failover' }, { id: id(1), kind: 'failover' }];
    assert.deepEqual(xs.sort(compareListed), [{ id: id(2), kind: 'failover' }, { id: id(1), kind: 'failover' }, { id: id(1), kind: 'switchover' }]);
  });
});
