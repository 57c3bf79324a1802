/**
 * Replica health findings (pure): lagging, broken, stopped, errant. Reported, never a
 * failover trigger.
 */
import type { NodeSnapshot } from '../mysql/types';
import { channelToMaster, CONNECTION_IO_ERRNOS, type MasterRef } from './sight';
import type { ReplicaFinding } from './types';

export interface FindingParams {
  /** Seconds behind the master above which a replica is reported as lagging. */
  lagWarnS: number;
  /** Errant transactions per replica (GTIDs the master does not have), '' when none. */
  errant?: Record<string, string>;
}

export function replicaFindings(replicas: NodeSnapshot[], master: MasterRef, p: FindingParams): ReplicaFinding[] {
  const out: ReplicaFinding[] = [];
  for (const r of replicas) {
    if (!r.reachable) {
      out.push({ kind: 'ReplicaUnreachable', replica: r.name, detail: `cannot read ${r.name}: ${r.error?.message ?? 'unreachable'}` });
      continue;
    }
    const ch = channelToMaster(r, master);
    if (!ch) {
      const srcs = r.replication.map((c) => `${c.sourceHost}:${c.sourcePort}`).join(', ');
      out.push({
        kind: 'NotReplicatingFromMaster',
        replica: r.name,
        detail: srcs ? `${r.name} replicates from ${srcs}, not from ${master.name}` : `${r.name} has no replication configured`,
      });
    } else {
      const ioStopped = ch.ioState === 'No';
      if (ch.lastSqlErrno !== 0 && !ch.sqlRunning) {
        out.push({ kind: 'ReplicationBroken', replica: r.name, detail: `SQL thread stopped by error ${ch.lastSqlErrno}: ${ch.lastSqlError}` });
      } else if (ch.lastIoErrno !== 0 && ch.ioState !== 'Yes') {
        const what = CONNECTION_IO_ERRNOS.has(ch.lastIoErrno) ? `cannot connect to ${master.name}` : 'IO thread error';
        out.push({ kind: 'ReplicationBroken', replica: r.name, detail: `IO ${ch.ioState}, ${what}: ${ch.lastIoErrno} ${ch.lastIoError}` });
      } else if (ioStopped || !ch.sqlRunning) {
        out.push({
          kind: 'ReplicationStopped',
          replica: r.name,
          detail: `replication stopped without error (IO ${ch.ioState}, SQL ${ch.sqlRunning ? 'Yes' : 'No'}): stopped by an operator?`,
        });
      }
      if (ch.secondsBehind !== null && ch.secondsBehind > p.lagWarnS) {
        out.push({ kind: 'Lagging', replica: r.name, detail: `${ch.secondsBehind} s behind ${master.name} (threshold ${p.lagWarnS} s)` });
      }
    }
    const errant = p.errant?.[r.name];
    if (errant) out.push({ kind: 'ErrantGtids', replica: r.name, detail: `transactions the master does not have: ${errant}` });
  }
  return out;
}

/** A stable key of a findings list, to tell whether anything changed between two checks. */
export function findingsKey(f: ReplicaFinding[]): string {
  return f
    .map((x) => `${x.replica}:${x.kind}`)
    .sort()
    .join(',');
}
