/**
 * The failover plan as plain data: what the planner decided and why, and the
 * ordered steps the executor carries out. Shared by the CLI (dry run), the
 * daemon (reports, webhooks) and switchover (which reuses the promote, repoint
 * and address steps).
 */
import type { PromotionRule } from '../config/schema';
import type { PositionMode } from './positions';

/** Where a candidate stands after the rules were applied. */
export type CandidateVerdict =
  /** Chosen to become the new master. */
  | 'winner'
  /** Could have been chosen; another one ranked higher. */
  | 'eligible'
  /** Stopped by a gate (lag, SQL error, binlog off, version, errant GTIDs, ...). */
  | 'gated'
  /** promotion: never. */
  | 'never'
  /** Could not be read. */
  | 'unreachable';

export interface Candidate {
  name: string;
  promotion: PromotionRule;
  verdict: CandidateVerdict;
  /** Why it stands where it stands, e.g. "gate: lag 412s > max_lag_s 300". */
  reasons: string[];
  /** Things the operator should know that did not stop it (errant GTIDs with errant_gtids: warn, ...). */
  warnings: string[];
  /** Received position (executed ∪ relay log), in the plan's mode. */
  received: string;
  /** Executed (applied) position. */
  executed: string;
  /** Seconds behind its source as last seen, null when unknown. */
  lagS: number | null;
  /** What it lacks compared with everything the survivors received ('' when level). */
  lacks: string;
  /** Can serve its transactions to others from its binlog (catch-up source). */
  canServe: boolean;
  /** Errant GTIDs found ('' when none or not checked). */
  errant: string;
  /** Rank in the sorter's order among reachable survivors (1 = best), null when unreachable. */
  rank: number | null;
}

/** A catch-up the winner needs: replicate from `from` until it has `until`. */
export interface CatchUp {
  from: string;
  /** What this source brings that the winner lacks (text). */
  brings: string;
  /** Position to wait for on the winner (the source's position, as the server understands it). */
  until: string;
}

export type StepName =
  | 'freeze'
  | 'fence'
  | 'fence-address'
  | 'fence-kill'
  | 'salvage-fetch'
  | 'reread'
  | 'drain'
  | 'catch-up'
  | 'level-up'
  | 'promote'
  | 'salvage-apply'
  | 'repoint'
  | 'verify'
  | 'attach';

export interface PlannedStep {
  name: StepName;
  /** Why this step exists, for the person on call. */
  why: string;
  /** Parameters, as data (node names, timeouts, positions). */
  params: Record<string, unknown>;
}

export interface Plan {
  cluster: string;
  deadMaster: string;
  mode: PositionMode;
  /** ms since epoch of the snapshot the plan was computed from. */
  snapshotAt: number;
  winner: string | null;
  /** When there is no winner: why, each reason naming the node or rule. */
  noWinnerReasons: string[];
  /** Every node except the dead master, best first (unreachable ones last). */
  candidates: Candidate[];
  /** The survivor that received the most ("intermediate source"), null when none reachable. */
  mostAdvanced: string | null;
  /** Everything the reachable survivors received together. */
  target: string;
  /** Pairs of survivors whose positions are incomparable, with what each lacks. */
  incomparable: { a: string; b: string; aLacks: string; bLacks: string }[];
  /** Catch-ups the winner needs, in order. */
  catchUp: CatchUp[];
  /** Transactions some survivor received that the winner cannot obtain, and why. */
  unobtainable: { node: string; transactions: string; why: string }[];
  /** Survivors that will be repointed to the winner. */
  repoint: string[];
  /**
   * File/position: those of `repoint` that read less of the dead master's binlog than
   * the winner. They resume in the winner's binlog where the transactions they lack
   * begin (found from the winner's relay log before it is promoted), not at its end.
   */
  levelUp: string[];
  /** Survivors that will not be repointed, with the reason. */
  leftOut: { node: string; why: string }[];
  warnings: string[];
  steps: PlannedStep[];
}
