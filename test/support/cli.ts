/**
 * Running heir the way an operator does, for tests: the built CLI as a child
 * process, its JSON log lines, and its HTTP API.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

/** bin/heir.js of this checkout (tests run from dist/test/...). */
export const HEIR_BIN = path.join(__dirname, '..', '..', '..', 'bin', 'heir.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/heir.js ARGS` with only PATH and the given variables in its
 * environment; resolves with exit code and output (never rejects on a non-zero
 * exit). Killed after timeoutMs.
 */
export function runHeir(args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [HEIR_BIN, ...args], { env: { PATH: process.env.PATH, ...o.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The JSON lines of a log (pino), anything else skipped; an unparsable line becomes {}. */
export function jsonLogLines(text: string): any[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        return {};
      }
    });
}

/** One request to heir's HTTP API, with an optional bearer token and JSON body. */
export async function apiRequest(
  baseUrl: string,
  method: string,
  p: string,
  o: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; text: string; headers: Headers }> {
  const res = await fetch(`${baseUrl}${p}`, {
    method,
    headers: { ...(o.token ? { Authorization: `Bearer ${o.token}` } : {}), ...(o.body ? { 'Content-Type': 'application/json' } : {}), ...o.headers },
    body: o.body ? JSON.stringify(o.body) : undefined,
  });
  const text = await res.text();
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, headers: res.headers };
}

/** Polls fn every 100 ms until it returns something truthy; throws naming `what` after timeoutMs. */
export async function until<T>(what: string, timeoutMs: number, fn: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 100));
  }
}
