/**
 * Failover as a list of steps for the runner (runner.ts): make the most advanced survivor the
 * master once the old one is dead, lose nothing it can still reach, move the address last.
 *
 *   fence-address  (at the verdict, automatic failovers) the address leaves the old master in
 *                  the background while the topology is read; given back if it proves alive
 *   plan           read every node and elect (plan.ts, pure); a master that answers, a dry
 *                  run, no candidate stop here
 *   pre_failover   the hook, with the plan; with abort_on_failure a failure stops here
 *   (journal)      begun here (at the verdict: before the address fence), so that a crash
 *                  from here on leaves it for the rerun
 *   fence          the old master read-only where it answers
 *   fence-address  (otherwise) the address leaves the old master, in the background
 *   freeze         every IO thread stops: positions stop moving. Undone (the one undo before
 *                  the promotion): replication restarted, a winner pointed at a catch-up
 *                  source pointed back; the fences stay
 *   salvage-fetch  the dead master's binlogs copied over SSH, in the background
 *   reread         the survivors read again, elected again on the final positions; a survivor
 *                  that received more since the verdict means the master lives: stop
 *   fence-kill     (background) a hung old master's mysqld killed over SSH; promote waits
 *   drain          the winner and catch-up sources apply their relay logs (a stuck winner is
 *                  dropped and the next elected)
 *   level-up       file/position survivors behind the winner located in its binlog
 *   catch-up       the winner fetches what others received and it lacks, one source per step
 *                  (a new election when a source cannot serve: its own catch-ups follow)
 *   promote        the winner writable: the point of no return
 *   then the survivors in the background (repoint, verify), beside what the address waits for:
 *   salvage-apply  the dead master's transactions nobody received, applied on the new master
 *                  (with semi-sync, once one survivor is repointed to acknowledge)
 *   attach         the address on the new master, last
 *
 * After the promotion nothing stops the list: each later step's failure is recorded and the
 * rest runs. The steps act through FailoverCtx (execute.ts); a unit test gives them a fake.
 */
import type { Step, StepApi } from './runner';

/** What the failover steps do, and the facts that decide which of them run. */
export interface FailoverCtx {
  /** Nodes in the cluster: bounds the catch-ups one failover can need. */
  readonly nodeCount: number;
  /** An automatic failover on a dead verdict: the address leaves at once, before the plan. */
  readonly fenceAtVerdict: boolean;
  /** The old master proved alive: undoing gives the address back. */
  readonly addressBack: boolean;
  /** Binlogs are fetched from the dead master's host (decided by decideSalvage). */
  readonly salvageWanted: boolean;
  /** failover.semi_sync with survivors to repoint: salvage and attach wait for one of them. */
  readonly waitsForReplica: boolean;
  /** What a step does (the planner's why), for the narration. */
  why(step: string): string;
  /** Journaled with a step's start. */
  params(step: string): Record<string, unknown>;
  /** Read every node and elect: 'stop' when the failover ends here (a master that answers, a dry run, no candidate). */
  elect(): Promise<'go' | 'stop'>;
  preFailoverHook(): Promise<'go' | 'stop'>;
  /** The journal begun (before the first step that acts: a crash from there on leaves it for the rerun). */
  beginJournal(): Promise<unknown>;
  notePlannedWinner(): Promise<void>;
  fence(api: StepApi): Promise<void>;
  fenceAddress(api: StepApi): Promise<unknown>;
  freeze(api: StepApi): Promise<void>;
  /** Whether the binlogs are fetched (salvageWanted), and why not when they are not. */
  decideSalvage(): void;
  salvageFetch(api: StepApi): Promise<unknown>;
  reread(api: StepApi): Promise<void>;
  fenceKillWanted(): boolean;
  fenceKill(api: StepApi): Promise<void>;
  drain(api: StepApi): Promise<void>;
  levelUpWanted(): boolean;
  levelUp(api: StepApi): Promise<void>;
  /** A catch-up is still to do (the next source, after any new election). */
  catchUpPending(): boolean;
  catchUp(api: StepApi): Promise<void>;
  promote(api: StepApi): Promise<void>;
  startLateFence(): void;
  repointWanted(): boolean;
  repoint(api: StepApi): Promise<void>;
  verify(api: StepApi): Promise<void>;
  /** Resolves once one survivor is repointed, or the repoint ended. */
  firstRepointed(): Promise<void>;
  salvageApply(api: StepApi): Promise<void>;
  attach(api: StepApi): Promise<void>;
  /** Before the promotion: replication restarted where the freeze stopped it, a catch-up's winner pointed back. */
  undoReplication(): Promise<void>;
  giveAddressBack(api: StepApi): Promise<void>;
}

