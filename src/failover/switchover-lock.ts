/**
 * The cluster lock and step journal as the switchover uses them: the same lock
 * (state_dir/<cluster>/lock) as the daemon and `heir failover`, and a
 * switchover journal in the same place, so an interrupted switchover is found
 * and reported like an interrupted failover.
 */
import type { ClusterConfig, GlobalSettings } from '../config/schema';
import type { Logger } from '../util/log';
import { acquireLock, LockHeldError, peekLock as peekClusterLock } from './lock';
import { listReportFiles, writeReportFile } from './report';
import { Journal, unfinishedJournals } from './journal';
import type { LockState } from './switchover-preflight';
import type { ClusterLockHandle } from './switchover-deps';
import type { SwitchoverReport } from './switchover';

function stateDir(global: GlobalSettings | undefined): string {
  return global?.state_dir ?? '/var/lib/heir';
}

/** An unfinished failover/switchover journal: the cluster may be half changed. */
function unfinished(cluster: ClusterConfig, global: GlobalSettings | undefined): string | undefined {
  const js = unfinishedJournals(stateDir(global), cluster.name);
  if (js.length === 0) return undefined;
  return `unfinished ${js.map((j) => `${j.operation} ${j.id}`).join(', ')} (inspect the cluster, then \`heir ack --cluster ${cluster.name}\`)`;
}

export async function peekLock(cluster: ClusterConfig, global: GlobalSettings | undefined): Promise<LockState> {
  const p = peekClusterLock(stateDir(global), cluster.name);
  if (!p.free && !p.stale) return { free: false, holder: p.text };
  const u = unfinished(cluster, global);
  if (u) return { free: false, holder: u };
  return { free: true };
}

export async function acquireSwitchoverLock(
  cluster: ClusterConfig,
  global: GlobalSettings | undefined,
  req: { operation: 'switchover'; id: string; target: string; requestedBy?: string },
  log: Logger,
): Promise<ClusterLockHandle | { refused: string }> {
  const dir = stateDir(global);
  let lock;
  try {
    lock = acquireLock(dir, cluster.name, 'switchover', `to ${req.target}${req.requestedBy ? ` by ${req.requestedBy}` : ''}`);
  } catch (e) {
    if (e instanceof LockHeldError) return { refused: e.message };
    throw e;
  }
  if (lock.tookOverFrom) log.warn({ previous: lock.tookOverFrom }, 'took over a stale cluster lock');
  const u = unfinished(cluster, global);
  if (u) {
    lock.release();
    return { refused: u };
  }
  // The journal begins with the first step that changes the cluster: a refused
  // switchover leaves no journal behind.
  let journal: Journal | undefined;
  const open = () => (journal ??= Journal.begin(dir, cluster.name, 'switchover', { to: req.target, requestedBy: req.requestedBy }, req.id));
  return {
    async journal(step, phase, detail) {
      const j = open();
      if (phase === 'start') j.stepStart(step, { detail });
      else j.stepEnd(step, phase === 'done' ? 'ok' : 'failed', detail);
    },
    async release(report) {
      try {
        if (journal) report.journal = journal.path;
        journal?.end(report.outcome, report.summary);
        saveSwitchoverReport(dir, report);
      } finally {
        lock.release();
      }
    },
  };
}

/**
 * Keep the report next to the failover reports (state_dir/<cluster>/reports/
 * switchover-<id>.json), written atomically; returns its path.
 */
export function saveSwitchoverReport(stateDir: string, r: SwitchoverReport): string {
  return writeReportFile(stateDir, r.cluster, 'switchover', r.id, r);
}

/** Switchover reports of a cluster, newest first. */
export function listSwitchoverReports(stateDir: string, cluster: string): string[] {
  return listReportFiles(stateDir, cluster, 'switchover');
}
