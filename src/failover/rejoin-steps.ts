/**
 * Rejoin as a list of steps for the runner (runner.ts): a returning node (an old master, or any
 * node a failover left out) becomes a read-only replica of the current master, only when it has
 * no transaction the master lacks.
 *
 *   lock       one operation per cluster (not for a dry run); held by another: refused, and
 *              that may pass by itself (transient)
 *   decide     read the topology; rejoin-plan.ts (pure) finds the master and judges the node.
 *              Refused: the transactions the master lacks are written to a file for a person
 *              (not by a dry run) and the list stops, nothing changed. A dry run stops here
 *   read-only  the node takes no writes, whatever happens next; it stays so on any failure
 *   source     stop replication, follow the master with GTID auto-positioning (MariaDB:
 *              current_pos, since a former master's own writes are in gtid_binlog_pos); MySQL
 *              without GTIDs: at the master's binlog position where the newest failover
 *              promoted it, when the node applied exactly what the master took (rejoin-plan.ts)
 *   semi-sync  replica side, with failover.semi_sync
 *   start      start replication; undone (replication stopped) when it or the verify fails
 *   verify     both threads run within 30 s (MariaDB's "not in the master's binlog": the node
 *              diverged after all)
 *
 * decide and verify change nothing and are journaled all the same: a refusal, and a node that
 * did not replicate, are in the journal. The steps act through RejoinIO by node name
 * (rejoin-io.ts); a unit test gives them an in-memory one.
 */
import type { ClusterConfig } from '../config/schema';
import { asCoords } from '../mysql/coords';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import type { JournalSummary } from './journal';
import type { RunResult, Step } from './runner';
import type { JournalWriter } from './store';
import { needsFileAnchor, planRejoin, type FileAnchor, type RejoinPlan } from './rejoin-plan';
import type { RepointPosition } from './steps';

/** The cluster lock, held: the journal begins with the first journaled step (decide). */
export interface RejoinLock {
  openJournal(detail: Record<string, unknown>): Promise<JournalWriter>;
  release(): Promise<void>;
}

/** What the steps do to the servers, by node name. */
export interface RejoinIO {
  /** The cluster lock, or who holds it (people's words). */
  acquireLock(): Promise<RejoinLock | { refused: string }>;
  readTopology(): Promise<TopologySnapshot>;
  /** Write the node's transactions the master lacks for a person (GTIDs, decoded where it can); returns the file. */
  writeExtra(node: NodeSnapshot, master: NodeSnapshot, extra: string): Promise<string>;
  setReadOnly(node: string): Promise<void>;
  /** The newest failover's anchor for a file/position node (rejoin-plan.ts), or why there is none. */
  fileAnchor(): Promise<FileAnchor | string>;
  /** Stop replication on `node` and make it follow `master` from `position`. */
  pointAt(node: string, master: string, position: RepointPosition): Promise<void>;
  semiSyncReplica(node: string): Promise<void>;
  startReplica(node: string): Promise<void>;
  stopReplica(node: string): Promise<void>;
  /** Both threads running within timeoutS, or throws with what the replica says. */
  verifyReplicating(node: string, timeoutS: number): Promise<void>;
  /** Resume checks: is the node read-only; which node it replicates from (null: none). */
  isReadOnly(node: string): Promise<boolean>;
  sourceOf(node: string): Promise<string | null>;
}

export interface RejoinCtx {
  readonly cluster: ClusterConfig;
  readonly node: string;
  readonly trigger: 'manual' | 'auto';
  readonly by?: string;
  readonly dryRun: boolean;
  /** Refuse (transient) unless the master found is this node. */
  readonly expectMaster?: string;
  /** Judge on this topology instead of reading it. */
  readonly snapshot?: TopologySnapshot;
  /** Bound of the verify step (s). */
  readonly verifyS: number;
  readonly io: RejoinIO;
  // What the steps learn as they go.
  lock?: RejoinLock;
  /** Who holds the lock, when it was refused. */
  lockHeld?: string;
  plan?: RejoinPlan;
  master?: string;
  /** Where a resumed run's decide step said the node resumes. */
  position?: RepointPosition;
  /** Where the transactions the master lacks were written (refused). */
  file?: string;
  /** What was done, in people's words (the result's steps). */
  steps: string[];
  /** The undo of start failed: why. */
  stopError?: string;
}