type S = Step<FailoverCtx>;

/** Every narrated failover step is journaled (and asked of beforeMutation): a rerun reads them. */
const step = (id: string, name: string, o: Partial<S> & Pick<S, 'run'>): S => ({
  id,
  name,
  mutates: true,
  repeatable: false,
  what: (c) => c.why(name),
  detail: () => '',
  params: (c) => c.params(id),
  ...o,
});

/** A decision or a read inside the story: no record, no journal, no boundary. */
const quiet = (id: string, o: Partial<S> & Pick<S, 'run'>): S => ({ id, name: id, quiet: true, boundary: false, repeatable: true, what: () => id, ...o });

/** The master proved alive: the address goes back to it (a record named like the attach). */
const giveBack: S['undo'] = {
  name: 'attach',
  when: (c) => c.addressBack,
  what: () => 'the address back on the old master (it is alive)',
  run: (c, api) => c.giveAddressBack(api),
};

export function failoverSteps(nodeCount: number): S[] {
  const catchUps: S[] = [];
  // One slot per catch-up a failover can need: each source once per election, an election per source that cannot serve.
  for (let i = 1; i <= Math.max(1, nodeCount * nodeCount); i++) {
    catchUps.push(step(`catch-up-${i}`, 'catch-up', { when: (c) => c.catchUpPending(), params: (c) => c.params('catch-up'), run: (c, api) => c.catchUp(api) }));
  }
  return [
    quiet('journal-at-verdict', { when: (c) => c.fenceAtVerdict, run: (c) => c.beginJournal() }),
    step('fence-address-early', 'fence-address', { background: true, optional: true, when: (c) => c.fenceAtVerdict, params: (c) => c.params('fence-address'), run: (c, api) => c.fenceAddress(api), undo: giveBack }),
    quiet('plan', { run: (c) => c.elect(), halts: (_c, v) => v !== 'go' }),
    quiet('pre-failover-hook', { run: (c) => c.preFailoverHook(), halts: (_c, v) => v !== 'go' }),
    quiet('planned-winner', { when: (c) => c.fenceAtVerdict, run: (c) => c.notePlannedWinner() }),
    quiet('journal', { when: (c) => !c.fenceAtVerdict, run: (c) => c.beginJournal() }),
    step('fence', 'fence', { run: (c, api) => c.fence(api) }),
    step('fence-address', 'fence-address', { background: true, optional: true, when: (c) => !c.fenceAtVerdict, run: (c, api) => c.fenceAddress(api), undo: giveBack }),
    step('freeze', 'freeze', {
      run: (c, api) => c.freeze(api),
      undoOnFailure: true,
      undo: { name: 'undo', quiet: true, what: () => 'replication restarted where the freeze stopped it', run: (c) => c.undoReplication() },
    }),
    quiet('salvage-plan', { run: async (c) => c.decideSalvage() }),
    step('salvage-fetch', 'salvage-fetch', { background: true, optional: true, when: (c) => c.salvageWanted, run: (c, api) => c.salvageFetch(api) }),
    step('reread', 'reread', { run: (c, api) => c.reread(api) }),
    step('fence-kill', 'fence-kill', { background: true, optional: true, when: (c) => c.fenceKillWanted(), run: (c, api) => c.fenceKill(api) }),
    step('drain', 'drain', { run: (c, api) => c.drain(api) }),
    step('level-up', 'level-up', { when: (c) => c.levelUpWanted(), run: (c, api) => c.levelUp(api) }),
    ...catchUps,
    step('promote', 'promote', { pointOfNoReturn: true, after: ['fence-kill'], run: (c, api) => c.promote(api) }),
    quiet('late-fence', { run: async (c) => c.startLateFence() }),
    // The address waits only for what it needs: a writable master with the salvage applied.
    // Repointing and verifying the other survivors run alongside (a survivor's STOP REPLICA
    // may take as long as apply_timeout_s).
    step('repoint', 'repoint', { background: true, optional: true, when: (c) => c.repointWanted(), run: (c, api) => c.repoint(api) }),
    step('verify', 'verify', { background: true, optional: true, after: ['repoint'], when: (c) => c.repointWanted(), run: (c, api) => c.verify(api) }),
    // With semi-sync, commits need a replica to acknowledge them.
    quiet('one-repointed', { when: (c) => c.waitsForReplica, run: (c) => c.firstRepointed() }),
    step('salvage-apply', 'salvage-apply', { optional: true, when: (c) => c.salvageWanted, run: (c, api) => c.salvageApply(api) }),
    step('attach', 'attach', { optional: true, run: (c, api) => c.attach(api) }),
  ];
}
