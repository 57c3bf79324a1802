/**
 * Manager high availability, the pure part: whether this manager may perform a mutating
 * action on a cluster now, from what it knows of its leadership lease; and what the other
 * managers' published views of a master say. No I/O; the clock is an argument.
 *
 * A leader's lease is only as good as its last renewal that etcd confirmed, counted from
 * when that renewal was *sent*: etcd expires the lease ttl after the last renewal it
 * received, which is no earlier. A process that was paused (GC, SIGSTOP) or cut off past
 * that point treats its leadership as gone before etcd says so; the fenced transaction
 * (compare on the leadership key's create revision) is the second, authoritative check.
 */

/** What this manager knows of its leadership of one cluster. */
export type LeadershipState =
  | {
      role: 'leader';
      /** Create revision of the leadership key this manager wrote: the fencing token. */
      createRevision: string;
      /** Monotonic ms at which the last renewal etcd confirmed (or the grant) was sent. */
      confirmedSentAt: number;
    }
  | { role: 'follower'; leader?: string }
  | { role: 'unknown'; why: string };

/** Margin kept before the lease's expiry, for clock rate differences and the time an action takes to be sent. */
export function safetyMarginMs(ttlMs: number): number {
  return Math.min(1000, Math.max(200, Math.floor(ttlMs / 10)));
}

export interface MayMutate {
  allowed: boolean;
  /** Why not, for the event and the log. */
  reason?: string;
}

/** May this manager start or continue a mutating action on `cluster`? */
export function mayMutate(input: { cluster: string; manager: string; state: LeadershipState; ttlMs: number; now: number }): MayMutate {
  const { cluster, state } = input;
  if (state.role === 'unknown') return { allowed: false, reason: `leadership of cluster ${cluster} unknown: ${state.why}` };
  if (state.role === 'follower') {
    return { allowed: false, reason: `${input.manager} is not the leader of cluster ${cluster}${state.leader ? ` (${state.leader} is)` : ' (no leader elected)'}` };
  }
  const age = input.now - state.confirmedSentAt;
  const limit = input.ttlMs - safetyMarginMs(input.ttlMs);
  if (age >= limit) {
    return {
      allowed: false,
      reason:
        `the leadership lease of cluster ${cluster} was last confirmed by etcd ${(age / 1000).toFixed(1)} s ago ` +
        `(lease ${input.ttlMs / 1000} s): it may have expired (etcd unreachable, or this process was paused)`,
    };
  }
  return { allowed: true };
}

/** One manager's view of a cluster's master, as published in etcd. */
export interface MasterView {
  manager: string;
  cluster: string;
  master: string;
  /** The last probe reached the master and it answered. */
  reachable: boolean;
  /** The monitor's verdict name at that time. */
  verdict: string;
  /** ISO time of the probe. */
  at: string;
  /** ISO start of the manager's current run of failed pings; absent when its last ping was answered. */
  failingSince?: string;
}

/**
 * A manager republishes an unchanged view of a master this often (a changed one at once):
 * three detection intervals, at least a second. At the default 1 s interval that is 20
 * writes per cluster and manager a minute, plus one per change.
 */
export function viewRefreshMs(intervalMs: number): number {
  return Math.max(1000, 3 * intervalMs);
}

/**
 * A view older than this counts for nothing: one refresh period and two intervals (a late
 * round, the write's own latency). 5 s at the default 1 s interval.
 */
export function viewMaxAgeMs(intervalMs: number): number {
  return viewRefreshMs(intervalMs) + 2 * intervalMs;
}

/**
 * Publish this view now? When what it says changed, or the last one is due for a refresh, or
 * another manager said it lost this master after our last write while we still reach it: the
 * leader then needs a view of ours taken after its failure began, now rather than at the next
 * refresh (pure). `peerLostAt`: the latest time another manager's view of this master said
 * unreachable.
 */
export function viewPublishDue(
  last: { view: MasterView; sentAt: number } | undefined,
  next: MasterView,
  now: number,
  refreshMs: number,
  peerLostAt?: number,
): boolean {
  if (!last) return true;
  const l = last.view;
  if (l.master !== next.master || l.reachable !== next.reachable || l.verdict !== next.verdict || l.failingSince !== next.failingSince) return true;
  if (peerLostAt !== undefined && next.reachable && last.sentAt <= peerLostAt) return true;
  return now - last.sentAt >= refreshMs;
}

/** The latest time another manager's view of `master` said it cannot reach it (pure; undefined when none does). */
export function peerLostAt(views: readonly MasterView[], self: string, master: string): number | undefined {
  let at: number | undefined;
  for (const v of views) {
    if (v.manager === self || v.master !== master || v.reachable) continue;
    const t = Date.parse(v.at);
    if (Number.isFinite(t) && (at === undefined || t > at)) at = t;
  }
  return at;
}
