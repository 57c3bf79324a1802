/** `heir failover`'s text report and exit code, on plain reports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exitCodeOf } from '../../src/cli/commands/failover';
import { ExitCode } from '../../src/cli/exit';
import { formatReport, type FailoverReport } from '../../src/failover/report';
import type { Plan } from '../../src/failover/types';

function plan(leftOut: Plan['leftOut']): Plan {
  return {
    cluster: 'c1', deadMaster: 'db1', mode: 'mysql-gtid', snapshotAt: 0, winner: 'db2', noWinnerReasons: [], candidates: [], mostAdvanced: 'db2',
    target: '', incomparable: [], catchUp: [], unobtainable: [], repoint: ['db3'], levelUp: [], leftOut, warnings: [], steps: [],
  };
}

function report(outcome: FailoverReport['outcome'], leftOut: Plan['leftOut'] = []): FailoverReport {
  return {
    kind: 'failover', id: 'f1', cluster: 'c1', trigger: 'manual', outcome, summary: 'db2 is the new master', startedAt: '', endedAt: '', durationMs: 1,
    deadMaster: 'db1', newMaster: outcome.startsWith('promoted') ? 'db2' : null, plan: plan(leftOut), steps: [],
    salvage: { attempted: false, why: 'not needed', files: [], gtids: '', count: 0 }, possiblyLost: [], undone: [], notDone: [], warnings: [], next: [],
  } as FailoverReport;
}

test('a promotion that left nodes out exits PARTIAL, and the text names each with why', () => {
  const down = { node: 'db4', why: 'unreachable: repoint it when it returns (heir rejoin)' };
  assert.equal(exitCodeOf(report('promoted')), ExitCode.OK);
  const r = report('promoted', [down]);
  assert.equal(exitCodeOf(r), ExitCode.PARTIAL);
  assert.ok(formatReport(r).includes(`  left out: db4 — ${down.why}`), formatReport(r).join('\n'));
  assert.ok(!formatReport(report('promoted')).some((l) => l.includes('left out')));
  // Errors outrank it: the failover itself went wrong.
  assert.equal(exitCodeOf(report('promoted-with-errors', [down])), ExitCode.INCOMPLETE);
  // Nothing promoted: the plan is printed as a whole elsewhere, not as left-out nodes.
  assert.ok(!formatReport(report('failed', [down])).some((l) => l.includes('left out')));
});

test('a failover refused because the master answers exits BLOCKED (refused, nothing changed), as every refusal; one that found it alive mid-run exits FAILED', () => {
  assert.equal(exitCodeOf({ ...report('refused'), refusedBy: 'master-alive' }), ExitCode.BLOCKED);
  assert.equal(exitCodeOf({ ...report('refused'), refusedBy: 'lock' }), ExitCode.BLOCKED);
  assert.equal(exitCodeOf(report('master-alive')), ExitCode.FAILED);
});
