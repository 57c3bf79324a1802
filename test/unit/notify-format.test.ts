/** Webhook message formats and signatures, checked against each vendor's rules computed here. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { WebhookConfig } from '../../src/config/schema';
import { makeEvent, eventMatches, isValidEventFilter, EVENT_TYPES, DEFAULT_SEVERITY } from '../../src/notify/events';
import { buildRequest, judgeResponse, clipBytes, parseRetryAfter, webhookKey } from '../../src/notify/format';

const hook = (o: Record<string, unknown>) => WebhookConfig.parse(o);
const at = new Date('2026-03-01T08:00:00.123Z');
const ev = makeEvent(
  'failover.finished',
  'orders',
  'db1 dead; promoted db2 in 4.2 s; address moved',
  { old_master: 'db1', new_master: 'db2', gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:1-77', password: 'must-not-leak', steps: [1, 2] },
  { at },
);

test('generic: the event as JSON, signed the Standard Webhooks way over id.timestamp.body', () => {
  const key = Buffer.alloc(32, 7);
  const secret = 'whsec_' + key.toString('base64');
  const r = buildRequest(ev, hook({ type: 'generic', url: 'https://h.example/x', secret }), { now: at, deliveryId: 'd-1' });
  assert.equal(r.url, 'https://h.example/x');
  const ts = String(Math.floor(at.getTime() / 1000));
  assert.equal(r.headers['webhook-id'], 'd-1');
  assert.equal(r.headers['webhook-timestamp'], ts);
  const expected = 'v1,' + createHmac('sha256', key).update(`d-1.${ts}.${r.body}`).digest('base64');
  assert.equal(r.headers['webhook-signature'], expected);
  assert.equal(r.headers['x-heir-signature'], undefined);
  assert.equal(r.headers['x-heir-event'], 'failover.finished');
  assert.match(r.headers['content-type']!, /^application\/json/);
  const body = JSON.parse(r.body);
  assert.equal(body.type, 'failover.finished');
  assert.equal(body.cluster, 'orders');
  assert.equal(body.at, '2026-03-01T08:00:00.123Z');
  assert.equal(body.severity, 'warning');
  assert.equal(body.details.new_master, 'db2');
  assert.equal(body.details.password, '[redacted]', 'secret-looking details are redacted');
  // A later attempt of the same delivery: same id, its own timestamp and signature.
  const later = buildRequest(ev, hook({ type: 'generic', url: 'https://h.example/x', secret }), { now: new Date(at.getTime() + 5000), deliveryId: 'd-1' });
  assert.equal(later.headers['webhook-id'], 'd-1');
  assert.equal(later.headers['webhook-timestamp'], String(Number(ts) + 5));
  assert.notEqual(later.headers['webhook-signature'], r.headers['webhook-signature']);
  const unsigned = buildRequest(ev, hook({ type: 'generic', url: 'https://h.example/x' }), { now: at });
  assert.equal(unsigned.headers['webhook-signature'], undefined);
  assert.equal(unsigned.headers['x-heir-signature'], undefined);
  assert.match(unsigned.headers['webhook-id']!, /^[0-9a-f-]{36}$/, 'an id even without a secret (an idempotency key)');
});

test('generic: a secret not in the whsec_ form keys the HMAC with its bytes and keeps X-Heir-Signature', () => {
  const r = buildRequest(ev, hook({ type: 'generic', url: 'https://h.example/x', secret: 'k3y' }), { now: at, deliveryId: 'd-2' });
  const ts = Math.floor(at.getTime() / 1000);
  assert.equal(r.headers['webhook-signature'], 'v1,' + createHmac('sha256', 'k3y').update(`d-2.${ts}.${r.body}`).digest('base64'));
  assert.equal(r.headers['x-heir-signature'], 'sha256=' + createHmac('sha256', 'k3y').update(Buffer.from(r.body, 'utf8')).digest('hex'));
});

test('webhookKey: whsec_ secrets decode to 24-64 bytes, with errors that say how to make one', () => {
  assert.deepEqual(webhookKey('whsec_' + Buffer.alloc(24, 1).toString('base64')), Buffer.alloc(24, 1));
  assert.deepEqual(webhookKey('plain'), Buffer.from('plain'));
  assert.throws(() => webhookKey('whsec_' + Buffer.alloc(16).toString('base64')), /24 to 64 random bytes; this one holds 16 .*openssl rand -base64 32/);
  assert.throws(() => webhookKey('whsec_' + Buffer.alloc(65).toString('base64')), /this one holds 65/);
  assert.throws(() => webhookKey('whsec_not base64!'), /Base64/);
});

test('dingtalk: markdown message; timestamp (ms) and url-encoded sign appended to the URL', () => {
  const secret = 'SEC0123456789abcdef';
  const r = buildRequest(ev, hook({ type: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=tok', secret }), { now: at });
  const u = new URL(r.url);
  assert.equal(u.searchParams.get('access_token'), 'tok');
  assert.equal(u.searchParams.get('timestamp'), String(at.getTime()));
  const expected = createHmac('sha256', secret).update(`${at.getTime()}\n${secret}`).digest('base64');
  assert.equal(u.searchParams.get('sign'), expected);
  // Encoded in the raw URL (base64's + / = must not travel raw).
  const rawSign = /[?&]sign=([^&]*)/.exec(r.url)![1]!;
  assert.equal(rawSign, encodeURIComponent(expected));
  const body = JSON.parse(r.body);
  assert.equal(body.msgtype, 'markdown');
  assert.equal(body.markdown.title, '[WARNING] orders: failover finished');
  assert.match(body.markdown.text, /db1 dead; promoted db2/);
  assert.match(body.markdown.text, /- new_master: db2/);
  assert.ok(!body.markdown.text.includes('must-not-leak'));
  const unsigned = buildRequest(ev, hook({ type: 'dingtalk', url: 'https://oapi.dingtalk.com/robot/send?access_token=tok' }), { now: at });
  assert.equal(unsigned.url, 'https://oapi.dingtalk.com/robot/send?access_token=tok');
});

test('feishu: post message; timestamp (s) and sign in the body, HMAC keyed by "timestamp\\nsecret" over nothing', () => {
  const secret = 'feishu-secret';
  const r = buildRequest(ev, hook({ type: 'feishu', url: 'https://open.feishu.cn/open-apis/bot/v2/hook/abc', secret }), { now: at });
  const body = JSON.parse(r.body);
  const ts = Math.floor(at.getTime() / 1000);
  assert.equal(body.timestamp, String(ts));
  assert.equal(body.sign, createHmac('sha256', `${ts}\n${secret}`).update('').digest('base64'));
  assert.equal(body.msg_type, 'post');
  assert.match(body.content.post.zh_cn.title, /orders: failover finished/);
  assert.deepEqual(body.content.post.zh_cn.content[0], [{ tag: 'text', text: 'db1 dead; promoted db2 in 4.2 s; address moved' }]);
  const text = JSON.parse(buildRequest(ev, hook({ type: 'feishu', url: 'https://x.example/h' }), { now: at, feishuMsgType: 'text' }).body);
  assert.equal(text.msg_type, 'text');
  assert.match(text.content.text, /new_master: db2/);
  assert.equal(text.sign, undefined);
});

test('wecom: markdown within 4096 bytes', () => {
  const big = makeEvent('verdict', 'c', 'x', { blob: '数'.repeat(5000), a: 'b'.repeat(5000), c: 'c'.repeat(5000) });
  const r = buildRequest(big, hook({ type: 'wecom', url: 'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k' }));
  const body = JSON.parse(r.body);
  assert.equal(body.msgtype, 'markdown');
  assert.ok(Buffer.byteLength(body.markdown.content, 'utf8') <= 4096);
  assert.match(body.markdown.content, /<font color="comment">\[WARNING\] c: verdict<\/font>/);
  assert.equal(Buffer.byteLength(clipBytes('数数数', 7)), 6, 'never cuts a character in half');
});

test('slack: text fallback and blocks, mrkdwn escaped', () => {
  const e = makeEvent('failover.failed', 'orders', 'catch-up <timed out> & gave up', { node: 'db2' });
  const body = JSON.parse(buildRequest(e, hook({ type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' })).body);
  assert.match(body.text, /\[CRITICAL\] orders: failover failed: catch-up <timed out> & gave up/);
  assert.equal(body.blocks[0].type, 'header');
  assert.equal(body.blocks[1].text.text, 'catch-up &lt;timed out&gt; &amp; gave up');
  assert.deepEqual(body.blocks[2].fields, [{ type: 'mrkdwn', text: '*node*\ndb2' }]);
});

test('vendor answers: success, retryable and permanent failures', () => {
  assert.deepEqual(judgeResponse('generic', 204, ''), { ok: true, retry: false });
  assert.equal(judgeResponse('generic', 500, 'boom').retry, true);
  assert.equal(judgeResponse('generic', 429, '', '2').retryAfterMs, 2000);
  assert.deepEqual(judgeResponse('generic', 401, 'bad signature'), { ok: false, retry: false, error: 'HTTP 401: bad signature' });
  assert.equal(judgeResponse('dingtalk', 200, '{"errcode":0,"errmsg":"ok"}').ok, true);
  const limited = judgeResponse('dingtalk', 200, '{"errcode":130101,"errmsg":"send too fast"}');
  assert.deepEqual([limited.ok, limited.retry], [false, true]);
  const badSign = judgeResponse('dingtalk', 200, '{"errcode":310000,"errmsg":"sign not match"}');
  assert.deepEqual([badSign.ok, badSign.retry], [false, false]);
  assert.equal(judgeResponse('wecom', 200, '{"errcode":0,"errmsg":"ok"}').ok, true);
  assert.equal(judgeResponse('feishu', 200, '{"code":0,"msg":"success"}').ok, true);
  assert.equal(judgeResponse('feishu', 200, '{"StatusCode":0,"StatusMessage":"success"}').ok, true);
  assert.equal(judgeResponse('feishu', 200, '{"code":19021,"msg":"sign match fail"}').retry, false);
  assert.equal(judgeResponse('slack', 200, 'ok').ok, true);
  assert.equal(judgeResponse('slack', 404, 'no_service').retry, false);
  assert.equal(judgeResponse('wecom', 200, '<html>').retry, true);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:50 GMT')), 10_000);
});

test('events: default severities, filters with prefixes', () => {
  for (const t of EVENT_TYPES) assert.ok(DEFAULT_SEVERITY[t]);
  assert.equal(eventMatches([], 'verdict'), true);
  assert.equal(eventMatches(['failover.*'], 'failover.started'), true);
  assert.equal(eventMatches(['failover.*'], 'switchover.started'), false);
  assert.equal(eventMatches(['verdict', 'address.moved'], 'address.moved'), true);
  assert.equal(eventMatches(['*'], 'test'), true);
  assert.equal(isValidEventFilter('failover.*'), true);
  assert.equal(isValidEventFilter('nothing.*'), false);
  assert.equal(isValidEventFilter('failover.finsihed'), false);
});
