/**
 * Notifier against a local webhook receiver (an HTTP server on 127.0.0.1
 * started here): signatures verified the way each vendor does (generic: with the Standard
 * Webhooks reference library, as a receiver would), retries,
 * giving up, hung receivers, shutdown.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { ClusterConfig } from '../../src/config/schema';
import { createLogger } from '../../src/util/log';
import { makeEvent } from '../../src/notify/events';
import { Notifier, type DeliveryResult } from '../../src/notify/notifier';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Handler = (r: Received, res: http.ServerResponse) => void;

/** A receiver on 127.0.0.1; the handler is chosen by the first path segment. */
class Receiver {
  readonly got: Received[] = [];
  readonly handlers = new Map<string, Handler>();
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      this.got.push(r);
      const route = req.url!.split('/')[1]!.split('?')[0]!;
      const h = this.handlers.get(route);
      if (h) h(r, res);
      else {
        res.statusCode = 404;
        res.end('no route');
      }
    });
  });
  port = 0;
  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  url(p: string): string {
    return `http://127.0.0.1:${this.port}/${p}`;
  }
  on(route: string, h: Handler): void {
    this.handlers.set(route, h);
  }
  to(route: string): Received[] {
    return this.got.filter((r) => r.url.split('/')[1]!.split('?')[0] === route);
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const rx = new Receiver();
const notifiers: Notifier[] = [];
after(async () => {
  for (const n of notifiers) await n.close(0);
  await rx.stop();
});

function cluster(name: string, webhooks: Record<string, unknown>[]): ClusterConfig {
  return ClusterConfig.parse({
    name,
    mysql: { user: 'u', password: 'p', replication_user: 'r', replication_password: 'rp' },
    nodes: [
      { name: 'db1', host: '127.0.0.1' },
      { name: 'db2', host: '127.0.0.1', port: 3307 },
    ],
    webhooks,
  });
}

function logSink(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger({ level: 'debug', destination: stream as never }) };
}

function notifier(clusters: ClusterConfig[], o: ConstructorParameters<typeof Notifier>[1] = {}): Notifier {
  const n = new Notifier(clusters, { backoffBaseMs: 20, backoffMaxMs: 100, ...o });
  notifiers.push(n);
  return n;
}

const ok = (_r: Received, res: http.ServerResponse) => {
  res.setHeader('content-type', 'application/json');
  res.end('{"errcode":0,"errmsg":"ok","code":0,"msg":"success"}');
};

test.before(async () => {
  await rx.start();
});

