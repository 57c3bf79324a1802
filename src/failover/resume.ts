/**
 * May a restarted daemon finish a failover that an earlier process left unfinished (killed,
 * host rebooted, OOM) without waiting for `heir ack`? Pure: the journal and what the daemon
 * sees now go in, a decision with its reason comes out.
 *
 * A rerun of the failover is what finishes it: it keeps the node the journal promoted (or
 * began to promote) and does the remaining steps, and without a promotion it plans afresh
 * from the servers. That is safe when a second run cannot apply anything twice and the
 * cluster is still in the situation the first run acted on:
 *
 *  - the operation is an automatic failover of this daemon (a switchover or a rejoin cut
 *    short left a live master in an unknown state, and a failover an operator started is
 *    the operator's to finish);
 *  - it is the only unfinished journal, and automatic failover is on;
 *  - the dead master still does not answer (one that is back may have taken writes since:
 *    two masters are a person's decision);
 *  - GTID modes: every step repeats safely (what a node has applied is in its GTID
 *    position, and the salvage and catch-up apply only what is missing from it).
 *    File/position: a salvage apply journals where the winner's binlog stood before its
 *    client committed anything, and the rerun skips the transactions counted since (one
 *    from a heir that did not journal it needs a person); a catch-up that had started before
 *    any promotion left the winner pointed at another replica's binlog: a person looks.
 */
import type { JournalSummary } from './journal';
import { promotedIn, promotionStarted } from './journal';
import type { EarlierPromotion } from './plan';
import type { PositionMode } from './positions';

export interface ResumeFacts {
  /** failover.auto of the cluster. */
  auto: boolean;
  /** The dead master named by the journal answers now (or refuses heir with an error that proves it running). */
  deadMasterAnswers: boolean;
  /** The position mode the survivors are in now, when the journal does not record it. */
  currentMode: PositionMode | null;
  /**
   * heir.ha: why this manager may not act on the cluster now (another leads, its lease is
   * unconfirmed); absent when it may, and always without heir.ha. Which manager began the
   * journal does not matter: the journal is in etcd, and whoever leads finishes it.
   */
  notLeading?: string;
}

export type ResumeDecision =
  | { resume: true; deadMaster: string; promoted: string | null; why: string }
  /** leftToLeader: a rerun would be safe, but not by this manager now (heir.ha): nothing to alert about. */
  | { resume: false; why: string; leftToLeader?: true };

/** Steps that moved data in file/position mode and cannot be repeated blindly. */
function unsafeInFileMode(j: JournalSummary, promoted: boolean): string | null {
  const started = (name: string) => j.steps.find((s) => s.step === name && s.outcome !== 'skipped');
  const apply = started('salvage-apply');
  // A salvage apply journaled with its mode also journals, before its client commits
  // anything, where the winner's binlog stood: the rerun counts from there what was applied
  // and skips it. One journaled without (an older heir) cannot be counted.
  if (apply && apply.params?.mode === undefined) {
    return `its salvage-apply step ${apply.outcome === 'running' ? 'was in flight' : `had run (${apply.outcome})`} and did not journal where the winner's binlog stood: in file/position mode a rerun could apply the salvaged transactions a second time`;
  }
  const cu = started('catch-up');
  if (cu && !promoted) {
    return `its catch-up step ${cu.outcome === 'running' ? 'was in flight' : `had run (${cu.outcome})`} before any promotion: in file/position mode the winner may replicate from another replica's binlog now`;
  }
  return null;
}

