/**
 * Processes the lab starts, tracked by pid.
 *
 * Every server is spawned detached (its own process group) with stdout/stderr
 * going to a log file. The lab only ever signals pids (and their process
 * groups) that it spawned itself. When the test process exits — normally, on
 * an uncaught error or on SIGINT/SIGTERM/SIGHUP — whatever is still running is
 * killed and registered synchronous cleanups (network links) run.
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';

export interface Tracked {
  name: string;
  pid: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running: boolean;
  logFile: string;
}

const live = new Set<Tracked>();
const syncCleanups = new Set<() => void>();
let hooked = false;

function killAllSync(): void {
  for (const t of live) {
    if (!t.running) continue;
    try { process.kill(-t.pid, 'SIGKILL'); } catch { /* group gone */ }
    try { process.kill(t.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  for (const c of syncCleanups) {
    try { c(); } catch { /* best effort on exit */ }
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAllSync();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Registers a synchronous cleanup run when the process exits; returns its remover. */
export function onExitSync(fn: () => void): () => void {
  hook();
  syncCleanups.add(fn);
  return () => syncCleanups.delete(fn);
}

export function spawnTracked(name: string, argv: string[], logFile: string, env?: NodeJS.ProcessEnv): Tracked {
  hook();
  const fd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(argv[0], argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: env ?? process.env,
    });
  } finally {
    fs.closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`lab: could not start ${name} (${argv[0]}); see ${logFile}`);
  const t: Tracked = {
    name,
    pid: child.pid,
    child,
    running: true,
    logFile,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        t.running = false;
        live.delete(t);
        resolve({ code, signal });
      });
    }),
  };
  child.once('error', () => { /* reported through 'exit' or the readiness check */ });
  child.unref();
  live.add(t);
  return t;
}

/** Waits for the process to exit, at most timeoutMs; true when it exited. */
export async function waitExit(t: Tracked, timeoutMs: number): Promise<boolean> {
  if (!t.running) return true;
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    t.exited.then(() => true),
    new Promise<boolean>((res) => { timer = setTimeout(() => res(false), timeoutMs); }),
  ]);
  if (timer) clearTimeout(timer);
  return r;
}

export function signal(t: Tracked, sig: NodeJS.Signals, group = false): void {
  if (!t.running) return;
  try { process.kill(group ? -t.pid : t.pid, sig); } catch { /* already gone */ }
}

/**
 * SIGSTOP, then waits (up to waitMs, spinning on /proc) until every thread of the
 * process is stopped: kill() only queues the signal, and each thread stops when it
 * next leaves the kernel, so a server could still answer a request that arrived in
 * between. Returns false when some thread was still running after waitMs.
 */
export function stopAndWait(t: Tracked, waitMs = 2000): boolean {
  signal(t, 'SIGSTOP');
  const end = Date.now() + waitMs;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    if (!t.running || allStopped(t.pid)) return true;
    if (Date.now() >= end) return false;
    Atomics.wait(nap, 0, 0, 2);
  }
}

function allStopped(pid: number): boolean {
  let tasks: string[];
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch { return true; }
  for (const tid of tasks) {
    let stat: string;
    try { stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'); } catch { continue; }
    // "pid (comm) S ...": the state follows the last ')'; comm may hold spaces or ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state !== 'T' && state !== 't' && state !== 'Z' && state !== 'X') return false;
  }
  return true;
}

/** SIGTERM (after SIGCONT, in case it is paused), then SIGKILL after graceMs (0: at once); waits for exit. */
export async function terminate(t: Tracked, graceMs = 20000): Promise<void> {
  if (!t.running) return;
  if (graceMs > 0) {
    signal(t, 'SIGCONT', true);
    signal(t, 'SIGTERM');
    if (await waitExit(t, graceMs)) { signal(t, 'SIGKILL', true); return; }
  }
  signal(t, 'SIGKILL', true);
  signal(t, 'SIGKILL');
  if (!(await waitExit(t, 10000))) throw new Error(`lab: ${t.name} (pid ${t.pid}) did not exit after SIGKILL`);
}

export function tailFile(path: string, lines = 30): string {
  try {
    const text = fs.readFileSync(path, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
