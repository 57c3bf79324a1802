/**
 * Background delivery of events to the webhooks of their cluster.
 *
 * enqueue() returns at once: a dead or hung webhook never delays a failover.
 * Each webhook has its own queue, delivered in order, one request at a time;
 * every attempt is bounded by the webhook's timeout_ms, failed attempts are
 * retried with exponential backoff and jitter up to max_attempts, then the
 * event is given up, logged and counted. URLs in logs have their tokens
 * removed (redactUrl); secrets are never logged.
 */
import { randomUUID } from 'node:crypto';
import type { ClusterConfig, WebhookConfig } from '../config/schema';
import { redactUrl } from '../config/redact';
import { silentLogger, type Logger } from '../util/log';
import { eventMatches, type HeirEvent } from './events';
import { buildRequest, judgeResponse, type FormatOptions, type WebhookType } from './format';

export interface NotifierOptions {
  log?: Logger;
  /** First retry delay; doubles each attempt (with jitter). Default 1000 ms. */
  backoffBaseMs?: number;
  /** Cap of one retry delay (also of a server's Retry-After). Default 30000 ms. */
  backoffMaxMs?: number;
  /** Events waiting per webhook; beyond it the oldest waiting one is dropped (and counted). Default 500. */
  maxQueue?: number;
  /** Called after each event's delivery ends (for metrics). Must not throw. */
  onResult?: (r: DeliveryResult) => void;
  /** Sent as User-Agent. */
  userAgent?: string;
  /** Feishu message type. Default post. */
  feishuMsgType?: 'post' | 'text';
  /** Random source in [0,1) for jitter (tests). */
  random?: () => number;
}

export interface DeliveryResult {
  cluster: string;
  webhookType: WebhookType;
  /** The webhook's URL with its tokens removed. */
  webhook: string;
  event: HeirEvent['type'];
  outcome: 'delivered' | 'failed' | 'dropped';
  attempts: number;
  durationMs: number;
  error?: string;
}

export interface Counters {
  delivered: number;
  failed: number;
  dropped: number;
  /** HTTP attempts made (first tries and retries). */
  attempts: number;
  retries: number;
}

export interface WebhookStats extends Counters {
  cluster: string;
  type: WebhookType;
  webhook: string;
  pending: number;
}

const WEBHOOK_TYPES: WebhookType[] = ['generic', 'dingtalk', 'wecom', 'feishu', 'slack'];

interface Job {
  event: HeirEvent;
  deliveryId: string;
  queuedAt: number;
}

interface Target {
  key: string;
  cluster: string;
  webhook: WebhookConfig;
  label: string;
  queue: Job[];
  running: boolean;
  counters: Counters;
}

const zero = (): Counters => ({ delivered: 0, failed: 0, dropped: 0, attempts: 0, retries: 0 });

export class Notifier {
  private readonly log: Logger;
  private readonly o: Required<Omit<NotifierOptions, 'log' | 'onResult' | 'userAgent' | 'feishuMsgType'>> & NotifierOptions;
  /** Targets that receive new events, by cluster. */
  private byCluster = new Map<string, Target[]>();
  /** Every target with work or counters, including ones retired by setClusters. */
  private readonly all = new Set<Target>();
  private readonly byType: Record<WebhookType, Counters> = Object.fromEntries(WEBHOOK_TYPES.map((t) => [t, zero()])) as Record<
    WebhookType,
    Counters
  >;
  private closed = false;
  /** Aborted on close(): in-flight requests and backoff waits end at once. */
  private readonly stop = new AbortController();
  private idleWaiters: (() => void)[] = [];

  constructor(clusters: readonly ClusterConfig[] = [], o: NotifierOptions = {}) {
    this.log = o.log ?? silentLogger;
    this.o = {
      backoffBaseMs: 1000,
      backoffMaxMs: 30_000,
      maxQueue: 500,
      random: Math.random,
      ...o,
    };
    this.setClusters(clusters);
  }

  /**
   * The webhooks to deliver to (after a config reload). Webhooks that did not
   * change keep their queue and counters; removed ones finish what they have.
   */
  setClusters(clusters: readonly ClusterConfig[]): void {
    const old = new Map<string, Target>();
    for (const list of this.byCluster.values()) for (const t of list) old.set(t.key, t);
    const next = new Map<string, Target[]>();
    for (const c of clusters) {
      const list: Target[] = [];
      for (const w of c.webhooks) {
        const key = `${c.name}\u0000${JSON.stringify(w)}`;
        let t = old.get(key);
        if (!t) {
          t = { key, cluster: c.name, webhook: w, label: `${w.type} ${redactUrl(w.url)}`, queue: [], running: false, counters: zero() };
          this.all.add(t);
        }
        old.delete(key);
        list.push(t);
      }
      next.set(c.name, list);
    }
    this.byCluster = next;
    // Retired targets: forgotten once idle.
    for (const t of old.values()) if (!t.running && t.queue.length === 0) this.all.delete(t);
  }

