/**
 * A small client of the daemon's own HTTP API: the CLI's (`heir status` asks the running
 * daemon first, on loopback) and a manager's forwarding an action to a cluster's leader under
 * heir.ha (http or https, as the leader's advertised URL says). Distinguishes "no daemon
 * answers" (fall back to reading the servers) from "a daemon answered with an error".
 */
import http from 'node:http';
import https from 'node:https';

export class NoDaemonError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
    /** No answer within the timeout (the request may have arrived). */
    readonly timedOut = false,
  ) {
    super(`no heir daemon answers at ${url} (${reason})`);
    this.name = 'NoDaemonError';
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: http.IncomingHttpHeaders;
}

/** GET (or POST) a JSON endpoint; NoDaemonError when nothing answers within timeoutMs. */
export function requestJson<T = unknown>(
  base: string,
  pathname: string,
  o: { method?: 'GET' | 'POST'; token?: string; body?: unknown; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const url = new URL(pathname, base);
  const timeoutMs = o.timeoutMs ?? 3000;
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: o.method ?? 'GET',
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) } : {}),
          ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}),
          ...o.headers,
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(new NoDaemonError(base, e.message)));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            return reject(new Error(`${url.href} answered HTTP ${res.statusCode} with something that is not JSON (is heir.api.listen another program's port?)`));
          }
          resolve({ status: res.statusCode ?? 0, body: body as T, headers: res.headers });
        });
      },
    );
    req.on('timeout', () => req.destroy(new NoDaemonError(base, `no answer within ${timeoutMs} ms`, true)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(e instanceof NoDaemonError ? e : new NoDaemonError(base, e.code ?? e.message)));
    req.end(payload);
  });
}
