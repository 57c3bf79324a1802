/**
 * What may be missing on the new master after a failover, and why (the report's possiblyLost):
 * pure, from what the executor learned on its way (the plan it carried out, the survivors as
 * read after the freeze, the salvage, the nodes it dropped) and the topology read at its end.
 */
import type { NodeConfig } from '../config/schema';
import { compareCoords } from '../mysql/coords';
import { GtidSet } from '../mysql/gtid';
import { MariaGtidPos } from '../mysql/mariadb-gtid';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { channelFrom, contains, missingCount, parsePosition, receivedPosition } from './positions';
import type { PossiblyLost, SalvageReport } from './report';
import type { Plan } from './types';

export interface LostFacts {
  /** The plan carried out (a node was promoted). */
  plan: Plan;
  dead: NodeConfig;
  /** The topology read once the failover ended. */
  final?: TopologySnapshot;
  /** The survivors as read after the freeze (the reread). */
  frozen?: TopologySnapshot;
  salvage: SalvageReport;
  /** The dead master had purged the binlog the survivors needed first: what was in it for the winner. */
  salvageGap?: { count: number | null; transactions: string; purged: string };
  /** The monitor's last good read of the master. */
  lastKnownMaster?: NodeSnapshot;
  /** Survivors left out during the failover, and why. */
  dropped: ReadonlyMap<string, string>;
  /** Where the winner's SQL thread stopped in the dead master's binlog (asked only in file/position cases). */
  winnerExec(): { file: string; pos: number } | undefined;
}

