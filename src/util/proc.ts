/**
 * Running an operator's program (an address script, a hook) with a hard timeout.
 *
 * The program is started directly from its argv (no shell: nothing in an argument is
 * interpreted), in its own process group, so that on timeout SIGTERM and, 2 s later,
 * SIGKILL reach its children too (a child left behind would hold the output pipes open).
 * Its output is captured up to a bound; what it writes beyond is dropped and counted.
 */
import { spawn } from 'node:child_process';

export interface ProcessRun {
  argv: string[];
  /** Exit status; null when it was killed by a signal or could not start. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The timeout expired and the process group was killed. */
  timedOut: boolean;
  stdout: string;
  stderr: string;
  /** Bytes of output beyond maxOutputBytes, dropped (stdout + stderr). */
  droppedBytes: number;
  durationMs: number;
}

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Written to the program's standard input, which is then closed; without it stdin is /dev/null. */
  input?: string;
  signal?: AbortSignal;
  /** Per stream; default 1 MiB. */
  maxOutputBytes?: number;
}

/** Grace between SIGTERM and SIGKILL of the process group. */
export const KILL_GRACE_MS = 2000;

export function runProcess(argv: string[], o: RunOptions): Promise<ProcessRun> {
  const started = Date.now();
  const max = o.maxOutputBytes ?? 1024 * 1024;
  const [file, ...args] = argv;
  return new Promise((resolve) => {
    const child = spawn(file!, args, { env: o.env, stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], detached: true });
    const killGroup = (sig: NodeJS.Signals) => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        child.kill(sig);
      }
    };
    const out = { stdout: '', stderr: '' };
    const size = { stdout: 0, stderr: 0 };
    let dropped = 0;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      killGroup('SIGTERM');
      killTimer ??= setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, o.timeoutMs);
    const onAbort = () => stop();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const collect = (k: 'stdout' | 'stderr') => (d: Buffer) => {
      const room = max - size[k];
      if (room <= 0) {
        dropped += d.length;
        return;
      }
      const part = d.length > room ? d.subarray(0, room) : d;
      dropped += d.length - part.length;
      size[k] += part.length;
      out[k] += part.toString('utf8');
    };
    child.stdout!.on('data', collect('stdout'));
    child.stderr!.on('data', collect('stderr'));
    if (child.stdin) {
      // A program that does not read its input (or exits early) closes the pipe: not an error.
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input);
    }
    let done = false;
    const finish = (code: number | null, sig: NodeJS.Signals | null, extra = '') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (killTimer && !timedOut) clearTimeout(killTimer);
      o.signal?.removeEventListener('abort', onAbort);
      resolve({ argv, code, signal: sig, timedOut, stdout: out.stdout, stderr: out.stderr + extra, droppedBytes: dropped, durationMs: Date.now() - started });
    };
    child.on('error', (err) => finish(null, null, `cannot run ${file}: ${err.message}`));
    child.on('close', (code, sig) => {
      // On a timeout the group's other members may outlive the leader: SIGKILL follows anyway.
      if (timedOut && killTimer) killTimer.unref();
      finish(code, sig);
    });
  });
}
