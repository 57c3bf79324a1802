/**
 * The shell commands the monitor runs over SSH, and the parsing of their output (pure).
 *
 * They need only a POSIX shell, /proc, awk, and for the port probe bash's /dev/tcp and
 * coreutils' `timeout` — no root-only or optional tools (no nc, no ss).
 *
 * Output is `key=value` lines:
 *   listening=0|1          something listens on the port in this host's network namespace
 *   pid=N                  mysqld's pid (pid file, else the owner of the listening socket)
 *   state=R|S|D|T|t|Z|     /proc state of that pid ('' when the process is gone)
 *   comm=mysqld            its command name
 *   cmd=...                its command line (spaces for NULs, first 300 bytes)
 *   probe=greeting|error-greeting|silent|refused|unreachable   TCP probe of address:port
 *   probe_bytes=..         first bytes received (hex), for the evidence
 */
import type { TcpProbeResult } from './types';

/** Single-quote a value for sh. */
export function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Validate what goes into a command: an address and a port, nothing else. */
function safeAddress(a: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(a)) throw new Error(`refusing to probe address '${a}': unexpected characters`);
  return a;
}

function seconds(ms: number): string {
  return (Math.max(100, ms) / 1000).toFixed(1);
}

/**
 * Probe address:port over TCP from the host the command runs on, and wait for mysqld's
 * greeting. `C` is printed once TCP connected, then the first 5 bytes in hex.
 */
export function probeCommand(address: string, port: number, timeoutMs: number): string {
  const a = safeAddress(address);
  const p = Math.trunc(port);
  const inner = `exec 3<>/dev/tcp/${a}/${p} || exit 7; echo C; head -c 5 <&3 | od -An -tx1`;
  return [
    `out=$(timeout ${seconds(timeoutMs)} bash -c ${shQuote(inner)} 2>/dev/null); rc=$?`,
    `bytes=$(printf '%s' "$out" | sed -n '2,$p' | tr -s ' \\n' ' ' | sed 's/^ //;s/ $//')`,
    `if printf '%s' "$out" | head -n1 | grep -q '^C$'; then`,
    `  set -- $bytes`,
    `  if [ "$5" = "ff" ]; then echo probe=error-greeting; elif [ -n "$5" ]; then echo probe=greeting; elif [ "$rc" = 124 ]; then echo probe=silent; else echo probe=refused; fi`,
    `elif [ "$rc" = 124 ]; then echo probe=unreachable`,
    `else echo probe=refused; fi`,
    `echo "probe_bytes=$bytes"`,
    `echo "probe_rc=$rc"`,
  ].join('\n');
}

/**
 * The host check: find mysqld (by pid file, else by the socket listening on the port),
 * report its /proc state, whether the port listens, and probe the port locally.
 */
export function hostCheckCommand(o: { address: string; port: number; pidFile?: string | null; probeTimeoutMs: number }): string {
  const port = Math.trunc(o.port);
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const lines = [
    `PF=${shQuote(o.pidFile ?? '')}`,
    'pid=',
    'if [ -n "$PF" ] && [ -r "$PF" ]; then pid=$(head -c 32 "$PF" | tr -dc 0-9); fi',
    `inodes=$(awk 'NR>1 && $4=="0A" && substr($2, length($2)-4)==":${hex}" {print $10}' /proc/net/tcp /proc/net/tcp6 2>/dev/null)`,
    'if [ -n "$inodes" ]; then echo listening=1; else echo listening=0; fi',
    'if [ -z "$pid" ] && [ -n "$inodes" ]; then',
    '  for i in $inodes; do',
    '    f=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\\[$i\\]" 2>/dev/null | head -n1)',
    '    if [ -n "$f" ]; then pid=$(echo "$f" | cut -d/ -f3); break; fi',
    '  done',
    'fi',
    'echo "pid=$pid"',
    'if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then',
    '  echo "state=$(sed -n \'s/^.*) \\([A-Za-z]\\) .*/\\1/p\' /proc/$pid/stat)"',
    '  echo "comm=$(cat /proc/$pid/comm 2>/dev/null)"',
    '  echo "cmd=$(tr \'\\000\' \' \' < /proc/$pid/cmdline 2>/dev/null | head -c 300)"',
    'else echo state=; echo comm=; echo cmd=; fi',
    probeCommand(o.address, port, o.probeTimeoutMs),
  ];
  return lines.join('\n');
}

/**
 * The fence of a master that does not answer SQL while its host answers SSH (hung, or
 * stopped with SIGSTOP): kill -9 the process that listens on its port, so that it cannot
 * resume writable after a new master was promoted. Only a process named mysqld/mariadbd (by
 * name or command line) is killed; SIGKILL ends a stopped process too. Without root it tries
 * `sudo -n`. Waits up to `waitMs` for the process to be gone (one in uninterruptible sleep
 * dies only when its I/O returns).
 *
 * Output: `pid=`, `comm=`, `state=` (before), then `killed=1|0|none` (none: no mysqld
 * listens on the port), `gone=1|0`, `kill_error=...`.
 */
