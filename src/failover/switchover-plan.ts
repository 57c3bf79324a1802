/**
 * The switchover plan: the ordered steps the executor will carry out, in words
 * an operator on call can check before saying yes (`--dry-run` prints it).
 * Pure: derived from the preflight, the config and the options.
 */
import type { ClusterConfig } from '../config/schema';
import type { Flavor } from '../mysql/types';
import type { Preflight } from './switchover-preflight';

export type StepName =
  | 'prepare'
  | 'catch-up'
  | 'lock'
  | 'pause'
  | 'kill-connections'
  | 'final-gtid'
  | 'wait-applied'
  | 'promote'
  | 'probe-write'
  | 'detach'
  | 'repoint'
  | 'semi-sync'
  | 'address'
  | 'address-probe'
  | 'rollback'
  | 'unlock';

export interface PlanStep {
  step: StepName;
  node?: string;
  /** What happens, in one sentence. */
  action: string;
  /** Whether this step is inside the write pause. */
  inPause: boolean;
}

export interface SwitchoverPlan {
  cluster: string;
  from: string;
  to: string;
  flavor: Flavor;
  others: string[];
  timeoutS: number;
  killAfterMs?: number;
  addressKind: string;
  steps: PlanStep[];
}

export interface PlanOptions {
  timeoutS: number;
  killAfterMs?: number;
  heartbeatTable: string;
}

/** The plan for a preflight that found a master; throws when it did not. */
export function planSwitchover(pre: Preflight, cluster: ClusterConfig, flavor: Flavor, o: PlanOptions): SwitchoverPlan {
  if (!pre.master) throw new Error(`switchover plan for ${cluster.name}: no single writable master was found`);
  const from = pre.master;
  const to = pre.target;
  const others = cluster.nodes.map((n) => n.name).filter((n) => n !== from && n !== to);
  const ro = flavor === 'mysql' ? 'SET GLOBAL super_read_only=ON (implies read_only)' : 'SET GLOBAL read_only=ON';
  const wait = flavor === 'mysql' ? 'WAIT_FOR_EXECUTED_GTID_SET' : 'MASTER_GTID_WAIT';
  const gtidVar = flavor === 'mysql' ? '@@gtid_executed' : '@@gtid_binlog_pos';
  const repointHow = flavor === 'mysql' ? 'GTID auto-position' : 'MASTER_USE_GTID=slave_pos';
  const addr = cluster.address;
  const floating = 'floating_ip' in addr ? addr.floating_ip : undefined;

  const steps: PlanStep[] = [
    { step: 'lock', action: `take the ${cluster.name} cluster lock (shared with failover and the daemon)`, inPause: false },
    { step: 'prepare', action: `connect to every node, read the topology and run the preflight again`, inPause: false },
    { step: 'catch-up', node: to, action: `let ${to} apply what ${from} has now (up to ${o.timeoutS}s; refuse without changing anything if it cannot)`, inPause: false },
    { step: 'pause', node: from, action: `stop writes on ${from}: ${ro}`, inPause: true },
  ];
  if (o.killAfterMs !== undefined)
    steps.push({ step: 'kill-connections', node: from, action: `after ${o.killAfterMs} ms, kill the application connections still open on ${from}`, inPause: true });
  steps.push(
    { step: 'final-gtid', node: from, action: `read ${from}'s final ${gtidVar}`, inPause: true },
    { step: 'wait-applied', node: to, action: `wait up to ${o.timeoutS}s for ${to} to apply exactly that set (${wait}); on timeout make ${from} writable again and change nothing else`, inPause: true },
    {
      step: 'promote',
      node: to,
      action: flavor === 'mysql'
        ? `promote ${to}: super_read_only and read_only OFF (nothing can reach it from the super_read_only ${from})`
        : `promote ${to}: stop replication, read_only OFF`,
      inPause: true,
    },
    { step: 'probe-write', node: to, action: `write into ${o.heartbeatTable} on ${to}: the pause ends when it is accepted`, inPause: true },
    { step: 'detach', node: to, action: `stop replica and reset replica all on ${to}`, inPause: false },
    {
      step: 'repoint',
      action: `point ${[...others, from].join(', ')} at ${to} (${repointHow}) in parallel, ${from} once ${to} is detached and still read-only; verify both threads run`,
      inPause: false,
    },
  );
  if (cluster.failover.semi_sync)
    steps.push({ step: 'semi-sync', node: to, action: `semi-sync: replica side on every repointed node before it connects, source side on ${to} once they are connected`, inPause: false });
  if (addr.type !== 'none') {
    steps.push({ step: 'address', action: `move the address (${addr.type}${floating ? ` ${floating}` : ''}) while the replicas are repointed: fence ${from}, then attach ${to}`, inPause: false });
    if (floating) steps.push({ step: 'address-probe', action: `write through ${floating} until it reaches ${to}`, inPause: false });
  } else {
    steps.push({ step: 'address', action: 'no address to move (address type none)', inPause: false });
  }
  steps.push({ step: 'unlock', action: 'write the report and release the lock', inPause: false });
  return { cluster: cluster.name, from, to, flavor, others, timeoutS: o.timeoutS, killAfterMs: o.killAfterMs, addressKind: addr.type, steps };
}

export function formatPlan(p: SwitchoverPlan): string[] {
  return p.steps.map((s, i) => `  ${String(i + 1).padStart(2)}. ${s.step.padEnd(16)} ${s.action}${s.inPause ? '  [write pause]' : ''}`);
}
