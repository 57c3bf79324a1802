/**
 * One timer for the periodic work of every cluster (topology refresh for status and
 * metrics, retrying a monitor that could not start). A thousand clusters must not mean a
 * thousand timers each opening connections at the same moment: jobs are spread evenly
 * over their period, at most `maxConcurrent` run at once, and the period stretches when
 * there are more jobs than `maxPerSecond` allows (the cost stays bounded; freshness
 * degrades gracefully and is visible in each status's snapshotAt). A cluster not watched yet
 * is retried sooner than its period (unwatchedRetryMs): with 5000 clusters the period is
 * 500 s, too long to leave a master unwatched because its first read failed.
 */
export interface SchedulerOptions {
  /** Wanted period of each job (ms). */
  periodMs: number;
  /** Upper bound on job starts per second, all jobs together. */
  maxPerSecond: number;
  /** Upper bound on jobs running at once. */
  maxConcurrent: number;
  /** How often the scheduler looks for due jobs (ms). */
  tickMs?: number;
  onError?: (key: string, e: unknown) => void;
}

interface Job {
  key: string;
  run: () => Promise<void>;
  due: number;
  running: boolean;
}

/**
 * How soon a cluster that is not watched yet (its master could not be told: no server
 * answered, a start-up storm timed its connections out) is read again: 5 s, doubling at each
 * failed attempt, at most 60 s and never later than its period; ±20 % so that clusters that
 * failed together do not retry together (pure, `rand` in [0, 1)).
 */
export function unwatchedRetryMs(attempt: number, periodMs: number, rand: number): number {
  const base = Math.min(60_000, 5000 * 2 ** Math.min(Math.max(attempt, 0), 10));
  return Math.round(Math.min(periodMs, base * (0.8 + 0.4 * rand)));
}

/** The effective period for n jobs (pure). */
export function effectivePeriodMs(n: number, periodMs: number, maxPerSecond: number): number {
  if (n <= 0 || maxPerSecond <= 0) return periodMs;
  return Math.max(periodMs, Math.ceil((n * 1000) / maxPerSecond));
}

export class Scheduler {
  private readonly jobs = new Map<string, Job>();
  private timer: NodeJS.Timeout | null = null;
  private running = 0;
  private readonly tickMs: number;

  constructor(private readonly o: SchedulerOptions) {
    this.tickMs = o.tickMs ?? 250;
  }

  get period(): number {
    return effectivePeriodMs(this.jobs.size, this.o.periodMs, this.o.maxPerSecond);
  }

  get size(): number {
    return this.jobs.size;
  }

  /** Add (or replace) a job; its first run is placed so that jobs spread over the period. */
  add(key: string, run: () => Promise<void>, firstInMs?: number): void {
    const offset = firstInMs ?? Math.floor(Math.random() * this.period);
    this.jobs.set(key, { key, run, due: Date.now() + offset, running: false });
  }

  remove(key: string): void {
    this.jobs.delete(key);
  }

  /**
   * Run the job again within `ms` (sooner than its period, never later than already due): a
   * retry. Retries count against maxPerSecond like every other start.
   */
  retryIn(key: string, ms: number): void {
    const j = this.jobs.get(key);
    if (j) j.due = Math.min(j.due, Date.now() + ms);
  }

  /** Run the job at the next tick (e.g. right after a failover). */
  soon(key: string): void {
    const j = this.jobs.get(key);
    if (j) j.due = Date.now();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = Date.now();
    const period = this.period;
    // At most this many starts per tick keeps the rate bounded even after a pause.
    const budget = Math.max(1, Math.ceil((this.o.maxPerSecond * this.tickMs) / 1000));
    const room = Math.min(budget, this.o.maxConcurrent - this.running);
    if (room <= 0) return;
    // The longest overdue first: when more jobs are due than the rate allows (retries of
    // clusters not watched yet, a pause), none waits behind others that keep coming due.
    const due: Job[] = [];
    for (const j of this.jobs.values()) if (!j.running && j.due <= now) due.push(j);
    if (due.length > room) due.sort((a, b) => a.due - b.due);
    for (const j of due.slice(0, room)) {
      j.running = true;
      this.running++;
      // Next run one period after this start (not after the end: the rhythm stays even).
      j.due = now + period;
      j.run()
        .catch((e) => this.o.onError?.(j.key, e))
        .finally(() => {
          j.running = false;
          this.running--;
        });
    }
  }
}
