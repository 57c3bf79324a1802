import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { acquireLock, LockHeldError, lockPath, peekLock } from '../../src/failover/lock';
import { Journal, listJournals, parseJournal, summarizeJournal, unfinishedJournals, describeUnfinished, promotionStarted, promotedIn } from '../../src/failover/journal';
import { acknowledge, checkFailoverGuard, mayStartFailover, readFailoverState, recordAutoFailover } from '../../src/failover/guard';
import { saveReport, listReports, readReport, type FailoverReport } from '../../src/failover/report';

const dirs: string[] = [];
function stateDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-journal-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('cluster lock', () => {
  it('is exclusive and names its holder', () => {
    const sd = stateDir();
    const l = acquireLock(sd, 'c1', 'failover', 'db1 dead');
    assert.equal(l.path, path.join(sd, 'c1', 'lock'));
    assert.throws(() => acquireLock(sd, 'c1', 'switchover'), (e: unknown) => {
      assert.ok(e instanceof LockHeldError);
      assert.match(e.message, new RegExp(`locked by failover \\(db1 dead\\) — pid ${process.pid}`));
      return true;
    });
    const peek = peekLock(sd, 'c1');
    assert.equal(peek.free, false);
    assert.equal(peek.stale, false);
    l.release();
    assert.equal(peekLock(sd, 'c1').free, true);
    // Other clusters are independent.
    acquireLock(sd, 'c2', 'failover').release();
  });

  it('a lock whose process is gone is stale and taken over', () => {
    const sd = stateDir();
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    fs.mkdirSync(path.join(sd, 'c1'), { recursive: true });
    fs.writeFileSync(lockPath(sd, 'c1'), JSON.stringify({ pid: deadPid, host: os.hostname(), operation: 'failover', since: '2020-01-01T00:00:00Z' }));
    const peek = peekLock(sd, 'c1');
    assert.equal(peek.stale, true);
    const l = acquireLock(sd, 'c1', 'failover');
    assert.equal(l.tookOverFrom?.pid, deadPid);
    assert.equal(l.holder.pid, process.pid);
    l.release();
  });

  it('a live pid with another start time (pid reused) is stale', () => {
    const sd = stateDir();
    fs.mkdirSync(path.join(sd, 'c1'), { recursive: true });
    fs.writeFileSync(
      lockPath(sd, 'c1'),
      JSON.stringify({ pid: process.pid, pidStart: '1', host: os.hostname(), operation: 'failover', since: 'x' }),
    );
    assert.equal(peekLock(sd, 'c1').stale, true);
  });
});

describe('journal', () => {
  it('records steps; a journal without end is unfinished and says which step was in flight', () => {
    const sd = stateDir();
    const j = Journal.begin(sd, 'c1', 'failover', { deadMaster: 'db1' }, '20250101T000000.000Z-aaaa');
    j.stepStart('freeze', { nodes: ['db2', 'db3'] });
    j.stepEnd('freeze', 'ok', 'IO threads stopped on db2, db3');
    j.stepStart('promote', { node: 'db2' });
    j.close(); // crash: no end record
    assert.ok(j.path.endsWith('c1/failover-20250101T000000.000Z-aaaa.journal.jsonl'));
    const u = unfinishedJournals(sd, 'c1');
    assert.equal(u.length, 1);
    assert.deepEqual(
      u[0].steps.map((s) => [s.step, s.outcome]),
      [
        ['freeze', 'ok'],
        ['promote', 'running'],
      ],
    );
    const text = describeUnfinished(u[0]).join('\n');
    assert.match(text, /freeze\s+ok — IO threads stopped/);
    assert.match(text, /promote\s+IN FLIGHT/);
  });

  it('a promote that started and never ended: promotionStarted gives its node, start parameters and progress; promotedIn only a finished one', () => {
    const sd = stateDir();
    const j = Journal.begin(sd, 'c1', 'failover', { deadMaster: 'db1' });
    j.stepStart('promote', { node: 'db2', fromDead: { file: 'b.7', pos: 5 } });
    j.progress('promote', { binlog: { file: 'b.1', pos: 157 } });
    const u = unfinishedJournals(sd, 'c1')[0]!;
    assert.deepEqual(promotionStarted(u), { node: 'db2', fromDead: { file: 'b.7', pos: 5 }, binlog: { file: 'b.1', pos: 157 } });
    assert.equal(promotedIn(u), undefined);
    j.stepEnd('promote', 'ok', 'db2 is writable', undefined, { node: 'db2' });
    const done = listJournals(sd, 'c1')[0]!;
    assert.equal(promotionStarted(done), undefined);
    assert.deepEqual(promotedIn(done), { node: 'db2', binlog: { file: 'b.1', pos: 157 } });
  });

  it('a finished journal is not unfinished; a torn last line is ignored', () => {
    const sd = stateDir();
    const j = Journal.begin(sd, 'c1', 'failover', {});
    j.stepStart('freeze');
    j.stepEnd('freeze', 'ok', 'done');
    j.end('promoted', 'db2 is the master');
    assert.deepEqual(unfinishedJournals(sd, 'c1'), []);
    fs.appendFileSync(j.path, '{"type":"no');
    const recs = parseJournal(fs.readFileSync(j.path, 'utf8'));
    assert.equal(recs.at(-1)!.type, 'end');
    assert.equal(summarizeJournal(j.path, recs)!.end!.outcome, 'promoted');
    assert.equal(listJournals(sd, 'c1').length, 1);
  });
});

