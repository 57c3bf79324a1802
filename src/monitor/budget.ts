/**
 * How many corroborating probes that open a connection (a fresh MySQL connection, an SSH
 * session) run at once in the whole process.
 *
 * One failing master costs a handful of them per round, which is nothing. When the manager
 * itself is the problem (thousands of clusters starting at once, a saturated CPU) every ping
 * fails together, and without a bound each of those clusters would open a TLS connection to
 * every node of its cluster every second: more load on the very thing that is failing, which
 * keeps the pings failing. The bound keeps that load flat.
 *
 * The first round of a failure waits for a slot, in arrival order, and the analysis waits for
 * it (it is pending), so a failure is never judged on less evidence. The rounds after it only
 * re-read what the first round read, to see counters move: they take a slot only when one is
 * free and no first round is waiting, and otherwise skip that round.
 */
export const CORROBORATION_PROBES_MAX = 64;

/** Gives a slot back; calling it twice gives back one slot. */
export type Release = () => void;

export class ProbeBudget {
  private inFlight = 0;
  private readonly waiting: Array<(release: Release) => void> = [];

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new Error(`ProbeBudget: max must be at least 1 (got ${max})`);
  }

  /** Slots taken now. */
  get running(): number {
    return this.inFlight;
  }

  /** First-round probes waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** A first-round probe: a slot as soon as one is free, in arrival order. */
  acquire(): Promise<Release> {
    if (this.inFlight < this.max && this.waiting.length === 0) return Promise.resolve(this.take());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** A repeated probe: a slot now if one is free and no first round waits; null otherwise (skip it). */
  tryAcquire(): Release | null {
    if (this.inFlight >= this.max || this.waiting.length > 0) return null;
    return this.take();
  }

  private take(): Release {
    this.inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.waiting.shift();
      // The slot passes straight to the longest waiter: the count does not change.
      if (next) next(this.handOver());
      else this.inFlight--;
    };
  }

  /** A release function for a slot that is already counted. */
  private handOver(): Release {
    this.inFlight--;
    return this.take();
  }
}

/** The process's budget, shared by every cluster's monitor. */
export const corroborationBudget = new ProbeBudget(CORROBORATION_PROBES_MAX);