export function decideResume(unfinished: JournalSummary[], facts: ResumeFacts): ResumeDecision {
  if (unfinished.length === 0) return { resume: false, why: 'nothing is unfinished' };
  if (unfinished.length > 1) {
    return { resume: false, why: `${unfinished.length} operations are unfinished (${unfinished.map((j) => `${j.operation} ${j.id}`).join(', ')}): a person looks first` };
  }
  const j = unfinished[0]!;
  if (j.operation !== 'failover') {
    return { resume: false, why: `the interrupted operation is a ${j.operation}: its master was alive, and what it did is a person's to check` };
  }
  if (j.detail.trigger !== 'auto') {
    return { resume: false, why: `failover ${j.id} was started by an operator (${String(j.detail.trigger ?? 'unknown')} trigger): the operator finishes it` };
  }
  if (!facts.auto) return { resume: false, why: 'failover.auto is off for this cluster' };
  const deadMaster = typeof j.detail.deadMaster === 'string' ? j.detail.deadMaster : '';
  if (!deadMaster) return { resume: false, why: `failover ${j.id}'s journal names no dead master` };
  if (facts.deadMasterAnswers) {
    return { resume: false, why: `its dead master ${deadMaster} answers again: it may have taken writes since, and which master to keep is a person's decision` };
  }
  const done = promotedIn(j);
  const half = done ? undefined : promotionStarted(j);
  const promoted = done?.node ?? half?.node ?? null;
  const freeze = j.steps.find((s) => s.step === 'freeze');
  const journaled = freeze?.params?.mode;
  const mode = (typeof journaled === 'string' ? journaled : facts.currentMode) as PositionMode | null;
  if (mode === null) return { resume: false, why: 'the position mode (GTID or file/position) is not known: the survivors could not be read' };
  if (mode === 'file') {
    const unsafe = unsafeInFileMode(j, !!done);
    if (unsafe) return { resume: false, why: unsafe };
  }
  const running = j.steps.filter((s) => s.outcome === 'running').map((s) => s.step);
  const where = running.length ? `step${running.length > 1 ? 's' : ''} ${running.join(', ')} ${running.length > 1 ? 'were' : 'was'} in flight` : `its last step was ${j.steps.at(-1)?.step ?? 'none'}`;
  const what = promoted
    ? `the rerun keeps ${promoted}, which it ${done ? 'promoted' : 'had begun to promote'}, and does the remaining steps`
    : 'nothing was promoted: the rerun plans afresh from the servers';
  if (facts.notLeading) return { resume: false, leftToLeader: true, why: `a rerun would be safe, but this manager may not act on the cluster (${facts.notLeading}): the leader finishes it` };
  return { resume: true, deadMaster, promoted, why: `${where} (${mode}); ${what}` };
}

/** The unfinished runs of the failover of `deadMaster` since the last failover that ended, newest first (`self`: the running one's id, left out). */
function unfinishedRuns(past: JournalSummary[], deadMaster: string, self: string): JournalSummary[] {
  const chain: JournalSummary[] = [];
  for (const j of [...past].reverse()) {
    if (j.operation !== 'failover' || j.id === self) continue;
    if (j.end) break; // the last failover finished: nothing half done
    if (j.detail.deadMaster !== deadMaster) continue;
    chain.push(j);
  }
  return chain;
}

/**
 * The promotion an earlier run of this failover (same dead master, acknowledged after it
 * stopped midway) journaled: a rerun keeps that master and, in file/position mode, repoints
 * the others at the coordinates where it became the master, not at today's. Pure, from the
 * cluster's journals oldest first.
 */
export function earlierPromotion(past: JournalSummary[], deadMaster: string, self: string): EarlierPromotion | undefined {
  const chain = unfinishedRuns(past, deadMaster, self);
  let earlier: EarlierPromotion | undefined;
  for (const j of chain) {
    const d = promotedIn(j) as EarlierPromotion | undefined;
    if (d) {
      earlier = { ...d };
      break;
    }
    // heir died inside that run's promote: its node may be half promoted (reset, maybe
    // writable). It stays the winner; what the step recorded before dying comes along.
    const started = promotionStarted(j) as EarlierPromotion | undefined;
    if (started) {
      earlier = { ...started, unfinished: true };
      break;
    }
  }
  // What their salvage applies did: the newest says how it ended; the oldest where the
  // winner's binlog stood before any of them applied anything.
  const applies = chain.flatMap((j) => j.steps.filter((s) => s.step === 'salvage-apply').reverse());
  if (earlier && applies.length) {
    const since = [...applies].reverse().map((s) => s.data?.winnerBinlog as { file: string; pos: number } | undefined).find((x) => x?.file);
    earlier.salvage = { outcome: applies[0]!.outcome, ...(since ? { since } : {}), ...(applies[0]!.detail ? { detail: applies[0]!.detail } : {}) };
  }
  return earlier;
}

/** The nodes the drains of earlier unfinished runs of this failover dropped, newest run first: which run, which node, why. */
export function earlierDrops(past: JournalSummary[], deadMaster: string, self: string): { journal: string; node: string; why: string }[] {
  const out: { journal: string; node: string; why: string }[] = [];
  for (const j of unfinishedRuns(past, deadMaster, self)) {
    for (const s of j.steps) {
      if (s.step !== 'drain') continue;
      const dropped = (s.data?.dropped ?? {}) as Record<string, string>;
      for (const [node, why] of Object.entries(dropped)) out.push({ journal: j.id, node, why });
    }
  }
  return out;
}