/** The decision said no: nothing changed. */
export class RejoinRefused extends Error {}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const master = (c: RejoinCtx) => c.master!;
const position = (c: RejoinCtx): RepointPosition => (c.plan?.allowed ? c.plan.position : c.position) ?? { kind: 'gtid' };
const node = (c: RejoinCtx) => c.node;

export type RejoinStepId = 'lock' | 'decide' | 'read-only' | 'source' | 'semi-sync' | 'start' | 'verify';

type S = Step<RejoinCtx> & { id: RejoinStepId };

export function rejoinSteps(): S[] {
  return [
    {
      id: 'lock', name: 'lock', repeatable: true, when: (c) => !c.dryRun,
      what: (c) => `take the lock of ${c.cluster.name}`,
      run: async (c) => {
        const got = await c.io.acquireLock();
        if ('refused' in got) c.lockHeld = got.refused;
        else c.lock = got;
      },
      detail: (c) => (c.lockHeld !== undefined ? `refused: ${c.lockHeld}` : 'lock taken'),
      halts: (c) => c.lockHeld !== undefined,
    },
    {
      id: 'decide', name: 'decide', journal: true, repeatable: true, node,
      what: (c) => `read the topology: may ${c.node} follow the master?`,
      run: async (c) => {
        const snap = c.snapshot ?? (await c.io.readTopology());
        const anchor = needsFileAnchor(snap, c.node) ? await c.io.fileAnchor() : undefined;
        const p = (c.plan = planRejoin(snap, c.node, c.expectMaster, anchor));
        if (p.master) c.master = p.master;
        if (p.allowed) return;
        if (p.extra && !c.dryRun) {
          const n = snap.nodes.find((x) => x.name === c.node)!;
          const m = snap.nodes.find((x) => x.name === p.master)!;
          c.file = await c.io.writeExtra(n, m, p.extra);
        }
        throw new RejoinRefused(`${p.summary}${c.file ? `; written to ${c.file}` : ''}`);
      },
      detail: (c) => `${c.node} has nothing ${master(c)} lacks`,
      data: (c) => ({ master: master(c), position: position(c) }),
      // A dry run only decides.
      halts: (c) => c.dryRun,
    },
    {
      // First: whatever happens next, the node takes no writes.
      id: 'read-only', name: 'read-only', mutates: true, repeatable: true, node,
      what: (c) => `make ${c.node} read-only`,
      run: async (c) => {
        await c.io.setReadOnly(c.node);
        c.steps.push('read-only');
      },
      detail: (c) => `${c.node} read-only`,
      done: (c) => c.io.isReadOnly(c.node),
    },
    {
      id: 'source', name: 'source', mutates: true, repeatable: true, node,
      what: (c) => `point ${c.node} at ${master(c)}`,
      run: async (c) => {
        await c.io.pointAt(c.node, master(c), position(c));
        c.steps.push(`source ${master(c)}`);
      },
      detail: (c) => {
        const m = c.cluster.nodes.find((n) => n.name === master(c))!;
        const p = position(c);
        return `source ${m.name} (${m.host}:${m.port}), ${p.kind === 'gtid' ? 'GTID auto-positioning' : `at ${p.file}:${p.pos}`}`;
      },
      done: async (c) => (await c.io.sourceOf(c.node)) === master(c),
    },
    {
      id: 'semi-sync', name: 'semi-sync', mutates: true, repeatable: true, node, when: (c) => c.cluster.failover.semi_sync,
      what: (c) => `semi-sync replica on ${c.node}`,
      run: async (c) => {
        await c.io.semiSyncReplica(c.node);
        c.steps.push('semi-sync replica');
      },
      detail: () => 'semi-sync replica',
    },
    {
      id: 'start', name: 'start', mutates: true, repeatable: true, node,
      what: (c) => `start replication on ${c.node}`,
      run: (c) => c.io.startReplica(c.node),
      detail: () => 'replication started',
      // START REPLICA may have started a thread although it failed.
      undoOnFailure: true,
      undo: {
        name: 'stop', node,
        what: (c) => `stop replication on ${c.node}; it stays read-only`,
        run: (c) => c.io.stopReplica(c.node),
        onError: (c, e) => (c.stopError = errText(e)),
      },
    },
    {
      id: 'verify', name: 'verify', journal: true, repeatable: true, node,
      what: (c) => `wait up to ${c.verifyS}s for both replication threads of ${c.node}`,
      run: async (c) => {
        await c.io.verifyReplicating(c.node, c.verifyS);
        c.steps.push('replicating');
      },
      detail: () => 'both threads running',
    },
  ];
}

