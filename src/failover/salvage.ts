/**
 * Salvage: the dead master's transactions that no survivor received, read from
 * its binary logs over SSH and applied to the new master.
 *
 *  fetch  — on the dead master's host, find the binlog index (configured
 *           binlog_dir, else datadir/log-bin from my_print_defaults, else
 *           /var/lib/mysql), and copy the binlogs from the oldest one a
 *           survivor was still reading to the manager (SFTP). The host only
 *           needs sshd; mysqld may be dead.
 *  decode — mysqlbinlog on the manager (failover.salvage.mysqlbinlog, a
 *           command line: "mysqlbinlog", or a loader prefix and a path),
 *           leaving out what the new master has: --exclude-gtids (MySQL), a
 *           GTID --start-position (MariaDB), a byte --start-position
 *           (file/position).
 *  apply  — the statements, one by one, over one session of the new master,
 *           so each transaction keeps its original GTID and reaches every
 *           replica through the new master's binlog.
 *
 * Parsing is pure and tested on text; the I/O functions are thin.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import type { ClusterConfig, NodeConfig } from '../config/schema';
import { binlogBase, binlogIndex } from '../mysql/coords';
import type { Conn } from '../mysql/conn';
import { sshCopyFile, sshExec, sshTarget } from '../ssh';
import type { PositionMode } from './positions';

// ---------------------------------------------------------------------------
// Pure helpers

/** Split a command line into argv: whitespace separates, '...' and "..." quote, \ escapes. */
export function splitCommandLine(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (q) {
      if (ch === q) q = null;
      else if (ch === '\\' && q === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      q = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (q) throw new Error(`unbalanced ${q} in command line: ${s}`);
  if (has) out.push(cur);
  return out;
}

/** Paths listed in a binlog index file, made absolute against the index's folder. */
export function parseBinlogIndex(text: string, indexDir: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => (path.posix.isAbsolute(l) ? l : path.posix.normalize(path.posix.join(indexDir, l))));
}

/**
 * The binlog files to read: from `startFile` (the oldest file a survivor was
 * still reading) to the newest. Without a start file, only the newest one,
 * with a warning: older files may hold transactions nobody received.
 */
export function selectBinlogFiles(all: string[], startFile: string | undefined): { files: string[]; warning?: string } {
  if (all.length === 0) return { files: [] };
  if (!startFile) {
    return { files: [all[all.length - 1]], warning: 'no survivor reported read coordinates: only the newest binlog was read' };
  }
  const base = path.posix.basename(startFile);
  const at = all.findIndex((f) => path.posix.basename(f) === base);
  if (at >= 0) return { files: all.slice(at) };
  // Not in the index (purged or renamed): take the files numbered at or after it.
  const n = binlogIndex(base);
  const later = all.filter((f) => {
    const i = binlogIndex(path.posix.basename(f));
    return n !== undefined && i !== undefined && i >= n;
  });
  if (later.length) return { files: later, warning: `${base} is not in the binlog index; read from ${path.posix.basename(later[0])}` };
  return { files: all, warning: `${base} is not in the binlog index; read every listed binlog` };
}

/** Pick the index file whose binlogs have the base name survivors read (binlog.000003 → binlog.index). */
export function chooseIndex(indexes: { path: string; text: string }[], startFile: string | undefined): { path: string; text: string } | undefined {
  if (indexes.length <= 1) return indexes[0];
  if (startFile) {
    const base = binlogBase(path.posix.basename(startFile));
    const hit = indexes.find((i) => path.posix.basename(i.path) === `${base}.index`);
    if (hit) return hit;
  }
  // Relay log indexes are never what we want.
  return indexes.find((i) => !/relay/.test(path.posix.basename(i.path))) ?? indexes[0];
}

/** Directories named by `my_print_defaults mysqld` output (--datadir, --log-bin / --log_bin). */
export function dirsFromDefaults(text: string): string[] {
  let datadir: string | undefined;
  let logBin: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^--([a-z_-]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const k = m[1].replace(/_/g, '-');
    if (k === 'datadir') datadir = m[2];
    if (k === 'log-bin') logBin = m[2];
  }
  const out: string[] = [];
  if (logBin && path.posix.isAbsolute(logBin)) out.push(path.posix.dirname(logBin));
  if (datadir) {
    if (logBin && !path.posix.isAbsolute(logBin) && logBin.includes('/')) out.push(path.posix.join(datadir, path.posix.dirname(logBin)));
    out.push(datadir);
  }
  return [...new Set(out)];
}

/** mysqlbinlog arguments that leave out what the new master has. */
export function decodeArgs(mode: PositionMode, o: { exclude?: string; startGtid?: string; startPos?: number }): string[] {
  const args = ['--force-if-open'];
  if (mode === 'mysql-gtid' && o.exclude) args.push(`--exclude-gtids=${o.exclude}`);
  if (mode === 'mariadb-gtid' && o.startGtid) args.push(`--start-position=${o.startGtid}`);
  if (mode === 'file' && o.startPos !== undefined) args.push(`--start-position=${o.startPos}`);
  return args;
}

export interface DecodedBinlog {
  /** Statements to run in order (delimiters removed). */
  statements: string[];
  /** GTIDs of the transactions in the output, as written (MySQL uuid:n, MariaDB d-s-n). */
  gtids: string[];
  /** Transactions that end with a COMMIT (XID or query COMMIT) in the output. */
  commits: number;
}

/**
 * Split mysqlbinlog output into statements. It writes `DELIMITER /*!*\/;` and
 * ends statements with that delimiter; lines starting with '#' between
 * statements are comments (event headers), which is also where MariaDB names
 * each GTID. Client-only commands (`/*!\C cs *\/`) are dropped: the session
 * variables that follow set the same character set on the server.
 */
export function splitBinlogSql(text: string): DecodedBinlog {
  const statements: string[] = [];
  const gtids: string[] = [];
  let commits = 0;
  let delim = ';';
  let buf: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (buf.length === 0) {
      const t = line.trim();
      if (t === '') continue;
      if (t.startsWith('#')) {
        const g = /\bGTID (\d+-\d+-\d+)\b/.exec(t);
        if (g) gtids.push(g[1]);
        continue;
      }
      const d = /^DELIMITER\s+(\S+)\s*$/i.exec(t);
      if (d) {
        delim = d[1];
        continue;
      }
    }
    buf.push(line);
    const joined = buf.join('\n');
    const trimmed = joined.trimEnd();
    if (trimmed.endsWith(delim)) {
      let stmt = trimmed.slice(0, trimmed.length - delim.length).trim();
      buf = [];
      if (stmt === '') continue;
      if (/^\/\*!\\C\s+\S+\s*\*\/$/.test(stmt)) continue; // client charset command
      stmt = stmt.replace(/^\/\*!\\C\s+\S+\s*\*\/\s*/, '');
      const m = /^SET\s+@@SESSION\.GTID_NEXT\s*=\s*'([^']+)'/i.exec(stmt);
      if (m && m[1].toUpperCase() !== 'AUTOMATIC') gtids.push(m[1]);
      if (/^COMMIT\b/i.test(stmt)) commits++;
      statements.push(stmt);
    }
  }
  const rest = buf.join('\n').trim();
  if (rest !== '') statements.push(rest);
  return { statements, gtids, commits };
}

