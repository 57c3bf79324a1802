/**
 * Planned switchover as a list of steps for the runner (runner.ts): move the master role to a
 * chosen replica with a short, measured write pause and no lost write.
 *
 *   lock         one operation per cluster: never next to a failover or another switchover
 *   prepare      a connection to every node, the topology, the facts the preflight needs
 *                (everything slow happens here, before writes stop)
 *   preflight    the pure checks (switchover-preflight.ts) and plan (switchover-plan.ts):
 *                a dry run or a refusal stops here, nothing changed
 *   catch-up     the target applies what the master has now, while writes still flow
 *   pause        super_read_only on the old master (MariaDB: read_only): writes stop; undone
 *                (old master writable again) when anything fails before the promotion
 *   kill         in the background, after --kill-after: the application's connections left
 *                on the old master
 *   final-gtid   what the old master has executed: the target must have exactly that
 *   wait-applied the target applies it (bounded); on timeout the pause is undone
 *   promote      the target becomes writable (MySQL: at once, nothing can reach it from the
 *                super_read_only old master; MariaDB stops replicating first). The point of
 *                no return; failed, the target replicates again and the old master writes
 *   probe-write  a write accepted on the new master ends the pause (measured)
 *   then, in the background and all at once (after the pause, so they do not lengthen it):
 *   detach       the new master forgets its old source
 *   repoint      the other replicas follow the new master; the old master too, once the new
 *                master no longer replicates from it (else they would point at each other)
 *   address      fence the old master, attach the new one, write through the floating address
 *   semi-sync    source side on the new master once its replicas are connected as semi-sync
 *                replicas (earlier, its first commits would wait for acks nobody can send)
 *
 * The steps act through SwitchoverIO (switchover-io.ts, by node name); a unit test gives them
 * an in-memory one. Journal end records inside the write pause wait until it ends.
 */
import type { ClusterConfig } from '../config/schema';
import { attachesBeforeFence } from '../eni';
import type { Flavor } from '../mysql/types';
import type { JournalSummary } from './journal';
import type { Step } from './runner';
import { preflight as runPreflight, type LockState, type SwitchoverFacts, type SwitchoverLimits } from './switchover-preflight';
import { planSwitchover, type StepName } from './switchover-plan';
import type { ClusterLockHandle } from './switchover-deps';
import type { MoveSummary } from './switchover-address';
import type { NodeRepoint, Outcome, ProgressEvent, SwitchoverReport } from './switchover-types';

/** What the steps do to the servers and the address, by node name. */
export interface SwitchoverIO {
  lockState(): Promise<LockState>;
  acquireLock(): Promise<ClusterLockHandle | { refused: string }>;
  prepare(lock: LockState): Promise<SwitchoverFacts>;
  /** The probe (heartbeat) table on the master, created when missing, before the pause. */
  ensureProbeTable(node: string): Promise<void>;
  /** MySQL gtid_executed, MariaDB gtid_binlog_pos. */
  finalPosition(node: string, flavor: Flavor): Promise<string>;
  waitApplied(node: string, position: string, timeoutS: number): Promise<boolean>;
  setReadOnly(node: string, on: boolean): Promise<void>;
  /** The rollback: the old master writable again (over its second connection when it has one). */
  makeWritable(node: string): Promise<void>;
  killApplicationConnections(node: string): Promise<{ killed: number[]; failed: string[] }>;
  promote(node: string, flavor: Flavor): Promise<void>;
  /** Promotion failed: `to` read-only and replicating from `from` again, `from` writable. */
  demote(to: string, from: string): Promise<void>;
  probeWrite(node: string): Promise<void>;
  /** Stop and reset replication. */
  detach(node: string): Promise<void>;
  repoint(names: string[], to: string, from: string, flavor: Flavor): Promise<NodeRepoint[]>;
  semiSyncSource(node: string): Promise<void>;
  fenceAddress(from: string, to: string): Promise<MoveSummary>;
  attachAddress(from: string, to: string): Promise<MoveSummary>;
  probeThroughAddress(address: string, node: string, timeoutS: number): Promise<void>;
  /** Resume checks: is the node writable; which node it replicates from (null: none). */
  isWritable(node: string): Promise<boolean>;
  sourceOf(node: string): Promise<string | null>;
}

