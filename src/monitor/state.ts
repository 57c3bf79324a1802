/**
 * The per-cluster detection state machine (pure).
 *
 *   Healthy --failed ping--> Suspect --corroboration--> verdict --ok pings--> Healthy
 *
 * Corroboration starts with the first failed ping; the state machine only decides which
 * verdicts become events:
 * - the first failed ping moves Healthy to Suspect (an event, but not an alert);
 * - a verdict that says "alive but not well" (AliveWithErrors, UnreachableMaster,
 *   MasterOverloaded, CommitsBlocked) must hold for `confirmRounds` consecutive rounds
 *   before it is reported, so one odd ping on a healthy master never alerts;
 * - a dead verdict is reported at once (the corroboration is its confirmation), and again
 *   whenever its failover permission changes;
 * - after a reported verdict, `recoverAfterOk` consecutive good pings return to Healthy.
 */
import type { Verdict, VerdictKind } from './types';

export interface MachineParams {
  /** Consecutive rounds an alive-but-not-well verdict must hold before it is reported. */
  confirmRounds: number;
  /** Consecutive good pings before a reported verdict returns to Healthy. */
  recoverAfterOk: number;
}

export const DEFAULT_MACHINE_PARAMS: MachineParams = { confirmRounds: 2, recoverAfterOk: 2 };

const NEEDS_ROUNDS: readonly VerdictKind[] = ['AliveWithErrors', 'UnreachableMaster', 'MasterOverloaded', 'CommitsBlocked'];

export interface MachineState {
  /** The state last reported. */
  state: VerdictKind;
  failoverAllowed: boolean;
  /** When the reported state began. */
  since: number;
  /** Consecutive rounds with a Healthy verdict. */
  okStreak: number;
  /** The kind seen in the latest rounds, and for how many consecutive rounds. */
  streakKind: VerdictKind | null;
  streak: number;
  /** Round (ping) number of the last verdict fed: several analyses within one round count once. */
  round: number;
}

export interface StateChange {
  from: VerdictKind;
  to: VerdictKind;
  at: number;
  failoverAllowed: boolean;
  /** Worth an alert (webhooks): not for Suspect, nor for Suspect → Healthy. */
  alert: boolean;
  verdict: Verdict;
}

export function initialState(now: number): MachineState {
  return { state: 'Healthy', failoverAllowed: false, since: now, okStreak: 0, streakKind: null, streak: 0, round: -1 };
}

/**
 * Feed a verdict; returns the new state and the change to report, if any.
 * `round` numbers the pings: analyses repeated within one round (as corroboration
 * arrives) count as one round for the streaks. Without it, every call is a round.
 */
export function step(
  s: MachineState,
  v: Verdict,
  p: MachineParams = DEFAULT_MACHINE_PARAMS,
  round?: number,
): { state: MachineState; change: StateChange | null } {
  const r = round ?? s.round + 1;
  const newRound = r !== s.round;
  const streak = v.kind === s.streakKind ? s.streak + (newRound ? 1 : 0) : 1;
  const next: MachineState = { ...s, streakKind: v.kind, streak, round: r };
  const change = (to: VerdictKind, alert: boolean): { state: MachineState; change: StateChange } => ({
    state: { ...next, state: to, failoverAllowed: v.failoverAllowed && to === v.kind, since: v.at },
    change: { from: s.state, to, at: v.at, failoverAllowed: v.failoverAllowed && to === v.kind, alert, verdict: v },
  });

  if (v.kind === 'Healthy') {
    next.okStreak = s.okStreak + (newRound || s.okStreak === 0 ? 1 : 0);
    if (s.state === 'Healthy') return { state: next, change: null };
    if (s.state === 'Suspect') return change('Healthy', false);
    if (next.okStreak >= p.recoverAfterOk) return change('Healthy', true);
    return { state: next, change: null };
  }

  next.okStreak = 0;
  let target: VerdictKind = v.kind;
  if (NEEDS_ROUNDS.includes(v.kind) && streak < p.confirmRounds && s.state !== v.kind) {
    // Not yet: hold in Suspect (entering it if we were Healthy).
    target = 'Suspect';
  }
  // A reported verdict is not withdrawn for a round whose evidence is merely incomplete.
  if (target === 'Suspect' && s.state !== 'Healthy') return { state: next, change: null };
  if (target === s.state && v.failoverAllowed === s.failoverAllowed) {
    return { state: next, change: null };
  }
  return change(target, target !== 'Suspect');
}
