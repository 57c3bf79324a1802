/**
 * May a returning node (an old master, or any node a failover left out) follow the current
 * master? Pure: a topology snapshot goes in, a verdict with its reasons comes out. The rejoin's
 * steps (rejoin-steps.ts) act on it.
 *
 * A node may follow only when it has no transaction the master lacks: replicating on top of
 * such transactions would hide them (MySQL: its gtid_executed less the master's; MariaDB: its
 * own server's GTIDs the master's binlog state does not have).
 *
 * Without GTIDs (MySQL) nothing in the node says which of its transactions the master has,
 * except in one case heir can check exactly: the newest operation was a failover that promoted
 * this master, the node still replicates from that failover's dead master, and it has applied
 * exactly as much of the dead master's binlog as the new master took (the promote step's
 * fromDead). It then resumes where the new master's binlog stood at promotion (the promote
 * step's binlog): what the new master wrote since, salvage included, follows there. A node that
 * failover located behind the new master by what it had received (level-up) but left out (its
 * SQL thread had stopped on an error) resumes at the located position once its applier stands
 * where the level-up counted from. Any other file/position node is refused with why; a node
 * still applying towards that point is transient.
 */
import type { ClusterConfig } from '../config/schema';
import { asCoords, compareCoords, formatCoords } from '../mysql/coords';
import { GtidSet } from '../mysql/gtid';
import { errantGtids } from '../mysql/inspect';
import type { BinlogCoordinates, NodeSnapshot, ReplicationChannel, TopologySnapshot } from '../mysql/types';
import { writableMasters } from './discover';
import { withinLacking } from './levelup';
import { channelFrom } from './positions';
import type { RepointPosition } from './steps';

export interface RejoinDecision {
  allowed: boolean;
  /** Transactions the node has and the master lacks ('' when none). */
  extra: string;
  reasons: string[];
  /** Where it resumes: GTID auto-positioning, or (file/position) the master's binlog at promotion. */
  position?: RepointPosition;
  /** Refused for now: it is still applying towards the point where it may resume. */
  applying?: boolean;
}

/** Where the newest failover left its new master, read from its report: the file/position rejoin's anchor. */
export interface FileAnchor {
  /** The failover's report id. */
  report: string;
  newMaster: string;
  deadMaster: { name: string; host: string; port: number };
  /** How far the new master took the dead master's binlog. */
  fromDead: BinlogCoordinates;
  /** The new master's binlog position when it became writable. */
  binlog: BinlogCoordinates;
  /**
   * Survivors behind the new master that the failover located (level-up) by what they had
   * received: where each resumes in the new master's binlog, and where its applied
   * coordinates in the dead master's binlog must then stand (at or after `from`, before `before`).
   */
  levelAt?: Record<string, { at: BinlogCoordinates; from: BinlogCoordinates; before?: BinlogCoordinates; received?: BinlogCoordinates }>;
}

/**
 * The anchor in the newest report of a cluster's failovers and switchovers (`newest`), or why
 * there is none. Only a failover with a new master and a promote step that recorded both
 * coordinates anchors anything; a switchover since moved the master on from it.
 */
export function fileAnchorOf(newest: Record<string, unknown> | undefined, cluster: ClusterConfig): FileAnchor | string {
  if (!newest) return 'no failover report found';
  const id = typeof newest.id === 'string' ? newest.id : '?';
  if (typeof newest.deadMaster !== 'string' || !Array.isArray(newest.steps)) return `the newest operation (${id}) is not a failover`;
  if (typeof newest.newMaster !== 'string') return `the newest failover (${id}) promoted no one`;
  const dead = cluster.nodes.find((n) => n.name === newest.deadMaster);
  if (!dead) return `the newest failover's (${id}) dead master ${newest.deadMaster} is not in the cluster's configuration`;
  const promote = (newest.steps as { name?: unknown; outcome?: unknown; data?: Record<string, unknown> }[]).find((s) => s.name === 'promote' && s.outcome === 'ok');
  const fromDead = asCoords(promote?.data?.fromDead);
  const binlog = asCoords(promote?.data?.binlog);
  if (!fromDead || !binlog) return `the newest failover's (${id}) report does not record where ${newest.newMaster} stood in ${dead.name}'s binlog and its own at promotion`;
  const levelAt: NonNullable<FileAnchor['levelAt']> = {};
  for (const [n, v] of Object.entries((promote?.data?.levelAt ?? {}) as Record<string, Record<string, unknown>>)) {
    const at = asCoords(v?.at);
    const from = asCoords(v?.from);
    const before = asCoords(v?.before);
    const received = asCoords(v?.received);
    if (at && from && received) levelAt[n] = { at, from, ...(before ? { before } : {}), received };
  }
  return {
    report: id,
    newMaster: newest.newMaster,
    deadMaster: { name: dead.name, host: dead.host, port: dead.port },
    fromDead,
    binlog,
    ...(Object.keys(levelAt).length ? { levelAt } : {}),
  };
}