// ---------------------------------------------------------------------------
// I/O

export interface FetchedBinlogs {
  /** Where the binlogs are on the dead master's host. */
  remote: string[];
  /** Local copies, same order. */
  local: string[];
  bytes: number;
  warnings: string[];
}

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Copy the dead master's binlogs, from `startFile` on, into `workDir`.
 * Throws SshError when the host does not answer.
 */
export async function fetchBinlogs(o: {
  cluster: ClusterConfig;
  node: NodeConfig;
  startFile?: string;
  workDir: string;
  deadlineMs: number;
}): Promise<FetchedBinlogs> {
  const t = sshTarget(o.cluster, o.node);
  const left = () => Math.max(1000, o.deadlineMs - Date.now());
  const warnings: string[] = [];
  let dirs = o.node.binlog_dir ? [o.node.binlog_dir] : [];
  if (dirs.length === 0) {
    const d = await sshExec(t, 'my_print_defaults mysqld server mariadb mariadbd 2>/dev/null; true', { timeoutMs: left() });
    dirs = [...dirsFromDefaults(d.stdout), '/var/lib/mysql'];
  }
  const list = await sshExec(
    t,
    dirs.map((d) => `for f in ${shq(d)}/*.index; do [ -f "$f" ] && { echo "##INDEX $f"; cat "$f"; }; done`).join('; ') + '; true',
    { timeoutMs: left() },
  );
  const indexes: { path: string; text: string }[] = [];
  for (const chunk of list.stdout.split('##INDEX ').slice(1)) {
    const nl = chunk.indexOf('\n');
    indexes.push({ path: chunk.slice(0, nl).trim(), text: chunk.slice(nl + 1) });
  }
  const index = chooseIndex(indexes, o.startFile);
  if (!index) {
    throw new Error(
      `no binlog index (*.index) found on ${o.node.name}'s host in ${dirs.join(', ')}; set binlog_dir for node ${o.node.name} in the config`,
    );
  }
  const all = parseBinlogIndex(index.text, path.posix.dirname(index.path));
  const sel = selectBinlogFiles(all, o.startFile);
  if (sel.warning) warnings.push(sel.warning);
  fs.mkdirSync(o.workDir, { recursive: true, mode: 0o700 });
  const local: string[] = [];
  let bytes = 0;
  for (const f of sel.files) {
    const dest = path.join(o.workDir, path.posix.basename(f));
    bytes += await sshCopyFile(t, f, dest, { timeoutMs: left() });
    local.push(dest);
  }
  return { remote: sel.files, local, bytes, warnings };
}

