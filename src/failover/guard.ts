/**
 * May a failover start now? Two brakes, decided by a pure function:
 *
 *  - crash safety: an unfinished journal means an earlier failover stopped
 *    midway; the cluster is in a state no plan assumed. No new failover (not
 *    even a manual one) until an operator has looked and run `heir ack`.
 *  - anti-flapping: after an automatic failover, no other automatic one for
 *    failover.block_period_s unless acknowledged. A cluster that fails over
 *    twice in a row is more likely sick than unlucky; a person decides.
 *    Manual failovers are not blocked by this one.
 *
 * The block is remembered in state_dir/<cluster>/failover-state.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterDir, writeJsonAtomic } from './lock';
import { ackJournals, describeUnfinished, unfinishedJournals, type JournalSummary } from './journal';

export interface FailoverState {
  /** The last automatic failover. */
  lastAuto?: { id: string; at: string; oldMaster: string; newMaster: string | null; outcome: string };
  /** The last `heir ack`. */
  acknowledged?: { at: string; by: string };
}

export type Trigger = 'auto' | 'manual';

export interface GuardDecision {
  allowed: boolean;
  reasons: string[];
  /** While blocked by the block period: when the block ends (ISO). */
  blockedUntil?: string;
}

/** Pure: the decision from the facts. */
export function mayStartFailover(input: {
  trigger: Trigger;
  unfinished: JournalSummary[];
  state: FailoverState;
  now: number;
  blockPeriodS: number;
}): GuardDecision {
  const reasons: string[] = [];
  for (const j of input.unfinished) {
    reasons.push(...describeUnfinished(j));
    reasons.push(`  → check the cluster, then run \`heir ack --cluster ${j.cluster}\` before another failover`);
  }
  let blockedUntil: string | undefined;
  const last = input.state.lastAuto;
  if (input.trigger === 'auto' && last) {
    const at = Date.parse(last.at);
    const ackAt = input.state.acknowledged ? Date.parse(input.state.acknowledged.at) : NaN;
    const acked = Number.isFinite(ackAt) && ackAt >= at;
    const until = at + input.blockPeriodS * 1000;
    if (!acked && input.now < until) {
      blockedUntil = new Date(until).toISOString();
      reasons.push(
        `automatic failover blocked until ${blockedUntil}: an automatic failover (${last.id}, ${last.oldMaster} → ${last.newMaster ?? 'none'}, ${last.outcome}) ` +
          `happened at ${last.at}, within failover.block_period_s ${input.blockPeriodS}; ` +
          'run `heir ack` to allow automatic failovers again, or fail over by hand with `heir failover`',
      );
    }
  }
  return { allowed: reasons.length === 0, reasons, blockedUntil };
}

export function statePath(stateDir: string, cluster: string): string {
  return path.join(clusterDir(stateDir, cluster), 'failover-state.json');
}

export function readFailoverState(stateDir: string, cluster: string): FailoverState {
  try {
    return JSON.parse(fs.readFileSync(statePath(stateDir, cluster), 'utf8')) as FailoverState;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(
      `cannot read ${statePath(stateDir, cluster)}: ${(e as Error).message}; fix or remove the file (it records the last automatic failover)`,
    );
  }
}

/** Atomic replace: write a temporary file, fsync, rename, fsync the directory. */
export function writeFailoverState(stateDir: string, cluster: string, s: FailoverState): void {
  writeJsonAtomic(statePath(stateDir, cluster), s);
}

export function recordAutoFailover(stateDir: string, cluster: string, last: NonNullable<FailoverState['lastAuto']>): void {
  const s = readFailoverState(stateDir, cluster);
  writeFailoverState(stateDir, cluster, { ...s, lastAuto: last });
}

/** The facts and the decision, read from the state dir. */
export function checkFailoverGuard(stateDir: string, cluster: string, trigger: Trigger, blockPeriodS: number, now = Date.now()): GuardDecision {
  return mayStartFailover({
    trigger,
    unfinished: unfinishedJournals(stateDir, cluster),
    state: readFailoverState(stateDir, cluster),
    now,
    blockPeriodS,
  });
}

/** An automatic failover is on record and no `heir ack` came after it (pure). */
export function blockUnacknowledged(s: FailoverState): boolean {
  return !!s.lastAuto && (!s.acknowledged || Date.parse(s.acknowledged.at) < Date.parse(s.lastAuto.at));
}

/** `heir ack`: acknowledge unfinished journals and lift the anti-flapping block. */
export function acknowledge(stateDir: string, cluster: string, by: string): { journals: JournalSummary[]; hadBlock: boolean } {
  const journals = unfinishedJournals(stateDir, cluster);
  ackJournals(stateDir, cluster, by);
  const s = readFailoverState(stateDir, cluster);
  const hadBlock = blockUnacknowledged(s);
  writeFailoverState(stateDir, cluster, { ...s, acknowledged: { at: new Date().toISOString(), by } });
  return { journals, hadBlock };
}
