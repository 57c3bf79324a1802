/**
 * The daemon's HTTP API (node:http), bound to 127.0.0.1:7878 by default (heir.api.listen).
 *
 *   GET  /                                     the topology page (web/index.html; /ui/app.js, /ui/style.css)
 *   GET  /health                               liveness of the daemon
 *   GET  /metrics                              Prometheus exposition (src/daemon/metrics.ts)
 *   GET  /api/v1/clusters                      one summary per cluster
 *   GET  /api/v1/clusters/:name                the cluster's status (topology, verdict, address, blocked)
 *   GET  /api/v1/clusters/:name/reports        its failover/switchover reports, newest first (?limit=N); heir.ha: every manager's
 *   POST /api/v1/clusters/:name/switchover     {"to": "db2"}        → 202 + operation (Location)
 *   POST /api/v1/clusters/:name/failover       {"to": "db2"} or {}  → 202 + operation (Location)
 *   POST /api/v1/clusters/:name/ack            acknowledge: unblock automatic failover
 *   GET  /api/v1/operations/:id                a switchover or failover: state, steps so far, report
 *   GET  /api/v1/openapi.json                  the OpenAPI 3.1 description of all of this (openapi.ts)
 *
 * Every path also answers without the /api/v1 prefix (the API's first paths), and /health and
 * /metrics with it. An error answers {"error": message, "code": one of ERROR_CODES}.
 *
 * Reads are open (the listener is local), the page included: it reads the endpoints above and
 * asks for the token only to send an action. Actions need `Authorization: Bearer <heir.api.token>`:
 * without the header 401, with a wrong token 401, and with no token configured actions are
 * disabled (403). The daemon plugs its state in through ApiProvider; every JSON response goes
 * through redactSecrets(), so a password or token can never leave through the API even if a
 * provider hands over a config object.
 */
import http from 'node:http';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../util/log';
import type { ReportList } from '../failover/report-index';
import { silentLogger } from '../util/log';
import { openApiDocument } from './openapi';
import { OperationStore, type OperationStep } from './operations';
import { NoDaemonError, requestJson, type ApiAnswer } from './client';
import { absoluteLocation, FORWARD_TIMEOUT_MS, FORWARDED_BY, FORWARDED_FOR, FORWARDED_TO, leaderAnswer, unreachableMessage } from './forward';

// ---------------------------------------------------------------------------------------------
// The provider: what the daemon implements.

export interface ClusterSummary {
  name: string;
  /** Name of the current master node, null when there is none. */
  master: string | null;
  /** Last detection verdict. */
  verdict: string;
  /** Automatic failover blocked until acknowledged. */
  blocked: boolean;
  [extra: string]: unknown;
}

export interface HealthInfo {
  /** false → 503 */
  ok: boolean;
  [extra: string]: unknown;
}

/** Who asked, for the journal and logs. */
export interface ActionContext {
  /** Remote address of the HTTP client. */
  remote: string;
  /** Id of this request (also in the X-Request-Id response header). */
  requestId: string;
  /**
   * Long actions (switchover, failover): the provider calls this once the action is under
   * way, its checks passed. Until then an ApiError is answered as an error; after it the
   * action is an operation (202), and how it ends is the operation's.
   */
  started?: () => void;
  /** Long actions: each step as the executor reports it. */
  step?: (s: OperationStep) => void;
}

export interface ActionResult {
  /** false → 409 with this result as body (e.g. refused by a precondition the operator can fix). */
  ok: boolean;
  /** One sentence for the operator. */
  message: string;
  /** Long actions: the report (the operation's `report`). */
  report?: object;
  [extra: string]: unknown;
}

export interface ApiProvider {
  listClusters(): ClusterSummary[] | Promise<ClusterSummary[]>;
  /** undefined → 404 unknown cluster. */
  clusterStatus(name: string): object | undefined | Promise<object | undefined>;
  /** undefined → 404 unknown cluster. At most `limit` reports when given; warnings: why the list may be incomplete. */
  reports(name: string, limit?: number): ReportList | undefined | Promise<ReportList | undefined>;
  /** Planned switchover to node `to`. Throw ApiError(404/409/...) to refuse with a status. */
  switchover(name: string, req: { to: string }, ctx: ActionContext): Promise<ActionResult>;
  /** Manual failover, to `to` or to the best candidate. */
  failover(name: string, req: { to?: string }, ctx: ActionContext): Promise<ActionResult>;
  /** Acknowledge the last failover / interrupted journal: allow automatic failover again. */
  ack(name: string, ctx: ActionContext): Promise<ActionResult>;
  /** Optional extra health facts; ok:false answers 503. */
  health?(): HealthInfo | Promise<HealthInfo>;
  /**
   * heir.ha: where an action on the cluster is performed. undefined: here; a target: forwarded
   * to the leader's API (src/daemon/forward.ts). Throws ApiError (503) when it can be neither.
   * `forwardedBy`: the request came forwarded from that manager.
   */
  actionTarget?(cluster: string, action: 'switchover' | 'failover' | 'ack', forwardedBy: string | undefined): Promise<ForwardTarget | undefined>;
}