/** Run mysqlbinlog (a command line from the config) on local files; returns its output. */
export async function decodeBinlogs(commandLine: string, args: string[], files: string[], timeoutMs: number): Promise<{ text: string; warning?: string }> {
  const argv = [...splitCommandLine(commandLine), ...args, ...files];
  if (argv.length === 0) throw new Error('failover.salvage.mysqlbinlog is empty');
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.on('data', (c: Buffer) => err.push(c));
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${argv[0]} (failover.salvage.mysqlbinlog): ${e.message}`));
    });
    p.on('close', (code, sig) => {
      clearTimeout(timer);
      const text = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (sig) return reject(new Error(`${argv[0]} killed by ${sig} after ${timeoutMs} ms (failover.salvage.timeout_s)`));
      if (code === 0) return resolve({ text, warning: stderr || undefined });
      // A binlog cut off mid-event (the server died while writing) ends with an
      // error after everything complete was printed: keep what was decoded.
      if (text.length > 0 && /DELIMITER/.test(text)) {
        return resolve({ text, warning: `${argv[0]} exited with code ${code}: ${stderr.slice(0, 500)} (the last, incomplete event is left out)` });
      }
      reject(new Error(`${argv[0]} ${args.join(' ')} exited with code ${code}: ${stderr.slice(0, 1000)}`));
    });
  });
}

/**
 * Run the decoded statements on one session. A statement that fails stops the
 * apply; the open transaction is rolled back so the session leaves nothing
 * half done. Returns how many statements ran.
 */
export async function applyStatements(c: Conn, statements: string[], deadlineMs: number): Promise<number> {
  let n = 0;
  for (const s of statements) {
    const left = deadlineMs - Date.now();
    if (left <= 0) throw new Error(`salvage apply ran out of time (failover.salvage.timeout_s) after ${n} of ${statements.length} statements`);
    try {
      await c.exec(s, Math.max(1000, left));
    } catch (e) {
      await c.exec('ROLLBACK').catch(() => undefined);
      const first = s.length > 200 ? `${s.slice(0, 200)}…` : s;
      throw new Error(`salvage statement ${n + 1} of ${statements.length} failed on ${c.name}: ${(e as Error).message} — statement: ${first}`);
    }
    n++;
  }
  return n;
}