/** A refusal, with why. */
function no(why: string, more: Partial<RejoinDecision> = {}): RejoinDecision {
  return { allowed: false, extra: '', reasons: [why], ...more };
}

/** Refused while its SQL thread stands on an error: to fix first, then `where` it resumes. */
function sqlErrorRefusal(node: NodeSnapshot, ch: ReplicationChannel, where: string): RejoinDecision | undefined {
  return ch.lastSqlErrno ? no(`${node.name}'s SQL thread stopped on error ${ch.lastSqlErrno} (${ch.lastSqlError}): fix it and START REPLICA; ${where}`) : undefined;
}

/** Refused while its relay log is not applied yet: stopped (START REPLICA), or still applying (transient). */
function notAppliedYet(node: NodeSnapshot, ch: ReplicationChannel, applied: string, where: string): RejoinDecision {
  if (!ch.sqlRunning) return no(`${node.name}'s SQL thread is stopped at ${applied}: START REPLICA so that it applies its relay log; ${where}`);
  return no(`${node.name} is still applying its relay log (at ${applied}); ${where}`, { applying: true });
}

/**
 * File/position: may `node` resume in `master`'s binlog where the newest failover (`anchor`)
 * promoted it? Only when it applied exactly what the master took of the dead master's binlog.
 */
export function fileRejoin(node: NodeSnapshot, master: NodeSnapshot, anchor: FileAnchor | string | undefined): RejoinDecision {
  const byHand = 'repoint it by hand or rebuild it from the master';
  if (anchor === undefined || typeof anchor === 'string') {
    return no(`GTID mode is off and ${anchor ?? 'no failover report was read'}: nothing places ${node.name} in ${master.name}'s binlog; ${byHand}`);
  }
  const a = anchor;
  if (a.newMaster !== master.name) return no(`GTID mode is off and the newest failover (${a.report}) promoted ${a.newMaster}, not ${master.name}: nothing places ${node.name} in ${master.name}'s binlog; ${byHand}`);
  if (node.name === a.deadMaster.name) {
    return no(`GTID mode is off and ${node.name} is the master failover ${a.report} replaced: nothing in it says which of its transactions ${master.name} took; rebuild it from the master`);
  }
  const ch = channelFrom(node, a.deadMaster);
  if (!ch) return no(`GTID mode is off and ${node.name} does not replicate from ${a.deadMaster.name}, the master failover ${a.report} replaced: nothing places it in ${master.name}'s binlog; ${byHand}`);
  const lp = a.levelAt?.[node.name];
  if (lp) return locatedRejoin(node, master, a, ch, lp);
  const target = formatCoords(a.fromDead);
  const where = `${master.name} resumes it at ${formatCoords(a.binlog)} once it has applied ${a.deadMaster.name}'s binlog to ${target}, as ${master.name} had when promoted`;
  const error = sqlErrorRefusal(node, ch, where);
  if (error) return error;
  if (!ch.exec) return no(`${node.name} shows no applied coordinates in ${a.deadMaster.name}'s binlog; ${byHand}`);
  const applied = formatCoords(ch.exec);
  const c = compareCoords(ch.exec, a.fromDead);
  if (c > 0) {
    return no(
      `${node.name} applied ${a.deadMaster.name}'s binlog to ${applied}, beyond ${target} that ${master.name} took: it has transactions the master lacks; ` +
        'a person must decide: apply them to the master, or rebuild the node',
    );
  }
  if (c < 0) {
    if (ch.read && compareCoords(ch.read, a.fromDead) < 0) {
      return no(`${node.name} read ${a.deadMaster.name}'s binlog only to ${formatCoords(ch.read)}, short of ${target} that ${master.name} took: nothing places it in ${master.name}'s binlog; rebuild it from the master`);
    }
    return notAppliedYet(node, ch, applied, where);
  }
  return { allowed: true, extra: '', reasons: [], position: { kind: 'file', file: a.binlog.file, pos: a.binlog.pos } };
}