test('generic: a Standard Webhooks receiver verifies the delivery, and rejects it replayed later or with a fresh timestamp', async (t) => {
  const secret = 'whsec_' + randomBytes(32).toString('base64');
  const receiver = new Webhook(secret); // the reference library, as a receiver would use it
  let verified: unknown;
  rx.on('standard', (r, res) => {
    try {
      verified = receiver.verify(r.body, r.headers as Record<string, string>);
      res.statusCode = 204;
    } catch (e) {
      verified = e;
      res.statusCode = 401;
    }
    res.end();
  });
  const n = notifier([cluster('c1', [{ type: 'generic', url: rx.url('standard'), secret }])]);
  const e = makeEvent('failover.started', 'c1', 'db1 is dead; failing over', { master: 'db1' });
  assert.equal(n.enqueue(e), 1);
  assert.equal(await n.drain(10_000), true);
  assert.deepEqual(verified, JSON.parse(JSON.stringify(e)), 'verified, and the body is the event');
  const got = rx.to('standard');
  assert.equal(got.length, 1);
  const d = got[0]!;
  assert.equal(d.method, 'POST');
  assert.equal(d.headers['x-heir-event'], 'failover.started');
  assert.match(String(d.headers['webhook-timestamp']), /^\d{10}$/);
  assert.ok(Math.abs(Number(d.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
  assert.match(String(d.headers['webhook-id']), /^[^.]+$/, 'the id holds no "."');
  assert.match(String(d.headers['webhook-signature']), /^v1,[A-Za-z0-9+/]{43}=$/);
  assert.equal(d.headers['x-heir-signature'], undefined, 'a whsec_ secret gets the Standard Webhooks signature only');
  assert.deepEqual(n.counters().generic, { delivered: 1, failed: 0, dropped: 0, attempts: 1, retries: 0 });
  const headers = d.headers as Record<string, string>;
  // The same request sent again six minutes later: too old.
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() + 6 * 60_000 });
  assert.throws(() => receiver.verify(d.body, headers), (err: Error) => err instanceof WebhookVerificationError && /too old/.test(err.message));
  t.mock.timers.reset();
  // ... with its timestamp replaced by the current time: the signature covers the timestamp.
  const refreshed = { ...headers, 'webhook-timestamp': String(Math.floor(Date.now() / 1000) + 1) };
  assert.throws(() => receiver.verify(d.body, refreshed), (err: Error) => err instanceof WebhookVerificationError && /signature/i.test(err.message));
  // ... with another body, or signed with another secret.
  assert.throws(() => receiver.verify(d.body.replace('db1', 'db9'), headers), WebhookVerificationError);
  assert.throws(() => new Webhook('whsec_' + randomBytes(32).toString('base64')).verify(d.body, headers), WebhookVerificationError);
});

test('generic: a secret in another form signs both ways, the older X-Heir-Signature (body only) kept', async () => {
  const secret = 'generic-secret';
  const checks: Record<string, boolean> = {};
  rx.on('generic', (r, res) => {
    const want = 'sha256=' + createHmac('sha256', secret).update(r.body).digest('hex');
    const got = String(r.headers['x-heir-signature'] ?? '');
    checks.legacy = got.length === want.length && timingSafeEqual(Buffer.from(got), Buffer.from(want));
    try {
      new Webhook(secret, { format: 'raw' }).verify(r.body, r.headers as Record<string, string>);
      checks.standard = true;
    } catch {
      checks.standard = false;
    }
    res.statusCode = checks.legacy && checks.standard ? 204 : 401;
    res.end();
  });
  const n = notifier([cluster('c1', [{ type: 'generic', url: rx.url('generic'), secret }])]);
  assert.equal(n.enqueue(makeEvent('failover.finished', 'c1', 'db2 is the master', { master: 'db2' })), 1);
  assert.equal(await n.drain(10_000), true);
  assert.deepEqual(checks, { legacy: true, standard: true });
  assert.deepEqual(n.counters().generic, { delivered: 1, failed: 0, dropped: 0, attempts: 1, retries: 0 });
});

test('dingtalk and feishu: signatures verified as the vendors do; wecom and slack well-formed', async () => {
  const dSecret = 'SECdingtalk';
  const fSecret = 'feishu-sec';
  const checks: Record<string, boolean> = {};
  rx.on('dingtalk', (r, res) => {
    const u = new URL(r.url, 'http://x');
    const ts = Number(u.searchParams.get('timestamp'));
    const sign = u.searchParams.get('sign');
    const want = createHmac('sha256', dSecret).update(`${ts}\n${dSecret}`).digest('base64');
    checks.dingtalk = sign === want && Math.abs(Date.now() - ts) < 3600_000 && u.searchParams.get('access_token') === 'dtok';
    checks.dingtalkBody = JSON.parse(r.body).msgtype === 'markdown';
    ok(r, res);
  });
  rx.on('feishu', (r, res) => {
    const b = JSON.parse(r.body);
    const want = createHmac('sha256', `${b.timestamp}\n${fSecret}`).update('').digest('base64');
    checks.feishu = b.sign === want && Math.abs(Date.now() / 1000 - Number(b.timestamp)) < 3600 && b.msg_type === 'post';
    ok(r, res);
  });
  rx.on('wecom', (r, res) => {
    const b = JSON.parse(r.body);
    checks.wecom = b.msgtype === 'markdown' && /switchover finished/.test(b.markdown.content);
    ok(r, res);
  });
  rx.on('slack', (r, res) => {
    const b = JSON.parse(r.body);
    checks.slack = typeof b.text === 'string' && Array.isArray(b.blocks);
    res.end('ok');
  });
  const n = notifier([
    cluster('c2', [
      { type: 'dingtalk', url: rx.url('dingtalk?access_token=dtok'), secret: dSecret },
      { type: 'feishu', url: rx.url('feishu'), secret: fSecret },
      { type: 'wecom', url: rx.url('wecom?key=wkey') },
      { type: 'slack', url: rx.url('slack') },
    ]),
  ]);
  assert.equal(n.enqueue(makeEvent('switchover.finished', 'c2', 'db2 is the master', { from: 'db1', to: 'db2' })), 4);
  assert.equal(await n.drain(10_000), true);
  assert.deepEqual(checks, { dingtalk: true, dingtalkBody: true, feishu: true, wecom: true, slack: true });
  const c = n.counters();
  for (const t of ['dingtalk', 'feishu', 'wecom', 'slack'] as const) assert.equal(c[t].delivered, 1, t);
});

test('retries after HTTP 500 with the same delivery id, then delivers', async () => {
  let calls = 0;
  rx.on('flaky', (_r, res) => {
    calls++;
    res.statusCode = calls <= 2 ? 500 : 200;
    res.end(calls <= 2 ? 'try later' : 'fine');
  });
  const results: DeliveryResult[] = [];
  const n = notifier([cluster('c3', [{ type: 'generic', url: rx.url('flaky'), max_attempts: 5 }])], { onResult: (r) => results.push(r) });
  n.enqueue(makeEvent('verdict', 'c3', 'master unreachable', {}));
  assert.equal(await n.drain(10_000), true);
  const got = rx.to('flaky');
  assert.equal(got.length, 3);
  assert.equal(new Set(got.map((g) => g.headers['webhook-id'])).size, 1, 'one webhook-id on every attempt');
  assert.equal(results.length, 1);
  assert.equal(results[0]!.outcome, 'delivered');
  assert.equal(results[0]!.attempts, 3);
  assert.deepEqual(n.counters().generic, { delivered: 1, failed: 0, dropped: 0, attempts: 3, retries: 2 });
});

test('gives up after max_attempts, counts the failure, logs without URL tokens or secrets', async () => {
  rx.on('down', (_r, res) => {
    res.statusCode = 503;
    res.end('maintenance');
  });
  const { lines, log } = logSink();
  const results: DeliveryResult[] = [];
  const token = 'TOKEN-abcdef0123456789';
  const n = notifier(
    [cluster('c4', [{ type: 'dingtalk', url: rx.url(`down?access_token=${token}`), secret: 'SEC-very-secret', max_attempts: 3 }])],
    { log, onResult: (r) => results.push(r) },
  );
  n.enqueue(makeEvent('failover.failed', 'c4', 'catch-up timed out', {}));
  assert.equal(await n.drain(10_000), true);
  assert.equal(rx.to('down').length, 3);
  assert.deepEqual(n.counters().dingtalk, { delivered: 0, failed: 1, dropped: 0, attempts: 3, retries: 2 });
  assert.equal(results[0]!.outcome, 'failed');
  assert.equal(results[0]!.error, 'HTTP 503: maintenance');
  assert.equal(results[0]!.webhook, `http://127.0.0.1:${rx.port}/down?…`);
  const stats = n.stats().find((s) => s.cluster === 'c4')!;
  assert.equal(stats.failed, 1);
  assert.equal(stats.pending, 0);
  const all = lines.join('');
  assert.match(all, /given up/);
  assert.ok(!all.includes(token), 'the URL token is not logged');
  assert.ok(!all.includes('SEC-very-secret'), 'the secret is not logged');
});

test('a permanent rejection is not retried', async () => {
  rx.on('reject', (_r, res) => {
    res.statusCode = 403;
    res.end('forbidden');
  });
  const n = notifier([cluster('c5', [{ type: 'slack', url: rx.url('reject'), max_attempts: 5 }])]);
  n.enqueue(makeEvent('verdict', 'c5', 'x', {}));
  assert.equal(await n.drain(10_000), true);
  assert.equal(rx.to('reject').length, 1);
  assert.equal(n.counters().slack.failed, 1);
});

test('a hung webhook does not block enqueue nor other webhooks; its attempts time out', async () => {
  const hung: http.ServerResponse[] = [];
  rx.on('hung', (_r, res) => {
    hung.push(res); // never answered
  });
  rx.on('healthy', ok);
  const results: DeliveryResult[] = [];
  const n = notifier(
    [
      cluster('c6', [
        { type: 'generic', url: rx.url('hung'), timeout_ms: 200, max_attempts: 2 },
        { type: 'wecom', url: rx.url('healthy?key=k') },
      ]),
    ],
    { onResult: (r) => results.push(r) },
  );
  // enqueue returns synchronously, whatever the receivers do.
  const queued = [1, 2, 3].map((i) => n.enqueue(makeEvent('verdict', 'c6', `event ${i}`, {})));
  assert.deepEqual(queued, [2, 2, 2]);
  assert.equal(n.pending(), 6);
  // The healthy webhook gets all three while the hung one is still on its first.
  const deadline = Date.now() + 10_000;
  while (rx.to('healthy').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(rx.to('healthy').length, 3);
  assert.equal(await n.drain(20_000), true);
  const hungResults = results.filter((r) => r.webhookType === 'generic');
  assert.equal(hungResults.length, 3);
  for (const r of hungResults) {
    assert.equal(r.outcome, 'failed');
    assert.equal(r.attempts, 2);
    assert.equal(r.error, 'no answer within 200 ms');
  }
  assert.equal(rx.to('hung').length, 6);
  for (const res of hung) res.destroy();
});

test('event filters, events without a cluster, other clusters untouched', async () => {
  rx.on('filtered', ok);
  rx.on('everything', ok);
  const n = notifier([
    cluster('c7', [{ type: 'generic', url: rx.url('filtered'), events: ['failover.*'] }]),
    cluster('c8', [{ type: 'generic', url: rx.url('everything') }]),
  ]);
  assert.equal(n.enqueue(makeEvent('verdict', 'c7', 'ignored by the filter', {})), 0);
  assert.equal(n.enqueue(makeEvent('failover.started', 'c7', 'passes', {})), 1);
  assert.equal(n.enqueue(makeEvent('config.reloaded', '', 'to every webhook that wants it', {})), 1);
  assert.equal(n.enqueue(makeEvent('verdict', 'nope', 'unknown cluster', {})), 0);
  assert.equal(await n.drain(10_000), true);
  assert.deepEqual(
    rx.to('filtered').map((r) => JSON.parse(r.body).summary),
    ['passes'],
  );
  assert.deepEqual(
    rx.to('everything').map((r) => JSON.parse(r.body).type),
    ['config.reloaded'],
  );
});

test('close(): stops accepting, abandons a hung delivery after the timeout and counts drops', async () => {
  const hung: http.ServerResponse[] = [];
  rx.on('stuck', (_r, res) => {
    hung.push(res);
  });
  const n = notifier([cluster('c9', [{ type: 'generic', url: rx.url('stuck'), timeout_ms: 60_000, max_attempts: 5 }])]);
  n.enqueue(makeEvent('verdict', 'c9', 'first', {}));
  n.enqueue(makeEvent('verdict', 'c9', 'second', {}));
  const deadline = Date.now() + 10_000;
  while (rx.to('stuck').length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const r = await n.close(100);
  assert.equal(r.drained, false);
  assert.equal(r.dropped, 1, 'the waiting event');
  assert.equal(n.pending(), 0);
  assert.equal(n.counters().generic.dropped >= 2, true, 'the one in flight is dropped too');
  assert.equal(n.enqueue(makeEvent('verdict', 'c9', 'after close', {})), 0);
  for (const res of hung) res.destroy();
});

test('backoff doubles with jitter, is capped, and respects Retry-After', () => {
  const lo = new Notifier([], { backoffBaseMs: 1000, backoffMaxMs: 8000, random: () => 0 });
  const hi = new Notifier([], { backoffBaseMs: 1000, backoffMaxMs: 8000, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => lo.backoff(a)), [500, 1000, 2000, 4000, 4000]);
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => hi.backoff(a)), [1000, 2000, 4000, 8000, 8000]);
  assert.equal(lo.backoff(1, 5000), 5000);
  assert.equal(lo.backoff(1, 60_000), 8000, 'Retry-After is capped too');
});

test('setClusters keeps unchanged webhooks and their counters', async () => {
  rx.on('keep', ok);
  const c = cluster('c10', [{ type: 'generic', url: rx.url('keep') }]);
  const n = notifier([c]);
  n.enqueue(makeEvent('verdict', 'c10', 'one', {}));
  assert.equal(await n.drain(10_000), true);
  n.setClusters([c, cluster('c11', [{ type: 'generic', url: rx.url('keep') }])]);
  n.enqueue(makeEvent('verdict', 'c10', 'two', {}));
  assert.equal(await n.drain(10_000), true);
  const s = n.stats().find((x) => x.cluster === 'c10')!;
  assert.equal(s.delivered, 2);
  n.setClusters([]);
  assert.equal(n.enqueue(makeEvent('verdict', 'c10', 'three', {})), 0);
});