/** The journal's begin record. */
export function journalDetail(c: RejoinCtx): Record<string, unknown> {
  return { node: c.node, trigger: c.trigger, ...(c.by ? { by: c.by } : {}) };
}

/** A resumed run: the master the earlier run decided on (its decide step's record), when it got that far. */
export function restoreFromJournal(c: RejoinCtx, j: JournalSummary): void {
  const d = j.steps.find((s) => s.step === 'decide' && s.outcome === 'ok');
  if (typeof d?.data?.master === 'string') c.master = d.data.master;
  const p = d?.data?.position as RepointPosition | undefined;
  if (p?.kind === 'gtid') c.position = p;
  else if (p?.kind === 'file') {
    const at = asCoords(p);
    if (at) c.position = { kind: 'file', ...at };
  }
}

export interface RejoinVerdict {
  outcome: 'rejoined' | 'refused' | 'failed' | 'dry-run';
  summary: string;
  /** Refused for a reason that may pass by itself. */
  transient?: boolean;
  /** A step failed in a way no outcome above describes: the caller throws it once the run is recorded. */
  error?: unknown;
}

/** The outcome of a run of rejoinSteps(). */
export function rejoinVerdict(c: RejoinCtx, r: RunResult): RejoinVerdict {
  if (r.ok) return { outcome: 'rejoined', summary: `${c.node} is a read-only replica of ${master(c)}, both threads running` };
  if (r.at === 'lock' && r.why === 'halted') return { outcome: 'refused', summary: c.lockHeld!, transient: true };
  if (r.at === 'decide' && r.error instanceof RejoinRefused) {
    return { outcome: 'refused', summary: r.error.message, ...(c.plan && !c.plan.allowed && c.plan.transient ? { transient: true } : {}) };
  }
  if (r.at === 'decide' && r.why === 'halted') {
    return { outcome: 'dry-run', summary: `${c.node} has nothing the master ${master(c)} lacks: it can rejoin as a read-only replica` };
  }
  const stopped = r.undone.includes('start') ? 'replication stopped' : r.undoFailed.includes('start') ? `stopping replication failed too (${c.stopError})` : '';
  if (r.at === 'verify' && r.why === 'failed') {
    return { outcome: 'failed', summary: `${c.node} did not replicate from ${master(c)}: ${errText(r.error)}; ${stopped ? `${stopped}, ` : ''}it stays read-only` };
  }
  if (r.why === 'failed') return { outcome: 'failed', summary: `${c.node}: ${errText(r.error)}`, error: r.error };
  // Interrupted, or a journal that could not be resumed.
  return { outcome: 'failed', summary: `${c.node}: ${errText(r.error)}${stopped ? `; ${stopped}` : ''}` };
}
