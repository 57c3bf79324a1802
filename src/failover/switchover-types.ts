/**
 * The shapes a switchover shows the world: its options, progress events, step records and
 * report (the CLI prints them, the daemon's API, web page and webhooks carry them).
 */
import type { FailoverStore } from './store';
import type { GlobalSettings } from '../config/schema';
import type { Logger } from '../util/log';
import type { Preflight } from './switchover-preflight';
import type { StepName, SwitchoverPlan } from './switchover-plan';
import type { SwitchoverDeps } from './switchover-deps';
import type { HookRun } from './hooks';
import type { MoveSummary } from './switchover-address';

export type { MoveSummary } from './switchover-address';

export interface SwitchoverOptions {
  /** Node to promote. */
  to: string;
  /** Print plan and preflight only; change nothing (the lock is only looked at). */
  dryRun?: boolean;
  /** Promote a `promotion: never` node anyway. */
  force?: boolean;
  /** Bounded wait for the target to apply the old master's final GTID set (s). Default 10. */
  timeoutS?: number;
  maxLagS?: number;
  maxTransactionS?: number;
  /** After the pause starts, kill the application connections left on the old master after this many ms. */
  killAfterMs?: number;
  /** Who asks (CLI user@host, API token name): goes into the lock and the report. */
  requestedBy?: string;
  global?: GlobalSettings;
  log?: Logger;
  /** Called for each step as it starts and ends (terminal progress, daemon events). */
  onProgress?: (e: ProgressEvent) => void;
  /** Given, the post_switchover hook's run is handed over instead of awaited (see FailoverRequest.postHook). */
  postHook?: (done: Promise<void>) => void;
  /** Where the lock and the journal live (default: state_dir on local disk; etcd under heir.ha). */
  store?: FailoverStore;
  /** Replace the outside world (lock, mover, topology reader); defaults are the real ones. */
  deps?: Partial<SwitchoverDeps>;
  /**
   * Faults at exact moments, for tests; never set in production. beforePause:
   * after the catch-up, right before writes stop. beforeWait: inside the pause,
   * after the final GTID set is read, before waiting for it.
   */
  testHooks?: { beforePause?: () => Promise<void>; beforeWait?: () => Promise<void> };
}

/**
 * switched: done. switched-with-errors: the new master takes writes, something after
 * the pause failed (see errors). refused: a check said no; nothing changed.
 * aborted: an error before writes stopped; nothing changed. rolled-back: writes
 * stopped, then the old master was made writable again. failed: the cluster may be
 * half changed (see errors and next). dry-run: nothing was meant to change.
 */
export type Outcome = 'switched' | 'switched-with-errors' | 'refused' | 'aborted' | 'rolled-back' | 'failed' | 'dry-run';

export interface ProgressEvent {
  step: StepName;
  phase: 'start' | 'done' | 'failed' | 'info';
  /** ms since the switchover started. */
  atMs: number;
  durationMs?: number;
  node?: string;
  detail: string;
}

export interface StepRecord {
  step: StepName;
  node?: string;
  ok: boolean;
  /** ms since the switchover started. */
  startMs: number;
  durationMs: number;
  detail: string;
}

export interface NodeRepoint {
  node: string;
  ok: boolean;
  durationMs: number;
  detail: string;
}

export interface SwitchoverReport {
  kind: 'switchover';
  /** Operation id (also the journal's): UTC time and a little randomness. */
  id: string;
  cluster: string;
  outcome: Outcome;
  from?: string;
  to: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  requestedBy?: string;
  /** One line for people. */
  summary: string;
  preflight?: Preflight;
  plan?: SwitchoverPlan;
  steps: StepRecord[];
  /** The old master's executed set when writes stopped (MySQL gtid_executed, MariaDB gtid_binlog_pos). */
  finalGtid?: string;
  writePause: {
    /** From the read_only statement on the old master to the first write accepted on the new one. */
    toNewMasterMs: number | null;
    /** From the same start to the first write accepted through the floating address (when there is one). */
    toAddressMs: number | null;
    /** read_only statement on the old master until it returned. */
    readOnlyMs: number | null;
    /** The target's wait for the final set. */
    applyWaitMs: number | null;
  };
  repointed: NodeRepoint[];
  address?: { kind: string; fence?: MoveSummary; attach?: MoveSummary };
  killedConnections?: number[];
  errors: string[];
  /** What the operator should do now, when anything went wrong. */
  next?: string;
  /** The step journal, when a step changed the cluster. */
  journal?: string;
  /** Where the report was saved (state_dir/<cluster>/reports/switchover-<id>.json); not for dry runs. */
  reportPath?: string;
  /** What could not be kept of the report itself (its file, its record in etcd under heir.ha). */
  warnings?: string[];
  /** The post_switchover hook's run, once it ran. */
  hooks?: HookRun[];
}

export class SwitchoverError extends Error {
  constructor(message: string, readonly report: SwitchoverReport) {
    super(message);
  }
}

