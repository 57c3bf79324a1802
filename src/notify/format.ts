/**
 * Turning an event into each vendor's webhook request, and reading each
 * vendor's answer. Pure: no I/O; the clock is a parameter.
 *
 * Vendor rules:
 * - generic: body = the event as JSON, signed the Standard Webhooks way (spec 1.0): webhook-id (the
 *   same on every retry of one event), webhook-timestamp (unix seconds of this attempt) and
 *   webhook-signature "v1,<Base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>", so a
 *   receiver can reject replays by the timestamp and duplicates by the id. The key is the secret's
 *   bytes after "whsec_" (Base64, the spec's form), or the secret's UTF-8 bytes for a secret in
 *   another form; such a secret also gets X-Heir-Signature: sha256=<hex HMAC-SHA256(secret, body)>,
 *   the body-only signature that configurations written before promised. X-Heir-Event: the type.
 * - DingTalk robot: msgtype markdown {title, text}. Signing: string_to_sign = timestamp(ms) + "\n" + secret,
 *   HMAC-SHA256 keyed with the secret, Base64, URL-encoded, appended to the URL as &timestamp=&sign=.
 *   Answers HTTP 200 with {errcode, errmsg}; errcode 0 is success.
 * - WeCom robot: msgtype markdown {content} (at most 4096 bytes); no signing (the key is in the URL).
 *   Answers {errcode, errmsg}.
 * - Feishu/Lark robot: msg_type post (rich text) or text. Signing: timestamp(s) + "\n" + secret is the
 *   HMAC-SHA256 *key* over an empty message, Base64; sent in the body as timestamp (string) and sign.
 *   Answers {code, msg} (older deployments StatusCode); 0 is success; 19021 = signature or time mismatch.
 * - Slack incoming webhook: {text, blocks}; answers 200 "ok", 4xx with an error word, 429 with Retry-After.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { WebhookConfig } from '../config/schema';
import { redactConfig } from '../config/redact';
import type { HeirEvent, Severity } from './events';

export type WebhookType = WebhookConfig['type'];

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface FormatOptions {
  now?: Date;
  /** Delivery id, the same on every retry of one event to one webhook (generic: webhook-id; no "."). */
  deliveryId?: string;
  /** Feishu message type. Default post. */
  feishuMsgType?: 'post' | 'text';
  userAgent?: string;
}

// ----- signatures ---------------------------------------------------------------------------

/** The Standard Webhooks form of a symmetric secret: "whsec_" + Base64 of the key. */
export const STANDARD_SECRET_PREFIX = 'whsec_';
/** The key sizes that form allows: at least 24 bytes, at most 64. */
export const STANDARD_KEY_BYTES = { min: 24, max: 64 } as const;

/**
 * The HMAC key of a generic webhook's secret: "whsec_<Base64>" decodes to its bytes; any other
 * string is used as its UTF-8 bytes. Throws on a "whsec_" secret that is not Base64 of 24-64 bytes.
 */
export function webhookKey(secret: string): Buffer {
  if (!secret.startsWith(STANDARD_SECRET_PREFIX)) return Buffer.from(secret, 'utf8');
  const b64 = secret.slice(STANDARD_SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw new Error(`a ${STANDARD_SECRET_PREFIX} secret is followed by Base64 (A-Z a-z 0-9 + / and = padding)`);
  }
  const key = Buffer.from(b64, 'base64');
  if (key.length < STANDARD_KEY_BYTES.min || key.length > STANDARD_KEY_BYTES.max) {
    throw new Error(`a ${STANDARD_SECRET_PREFIX} secret holds ${STANDARD_KEY_BYTES.min} to ${STANDARD_KEY_BYTES.max} random bytes; this one holds ${key.length} (make one with: echo ${STANDARD_SECRET_PREFIX}$(openssl rand -base64 32))`);
  }
  return key;
}

/** Standard Webhooks: "v1," + Base64 HMAC-SHA256 of "<id>.<timestamp>.<body>". */
export function standardWebhookSignature(key: Buffer, id: string, timestampS: number, body: string): string {
  return 'v1,' + createHmac('sha256', key).update(`${id}.${timestampS}.`, 'utf8').update(body, 'utf8').digest('base64');
}

/** The older generic signature: "sha256=" + hex HMAC-SHA256 of the exact body bytes. */
export function genericSignature(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body, 'utf8').digest('hex');
}

