/**
 * A small client of the daemon's own HTTP API (loopback), for the CLI: `heir status` asks
 * the running daemon first. Distinguishes "no daemon answers" (fall back to reading the
 * servers) from "a daemon answered with an error".
 */
import http from 'node:http';
import { parseListen } from './api';

export class NoDaemonError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`no heir daemon answers at ${url} (${reason})`);
    this.name = 'NoDaemonError';
  }
}

/** Base URL for heir.api.listen; a wildcard listener is asked on loopback. */
export function apiBaseUrl(listen: string): string {
  const { host, port } = parseListen(listen);
  const h = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
}

/** GET (or POST) a JSON endpoint; NoDaemonError when nothing answers within timeoutMs. */
export function requestJson<T = unknown>(
  base: string,
  pathname: string,
  o: { method?: 'GET' | 'POST'; token?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<ApiAnswer<T>> {
  const url = new URL(pathname, base);
  const timeoutMs = o.timeoutMs ?? 3000;
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: o.method ?? 'GET',
        headers: {
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) } : {}),
          ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}),
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
          resolve({ status: res.statusCode ?? 0, body: body as T });
        });
      },
    );
    req.on('timeout', () => req.destroy(new NoDaemonError(base, `no answer within ${timeoutMs} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => reject(e instanceof NoDaemonError ? e : new NoDaemonError(base, e.code ?? e.message)));
    req.end(payload);
  });
}