  /**
   * Queues the event for every webhook of its cluster whose `events` filter
   * lets it through (an event without a cluster goes to every webhook, once
   * per distinct URL). Returns the number of deliveries queued. Never throws,
   * never waits.
   */
  enqueue(event: HeirEvent): number {
    if (this.closed) {
      this.log.warn({ event: event.type, cluster: event.cluster }, 'notifier closed; event not sent');
      return 0;
    }
    let targets: Target[];
    if (event.cluster) targets = this.byCluster.get(event.cluster) ?? [];
    else {
      const seen = new Set<string>();
      targets = [];
      for (const list of this.byCluster.values()) {
        for (const t of list) {
          const id = `${t.webhook.type} ${t.webhook.url}`;
          if (!seen.has(id)) {
            seen.add(id);
            targets.push(t);
          }
        }
      }
    }
    let n = 0;
    for (const t of targets) {
      if (!eventMatches(t.webhook.events, event.type)) continue;
      if (t.queue.length >= this.o.maxQueue) {
        // The oldest waiting event goes; the one in flight (queue[0] while running) stays.
        const idx = t.running ? 1 : 0;
        const [gone] = t.queue.splice(idx, 1);
        if (gone) this.record(t, gone, 'dropped', 0, Date.now(), 'queue full');
      }
      t.queue.push({ event, deliveryId: randomUUID(), queuedAt: Date.now() });
      n++;
      if (!t.running) void this.pump(t);
    }
    return n;
  }

  /** Deliveries waiting or in flight. */
  pending(): number {
    let n = 0;
    for (const t of this.all) n += t.queue.length;
    return n;
  }

  /** Counters per webhook type (delivered/failed/dropped/attempts/retries), since start. */
  counters(): Record<WebhookType, Counters> {
    return Object.fromEntries(WEBHOOK_TYPES.map((t) => [t, { ...this.byType[t] }])) as Record<WebhookType, Counters>;
  }

  /** Counters and queue length per configured webhook (URLs without tokens). */
  stats(): WebhookStats[] {
    return [...this.all].map((t) => ({
      cluster: t.cluster,
      type: t.webhook.type,
      webhook: redactUrl(t.webhook.url),
      pending: t.queue.length,
      ...t.counters,
    }));
  }

  /** Resolves true once nothing is pending, false if timeoutMs passes first. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.pending() === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.idleWaiters = this.idleWaiters.filter((w) => w !== onIdle);
        resolve(v);
      };
      const onIdle = () => finish(true);
      const timer = setTimeout(() => finish(this.pending() === 0), Math.max(0, timeoutMs));
      this.idleWaiters.push(onIdle);
    });
  }

  /**
   * Stops accepting events, gives pending deliveries up to timeoutMs to
   * finish, then abandons the rest (counted as dropped). Returns whether
   * everything was delivered or given up in time.
   */
  async close(timeoutMs = 0): Promise<{ drained: boolean; dropped: number }> {
    this.closed = true;
    const drained = await this.drain(timeoutMs);
    let dropped = 0;
    if (!drained) {
      this.stop.abort();
      for (const t of this.all) {
        // The job in flight is recorded by its pump when its request is aborted.
        const waiting = t.running ? t.queue.splice(1) : t.queue.splice(0);
        for (const j of waiting) {
          this.record(t, j, 'dropped', 0, Date.now(), 'notifier closed');
          dropped++;
        }
      }
      await this.drain(1000);
    }
    return { drained, dropped };
  }

  // ----- delivery -----------------------------------------------------------------------------

