/**
 * May a returning node (an old master, or any node a failover left out) follow the current
 * master? Pure: a topology snapshot goes in, a verdict with its reasons comes out. The rejoin's
 * steps (rejoin-steps.ts) act on it.
 *
 * A node may follow only when it has no transaction the master lacks: replicating on top of
 * such transactions would hide them (MySQL: its gtid_executed less the master's; MariaDB: its
 * own server's GTIDs the master's binlog state does not have). Without GTIDs (MySQL) heir
 * cannot tell, and refuses.
 */
import type { ClusterConfig } from '../config/schema';
import { GtidSet } from '../mysql/gtid';
import { errantGtids } from '../mysql/inspect';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { writableMasters } from './discover';

export interface RejoinDecision {
  allowed: boolean;
  /** Transactions the node has and the master lacks ('' when none). */
  extra: string;
  reasons: string[];
}

/** May `node` follow `master`? */
export function rejoinDecision(node: NodeSnapshot, master: NodeSnapshot): RejoinDecision {
  const reasons: string[] = [];
  if (!node.reachable) reasons.push(`${node.name} does not answer: start it first`);
  if (!master.reachable) reasons.push(`the master ${master.name} does not answer`);
  if (node.version && master.version && node.version.flavor !== master.version.flavor) {
    reasons.push(`${node.name} is ${node.version.flavor}, the master ${master.version.flavor}`);
  }
  if (reasons.length) return { allowed: false, extra: '', reasons };
  const flavor = node.version?.flavor;
  if (flavor === 'mysql' && (node.gtidMode !== 'ON' || master.gtidMode !== 'ON')) {
    return { allowed: false, extra: '', reasons: ['GTID mode is off: heir rejoins only GTID clusters; repoint this node by hand'] };
  }
  let extra: string;
  if (flavor === 'mysql') {
    extra = GtidSet.parse(node.executedGtid ?? '').subtract(GtidSet.parse(master.executedGtid ?? '')).toString();
  } else {
    extra = errantGtids(node, master);
  }
  if (extra) {
    reasons.push(
      `${node.name} has transactions the master ${master.name} lacks: ${extra}. ` +
        'They were committed on it and never reached the survivors (not salvaged). Replicating on top of them would hide them; ' +
        'a person must decide: apply them to the master, or discard them and rebuild the node',
    );
  }
  return { allowed: reasons.length === 0, extra, reasons };
}

/** A request that is refused before anything is read: no such node, or it is the master. */
export function checkRejoinRequest(cluster: ClusterConfig, node: string, expectMaster?: string): string | undefined {
  if (!cluster.nodes.some((n) => n.name === node)) {
    return `cluster ${cluster.name} has no node ${node} (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`;
  }
  if (expectMaster === node) return `${node} is the master: it follows no one`;
  return undefined;
}

export type RejoinPlan =
  | { allowed: true; master: string; extra: '' }
  | {
      allowed: false;
      /** The master found, when there is one. */
      master: string | null;
      /** Transactions the node has and the master lacks ('' when none). */
      extra: string;
      summary: string;
      /** A reason that may pass by itself (no single master yet, the expected one not yet, a side that does not answer). */
      transient: boolean;
    };

/**
 * Whom `node` follows, and whether it may: the one writable node that replicates from no one
 * among the others (`expectMaster`, the daemon's master, when given), then rejoinDecision.
 */
export function planRejoin(snap: TopologySnapshot, node: string, expectMaster?: string): RejoinPlan {
  const masters = writableMasters(snap, [node]);
  if (masters.length !== 1) {
    return {
      allowed: false,
      master: null,
      extra: '',
      transient: true,
      summary:
        masters.length === 0
          ? `no writable master found among the other nodes (a writable node that replicates from no one); nothing for ${node} to follow`
          : `more than one writable master: ${masters.map((m) => m.name).join(', ')}; resolve that first`,
    };
  }
  const master = masters[0]!;
  if (expectMaster && master.name !== expectMaster) {
    return { allowed: false, master: master.name, extra: '', transient: true, summary: `the writable master is ${master.name}, not ${expectMaster}; ${node} is left as it is` };
  }
  const n = snap.nodes.find((x) => x.name === node);
  if (!n) return { allowed: false, master: master.name, extra: '', transient: true, summary: `${node} is not in the topology read` };
  const d = rejoinDecision(n, master);
  if (d.allowed) return { allowed: true, master: master.name, extra: '' };
  return { allowed: false, master: master.name, extra: d.extra, summary: d.reasons.join('; '), transient: !n.reachable || !master.reachable };
}
