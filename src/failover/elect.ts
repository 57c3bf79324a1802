/**
 * Ordering candidates for promotion (pure): a sorter over plain data.
 *
 * i is better than j when i received every transaction j received and more.
 * On a tie (same transactions) the promotion rule decides (prefer > neutral >
 * never), then the lower replication lag, then the name, so that the same
 * facts always give the same order.
 *
 * GTID sets are only partially ordered: two replicas can each hold something
 * the other lacks. To keep the sort a total order, containment is extended by
 * the number of transactions received (strict containment implies a larger
 * count, so the order never contradicts containment); incomparable positions
 * with the same count fall through to the rule, lag and name. The planner
 * reports incomparable pairs separately: whoever wins must catch up from all
 * of them.
 */
import type { PromotionRule } from '../config/schema';
import { compareCoords } from '../mysql/coords';
import { contains, type Position } from './positions';

export interface Contender {
  name: string;
  promotion: PromotionRule;
  received: Position;
  /** Seconds behind the source as last seen; null when unknown. */
  lagS: number | null;
}

const RULE_RANK: Record<PromotionRule, number> = { prefer: 0, neutral: 1, never: 2 };

/** Size of a position for the linear extension of containment. */
function weight(p: Position): bigint {
  if (p.mode === 'mysql-gtid') return p.set.count();
  if (p.mode === 'mariadb-gtid') return p.pos.entries().reduce((n, e) => n + e.seq, 0n);
  return 0n; // file mode is compared by coordinates directly
}

/** Negative when a is the better candidate, positive when b is, 0 only for the same name. */
export function compareContenders(a: Contender, b: Contender): number {
  // 1. Received positions: whoever has strictly more transactions goes first.
  const aHasB = contains(a.received, b.received);
  const bHasA = contains(b.received, a.received);
  if (aHasB && !bHasA) return -1;
  if (bHasA && !aHasB) return 1;
  if (!aHasB && !bHasA) {
    // Incomparable: the one that brings more transactions needs less catch-up.
    if (a.received.mode === 'file' && b.received.mode === 'file') {
      // Cannot happen for coordinates (a total order), kept for completeness.
      if (a.received.coords && b.received.coords) {
        const c = compareCoords(a.received.coords, b.received.coords);
        if (c !== 0) return -c;
      }
    } else {
      const wa = weight(a.received);
      const wb = weight(b.received);
      if (wa !== wb) return wa > wb ? -1 : 1;
    }
  }
  // 2. Same transactions (or an undecided incomparable pair): the promotion rule.
  const r = RULE_RANK[a.promotion] - RULE_RANK[b.promotion];
  if (r !== 0) return r;
  // 3. Less lag: its data were fresher when last seen (unknown lag sorts last).
  const la = a.lagS ?? Number.POSITIVE_INFINITY;
  const lb = b.lagS ?? Number.POSITIVE_INFINITY;
  if (la !== lb) return la < lb ? -1 : 1;
  // 4. Name, for determinism.
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Best first. Does not modify its input. */
export function sortContenders<T extends Contender>(cs: readonly T[]): T[] {
  return [...cs].sort(compareContenders);
}
