/**
 * The outside world of a switchover, behind one narrow interface: topology
 * reader, connections, the cluster lock (lock.ts, on the operation's store: state_dir, or etcd under heir.ha), the
 * address mover and the probe writes. ConnectedIO (switchover-io.ts) calls
 * these; the defaults are the real ones, a test may replace any.
 */
import type { ClusterConfig, GlobalSettings, NodeConfig } from '../config/schema';
import type { TopologySnapshot } from '../mysql/types';
import { Conn, connOptions } from '../mysql/conn';
import { readTopology } from '../mysql/inspect';
import type { Logger } from '../util/log';
import type { AddressCheck, LockState } from './switchover-preflight';
import { ensureProbeTable, probeWrite } from './switchover-probe';
import { operationLockState, takeOperationLock } from './lock';
import { LocalDiskStore, type FailoverStore, type JournalWriter } from './store';
import type { SavedReport } from './report-index';
import { addressMover, type MoveSummary } from './switchover-address';

/** The cluster lock, held: the journal begins with the first step that changes the cluster. */
export interface ClusterLockHandle {
  /** Open the operation's journal (crash safety); called once, at the first step that changes the cluster. */
  openJournal(detail: Record<string, unknown>): Promise<JournalWriter>;
  /** Keep the final report (state_dir/<cluster>/reports; under heir.ha also the index in etcd): never rejects. */
  saveReport(report: { cluster: string; id: string; reportPath?: string }): Promise<SavedReport>;
  release(): Promise<void>;
}

export interface SwitchoverDeps {
  readTopology(cluster: ClusterConfig): Promise<TopologySnapshot>;
  openConn(cluster: ClusterConfig, node: NodeConfig): Promise<Conn>;
  lockState(): Promise<LockState>;
  acquireLock(req: { operation: 'switchover'; id: string; target: string; requestedBy?: string }): Promise<ClusterLockHandle | { refused: string }>;
  addressPreflight(): Promise<{ kind: string; checks: AddressCheck[] }>;
  fenceAddress(ctx: { oldMaster: NodeConfig; newMaster: NodeConfig }): Promise<MoveSummary>;
  attachAddress(ctx: { oldMaster: NodeConfig; newMaster: NodeConfig }): Promise<MoveSummary>;
  /** Create the probe (heartbeat) table on the master when missing, before the pause. */
  ensureProbeTable(c: Conn): Promise<void>;
  /** One write on the new master; resolves when it is acknowledged. */
  probeWrite(c: Conn, node: NodeConfig): Promise<void>;
  /** Write through the floating address until it lands on `node` (bounded). */
  probeThroughAddress(address: string, node: NodeConfig, timeoutS: number): Promise<void>;
  /**
   * Runs before each step that changes the cluster, before anything of it happens (manager
   * high availability: the fenced check that this manager still leads). Throwing fails the step.
   */
  beforeMutation?(what: string): Promise<void>;
}

export function defaultDeps(cluster: ClusterConfig, global: GlobalSettings | undefined, log: Logger, given?: FailoverStore): SwitchoverDeps {
  const table = cluster.detection.heartbeat_table;
  const mover = addressMover(cluster, global, log);
  const stateDir = global?.state_dir ?? '/var/lib/heir';
  const store = given ?? new LocalDiskStore(stateDir);
  return {
    readTopology: (c) => readTopology(c),
    openConn: (c, n) => Conn.open(connOptions(c, n)),
    lockState: () => operationLockState(store, cluster.name),
    acquireLock: async (req) => {
      const got = await takeOperationLock(store, cluster.name, 'switchover', `to ${req.target}${req.requestedBy ? ` by ${req.requestedBy}` : ''}`);
      if ('refused' in got) return got;
      if (got.tookOverFrom) log.warn({ previous: got.tookOverFrom }, 'took over a stale cluster lock');
      return {
        openJournal: (detail) => store.beginJournal(cluster.name, 'switchover', detail, req.id),
        saveReport: (r) => store.saveReport(cluster.name, 'switchover', r.id, r),
        release: () => got.release(),
      };
    },
    addressPreflight: () => mover.preflight(),
    fenceAddress: (ctx) => mover.fence(ctx),
    attachAddress: (ctx) => mover.attach(ctx),
    ensureProbeTable: (c) => ensureProbeTable(c, table),
    probeWrite: (c) => probeWrite(c, table),
    probeThroughAddress: async (address, node, timeoutS) => {
      const deadline = Date.now() + timeoutS * 1000;
      let last: unknown;
      while (Date.now() < deadline) {
        let c: Conn | undefined;
        try {
          c = await Conn.open({ ...connOptions(cluster, node, { timeoutMs: 1000 }), name: `${address} (address)`, host: address });
          await probeWrite(c, table);
          return;
        } catch (e) {
          last = e;
          await new Promise((r) => setTimeout(r, 20));
        } finally {
          c?.destroy();
        }
      }
      throw new Error(`no write accepted through ${address} within ${timeoutS}s: ${(last as Error)?.message ?? 'no attempt'}`);
    },
  };
}