/** The leader an action is forwarded to. */
export interface ForwardTarget {
  /** The leader's manager id. */
  manager: string;
  /** Its advertised API URL, without a trailing /. */
  url: string;
  /** This manager's id (sent as the forwarded-by marker). */
  self: string;
}

export { ERROR_CODES, type ErrorCode } from './api-errors';
import type { ErrorCode } from './api-errors';

const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'actions_disabled',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'busy',
  413: 'payload_too_large',
  503: 'stopping',
};

/** Thrown by a provider (or the API itself) to answer with a given HTTP status and code. */
export class ApiError extends Error {
  readonly code: ErrorCode;
  constructor(
    readonly status: number,
    message: string,
    code?: ErrorCode,
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code ?? CODE_OF_STATUS[status] ?? 'internal';
  }
}

/** What serves /metrics: HeirMetrics fits. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export interface ApiServerOptions {
  /** host:port, [v6]:port; default 127.0.0.1:7878. Port 0 picks a free port. */
  listen?: string;
  /** Bearer token for actions (heir.api.token, resolved). Without one, actions answer 403. */
  token?: string;
  provider: ApiProvider;
  metrics?: MetricsSource;
  log?: Logger;
  /** Secret values (passwords, tokens, webhook secrets) scrubbed from every response. */
  secrets?: () => string[];
  version?: string;
  /** Folder of the topology page's files (default: web/ of the package). */
  webRoot?: string;
}

export interface ApiServer {
  /** e.g. http://127.0.0.1:7878 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------

export const DEFAULT_LISTEN = '127.0.0.1:7878';
const MAX_BODY = 64 * 1024;

/** The package's web/ folder, from dist/src/daemon/ (compiled) or src/daemon/. */
export const DEFAULT_WEB_ROOT = path.resolve(__dirname, __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..', 'web');

/** The page's files: request path → file under the web root and its type. Nothing else is served from it. */
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/ui/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/ui/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** The page runs only its own script and style, talks only to this origin, and cannot be framed. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Parse heir.api.listen: "127.0.0.1:7878", "[::1]:7878", "localhost:0". */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d+)$/.exec(listen) ?? /^([^:\s]+):(\d+)$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`heir.api.listen: "${listen}" is not host:port (e.g. 127.0.0.1:7878 or [::1]:7878)`);
  }
  return { host: m[1]!, port };
}

/** Base URL for heir.api.listen; a wildcard listener is asked on loopback. */
export function apiBaseUrl(listen: string): string {
  const { host, port } = parseListen(listen);
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

const SECRET_KEY = /(password|passwd|passphrase|secret|token|private_?key|credential|authorization|access_?key)/i;
export const REDACTED = '[redacted]';

/**
 * A deep copy of value fit for output: values under secret-looking keys are replaced, and any
 * string containing one of the given secret values (4+ characters) has it replaced.
 */
export function redactSecrets<T>(value: T, secrets: string[] = []): T {
  const needles = [...new Set(secrets.filter((s) => typeof s === 'string' && s.length >= 4))].sort(
    (a, b) => b.length - a.length,
  );
  const seen = new WeakSet<object>();
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      let out = v;
      for (const n of needles) if (out.includes(n)) out = out.split(n).join(REDACTED);
      return out;
    }
    if (v === null || typeof v !== 'object') return v;
    if (v instanceof Date) return v.toISOString();
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    let out: unknown;
    if (Array.isArray(v)) out = v.map(walk);
    else if (v instanceof Map) out = walk(Object.fromEntries(v));
    else if (v instanceof Set) out = walk([...v]);
    else if (v instanceof Error) out = { name: v.name, message: walk(v.message) };
    else {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x === 'function') continue;
        o[k] = SECRET_KEY.test(k) && x !== undefined && x !== null && x !== '' ? REDACTED : walk(x);
      }
      out = o;
    }
    seen.delete(v);
    return out;
  };
  return walk(value) as T;
}