export function killMysqldCommand(o: { port: number; waitMs: number }): string {
  const port = Math.trunc(o.port);
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const tries = Math.max(1, Math.round(o.waitMs / 100));
  return [
    'pid=',
    `inodes=$(awk 'NR>1 && $4=="0A" && substr($2, length($2)-4)==":${hex}" {print $10}' /proc/net/tcp /proc/net/tcp6 2>/dev/null)`,
    'for i in $inodes; do',
    '  f=$(find /proc/[0-9]*/fd -maxdepth 1 -lname "socket:\\[$i\\]" 2>/dev/null | head -n1)',
    '  if [ -n "$f" ]; then pid=$(echo "$f" | cut -d/ -f3); break; fi',
    'done',
    'echo "pid=$pid"',
    'if [ -z "$pid" ] || [ ! -r "/proc/$pid/stat" ]; then echo comm=; echo state=; echo killed=none; exit 0; fi',
    'comm=$(cat /proc/$pid/comm 2>/dev/null); cmd=$(tr \'\\000\' \' \' < /proc/$pid/cmdline 2>/dev/null | head -c 300)',
    'echo "comm=$comm"',
    'echo "state=$(sed -n \'s/^.*) \\([A-Za-z]\\) .*/\\1/p\' /proc/$pid/stat)"',
    'case "$comm" in mysqld|mariadbd|mysqld-debug) ;; *) case " $cmd " in *"/mysqld "*|*" mysqld "*|*"/mariadbd "*|*" mariadbd "*) ;; *) echo killed=none; echo "kill_error=the process on the port is $comm, not mysqld"; exit 0;; esac;; esac',
    'if ! err=$(kill -KILL "$pid" 2>&1); then if ! sudo -n kill -KILL "$pid" >/dev/null 2>&1; then echo killed=0; echo "kill_error=$(echo "$err" | head -n1)"; exit 0; fi; fi',
    'echo killed=1',
    `n=0; while [ -e "/proc/$pid" ] && [ "$(sed -n 's/^.*) \\([A-Za-z]\\) .*/\\1/p' /proc/$pid/stat 2>/dev/null)" != Z ] && [ $n -lt ${tries} ]; do sleep 0.1; n=$((n+1)); done`,
    'if [ -e "/proc/$pid" ] && [ "$(sed -n \'s/^.*) \\([A-Za-z]\\) .*/\\1/p\' /proc/$pid/stat 2>/dev/null)" != Z ]; then echo gone=0; else echo gone=1; fi',
  ].join('\n');
}

export interface KillResult {
  pid: number | null;
  comm: string | null;
  /** /proc state before the kill (T: stopped, D: uninterruptible, S/R: running). */
  stateBefore: string | null;
  /** killed: SIGKILL sent; none: no mysqld listens on the port; failed: the kill was refused. */
  killed: 'killed' | 'none' | 'failed';
  /** The process is gone (or a zombie) after the kill. */
  gone: boolean;
  error: string | null;
}

export function parseKill(out: string): KillResult | null {
  const kv = parseKeyValues(out);
  const k = kv.get('killed');
  if (k !== '1' && k !== '0' && k !== 'none') return null;
  const pidText = kv.get('pid') ?? '';
  return {
    pid: /^\d+$/.test(pidText) ? Number(pidText) : null,
    comm: kv.get('comm') || null,
    stateBefore: kv.get('state') || null,
    killed: k === '1' ? 'killed' : k === 'none' ? 'none' : 'failed',
    gone: kv.get('gone') === '1',
    error: kv.get('kill_error') || null,
  };
}

export function parseKeyValues(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

const PROBE_RESULTS: TcpProbeResult[] = ['greeting', 'error-greeting', 'silent', 'refused', 'unreachable'];

export function parseProbe(out: string): { result: TcpProbeResult | null; bytes: string } {
  const kv = parseKeyValues(out);
  const r = kv.get('probe') as TcpProbeResult | undefined;
  return { result: r && PROBE_RESULTS.includes(r) ? r : null, bytes: kv.get('probe_bytes') ?? '' };
}

const MYSQLD_NAMES = ['mysqld', 'mariadbd', 'mysqld-debug'];

export function parseHostCheck(out: string): {
  pid: number | null;
  processState: string | null;
  comm: string | null;
  listening: boolean | null;
  local: TcpProbeResult | null;
  bytes: string;
} {
  const kv = parseKeyValues(out);
  const pidText = kv.get('pid') ?? '';
  const pid = /^\d+$/.test(pidText) ? Number(pidText) : null;
  const comm = kv.get('comm') || null;
  let state = kv.get('state') || null;
  // A pid file can outlive its process and the pid be reused: only mysqld counts (by its
  // name, or by its command line when it runs through a loader or wrapper).
  const cmd = kv.get('cmd') ?? '';
  const isMysqld = (comm !== null && MYSQLD_NAMES.includes(comm)) || /(^|[/\s])(mysqld|mariadbd)(\s|$)/.test(cmd);
  if (pid !== null && state !== null && !isMysqld) state = null;
  const l = kv.get('listening');
  const probe = parseProbe(out);
  return {
    pid,
    processState: pid === null ? null : state,
    comm,
    listening: l === '1' ? true : l === '0' ? false : null,
    local: probe.result,
    bytes: probe.bytes,
  };
}