describe('guard: crash safety and anti-flapping', () => {
  const last = { id: 'x', at: '2025-01-01T00:00:00.000Z', oldMaster: 'db1', newMaster: 'db2', outcome: 'promoted' };
  const t0 = Date.parse(last.at);
  const cases: { title: string; trigger: 'auto' | 'manual'; now: number; ack?: string; allowed: boolean; match?: RegExp }[] = [
    { title: 'auto within the block period is refused', trigger: 'auto', now: t0 + 10_000, allowed: false, match: /blocked until 2025-01-01T01:00:00.000Z/ },
    { title: 'auto after the block period is allowed', trigger: 'auto', now: t0 + 3_600_001, allowed: true },
    { title: 'auto after an ack is allowed', trigger: 'auto', now: t0 + 10_000, ack: '2025-01-01T00:00:05.000Z', allowed: true },
    { title: 'an ack older than the failover does not count', trigger: 'auto', now: t0 + 10_000, ack: '2024-12-31T00:00:00.000Z', allowed: false },
    { title: 'manual is not blocked by the period', trigger: 'manual', now: t0 + 10_000, allowed: true },
  ];
  for (const c of cases) {
    it(c.title, () => {
      const d = mayStartFailover({
        trigger: c.trigger,
        unfinished: [],
        state: { lastAuto: last, acknowledged: c.ack ? { at: c.ack, by: 'op' } : undefined },
        now: c.now,
        blockPeriodS: 3600,
      });
      assert.equal(d.allowed, c.allowed, d.reasons.join('\n'));
      if (c.match) assert.match(d.reasons.join('\n'), c.match);
    });
  }

  it('an unfinished journal blocks even a manual failover until ack; ack lifts both brakes', () => {
    const sd = stateDir();
    const j = Journal.begin(sd, 'c1', 'failover', {});
    j.stepStart('repoint');
    j.close();
    recordAutoFailover(sd, 'c1', { ...last, at: new Date().toISOString() });
    const manual = checkFailoverGuard(sd, 'c1', 'manual', 3600);
    assert.equal(manual.allowed, false);
    assert.match(manual.reasons.join('\n'), /repoint\s+IN FLIGHT/);
    assert.match(manual.reasons.join('\n'), /heir ack --cluster c1/);
    assert.equal(checkFailoverGuard(sd, 'c1', 'auto', 3600).allowed, false);

    const r = acknowledge(sd, 'c1', 'alice');
    assert.equal(r.journals.length, 1);
    assert.equal(r.hadBlock, true);
    assert.equal(checkFailoverGuard(sd, 'c1', 'manual', 3600).allowed, true);
    assert.equal(checkFailoverGuard(sd, 'c1', 'auto', 3600).allowed, true);
    assert.equal(readFailoverState(sd, 'c1').acknowledged?.by, 'alice');
    assert.equal(listJournals(sd, 'c1')[0].ack?.by, 'alice');
  });
});

describe('report', () => {
  it('is saved under reports/ and read back', () => {
    const sd = stateDir();
    const r: FailoverReport = {
      kind: 'failover',
      id: '20250101T000000.000Z-abcd',
      cluster: 'c1',
      trigger: 'auto',
      outcome: 'promoted',
      summary: 'db2 is the new master',
      startedAt: 'a',
      endedAt: 'b',
      durationMs: 5,
      deadMaster: 'db1',
      newMaster: 'db2',
      plan: null,
      steps: [],
      salvage: { attempted: false, why: 'disabled', files: [], gtids: '', count: 0 },
      possiblyLost: [],
      undone: [],
      notDone: [],
      warnings: [],
      next: [],
    };
    const p = saveReport(sd, r);
    assert.equal(p, path.join(sd, 'c1', 'reports', 'failover-20250101T000000.000Z-abcd.json'));
    assert.deepEqual(listReports(sd, 'c1'), [p]);
    assert.equal(readReport(p).newMaster, 'db2');
  });
});

describe('journal of an operation still running', () => {
  it('is not unfinished while its process holds the cluster lock, and is once the lock is gone', () => {
    const sd = stateDir();
    const lock = acquireLock(sd, 'c1', 'switchover', 'to db2');
    const j = Journal.begin(sd, 'c1', 'switchover', { to: 'db2' });
    j.stepStart('address');
    assert.deepEqual(unfinishedJournals(sd, 'c1'), [], 'running, not interrupted');
    lock.release();
    j.close(); // the process "stopped" without an end record
    assert.equal(unfinishedJournals(sd, 'c1').length, 1);
  });
});