/** What may be missing on the new master, and why. */
export function possiblyLost(f: LostFacts): PossiblyLost[] {
  const plan = f.plan;
  const out: PossiblyLost[] = [];
  const winnerSnap = f.final?.nodes.find((n) => n.name === plan.winner);
  const mode = plan.mode;
  const winnerHas = winnerSnap?.reachable
    ? mode === 'mysql-gtid'
      ? parsePosition(mode, winnerSnap.executedGtid ?? '')
      : mode === 'mariadb-gtid'
        ? parsePosition(mode, MariaGtidPos.parse(winnerSnap.executedGtid ?? '').max(MariaGtidPos.parse(winnerSnap.mariadb?.binlogPos ?? '')).toString())
        : undefined
    : undefined;
  const salvaged = f.salvage.attempted && !f.salvage.error && f.salvage.files.length > 0;
  if (!salvaged) {
    const last = f.lastKnownMaster;
    const semi = last?.semiSync?.sourceActive
      ? ' Semi-sync was active on it when last seen: every transaction acknowledged to a client was received by a replica; only unacknowledged ones can be missing.'
      : '';
    const why = `the dead master's binlogs were not salvaged (${f.salvage.why}).`;
    const dec = f.salvage.decoded;
    if (f.salvage.error && dec && dec.count > 0) {
      // Decoded, then not (all) applied: exactly those transactions, and where they are.
      let rest = '';
      if (mode === 'mysql-gtid') {
        const d = GtidSet.tryParse(dec.gtids);
        const a = GtidSet.tryParse(f.salvage.gtids || '') ?? GtidSet.empty();
        if (d) rest = d.subtract(a).toString();
      }
      out.push({
        count: Math.max(0, dec.count - f.salvage.count),
        transactions: rest || (f.salvage.count === 0 ? dec.gtids : ''),
        why:
          `the dead master's binlogs held ${dec.count} transaction(s) the new master lacked; salvage applied ${f.salvage.count} and stopped (${f.salvage.error}). ` +
          `The rest are in ${f.salvage.outputFile ?? 'the decoded file'}; apply them by hand once the cause is fixed.${semi}`,
      });
    } else if (last?.executedGtid && winnerHas && mode !== 'file') {
      const lastPos = parsePosition(mode, last.executedGtid);
      const n = missingCount(winnerHas, lastPos);
      const text =
        mode === 'mysql-gtid' && lastPos.mode === 'mysql-gtid' && winnerHas.mode === 'mysql-gtid'
          ? lastPos.set.subtract(winnerHas.set).toString()
          : '';
      out.push({
        count: n === undefined ? null : Number(n),
        transactions: text,
        why:
          `${why} The master had these when the monitor last read it (${new Date(last.takenAt).toISOString()}) and the new master lacks them; ` +
          `anything it committed after that and no replica received is lost too and cannot be counted.${semi}`,
      });
    } else {
      out.push({
        count: null,
        transactions: '',
        why: `${why} Whatever it committed beyond ${plan.target || 'the survivors\' positions'} and no replica received is lost; without a last known GTID set of the master it cannot be counted.${semi}`,
      });
    }
  }
  if (f.salvageGap) {
    const g = f.salvageGap;
    out.push({
      count: g.count,
      transactions: g.transactions,
      why:
        `the dead master had purged ${g.purged}, the binlog the survivors needed first, before it died: ` +
        `what it wrote before its oldest remaining binlog and no survivor received cannot be salvaged (the later binlogs were)`,
    });
  }
  // What `node` received and the new master lacks (by its final read); undefined when the
  // winner has it all anyway (caught up, or salvage brought it).
  const lacking = (node: string): { count: number | null; gtids: string } | undefined => {
    const snap = f.frozen?.nodes.find((n) => n.name === node);
    const dead = f.dead;
    const theirs = snap?.reachable ? receivedPosition(mode, snap, { host: dead.host, port: dead.port }) : undefined;
    if (theirs?.mode === 'file') {
      // Coordinates in the dead master's binlog: the salvage applied it from where the
      // winner stopped applying; without it, what lies between is what the node alone has.
      if (salvaged) return undefined;
      const from = f.winnerExec();
      if (!theirs.coords) return { count: null, gtids: '' };
      if (from && compareCoords(theirs.coords, from) <= 0) return undefined;
      return { count: null, gtids: `${dead.name}'s binlog ${from ? `from ${from.file}:${from.pos} ` : ''}up to ${theirs.coords.file}:${theirs.coords.pos}` };
    }
    if (winnerHas && theirs && contains(winnerHas, theirs)) return undefined;
    const n = winnerHas && theirs ? missingCount(winnerHas, theirs) : undefined;
    const gtids = winnerHas?.mode === 'mysql-gtid' && theirs?.mode === 'mysql-gtid' ? theirs.set.subtract(winnerHas.set).toString() : '';
    return { count: n === undefined ? null : Number(n), gtids };
  };
  for (const [node, why] of f.dropped) {
    const l = lacking(node);
    if (l) out.push({ count: l.count, transactions: l.gtids, why: `received by ${node}, which was dropped (${why}), and the new master lacks them` });
    const r = salvaged ? undefined : unappliedRelay(f, node);
    if (r) {
      out.push({
        count: null,
        transactions: `${f.dead.name}'s binlog ${r.from ? `from ${r.from.file}:${r.from.pos} ` : ''}up to ${r.to.file}:${r.to.pos}`,
        why:
          `received by ${node} into its relay log and not applied (MASTER_USE_GTID=no: they show in no GTID position, so they cannot be counted), ` +
          `which was dropped (${why}); the new master did not receive them. Its relay log is kept: once its SQL thread has applied it, compare ${node} with the new master`,
      });
    }
  }
  for (const u of plan.unobtainable) {
    if (f.dropped.has(u.node)) continue; // reported above
    const l = lacking(u.node);
    if (l) out.push({ count: l.count, transactions: u.transactions, why: `received by ${u.node} only, which cannot serve them (${u.why}), and the new master lacks them` });
  }
  return out;
}

/**
 * MariaDB with MASTER_USE_GTID=no: the part of the dead master's binlog that `node` read and
 * did not apply (by its final read) beyond what the winner read, in the dead master's
 * coordinates; undefined when there is none.
 */
export function unappliedRelay(f: LostFacts, node: string): { from?: { file: string; pos: number }; to: { file: string; pos: number } } | undefined {
  const dead = f.dead;
  const ref = { host: dead.host, port: dead.port };
  const snap = f.frozen?.nodes.find((n) => n.name === node);
  const ch = snap?.reachable ? channelFrom(snap, ref) : undefined;
  if (!ch || ch.mariadbUsingGtid !== 'No' || !ch.read) return undefined;
  if (ch.exec && compareCoords(ch.exec, ch.read) >= 0) return undefined;
  const w = f.frozen?.nodes.find((n) => n.name === f.plan.winner);
  const wch = w?.reachable ? channelFrom(w, ref) : undefined;
  const winnerRead = wch?.read ?? f.winnerExec();
  if (winnerRead && compareCoords(winnerRead, ch.read) >= 0) return undefined;
  const from = [ch.exec, winnerRead].filter((x): x is { file: string; pos: number } => !!x).sort(compareCoords).at(-1);
  return { ...(from ? { from } : {}), to: ch.read };
}