/** DingTalk: Base64(HMAC-SHA256(key=secret, timestampMs + "\n" + secret)), before URL encoding. */
export function dingtalkSign(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`, 'utf8').digest('base64');
}

/** Feishu/Lark: Base64(HMAC-SHA256(key=timestampS + "\n" + secret, empty message)). */
export function feishuSign(secret: string, timestampS: number): string {
  return createHmac('sha256', `${timestampS}\n${secret}`).update('').digest('base64');
}

// ----- text ---------------------------------------------------------------------------------

const SEVERITY_MARK: Record<Severity, string> = { critical: '🔴', warning: '🟠', info: '🟢' };

/** "[CRITICAL] orders: failover finished" */
export function eventTitle(ev: HeirEvent): string {
  const what = ev.type.replace(/\./g, ' ');
  return `[${ev.severity.toUpperCase()}] ${ev.cluster ? `${ev.cluster}: ` : ''}${what}`;
}

/** The details as "key: value" pairs for people (nested values as compact JSON), secrets redacted. */
export function detailLines(ev: HeirEvent, max = 20): [string, string][] {
  const details = redactConfig(ev.details ?? {}) as Record<string, unknown>;
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(details)) {
    if (v === undefined) continue;
    let s: string;
    if (v === null) s = '-';
    else if (typeof v === 'object') s = JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
    else s = String(v);
    out.push([k, clip(s.replace(/\s*\n\s*/g, ' '), 300)]);
    if (out.length >= max) break;
  }
  return out;
}

export function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  return s.slice(0, max - 1) + '…';
}

/** Cuts a string to at most maxBytes of UTF-8 without breaking a character. */
export function clipBytes(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  let out = '';
  let bytes = 0;
  const budget = maxBytes - 3; // room for the ellipsis
  for (const ch of s) {
    const b = Buffer.byteLength(ch, 'utf8');
    if (bytes + b > budget) break;
    out += ch;
    bytes += b;
  }
  return out + '…';
}

function markdownBody(ev: HeirEvent, o: { wecom?: boolean } = {}): string {
  const color = ev.severity === 'critical' ? 'warning' : ev.severity === 'warning' ? 'comment' : 'info';
  const head = o.wecom
    ? `### <font color="${color}">${eventTitle(ev)}</font>`
    : `### ${SEVERITY_MARK[ev.severity]} ${eventTitle(ev)}`;
  const lines = [head, '', `**${ev.summary}**`, ''];
  for (const [k, v] of detailLines(ev)) lines.push(`- ${k}: ${v}`);
  lines.push('', `heir · ${ev.at}`);
  return lines.join('\n');
}

// ----- formatters ---------------------------------------------------------------------------

function jsonHeaders(o: FormatOptions): Record<string, string> {
  return { 'content-type': 'application/json; charset=utf-8', 'user-agent': o.userAgent ?? 'heir' };
}

export function formatGeneric(ev: HeirEvent, wh: WebhookConfig, o: FormatOptions = {}): WebhookRequest {
  const now = o.now ?? new Date();
  const body = JSON.stringify({ ...ev, details: redactConfig(ev.details ?? {}) }, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  const id = o.deliveryId ?? randomUUID();
  const ts = Math.floor(now.getTime() / 1000);
  const headers: Record<string, string> = {
    ...jsonHeaders(o),
    'x-heir-event': ev.type,
    'webhook-id': id,
    'webhook-timestamp': String(ts),
  };
  if (wh.secret) {
    headers['webhook-signature'] = standardWebhookSignature(webhookKey(wh.secret), id, ts, body);
    if (!wh.secret.startsWith(STANDARD_SECRET_PREFIX)) headers['x-heir-signature'] = genericSignature(wh.secret, body);
  }
  return { url: wh.url, headers, body };
}

export function formatDingTalk(ev: HeirEvent, wh: WebhookConfig, o: FormatOptions = {}): WebhookRequest {
  const now = o.now ?? new Date();
  let url = wh.url;
  if (wh.secret) {
    const ts = now.getTime();
    const sign = encodeURIComponent(dingtalkSign(wh.secret, ts));
    url += `${url.includes('?') ? '&' : '?'}timestamp=${ts}&sign=${sign}`;
  }
  const body = JSON.stringify({
    msgtype: 'markdown',
    markdown: { title: clip(eventTitle(ev), 100), text: clipBytes(markdownBody(ev), 15000) },
  });
  return { url, headers: jsonHeaders(o), body };
}

export function formatWeCom(ev: HeirEvent, wh: WebhookConfig, o: FormatOptions = {}): WebhookRequest {
  const body = JSON.stringify({ msgtype: 'markdown', markdown: { content: clipBytes(markdownBody(ev, { wecom: true }), 4096) } });
  return { url: wh.url, headers: jsonHeaders(o), body };
}

export function formatFeishu(ev: HeirEvent, wh: WebhookConfig, o: FormatOptions = {}): WebhookRequest {
  const now = o.now ?? new Date();
  const title = `${SEVERITY_MARK[ev.severity]} ${eventTitle(ev)}`;
  const details = detailLines(ev);
  const msg: Record<string, unknown> =
    (o.feishuMsgType ?? 'post') === 'post'
      ? {
          msg_type: 'post',
          content: {
            post: {
              zh_cn: {
                title,
                content: [
                  [{ tag: 'text', text: ev.summary }],
                  ...details.map(([k, v]) => [{ tag: 'text', text: `${k}: ${v}` }]),
                  [{ tag: 'text', text: `heir · ${ev.at}` }],
                ],
              },
            },
          },
        }
      : {
          msg_type: 'text',
          content: { text: [title, ev.summary, ...details.map(([k, v]) => `${k}: ${v}`), `heir · ${ev.at}`].join('\n') },
        };
  if (wh.secret) {
    const ts = Math.floor(now.getTime() / 1000);
    msg.timestamp = String(ts);
    msg.sign = feishuSign(wh.secret, ts);
  }
  return { url: wh.url, headers: jsonHeaders(o), body: JSON.stringify(msg) };
}

/** Slack mrkdwn needs &, < and > escaped. */
function slackEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function formatSlack(ev: HeirEvent, wh: WebhookConfig, o: FormatOptions = {}): WebhookRequest {
  const title = `${SEVERITY_MARK[ev.severity]} ${eventTitle(ev)}`;
  const details = detailLines(ev, 10); // a section holds at most 10 fields
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: clip(title, 150), emoji: true } },
    { type: 'section', text: { type: 'mrkdwn', text: clip(slackEscape(ev.summary), 3000) } },
  ];
  if (details.length) {
    blocks.push({
      type: 'section',
      fields: details.map(([k, v]) => ({ type: 'mrkdwn', text: clip(`*${slackEscape(k)}*\n${slackEscape(v)}`, 2000) })),
    });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `heir · ${ev.at}` }] });
  const body = JSON.stringify({ text: clip(`${title}: ${ev.summary}`, 3000), blocks });
  return { url: wh.url, headers: jsonHeaders(o), body };
}