  private async pump(t: Target): Promise<void> {
    t.running = true;
    try {
      while (t.queue.length > 0) {
        const job = t.queue[0]!;
        await this.deliver(t, job);
        if (t.queue[0] === job) t.queue.shift();
      }
    } finally {
      t.running = false;
      if (!this.isLive(t) && t.queue.length === 0) this.all.delete(t);
      if (this.pending() === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  private isLive(t: Target): boolean {
    return (this.byCluster.get(t.cluster) ?? []).includes(t);
  }

  private async deliver(t: Target, job: Job): Promise<void> {
    const w = t.webhook;
    const started = Date.now();
    let lastError = '';
    let attempts = 0;
    for (let attempt = 1; attempt <= w.max_attempts; attempt++) {
      if (this.stop.signal.aborted) {
        this.record(t, job, 'dropped', attempts, started, 'notifier closed');
        return;
      }
      attempts = attempt;
      t.counters.attempts++;
      this.byType[w.type].attempts++;
      if (attempt > 1) {
        t.counters.retries++;
        this.byType[w.type].retries++;
      }
      const r = await this.attempt(w, job);
      if (r.ok) {
        this.record(t, job, 'delivered', attempts, started);
        return;
      }
      lastError = r.error ?? 'unknown error';
      if (this.stop.signal.aborted) break;
      if (!r.retry) {
        this.log.warn(
          { webhook: t.label, cluster: t.cluster, event: job.event.type, attempt, error: lastError },
          'webhook rejected the event permanently; not retrying',
        );
        break;
      }
      if (attempt < w.max_attempts) {
        const delay = this.backoff(attempt, r.retryAfterMs);
        this.log.info(
          { webhook: t.label, cluster: t.cluster, event: job.event.type, attempt, error: lastError, retryInMs: delay },
          'webhook delivery failed; retrying',
        );
        await sleep(delay, this.stop.signal);
      }
    }
    const outcome = this.stop.signal.aborted && lastError.startsWith('aborted') ? 'dropped' : 'failed';
    this.record(t, job, outcome, attempts, started, lastError);
  }

  /** Delay before attempt+1: base·2^(attempt-1), capped, "equal jitter"; at least the server's Retry-After. */
  backoff(attempt: number, retryAfterMs?: number): number {
    const exp = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** (attempt - 1));
    const jittered = exp / 2 + this.o.random() * (exp / 2);
    const floor = retryAfterMs !== undefined ? Math.min(retryAfterMs, this.o.backoffMaxMs) : 0;
    return Math.round(Math.max(jittered, floor));
  }

  private async attempt(w: WebhookConfig, job: Job): Promise<{ ok: boolean; retry: boolean; error?: string; retryAfterMs?: number }> {
    const fo: FormatOptions = { deliveryId: job.deliveryId, userAgent: this.o.userAgent, feishuMsgType: this.o.feishuMsgType };
    let req;
    try {
      // Built per attempt: DingTalk and Feishu signatures carry a fresh timestamp.
      req = buildRequest(job.event, w, fo);
    } catch (e) {
      return { ok: false, retry: false, error: `cannot format the event: ${scrub((e as Error).message, w)}` };
    }
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new TimeoutError(w.timeout_ms)), w.timeout_ms);
    const onStop = () => ac.abort(new Error('aborted: notifier closed'));
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    try {
      const res = await fetch(req.url, { method: 'POST', headers: req.headers, body: req.body, signal: ac.signal, redirect: 'manual' });
      const text = await res.text();
      return judgeResponse(w.type, res.status, text, res.headers.get('retry-after'));
    } catch (e) {
      const reason = ac.signal.aborted ? ac.signal.reason : e;
      if (reason instanceof TimeoutError) return { ok: false, retry: true, error: reason.message };
      return { ok: false, retry: !this.stop.signal.aborted, error: scrub(describeFetchError(reason), w) };
    } finally {
      clearTimeout(timer);
      this.stop.signal.removeEventListener('abort', onStop);
    }
  }

  private record(t: Target, job: Job, outcome: DeliveryResult['outcome'], attempts: number, started: number, error?: string): void {
    t.counters[outcome]++;
    this.byType[t.webhook.type][outcome]++;
    const r: DeliveryResult = {
      cluster: t.cluster,
      webhookType: t.webhook.type,
      webhook: redactUrl(t.webhook.url),
      event: job.event.type,
      outcome,
      attempts,
      durationMs: Date.now() - started,
      ...(error ? { error } : {}),
    };
    if (outcome === 'delivered') this.log.debug({ webhook: t.label, cluster: t.cluster, event: job.event.type, attempts }, 'webhook delivered');
    else
      this.log.warn(
        { webhook: t.label, cluster: t.cluster, event: job.event.type, attempts, error },
        outcome === 'failed' ? `webhook delivery failed after ${attempts} attempt(s); event given up` : 'webhook event dropped',
      );
    try {
      this.o.onResult?.(r);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'notifier onResult callback threw');
    }
  }
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
  }
}

function describeFetchError(e: unknown): string {
  const err = e as { message?: string; cause?: { code?: string; message?: string } };
  const cause = err?.cause;
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`;
  if (cause?.message) return cause.message;
  return err?.message ?? String(e);
}

/** Removes the URL (tokens) and the secret from a message. */
function scrub(msg: string, w: WebhookConfig): string {
  let s = msg;
  for (const secret of [w.url, w.secret]) if (secret) s = s.split(secret).join('[redacted]');
  try {
    const u = new URL(w.url);
    if (u.search) s = s.split(u.search).join('?…');
    for (const seg of u.pathname.split('/')) if (seg.length >= 16) s = s.split(seg).join('…');
  } catch {
    /* not a URL: nothing more to hide */
  }
  return s;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
