import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import { planSwitchover, formatPlan } from '../../src/failover/switchover-plan';
import type { Preflight } from '../../src/failover/switchover-preflight';
import type { SwitchoverReport } from '../../src/failover/switchover';
import { exitCodeOf, formatReport, progressLine } from '../../src/cli/commands/switchover';
import { ExitCode } from '../../src/cli/exit';

function cluster(extra: Record<string, unknown> = {}): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
    nodes: ['db1', 'db2', 'db3'].map((n, i) => ({ name: n, host: `10.0.0.${i + 1}`, port: 3306, instance_id: `i-${n}` })),
    ...extra,
  });
}

const pre: Preflight = { ok: true, cluster: 'c1', master: 'db1', target: 'db2', checks: [], refusals: [] };

describe('switchover plan', () => {
  it('MySQL, no address: pause steps in order, repoint after the pause', () => {
    const p = planSwitchover(pre, cluster(), 'mysql', { timeoutS: 10, heartbeatTable: 'heir.heartbeat' });
    assert.deepEqual(p.steps.map((s) => s.step), ['lock', 'prepare', 'catch-up', 'pause', 'final-gtid', 'wait-applied', 'promote', 'probe-write', 'detach', 'repoint', 'address', 'unlock']);
    assert.deepEqual(p.steps.filter((s) => s.inPause).map((s) => s.step), ['pause', 'final-gtid', 'wait-applied', 'promote', 'probe-write']);
    assert.deepEqual(p.others, ['db3']);
    const text = formatPlan(p).join('\n');
    assert.match(text, /super_read_only=ON/);
    assert.match(text, /WAIT_FOR_EXECUTED_GTID_SET/);
    assert.match(text, /point db3, db1 at db2/);
  });

  it('MariaDB with an ENI, connection killing and semi-sync', () => {
    const c = cluster({
      address: { type: 'eni', eni_id: 'eni-abc123', floating_ip: '10.0.0.100' },
      failover: { semi_sync: true },
    });
    const p = planSwitchover(pre, c, 'mariadb', { timeoutS: 3, killAfterMs: 500, heartbeatTable: 'heir.heartbeat' });
    const steps = p.steps.map((s) => s.step);
    assert.ok(steps.indexOf('kill-connections') > steps.indexOf('pause'));
    assert.ok(steps.includes('semi-sync'));
    assert.ok(steps.indexOf('address-probe') > steps.indexOf('address'));
    const text = formatPlan(p).join('\n');
    assert.match(text, /read_only=ON/);
    assert.doesNotMatch(text, /super_read_only/);
    assert.match(text, /MASTER_GTID_WAIT/);
    assert.match(text, /MASTER_USE_GTID=slave_pos/);
    assert.match(text, /10\.0\.0\.100/);
    assert.match(text, /after 500 ms/);
  });

  it('refuses to plan without a master', () => {
    assert.throws(() => planSwitchover({ ...pre, master: undefined, ok: false }, cluster(), 'mysql', { timeoutS: 1, heartbeatTable: 'heir.heartbeat' }), /no single writable master/);
  });
});

function report(o: Partial<SwitchoverReport>): SwitchoverReport {
  return {
    kind: 'switchover', id: 'x', cluster: 'c1', outcome: 'switched', from: 'db1', to: 'db2', startedAt: '', finishedAt: '', durationMs: 1,
    summary: 'db2 is the master', steps: [], writePause: { toNewMasterMs: 12.5, toAddressMs: null, readOnlyMs: 1, applyWaitMs: 2 },
    repointed: [{ node: 'db3', ok: true, durationMs: 50, detail: 'replicating from db2' }], errors: [], ...o,
  };
}

describe('switchover command output', () => {
  it('exit codes follow the outcome', () => {
    assert.equal(exitCodeOf(report({})), ExitCode.OK);
    assert.equal(exitCodeOf(report({ outcome: 'rolled-back' })), ExitCode.FAILED);
    assert.equal(exitCodeOf(report({ outcome: 'aborted' })), ExitCode.FAILED);
    assert.equal(exitCodeOf(report({ outcome: 'switched-with-errors' })), ExitCode.INCOMPLETE);
    assert.equal(exitCodeOf(report({ outcome: 'failed' })), ExitCode.INCOMPLETE);
    assert.equal(exitCodeOf(report({ outcome: 'dry-run', preflight: { ...pre } })), ExitCode.OK);
    const lockRefusal = { id: 'lock' as const, ok: false, severity: 'block' as const, detail: 'locked', fix: 'wait' };
    const refused = { ...pre, ok: false, checks: [lockRefusal], refusals: [lockRefusal] };
    assert.equal(exitCodeOf(report({ outcome: 'refused', preflight: refused })), ExitCode.BLOCKED);
    assert.equal(exitCodeOf(report({ outcome: 'dry-run', preflight: refused })), ExitCode.FAILED);
  });

  it('the report names the pause and each repointed node', () => {
    const text = formatReport(report({}));
    assert.match(text, /to first write on db2: 12\.5 ms/);
    assert.match(text, /ok\s+db3/);
    assert.match(text, /^SWITCHED: db2 is the master$/m);
  });

  it('progress lines: one per finished step, none for starts', () => {
    assert.equal(progressLine({ step: 'pause', phase: 'start', atMs: 1, detail: 'x' }), undefined);
    assert.match(progressLine({ step: 'pause', phase: 'done', atMs: 12.3, durationMs: 2, node: 'db1', detail: 'super_read_only ON on db1' })!, /\+12\.3ms\s+ok\s+pause\s+db1\s+super_read_only ON on db1 \(2 ms\)/);
    assert.match(progressLine({ step: 'wait-applied', phase: 'failed', atMs: 1, durationMs: 1000, node: 'db2', detail: 'timed out' })!, /FAIL\s+wait-applied/);
  });
});