/** Constant-time comparison of a presented token with the configured one. */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && presented.length === expected.length;
}

type Route =
  | { kind: 'page'; file: string; type: string }
  | { kind: 'health' }
  | { kind: 'metrics' }
  | { kind: 'openapi' }
  | { kind: 'operation'; id: string }
  | { kind: 'clusters' }
  | { kind: 'cluster'; name: string }
  | { kind: 'reports'; name: string }
  | { kind: 'action'; name: string; action: 'switchover' | 'failover' | 'ack' };

function route(pathname: string): Route | undefined {
  const page = PAGE_FILES[pathname];
  if (page) return { kind: 'page', ...page };
  const parts = pathname.split('/').filter((p) => p !== '');
  let decoded: string[];
  try {
    decoded = parts.map((p) => decodeURIComponent(p));
  } catch {
    return undefined;
  }
  // /api/v1/... is the API's versioned path; the same paths answer without the prefix.
  if (decoded[0] === 'api' && decoded[1] === 'v1') decoded = decoded.slice(2);
  const [a, b, c, ...rest] = decoded;
  if (rest.length) return undefined;
  if (a === 'health' && b === undefined) return { kind: 'health' };
  if (a === 'metrics' && b === undefined) return { kind: 'metrics' };
  if (a === 'openapi.json' && b === undefined) return { kind: 'openapi' };
  if (a === 'operations' && b !== undefined && c === undefined) return { kind: 'operation', id: b };
  if (a !== 'clusters') return undefined;
  if (b === undefined) return { kind: 'clusters' };
  if (c === undefined) return { kind: 'cluster', name: b };
  if (c === 'reports') return { kind: 'reports', name: b };
  if (c === 'switchover' || c === 'failover' || c === 'ack') return { kind: 'action', name: b, action: c };
  return undefined;
}

function allowed(r: Route): string {
  return r.kind === 'action' ? 'POST' : 'GET, HEAD';
}

