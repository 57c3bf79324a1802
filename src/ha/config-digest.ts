/**
 * Do the managers watch a cluster with the same configuration? Each manager publishes, in its
 * record in etcd (src/ha/managers.ts), a short digest of each cluster it watches, one hash per
 * part (nodes, address, detection, failover). The cluster's leader compares the others'
 * digests with its own and reports a manager whose part differs, or that does not watch the
 * cluster at all (it never campaigns for it: it could not take over). Pure: no I/O.
 *
 * Secrets and per-host paths are left out (mysql and ssh sections): they may differ between
 * managers on purpose.
 */
import { createHash } from 'node:crypto';
import type { ClusterConfig } from '../config/schema';

export const DIGEST_PARTS = ['nodes', 'address', 'detection', 'failover'] as const;
export type DigestPart = (typeof DIGEST_PARTS)[number];

/** JSON with keys sorted at every level: the same value gives the same text. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

const hash = (v: unknown) => createHash('sha256').update(canonical(v)).digest('hex').slice(0, 10);

/** A cluster's digest as published: `nodes=<h> address=<h> detection=<h> failover=<h>`. */
export function clusterDigest(c: ClusterConfig): string {
  return DIGEST_PARTS.map((p) => `${p}=${hash(c[p])}`).join(' ');
}

function parts(d: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of d.split(' ')) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return m;
}

/** The parts of two digests that differ (every part named in either). */
export function differingParts(a: string, b: string): string[] {
  const pa = parts(a);
  const pb = parts(b);
  return [...new Set([...pa.keys(), ...pb.keys()])].filter((k) => pa.get(k) !== pb.get(k));
}

/** Another manager's configuration of a cluster, as the leader sees it. */
export interface ConfigMismatch {
  manager: string;
  /** missing: the cluster is not in its configuration; differs: these parts differ. */
  kind: 'missing' | 'differs';
  parts: string[];
}

/**
 * Every other manager whose configuration of `cluster` is not this one's. `others`: the
 * published records; one without digests (an older heir) says nothing and is skipped.
 */
export function configMismatches(cluster: string, self: string, own: string, others: readonly { manager: string; clusters?: Record<string, string> }[]): ConfigMismatch[] {
  const out: ConfigMismatch[] = [];
  for (const r of others) {
    if (r.manager === self || !r.clusters) continue;
    const d = r.clusters[cluster];
    if (d === undefined) out.push({ manager: r.manager, kind: 'missing', parts: [] });
    else {
      const p = differingParts(own, d);
      if (p.length) out.push({ manager: r.manager, kind: 'differs', parts: p });
    }
  }
  return out.sort((a, b) => a.manager.localeCompare(b.manager));
}

/** One line for the log, the event and `heir status`. */
export function describeMismatch(cluster: string, self: string, m: ConfigMismatch): string {
  return m.kind === 'missing'
    ? `cluster ${cluster} is not in manager ${m.manager}'s configuration (it is in ${self}'s): ${m.manager} does not watch it and never campaigns for it, so it cannot take over if ${self} fails`
    : `manager ${m.manager}'s configuration of cluster ${cluster} differs from ${self}'s (${m.parts.join(', ')}): the manager that leads next would act on another configuration`;
}
