/**
 * One lock per cluster, shared by the daemon, `heir failover`, `heir switchover`
 * and `heir rejoin`: state_dir/<cluster>/lock, created exclusively, holding the
 * holder's pid, the pid's start time (so a reused pid is not mistaken for the
 * holder), host and operation.
 *
 * A lock whose pid is gone (or whose pid now belongs to another process) is
 * stale: it is reported as such and taken over, because the process that held
 * it cannot release it any more. Whatever that process left half done is the
 * journal's business (see journal.ts), not the lock's.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface LockHolder {
  pid: number;
  /** Start time of the pid (clock ticks since boot, /proc/<pid>/stat field 22), when known. */
  pidStart?: string;
  host: string;
  operation: string;
  detail?: string;
  /** ISO time the lock was taken. */
  since: string;
}

export interface LockPeek {
  free: boolean;
  holder?: LockHolder;
  /** The holder's process is gone: the lock would be taken over. */
  stale?: boolean;
  /** One line for people. */
  text?: string;
}

export class LockHeldError extends Error {
  constructor(
    readonly cluster: string,
    readonly holder: LockHolder,
  ) {
    super(
      `cluster ${cluster} is locked by ${describeHolder(holder)}; ` +
        'wait for that operation to finish (or stop that process) and try again',
    );
    this.name = 'LockHeldError';
  }
}

export function describeHolder(h: LockHolder): string {
  return `${h.operation}${h.detail ? ` (${h.detail})` : ''} — pid ${h.pid} on ${h.host} since ${h.since}`;
}

export function clusterDir(stateDir: string, cluster: string): string {
  return path.join(stateDir, cluster);
}

export function lockPath(stateDir: string, cluster: string): string {
  return path.join(clusterDir(stateDir, cluster), 'lock');
}

/** Start time of a process, or undefined when unknown (not Linux, or no such pid). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the holder's process is gone (pure apart from looking at the process table). */
export function isStale(h: LockHolder): boolean {
  if (h.host !== os.hostname()) return false; // another machine: cannot tell, assume held
  if (!pidAlive(h.pid)) return true;
  if (h.pidStart !== undefined) {
    const now = processStartTime(h.pid);
    if (now !== undefined && now !== h.pidStart) return true; // pid reused
  }
  return false;
}

function readHolder(p: string): LockHolder | undefined {
  let text: string;
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as LockHolder;
  } catch {
    // Torn write by a process that died while taking the lock.
    return { pid: -1, host: os.hostname(), operation: 'unknown (unreadable lock file)', since: '?' };
  }
}

export function peekLock(stateDir: string, cluster: string): LockPeek {
  const holder = readHolder(lockPath(stateDir, cluster));
  if (!holder) return { free: true };
  const stale = holder.pid === -1 || isStale(holder);
  return { free: false, holder, stale, text: `${describeHolder(holder)}${stale ? ' (stale: process gone)' : ''}` };
}

export interface ClusterLock {
  readonly cluster: string;
  readonly path: string;
  readonly holder: LockHolder;
  /** Holder of a stale lock that was taken over, if any. */
  readonly tookOverFrom?: LockHolder;
  release(): void;
}

/**
 * Take the cluster lock or throw LockHeldError. A stale lock is replaced
 * (the previous holder is returned in tookOverFrom so it can be reported).
 */
export function acquireLock(stateDir: string, cluster: string, operation: string, detail?: string): ClusterLock {
  const dir = clusterDir(stateDir, cluster);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const p = lockPath(stateDir, cluster);
  const holder: LockHolder = {
    pid: process.pid,
    pidStart: processStartTime(process.pid),
    host: os.hostname(),
    operation,
    detail,
    since: new Date().toISOString(),
  };
  let tookOverFrom: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(p, 'wx', 0o640);
      try {
        fs.writeSync(fd, JSON.stringify(holder) + '\n');
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fsyncDir(dir);
      let released = false;
      return {
        cluster,
        path: p,
        holder,
        tookOverFrom,
        release() {
          if (released) return;
          released = true;
          const cur = readHolder(p);
          if (cur && cur.pid === holder.pid && cur.since === holder.since) fs.rmSync(p, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const peek = peekLock(stateDir, cluster);
      if (peek.free) continue; // released meanwhile
      if (!peek.stale) throw new LockHeldError(cluster, peek.holder!);
      tookOverFrom = peek.holder;
      // Rename first so that two processes taking over the same stale lock cannot both succeed.
      const aside = `${p}.stale-${process.pid}`;
      try {
        fs.renameSync(p, aside);
        fs.rmSync(aside, { force: true });
      } catch (re) {
        if ((re as NodeJS.ErrnoException).code !== 'ENOENT') throw re;
      }
    }
  }
  const peek = peekLock(stateDir, cluster);
  throw new LockHeldError(cluster, peek.holder ?? { pid: -1, host: '?', operation: 'unknown', since: '?' });
}

/**
 * Atomic replace of a JSON file: write a temporary file, fsync, rename, fsync
 * the directory (created when missing). A crash leaves the old file or the new
 * one, never half of either.
 */
export function writeJsonAtomic(p: string, value: unknown): void {
  const dir = path.dirname(p);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const tmp = `${p}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w', 0o640);
  try {
    fs.writeSync(fd, JSON.stringify(value, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, p);
  fsyncDir(dir);
}

export function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Not every file system allows fsync on a directory; the file itself was synced.
  }
}

/**
 * Where an operation's lock and journals live, as far as taking the lock goes: a
 * FailoverStore (store.ts: state_dir on disk, or etcd under heir.ha) is one.
 */
export interface LockPlace {
  acquireLock(cluster: string, operation: string, detail?: string): Promise<{ readonly tookOverFrom?: LockHolder; release(): Promise<void> }>;
  peekLock(cluster: string): Promise<LockPeek>;
  unfinishedJournals(cluster: string): Promise<{ operation: string; id: string }[]>;
}

/** The lock as an operation sees it before taking it: free, or who holds it (people's words). */
export interface OperationLockState {
  free: boolean;
  holder?: string;
}

/** An unfinished failover/switchover/rejoin journal: the cluster may be half changed. */
async function unfinishedText(place: LockPlace, cluster: string): Promise<string | undefined> {
  const js = await place.unfinishedJournals(cluster);
  if (js.length === 0) return undefined;
  return `unfinished ${js.map((j) => `${j.operation} ${j.id}`).join(', ')} (inspect the cluster, then \`heir ack --cluster ${cluster}\`)`;
}

/** Would an operation get the lock now? Held by a live process, or an unfinished journal, says no. */
export async function operationLockState(place: LockPlace, cluster: string): Promise<OperationLockState> {
  const p = await place.peekLock(cluster);
  if (!p.free && !p.stale) return { free: false, holder: p.text };
  const u = await unfinishedText(place, cluster);
  if (u) return { free: false, holder: u };
  return { free: true };
}

/**
 * Take the cluster lock for an operation that must not start next to an unfinished one
 * (switchover; rejoin and failover check their own guard). Refused: who holds it, or which
 * journal is unfinished, in words; the lock is not kept then.
 */
export async function takeOperationLock(
  place: LockPlace,
  cluster: string,
  operation: string,
  detail: string,
): Promise<{ tookOverFrom?: LockHolder; release(): Promise<void> } | { refused: string }> {
  let lock;
  try {
    lock = await place.acquireLock(cluster, operation, detail);
  } catch (e) {
    if (e instanceof LockHeldError) return { refused: e.message };
    throw e;
  }
  const u = await unfinishedText(place, cluster);
  if (u) {
    await lock.release();
    return { refused: u };
  }
  return lock;
}