/** The request handler, usable with any node:http server. */
export function createApiHandler(o: ApiServerOptions): http.RequestListener {
  const log = o.log ?? silentLogger;
  const token = o.token && o.token.length > 0 ? o.token : undefined;
  const startedAt = Date.now();
  const secrets = (): string[] => [...(o.secrets?.() ?? []), ...(token ? [token] : [])];
  const operations = new OperationStore();
  /** Operations forwarded to a leader: their id → that leader (GET /operations/:id is asked there). The last 200. */
  const forwarded = new Map<string, ForwardTarget>();

  const send = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = `${JSON.stringify(redactSecrets(body, secrets()))}\n`;
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Length': String(Buffer.byteLength(text)),
      ...headers,
    });
    res.end(res.req.method === 'HEAD' ? undefined : text);
  };
  const fail = (res: http.ServerResponse, status: number, message: string, headers?: Record<string, string>, code?: ErrorCode): void =>
    send(res, status, { error: message, code: code ?? CODE_OF_STATUS[status] ?? 'internal' }, headers);

  const readJson = (req: http.IncomingMessage, res: http.ServerResponse): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        if (size > MAX_BODY) return; // answered already; the rest is read and dropped
        size += c.length;
        if (size > MAX_BODY) {
          // Answered while the client may still be sending: the connection closes after
          // the answer (destroying the socket now would lose the answer).
          chunks.length = 0;
          res.setHeader('Connection', 'close');
          reject(new ApiError(413, `request body larger than ${MAX_BODY} bytes`, 'payload_too_large'));
          return;
        }
        chunks.push(c);
      });
      req.on('error', reject);
      req.on('end', () => {
        if (size > MAX_BODY) return;
        const text = Buffer.concat(chunks).toString('utf8').trim();
        if (text === '') return resolve({});
        let v: unknown;
        try {
          v = JSON.parse(text);
        } catch (e) {
          return reject(new ApiError(400, `request body is not valid JSON: ${(e as Error).message}`));
        }
        if (v === null || typeof v !== 'object' || Array.isArray(v)) {
          return reject(new ApiError(400, 'request body must be a JSON object'));
        }
        resolve(v as Record<string, unknown>);
      });
    });

  /** true when authorized; otherwise the refusal has been sent. */
  const authorize = (req: http.IncomingMessage, res: http.ServerResponse, what: string): boolean => {
    if (!token) {
      fail(
        res,
        403,
        `${what}: actions are disabled because no API token is configured; set heir.api.token ` +
          '(e.g. token: ${file:/etc/heir/api-token}) and reload the daemon, or use the heir CLI on the manager',
      );
      return false;
    }
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!m) {
      fail(res, 401, `${what}: missing "Authorization: Bearer <token>" header (the token is heir.api.token)`, {
        'WWW-Authenticate': 'Bearer realm="heir"',
      });
      return false;
    }
    if (!tokenMatches(m[1]!, token)) {
      log.warn({ remote: req.socket.remoteAddress, action: what }, 'API action refused: wrong bearer token');
      fail(res, 401, `${what}: the bearer token is not heir.api.token`, {
        'WWW-Authenticate': 'Bearer realm="heir", error="invalid_token"',
      });
      return false;
    }
    return true;
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, requestId: string): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://heir.invalid');
    const r = route(url.pathname);
    if (!r) return fail(res, 404, `no such endpoint: ${req.method} ${url.pathname} (see /api/v1/openapi.json)`, undefined, 'not_found');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const expected = r.kind === 'action' ? 'POST' : 'GET';
    if (method !== expected) {
      return fail(res, 405, `${req.method} not allowed on ${url.pathname}; use ${expected}`, { Allow: allowed(r) });
    }
    const p = o.provider;
    switch (r.kind) {
      case 'page': {
        const file = path.join(o.webRoot ?? DEFAULT_WEB_ROOT, r.file);
        let body: Buffer;
        try {
          body = fs.readFileSync(file);
        } catch (e) {
          return fail(res, 500, `the topology page's file ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); the package ships it in web/`);
        }
        res.writeHead(200, {
          'Content-Type': r.type,
          'Cache-Control': 'no-cache',
          'Content-Security-Policy': PAGE_CSP,
          'X-Content-Type-Options': 'nosniff',
          'X-Frame-Options': 'DENY',
          'Referrer-Policy': 'no-referrer',
          'Content-Length': String(body.length),
        });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      case 'health': {
        const extra = p.health ? await p.health() : { ok: true };
        return send(res, extra.ok ? 200 : 503, {
          status: extra.ok ? 'ok' : 'unhealthy',
          ...extra,
          uptime_s: Math.round((Date.now() - startedAt) / 1000),
          ...(o.version ? { version: o.version } : {}),
          actions_enabled: token !== undefined,
        });
      }
      case 'metrics': {
        if (!o.metrics) return fail(res, 404, 'metrics are not enabled in this process');
        const text = await o.metrics.metrics();
        res.writeHead(200, {
          'Content-Type': o.metrics.contentType,
          'Cache-Control': 'no-store',
          'Content-Length': String(Buffer.byteLength(text)),
        });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      case 'openapi': {
        // Static, and free of secrets: not passed through redactSecrets (whose key rules
        // would mangle a schema describing the Authorization header).
        const text = `${JSON.stringify(openApiDocument(o.version))}\n`;
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': String(Buffer.byteLength(text)) });
        res.end(req.method === 'HEAD' ? undefined : text);
        return;
      }
      case 'operation': {
        const op = operations.get(r.id);
        const at = op ? undefined : forwarded.get(r.id);
        if (at) {
          const a = await ask(
            () => requestJson(at.url, `/api/v1/operations/${encodeURIComponent(r.id)}`, { timeoutMs: FORWARD_TIMEOUT_MS }),
            (reason) => `operation ${r.id} was forwarded to ${at.manager}, whose API at ${at.url} does not answer (${reason}); ask it there once it does`,
          );
          return relay(res, at, `operation ${r.id}`, a);
        }
        if (!op) {
          throw new ApiError(404, `no operation ${r.id} in this daemon (operations are kept in its memory, the last 200; the reports stay: GET /api/v1/clusters/NAME/reports, from any daemon under heir.ha)`, 'unknown_operation');
        }
        return send(res, 200, op);
      }
      case 'clusters':
        return send(res, 200, { clusters: await p.listClusters() });
      case 'cluster': {
        const s = await p.clusterStatus(r.name);
        if (s === undefined) return fail(res, 404, await unknownCluster(p, r.name), undefined, 'unknown_cluster');
        return send(res, 200, s);
      }
      case 'reports': {
        const lim = url.searchParams.get('limit');
        const limit = lim === null ? undefined : Number(lim);
        if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new ApiError(400, `limit: "${lim}" is not a positive integer`);
        const s = await p.reports(r.name, limit);
        if (s === undefined) return fail(res, 404, await unknownCluster(p, r.name), undefined, 'unknown_cluster');
        return send(res, 200, { cluster: r.name, reports: s.reports, ...(s.warnings.length ? { warnings: s.warnings } : {}) });
      }
      case 'action': {
        const what = `${r.action} of cluster ${r.name}`;
        if (!authorize(req, res, what)) {
          req.resume();
          return;
        }
        const body = await readJson(req, res);
        if (!(await p.listClusters()).some((c) => c.name === r.name)) {
          throw new ApiError(404, await unknownCluster(p, r.name), 'unknown_cluster');
        }
        const forwardedBy = headerOf(req, FORWARDED_BY);
        const remote = req.socket.remoteAddress ?? 'unknown';
        const ctx: ActionContext = { remote: forwardedBy ? `${headerOf(req, FORWARDED_FOR) ?? '?'} via ${forwardedBy} (${remote})` : remote, requestId };
        const to = body.to;
        if (to !== undefined && (typeof to !== 'string' || to === '')) {
          throw new ApiError(400, `${what}: "to" must be a node name`);
        }
        const unknown = Object.keys(body).filter((k) => !(r.action !== 'ack' && k === 'to'));
        if (unknown.length) throw new ApiError(400, `${what}: unknown field(s) ${unknown.join(', ')}`);
        if (r.action === 'switchover' && typeof to !== 'string') throw new ApiError(400, `${what}: body must name the new master: {"to": "<node>"}`);
        const target = p.actionTarget ? await p.actionTarget(r.name, r.action, forwardedBy) : undefined;
        if (target) {
          log.info({ cluster: r.name, action: r.action, to, remote, requestId, leader: target.manager, url: target.url }, `API action forwarded to the leader ${target.manager}`);
          const a = await ask(
            () =>
              requestJson(target.url, `/api/v1/clusters/${encodeURIComponent(r.name)}/${r.action}`, {
                method: 'POST',
                token: token!,
                body,
                timeoutMs: FORWARD_TIMEOUT_MS,
                headers: { [FORWARDED_BY]: target.self, [FORWARDED_FOR]: remote },
              }),
            (reason, timedOut) => unreachableMessage({ cluster: r.name, action: r.action, leader: target.manager, url: target.url, reason, timedOut }),
          );
          const verdict = leaderAnswer({ cluster: r.name, action: r.action, leader: target.manager, status: a.status });
          if (!verdict.pass) throw new ApiError(503, verdict.message, verdict.code);
          const id = (a.body as { id?: unknown } | null)?.id;
          if (a.status === 202 && typeof id === 'string') {
            forwarded.set(id, target);
            if (forwarded.size > 200) forwarded.delete(forwarded.keys().next().value!);
          }
          log.info({ cluster: r.name, action: r.action, leader: target.manager, status: a.status, requestId }, `API action answered by the leader ${target.manager}: HTTP ${a.status}`);
          return relay(res, target, what, a);
        }
        log.info({ cluster: r.name, action: r.action, to, remote: ctx.remote, requestId }, 'API action requested');
        if (r.action === 'ack') {
          const result = await p.ack(r.name, ctx);
          log.info({ cluster: r.name, action: r.action, ok: result.ok, requestId }, `API action: ${result.message}`);
          return send(res, result.ok ? 200 : 409, result.ok ? result : { ...result, error: result.message, code: 'refused' });
        }
        const op = await startOperation(r.name, r.action, typeof to === 'string' ? { to } : {}, ctx);
        return send(res, 202, op, { Location: `/api/v1/operations/${op.id}` });
      }
    }
  };

  /** The leader's answer; none → 503 naming the leader and why (`unanswered` words it). */
  const ask = async (call: () => Promise<ApiAnswer<unknown>>, unanswered: (reason: string, timedOut: boolean) => string): Promise<ApiAnswer<unknown>> => {
    try {
      return await call();
    } catch (e) {
      const nd = e instanceof NoDaemonError ? e : undefined;
      throw new ApiError(503, unanswered(nd?.reason ?? (e as Error).message, nd?.timedOut ?? false), 'leader_unavailable');
    }
  };

  /** The leader's answer, passed on: its status and body, which manager answered, its Location made absolute to it. */
  const relay = (res: http.ServerResponse, t: ForwardTarget, what: string, a: ApiAnswer<unknown>): void => {
    const headers: Record<string, string> = { [FORWARDED_TO]: t.manager };
    const loc = a.headers.location;
    if (typeof loc === 'string') headers.Location = absoluteLocation(t.url, loc);
    const b = a.body;
    const body = b !== null && typeof b === 'object' && !Array.isArray(b) ? { ...b, forwardedTo: { manager: t.manager, url: t.url } } : b;
    log.debug({ leader: t.manager, status: a.status }, `${what}: answer of ${t.manager} relayed`);
    send(res, a.status, body, headers);
  };

  /**
   * A long action as an operation: answered once the provider says it is under way (or has
   * already ended); an error before that is the request's error, not an operation.
   */
  const startOperation = async (cluster: string, kind: 'switchover' | 'failover', request: { to?: string }, ctx: ActionContext) => {
    const op = operations.create(kind, cluster, request, `api ${ctx.remote} (request ${ctx.requestId})`);
    let markStarted!: () => void;
    const started = new Promise<void>((resolve) => (markStarted = resolve));
    const octx: ActionContext = { ...ctx, started: markStarted, step: (s) => operations.step(op, s) };
    const p = o.provider;
    const run = kind === 'switchover' ? p.switchover(cluster, { to: request.to! }, octx) : p.failover(cluster, request, octx);
    const first = await Promise.race([
      started.then(() => ({ done: false as const })),
      run.then(
        (result) => ({ done: true as const, result }),
        (error: unknown) => ({ done: true as const, error }),
      ),
    ]);
    if (first.done && 'error' in first) {
      operations.drop(op.id);
      throw first.error;
    }
    const end = (result: ActionResult) => {
      operations.finish(op, result);
      log.info({ cluster, action: kind, ok: result.ok, operation: op.id, requestId: ctx.requestId }, `API ${kind} of ${cluster} ended: ${result.message}`);
    };
    if (first.done) end(first.result);
    else {
      run.then(end, (e: unknown) => {
        const ae = e instanceof ApiError ? e : undefined;
        const message = ae ? ae.message : `internal error: ${(e as Error)?.message ?? String(e)} (operation ${op.id}; see the daemon log)`;
        if (!ae) log.error({ err: redactSecrets(e, secrets()), operation: op.id }, `API ${kind} of ${cluster} failed`);
        operations.fail(op, { code: ae?.code ?? 'internal', message });
      });
      log.info({ cluster, action: kind, operation: op.id, requestId: ctx.requestId }, `API ${kind} of ${cluster} started: operation ${op.id}`);
    }
    return op;
  };

  return (req, res) => {
    const requestId = randomUUID();
    res.setHeader('X-Request-Id', requestId);
    handle(req, res, requestId).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e instanceof ApiError) return fail(res, e.status, e.message, undefined, e.code);
      log.error({ err: redactSecrets(e, secrets()), url: req.url, requestId }, 'API request failed');
      fail(res, 500, `internal error: ${(e as Error)?.message ?? String(e)} (request ${requestId}; see the daemon log)`);
    });
  };
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

async function unknownCluster(p: ApiProvider, name: string): Promise<string> {
  let known: string[] = [];
  try {
    known = (await p.listClusters()).map((c) => c.name);
  } catch {
    /* the 404 is still right */
  }
  return `unknown cluster "${name}"${known.length ? `; known: ${known.join(', ')}` : ''}`;
}

/** Start the API server; resolves once listening. */
export async function startApiServer(o: ApiServerOptions): Promise<ApiServer> {
  const { host, port } = parseListen(o.listen ?? DEFAULT_LISTEN);
  const log = o.log ?? silentLogger;
  if (o.token !== undefined && o.token !== '' && o.token.length < 16) {
    log.warn('heir.api.token is shorter than 16 characters; use a long random token (openssl rand -hex 32)');
  }
  const server = http.createServer({ requestTimeout: 600_000, headersTimeout: 10_000 }, createApiHandler(o));
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void =>
      reject(new Error(`API server: cannot listen on ${host}:${port}: ${e.code ?? e.message} (check heir.api.listen)`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  log.info({ listen: `${urlHost}:${bound}`, actions: Boolean(o.token) }, 'API listening');
  return {
    url: `http://${urlHost}:${bound}`,
    host,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