export function buildRequest(ev: HeirEvent, wh: WebhookConfig, o: FormatOptions = {}): WebhookRequest {
  switch (wh.type) {
    case 'generic':
      return formatGeneric(ev, wh, o);
    case 'dingtalk':
      return formatDingTalk(ev, wh, o);
    case 'wecom':
      return formatWeCom(ev, wh, o);
    case 'feishu':
      return formatFeishu(ev, wh, o);
    case 'slack':
      return formatSlack(ev, wh, o);
  }
}

// ----- answers ------------------------------------------------------------------------------

export interface ResponseVerdict {
  ok: boolean;
  /** Worth another attempt (rate limits, server errors); false for permanent rejections. */
  retry: boolean;
  /** What went wrong, short, for logs (no URL, no secret). */
  error?: string;
  /** From Retry-After, when the server said. */
  retryAfterMs?: number;
}

/** Vendor error codes that retrying cannot fix (security settings and signatures). */
const PERMANENT_CODES: Partial<Record<WebhookType, number[]>> = {
  dingtalk: [310000], // security settings: signature mismatch (also keyword or IP allowlist)
  feishu: [19021], // signature mismatch or timestamp more than an hour off
};

export function parseRetryAfter(v: string | null | undefined, now = Date.now()): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function judgeResponse(type: WebhookType, status: number, bodyText: string, retryAfter?: string | null): ResponseVerdict {
  const retryAfterMs = parseRetryAfter(retryAfter);
  const snippet = clip(bodyText.replace(/\s+/g, ' ').trim(), 200);
  if (status === 429 || status === 408 || status >= 500) {
    return { ok: false, retry: true, error: `HTTP ${status}${snippet ? `: ${snippet}` : ''}`, retryAfterMs };
  }
  if (status < 200 || status >= 300) {
    return { ok: false, retry: false, error: `HTTP ${status}${snippet ? `: ${snippet}` : ''}` };
  }
  if (type === 'generic') return { ok: true, retry: false };
  if (type === 'slack') {
    // Slack answers "ok"; anything else in a 2xx is unexpected but was accepted.
    return { ok: true, retry: false };
  }
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(bodyText) as Record<string, unknown>;
  } catch {
    return { ok: false, retry: true, error: `HTTP ${status} with a body that is not JSON: ${snippet}` };
  }
  const code = type === 'feishu' ? (json.code ?? json.StatusCode) : json.errcode;
  const msg = type === 'feishu' ? (json.msg ?? json.StatusMessage) : json.errmsg;
  if (code === 0 || code === '0') return { ok: true, retry: false };
  const n = Number(code);
  const permanent = PERMANENT_CODES[type]?.includes(n) ?? false;
  return { ok: false, retry: !permanent, error: `${type} error ${String(code)}: ${clip(String(msg ?? ''), 200)}` };
}
