/**
 * When a failed ECS call may be retried, and how long to wait (pure).
 *
 * Retried: flow control (Throttling*), a server having a bad moment
 * (ServiceUnavailable, InternalError*), a conflicting operation in flight
 * (Operation.Conflict: "the specified ENI is processing another task", as the ECS
 * API AssignPrivateIpAddresses / UnassignPrivateIpAddresses pages document it; and
 * OperationConflict, the ECS-wide spelling), and an ENI/instance still settling a transition
 * (InvalidOperation.InvalidEniState / InvalidEcsState, IncorrectInstanceStatus)
 * — the movers re-read the state before acting again, so a retry never repeats
 * a mutation blindly. Network errors and timeouts are retried for describes;
 * for a mutation they end the attempt and the converge loop re-reads the state.
 * Everything else (not found, bad credentials, signature, mismatches) fails at once.
 */

export type CallKind = 'describe' | 'mutate';

export interface FailureLike {
  kind: 'api' | 'network' | 'timeout' | 'credentials' | 'config';
  code: string;
  /** The wait the endpoint asked for (x-acs-retry-after, ms). */
  retryAfterMs?: number;
}

const TRANSIENT_API = [/^Throttling/, /^ServiceUnavailable/, /^InternalError/, /^Operation\.?Conflict$/, /^UnknownError$/];
const SETTLING_API = [/^InvalidOperation\.InvalidEniState$/, /^InvalidOperation\.InvalidEcsState$/, /^IncorrectInstanceStatus$/];

export function isTransient(f: FailureLike, call: CallKind): boolean {
  if (f.kind === 'network' || f.kind === 'timeout') return call === 'describe';
  if (f.kind !== 'api') return false;
  return TRANSIENT_API.some((r) => r.test(f.code));
}

/** A state error that means "wait for the transition and look again". */
export function isSettling(f: FailureLike): boolean {
  return f.kind === 'api' && SETTLING_API.some((r) => r.test(f.code));
}

/** After a failed mutation: is it worth re-reading the state and trying again? */
export function worthReconverging(f: FailureLike): boolean {
  return isTransient(f, 'mutate') || isSettling(f) || f.kind === 'network' || f.kind === 'timeout';
}

export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 200, capMs: 3000 };

/**
 * Exponential backoff with "equal jitter": half the exponential step fixed, half
 * random, so concurrent managers spread out but never retry instantly.
 */
export function backoffMs(attempt: number, p: BackoffPolicy = DEFAULT_BACKOFF, rand: () => number = Math.random): number {
  const exp = Math.min(p.capMs, p.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(exp / 2 + rand() * (exp / 2));
}

/**
 * The wait before retrying after failure `f`: the backoff, or the endpoint's
 * x-acs-retry-after when it asks for longer (a retry sooner would only be throttled again).
 */
export function retryDelayMs(attempt: number, f: FailureLike, p: BackoffPolicy = DEFAULT_BACKOFF, rand: () => number = Math.random): number {
  return Math.max(backoffMs(attempt, p, rand), f.retryAfterMs ?? 0);
}

/** A time budget for one operation. */
export class Deadline {
  readonly startedAt: number;
  constructor(
    readonly totalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }
  elapsed(): number {
    return this.now() - this.startedAt;
  }
  remaining(): number {
    return Math.max(0, this.totalMs - this.elapsed());
  }
  expired(): boolean {
    return this.remaining() <= 0;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * How long to wait before the next Describe while an ENI transition settles, given how
 * long ago the request that started it was made. ECS moves an ENI in a few seconds:
 * polling every `fastMs` then keeps the next step within ~fastMs of the platform, and the
 * calls per transition stay bounded (DescribeNetworkInterfaces is rate-limited per
 * account): at most 5000/fastMs in the first 5 s (33 at 150 ms), then 2 per second up to
 * 15 s, then 1 per second until cloud.operation_timeout_s.
 */
export function pollDelayMs(sinceRequestMs: number, fastMs = 150): number {
  if (sinceRequestMs < 5000) return fastMs;
  if (sinceRequestMs < 15000) return Math.max(fastMs, 500);
  return Math.max(fastMs, 1000);
}