export interface SwitchoverCtx {
  readonly cluster: ClusterConfig;
  readonly to: string;
  readonly requestedBy?: string;
  readonly dryRun: boolean;
  readonly timeoutS: number;
  readonly limits: SwitchoverLimits;
  readonly killAfterMs?: number;
  readonly testHooks?: { beforePause?: () => Promise<void>; beforeWait?: () => Promise<void> };
  readonly io: SwitchoverIO;
  readonly report: SwitchoverReport;
  /** performance.now(), or a fake clock. */
  now(): number;
  /** A progress event that is not a step's start or end. */
  info(e: Omit<ProgressEvent, 'atMs' | 'phase'>): void;
  /** Resuming an earlier run's journal: old master and flavor come from it, not from a preflight. */
  resumed?: boolean;
  // What the steps learn as they go.
  lockState?: LockState;
  lock?: ClusterLockHandle;
  from?: string;
  flavor: Flavor;
  /** Where the list stopped before writes paused: a dry run, or a refusal (preflight). */
  verdict?: 'dry-run' | 'refused';
  paused: boolean;
  pauseStart: number;
  finalGtid?: string;
  killed?: number[];
  repointed: { others: NodeRepoint[]; old: NodeRepoint[] };
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const round = (ms: number) => Math.round(ms * 10) / 10;
const from = (c: SwitchoverCtx) => c.from!;
const others = (c: SwitchoverCtx) => c.cluster.nodes.map((n) => n.name).filter((n) => n !== c.to && n !== c.from);
const floating = (c: SwitchoverCtx) => ('floating_ip' in c.cluster.address ? c.cluster.address.floating_ip : undefined);
const moved = (r: unknown) => `${(r as MoveSummary).action}: ${(r as MoveSummary).detail}`;
const repointDetail = (_c: SwitchoverCtx, rs: unknown) => (rs as NodeRepoint[]).map((r) => `${r.node} ${r.ok ? 'ok' : 'FAILED'} (${r.durationMs} ms)`).join(', ');

/** Ids of the steps whose stop the outcome below tells apart. */
export type SwitchoverStepId =
  | 'lock' | 'peek-lock' | 'prepare' | 'preflight' | 'probe-table' | 'catch-up' | 'before-pause' | 'pause' | 'kill-connections'
  | 'final-gtid' | 'before-wait' | 'wait-applied' | 'promote' | 'probe-write' | 'detach' | 'repoint-others' | 'repoint-old'
  | 'address-fence' | 'address-attach' | 'address-fence-after' | 'address-probe' | 'semi-sync';

type S = Step<SwitchoverCtx> & { id: SwitchoverStepId; name: StepName | 'preflight' | 'probe-table' | 'before-pause' | 'before-wait' };

/**
 * The address goes to the new master before it leaves the old one where the mover's kind allows
 * it (src/eni attachesBeforeFence: a HaVip). The old master has been super_read_only since the
 * pause, so a write reaching it meanwhile fails at once.
 */
const announceFirst = (c: SwitchoverCtx) => attachesBeforeFence(c.cluster.address.type);

/** Taking the address away from the old master, or giving it to the new one (the order: announceFirst). */
const moveAddress = (how: 'fence' | 'attach'): Pick<S, 'what' | 'run' | 'detail' | 'halts' | 'onError'> => ({
  what: (c) => (how === 'fence' ? `fence the address from ${from(c)}` : `attach the address to ${c.to}`),
  run: async (c) => {
    const r = await (how === 'fence' ? c.io.fenceAddress(from(c), c.to) : c.io.attachAddress(from(c), c.to));
    (c.report.address ??= { kind: c.cluster.address.type })[how] = r;
    if (!r.ok) c.report.errors.push(`address move: ${how}: ${r.detail}`);
    return r;
  },
  detail: (_c, r) => moved(r),
  halts: (_c, r) => !(r as MoveSummary).ok,
  onError: (c, e) => c.report.errors.push(`address move: ${errText(e)}`),
});

export function switchoverSteps(): S[] {
  return [
    {
      id: 'lock', name: 'lock', repeatable: true, when: (c) => !c.dryRun,
      what: (c) => `take the lock of ${c.cluster.name}`,
      run: async (c) => {
        const got = await c.io.acquireLock();
        if ('refused' in got) c.lockState = { free: false, holder: got.refused };
        else {
          c.lock = got;
          c.lockState = { free: true };
        }
        return got;
      },
      detail: (_c, g) => ('refused' in (g as object) ? `locked by ${(g as { refused: string }).refused}` : 'lock taken'),
    },
    {
      // A dry run only looks at the lock.
      id: 'peek-lock', name: 'lock', quiet: true, repeatable: true, when: (c) => c.dryRun,
      what: () => 'look at the lock',
      run: async (c) => (c.lockState = await c.io.lockState()),
    },
    {
      id: 'prepare', name: 'prepare', repeatable: true,
      what: () => 'connect to every node, read topology and preflight facts',
      run: async (c) => {
        const facts = await c.io.prepare(c.lockState ?? { free: true });
        const pre = runPreflight(facts, c.cluster, c.to, c.limits);
        c.report.preflight = pre;
        if (c.resumed) return facts;
        c.report.from = pre.master;
        c.from = pre.master;
        c.flavor = facts.topology.nodes.find((n) => n.name === pre.master)?.version?.flavor ?? facts.topology.nodes.find((n) => n.version)?.version?.flavor ?? 'mysql';
        return facts;
      },
      detail: (c, f) => `${(f as SwitchoverFacts).topology.nodes.filter((n) => n.reachable).length}/${c.cluster.nodes.length} nodes read`,
    },
    {
      // The checks' verdicts, then the plan: a dry run or a refusal stops the list here.
      id: 'preflight', name: 'preflight', quiet: true, repeatable: true,
      what: () => 'preflight',
      run: async (c) => {
        const pre = c.report.preflight!;
        for (const k of pre.checks) if (!k.ok) c.info({ step: 'prepare', node: k.node, detail: `${k.severity === 'block' ? 'refusal' : 'warning'}: ${k.id}: ${k.detail}` });
        if (pre.master) {
          c.report.plan = planSwitchover(pre, c.cluster, c.flavor, { timeoutS: c.timeoutS, killAfterMs: c.killAfterMs, heartbeatTable: c.cluster.detection.heartbeat_table });
        }
        c.verdict = c.dryRun ? 'dry-run' : !pre.ok || !pre.master ? 'refused' : undefined;
      },
      halts: (c) => c.verdict !== undefined,
      // Resumed: the earlier run judged the cluster before changing it.
      done: async (c) => !!c.resumed,
    },
    { id: 'probe-table', name: 'probe-table', quiet: true, repeatable: true, what: () => 'probe table', run: (c) => c.io.ensureProbeTable(from(c)) },
    {
      // While writes still flow: the in-pause wait is then only for the last moments.
      id: 'catch-up', name: 'catch-up', repeatable: true, node: (c) => c.to,
      what: (c) => `let ${c.to} catch up with ${from(c)} before writes stop`,
      run: async (c) => c.io.waitApplied(c.to, await c.io.finalPosition(from(c), c.flavor), c.timeoutS),
      detail: (c, ok) => (ok ? `${c.to} has what ${from(c)} had a moment ago` : `not within ${c.timeoutS}s`),
      halts: (_c, ok) => !ok,
      onError: (c, e) => c.report.errors.push(`catch-up: ${errText(e)}`),
    },
    { id: 'before-pause', name: 'before-pause', quiet: true, repeatable: true, when: (c) => !!c.testHooks?.beforePause, what: () => 'test hook', run: (c) => c.testHooks!.beforePause!() },
    {
      id: 'pause', name: 'pause', mutates: true, repeatable: true, holdJournal: 'begin', node: from,
      what: (c) => `${c.flavor === 'mysql' ? 'super_read_only' : 'read_only'} ON on ${from(c)}`,
      run: async (c) => {
        c.paused = true;
        c.pauseStart = c.now();
        await c.io.setReadOnly(from(c), true);
        c.report.writePause.readOnlyMs = round(c.now() - c.pauseStart);
      },
      done: async (c) => (c.paused = !(await c.io.isWritable(from(c)))),
      // The statement may have taken effect although it failed: undone either way.
      undoOnFailure: true,
      undo: {
        name: 'rollback', node: from,
        what: (c, failedHere) => `make ${from(c)} writable again${failedHere ? ' (in case read_only took effect)' : ''}`,
        run: (c) => c.io.makeWritable(from(c)),
        onError: (c, e) => c.report.errors.push(`rollback on ${from(c)}: ${errText(e)}`),
      },
    },
    {
      id: 'kill-connections', name: 'kill-connections', mutates: true, repeatable: true, background: true, optional: true, node: from,
      when: (c) => c.killAfterMs !== undefined, delayMs: (c) => c.killAfterMs,
      what: (c) => `kill application connections left on ${from(c)}`,
      run: async (c) => {
        const k = await c.io.killApplicationConnections(from(c));
        c.killed = k.killed;
        return k;
      },
      detail: (_c, v) => {
        const k = v as { killed: number[]; failed: string[] };
        return `killed ${k.killed.length}${k.failed.length ? `, could not kill ${k.failed.join('; ')}` : ''}`;
      },
    },
    {
      id: 'final-gtid', name: 'final-gtid', repeatable: true, node: from,
      what: (c) => `read ${from(c)}'s final GTID position`,
      run: async (c) => (c.report.finalGtid = c.finalGtid = await c.io.finalPosition(from(c), c.flavor)),
      detail: (_c, g) => (g as string) || '(empty)',
    },
    { id: 'before-wait', name: 'before-wait', quiet: true, repeatable: true, when: (c) => !!c.testHooks?.beforeWait, what: () => 'test hook', run: (c) => c.testHooks!.beforeWait!() },
    {
      id: 'wait-applied', name: 'wait-applied', repeatable: true, node: (c) => c.to,
      what: (c) => `wait up to ${c.timeoutS}s for ${c.to} to apply ${from(c)}'s final set`,
      run: async (c) => {
        const start = c.now();
        try {
          return await c.io.waitApplied(c.to, c.finalGtid!, c.timeoutS);
        } finally {
          c.report.writePause.applyWaitMs = round(c.now() - start);
        }
      },
      detail: (c, ok) => (ok ? `${c.to} has applied everything ${from(c)} executed` : `timed out after ${c.timeoutS}s`),
      halts: (_c, ok) => !ok,
    },
    {
      id: 'promote', name: 'promote', mutates: true, repeatable: true, pointOfNoReturn: true, node: (c) => c.to,
      what: (c) => (c.flavor === 'mysql' ? `read_only OFF on ${c.to}` : `stop replication on ${c.to}, read_only OFF`),
      run: (c) => c.io.promote(c.to, c.flavor),
      done: (c) => c.io.isWritable(c.to),
      undoOnFailure: true,
      undo: {
        name: 'rollback', node: (c) => c.to, covers: ['pause'],
        what: (c) => `${c.to} read-only and replicating from ${from(c)} again; ${from(c)} writable`,
        run: (c) => c.io.demote(c.to, from(c)),
        onError: (c, e) => c.report.errors.push(`rollback: ${errText(e)}`),
      },
    },
    {
      id: 'probe-write', name: 'probe-write', repeatable: true, optional: true, holdJournal: 'end', node: (c) => c.to,
      what: (c) => `write into ${c.cluster.detection.heartbeat_table} on ${c.to}`,
      run: async (c) => {
        await c.io.probeWrite(c.to);
        c.report.writePause.toNewMasterMs = round(c.now() - c.pauseStart);
      },
      onError: (c, e) => c.report.errors.push(`probe write on ${c.to}: ${errText(e)}`),
    },
    {
      id: 'detach', name: 'detach', mutates: true, repeatable: true, background: true, optional: true, node: (c) => c.to,
      what: (c) => `stop and reset replication on ${c.to}`,
      run: (c) => c.io.detach(c.to),
      done: async (c) => (await c.io.sourceOf(c.to)) === null,
      onError: (c, e) => c.report.errors.push(`detach ${c.to} from ${from(c)}: ${errText(e)}; run RESET REPLICA ALL (MariaDB: RESET SLAVE ALL) on ${c.to}, then point ${from(c)} at ${c.to}`),
    },
    {
      id: 'repoint-others', name: 'repoint', mutates: true, repeatable: true, background: true, optional: true,
      when: (c) => others(c).length > 0,
      what: (c) => `point ${others(c).join(', ')} at ${c.to}`,
      run: async (c) => (c.repointed.others = await c.io.repoint(others(c), c.to, from(c), c.flavor)),
      detail: repointDetail,
      done: async (c) => (await Promise.all(others(c).map((n) => c.io.sourceOf(n)))).every((s) => s === c.to),
    },
    {
      id: 'repoint-old', name: 'repoint', mutates: true, repeatable: true, background: true, optional: true, needs: ['detach'], node: from,
      what: (c) => `point ${from(c)} at ${c.to}`,
      run: async (c) => (c.repointed.old = await c.io.repoint([from(c)], c.to, from(c), c.flavor)),
      detail: repointDetail,
      done: async (c) => (await c.io.sourceOf(from(c))) === c.to,
    },
    {
      id: 'address-fence', name: 'address', mutates: true, repeatable: true, background: true, optional: true, node: from,
      when: (c) => c.cluster.address.type !== 'none' && !announceFirst(c),
      ...moveAddress('fence'),
    },
    {
      id: 'address-attach', name: 'address', mutates: true, repeatable: true, background: true, optional: true, node: (c) => c.to,
      needs: (c) => (announceFirst(c) ? [] : ['address-fence']),
      ...moveAddress('attach'),
    },
    {
      id: 'address-fence-after', name: 'address', mutates: true, repeatable: true, background: true, optional: true, node: from,
      when: (c) => c.cluster.address.type !== 'none' && announceFirst(c), needs: ['address-attach'],
      ...moveAddress('fence'),
    },
    {
      id: 'address-probe', name: 'address-probe', repeatable: true, background: true, optional: true, needs: ['address-attach'], node: (c) => c.to,
      when: (c) => floating(c) !== undefined,
      what: (c) => `write through ${floating(c)}`,
      run: async (c) => {
        await c.io.probeThroughAddress(floating(c)!, c.to, Math.max(10, c.timeoutS));
        c.report.writePause.toAddressMs = round(c.now() - c.pauseStart);
      },
      onError: (c, e) => c.report.errors.push(`write through ${floating(c)}: ${errText(e)}`),
    },
    {
      id: 'semi-sync', name: 'semi-sync', mutates: true, repeatable: true, optional: true, node: (c) => c.to,
      when: (c) => c.cluster.failover.semi_sync, after: ['repoint-others', 'repoint-old', 'address-fence', 'address-attach', 'address-fence-after', 'address-probe'],
      what: (c) => `semi-sync source on ${c.to}`,
      run: (c) => c.io.semiSyncSource(c.to),
      onError: (c, e) => c.report.errors.push(`semi-sync on ${c.to}: ${errText(e)}; writes are replicated asynchronously until it is enabled`),
    },
  ];
}

/** The journal's begin record: what a resumed run needs to know without a preflight. */
export function journalDetail(c: SwitchoverCtx): Record<string, unknown> {
  return { to: c.to, requestedBy: c.requestedBy, from: c.from, flavor: c.flavor };
}

/** A resumed run: what the journal's begin record says (old master, flavor) instead of a fresh preflight. */
export function restoreFromJournal(c: SwitchoverCtx, j: JournalSummary): void {
  if (typeof j.detail.from === 'string') c.from = c.report.from = j.detail.from;
  if (j.detail.flavor === 'mysql' || j.detail.flavor === 'mariadb') c.flavor = j.detail.flavor;
  c.resumed = c.from !== undefined;
}

export interface Verdict {
  outcome: Outcome;
  summary: string;
  next?: string;
}

/** The outcome when the list stopped at `at` (undone: whether every undo that ran succeeded). */
export function stoppedVerdict(c: SwitchoverCtx, at: string, error: unknown, undoOk: boolean): Verdict {
  const to = c.to;
  const f = c.from ?? '?';
  const pre = c.report.preflight;
  switch (at) {
    case 'preflight':
      if (c.verdict === 'dry-run') {
        return { outcome: 'dry-run', summary: pre!.ok ? `dry run: ${f} → ${to} would go ahead; nothing changed` : `dry run: switchover to ${to} would be refused: ${pre!.refusals.map((r) => r.id).join(', ')}; nothing changed` };
      }
      return {
        outcome: 'refused',
        summary: `switchover of ${c.cluster.name} to ${to} refused: ${pre!.refusals.map((r) => `${r.node ? `${r.node} ` : ''}${r.id}`).join(', ')}`,
        next: pre!.refusals.map((r) => r.fix).filter(Boolean).join('; '),
      };
    case 'catch-up':
      return { outcome: 'refused', summary: `${to} did not catch up with ${f} within ${c.timeoutS}s before the pause; nothing changed`, next: `check replication on ${to} (lag, errors, locks) and run again, or raise --timeout` };
    case 'pause':
      return { outcome: 'rolled-back', summary: `could not stop writes on ${f}: ${errText(error)}; ${f} is writable again, nothing else changed`, next: `look for long transactions or locks on ${f} (SHOW PROCESSLIST), then run again` };
    case 'final-gtid':
    case 'before-wait':
      return { outcome: 'rolled-back', summary: `could not read ${f}'s final GTID position: ${errText(error)}; ${f} is writable again`, next: `check ${f} and run again` };
    case 'wait-applied': {
      const why = error ? `failed: ${errText(error)}` : `did not apply ${f}'s final set within ${c.timeoutS}s`;
      return { outcome: 'rolled-back', summary: `${to} ${why}; ${f} is the writable master again and nothing else changed`, next: `check replication on ${to} (SHOW REPLICA STATUS: errors, lag, locks) and run again, or raise --timeout` };
    }
    case 'promote':
      c.report.errors.push(`promote ${to}: ${errText(error)}`);
      return undoOk
        ? { outcome: 'rolled-back', summary: `promoting ${to} failed (${errText(error)}); ${to} replicates from ${f} again and ${f} is writable`, next: `fix ${to} and run again` }
        : { outcome: 'failed', summary: `promoting ${to} failed (${errText(error)}) and the rollback did not complete; check both servers`, next: `decide which of ${f} and ${to} is master; run \`heir check\`` };
    default:
      return unexpectedVerdict(c, error);
  }
}

/** An error no step handled: say whether anything had changed by then. */
export function unexpectedVerdict(c: SwitchoverCtx, e: unknown): Verdict {
  c.report.errors.push(errText(e));
  if (!c.paused) {
    return { outcome: 'aborted', summary: `switchover of ${c.cluster.name} to ${c.to} stopped before writes were paused: ${errText(e)}; nothing changed`, next: 'fix the cause named above and run again' };
  }
  return { outcome: 'failed', summary: `switchover of ${c.cluster.name} to ${c.to} failed after writes were paused: ${errText(e)}`, next: 'run `heir check` to see which node is writable and which replicate, then fix by hand' };
}

/** The list ran to its end: the new master takes writes; what went wrong after the pause. */
export function switchedVerdict(c: SwitchoverCtx): Verdict {
  const r = c.report;
  r.address ??= { kind: c.cluster.address.type };
  r.repointed = [...c.repointed.others, ...c.repointed.old];
  if (c.killed) r.killedConnections = c.killed;
  for (const x of r.repointed) if (!x.ok) r.errors.push(`repoint ${x.node}: ${x.detail}`);
  const f = c.from!;
  const pause = r.writePause.toNewMasterMs !== null ? `write pause ${r.writePause.toNewMasterMs} ms` : 'write pause not measured';
  if (r.errors.length === 0) return { outcome: 'switched', summary: `${c.to} is the master of ${c.cluster.name} (was ${f}); ${pause}` };
  return {
    outcome: 'switched-with-errors',
    summary: `${c.to} is the master of ${c.cluster.name} (was ${f}); ${pause}; ${r.errors.length} problem(s): ${r.errors.join('; ')}`,
    next: 'fix the nodes named above (`heir check` lists what is wrong); the new master is taking writes',
  };
}