/**
 * A node the failover located behind its new master by what it had received (level-up), left
 * out then (its SQL thread had stopped on an error): it resumes at the located position once
 * its applier, having applied its relay log, stands where the level-up counted from.
 */
function locatedRejoin(
  node: NodeSnapshot,
  master: NodeSnapshot,
  a: FileAnchor,
  ch: ReplicationChannel,
  lp: NonNullable<FileAnchor['levelAt']>[string],
): RejoinDecision {
  const window = `at or after ${formatCoords(lp.from)}${lp.before ? ` and before ${formatCoords(lp.before)}` : ''}`;
  const where = `${master.name} resumes it at ${formatCoords(lp.at)} (failover ${a.report} located it there) once it has applied its relay log, which leaves it ${window} of ${a.deadMaster.name}'s binlog`;
  const error = sqlErrorRefusal(node, ch, where);
  if (error) return error;
  if (!ch.exec || !ch.read) return no(`${node.name} shows no applied or received coordinates in ${a.deadMaster.name}'s binlog; repoint it by hand or rebuild it from the master`);
  if (lp.received && compareCoords(ch.read, lp.received) !== 0) {
    return no(
      `${node.name} has read ${a.deadMaster.name}'s binlog to ${formatCoords(ch.read)}, not ${formatCoords(lp.received)} as when failover ${a.report} located it: ` +
        'that position no longer holds; repoint it by hand or rebuild it from the master',
    );
  }
  if (withinLacking(ch.exec, lp)) return { allowed: true, extra: '', reasons: [], position: { kind: 'file', file: lp.at.file, pos: lp.at.pos } };
  const applied = formatCoords(ch.exec);
  if (lp.before && compareCoords(ch.exec, lp.before) >= 0) {
    return no(`${node.name} applied ${a.deadMaster.name}'s binlog to ${applied}, beyond where failover ${a.report} located it (${window}): a person must decide: repoint it by hand or rebuild it`);
  }
  return notAppliedYet(node, ch, applied, where);
}

/** May `node` follow `master`? `anchor`: the newest failover's, for a file/position node. */
export function rejoinDecision(node: NodeSnapshot, master: NodeSnapshot, anchor?: FileAnchor | string): RejoinDecision {
  const reasons: string[] = [];
  if (!node.reachable) reasons.push(`${node.name} does not answer: start it first`);
  if (!master.reachable) reasons.push(`the master ${master.name} does not answer`);
  if (node.version && master.version && node.version.flavor !== master.version.flavor) {
    reasons.push(`${node.name} is ${node.version.flavor}, the master ${master.version.flavor}`);
  }
  if (reasons.length) return { allowed: false, extra: '', reasons };
  const flavor = node.version?.flavor;
  if (flavor === 'mysql' && (node.gtidMode !== 'ON' || master.gtidMode !== 'ON')) return fileRejoin(node, master, anchor);
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
  return { allowed: reasons.length === 0, extra, reasons, position: { kind: 'gtid' } };
}

/** Does judging `node` need the newest failover's anchor (MySQL without GTIDs on it or another node)? */
export function needsFileAnchor(snap: TopologySnapshot, node: string): boolean {
  const n = snap.nodes.find((x) => x.name === node);
  return n?.version?.flavor === 'mysql' && snap.nodes.some((x) => x.reachable && x.version?.flavor === 'mysql' && x.gtidMode !== 'ON');
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
  | { allowed: true; master: string; extra: ''; position: RepointPosition }
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
export function planRejoin(snap: TopologySnapshot, node: string, expectMaster?: string, anchor?: FileAnchor | string): RejoinPlan {
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
  const d = rejoinDecision(n, master, anchor);
  if (d.allowed) return { allowed: true, master: master.name, extra: '', position: d.position ?? { kind: 'gtid' } };
  return { allowed: false, master: master.name, extra: d.extra, summary: d.reasons.join('; '), transient: !n.reachable || !master.reachable || !!d.applying };
}
