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
 *           (file/position). Its output goes straight into salvage.sql; the
 *           file is then scanned line by line (streaming) for the
 *           transactions it holds.
 *  apply  — salvage.sql fed to the server's own client (failover.salvage.mysql,
 *           --binary-mode) connected to the new master, as the manual's
 *           point-in-time recovery does: the client knows the statement
 *           syntax (delimiters in literals, \r, charset commands, BINLOG
 *           blocks of any size); heir never splits the text. One session, so
 *           each transaction keeps its original GTID and reaches every replica
 *           through the new master's binlog.
 *
 * Both child processes are killed at salvage.timeout_s; neither's output is
 * held in memory. Parsing is pure and tested on text; the I/O functions are thin.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile, spawn } from 'node:child_process';
import * as readline from 'node:readline';
import type { ClusterConfig, NodeConfig, TlsSettings } from '../config/schema';
import { binlogBase, binlogIndex } from '../mysql/coords';
import { sshCopyFile, sshExec, sshTarget } from '../ssh';
import type { PositionMode } from './positions';
import { GtidSet } from '../mysql/gtid';
import { MariaGtidPos, parseGtidList, type MariaGtid } from '../mysql/mariadb-gtid';

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
export function selectBinlogFiles(all: string[], startFile: string | undefined): { files: string[]; warning?: string; purged?: string } {
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
  if (later.length) return { files: later, warning: `${base} is not in the binlog index; read from ${path.posix.basename(later[0])}`, purged: base };
  return { files: all, warning: `${base} is not in the binlog index; read every listed binlog`, purged: base };
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

/**
 * What a decoded binlog holds, gathered line by line: the transactions' GTIDs (MySQL's
 * `SET @@SESSION.GTID_NEXT`, MariaDB's `GTID d-s-n` event header) and the ends of the
 * transactions: a COMMIT (an XID event prints `COMMIT/*!*\/;`, a query COMMIT `COMMIT` then
 * `/*!*\/;`), or a statement that commits by itself (DDL: its transaction is the GTID event
 * and one Query event that is not BEGIN, with no XID or COMMIT after it). Only counted and
 * listed: what runs is decided by the client, which parses the statements. Call end() after
 * the last line.
 */
export class DecodedScan {
  commits = 0;
  /**
   * With `trackEnds` (file/position): after each COMMIT, the coordinates in the decoded binlog
   * where the next transaction begins (the header's end_log_pos, the file followed through
   * Rotate events from `firstFile`).
   */
  readonly commitEnds: { file: string; pos: number }[] = [];
  private file: string | undefined;
  private nextFile: string | undefined;
  private endPos = 0;
  /**
   * What the server had written before the first decoded binlog began: MySQL's
   * Previous-GTIDs set, MariaDB's Gtid list (its first occurrence; '' when the binlog shows
   * none). A salvage whose first binlog was purged lacks what lies before it.
   */
  previous: string | undefined;
  private inPrevious = false;

  constructor(private readonly trackEnds?: { firstFile: string }) {
    this.file = trackEnds?.firstFile;
  }

  private commit(): void {
    this.commits++;
    this.group = 'none';
    if (this.trackEnds && this.file) this.commitEnds.push({ file: this.file, pos: this.endPos });
  }
  /**
   * The transaction being read: 'none' outside one (or in a binlog without GTID events),
   * 'gtid' after its GTID event, 'statement' once its first Query event came and was not
   * BEGIN (a statement that commits by itself, ended by the next event), 'trx' after BEGIN
   * (ended by its COMMIT; an incomplete last one, which the client rolls back, never is).
   */
  private group: 'none' | 'gtid' | 'statement' | 'trx' = 'none';
  private prevBegin = false;
  /** MySQL: per source uuid (and tag), the intervals in order of appearance, merged when adjacent. */
  private mysql = new Map<string, [bigint, bigint][]>();
  /** MariaDB: per domain, lowest and highest seq and how many. */
  private maria = new Map<number, { server: number; min: bigint; max: bigint; n: number }>();
  private prevCommit = false;

  line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.inPrevious) {
      // MySQL prints the set on the lines after the header, one source a line, '# '-prefixed.
      if (line.startsWith('# ') && !line.startsWith('# at ')) {
        this.previous = `${this.previous ?? ''}${line.slice(2).trim()}`;
        return;
      }
      this.inPrevious = false;
      this.previous ??= '';
    }
    if (this.prevCommit) {
      this.prevCommit = false;
      if (line === '/*!*/;') this.commit();
    }
    if (this.prevBegin) {
      // The statement is BEGIN alone (a BEGIN line inside a routine's body is followed by more of it).
      this.prevBegin = false;
      if (line === '/*!*/;' && (this.group === 'gtid' || this.group === 'statement')) this.group = 'trx';
    }
    if (line === 'COMMIT/*!*/;') this.commit();
    else if (line === 'COMMIT') this.prevCommit = true;
    else if (line === 'BEGIN' || line === 'START TRANSACTION') this.prevBegin = true;
    else if (line.startsWith('SET @@SESSION.GTID_NEXT')) {
      const m = /^SET @@SESSION\.GTID_NEXT\s*=\s*'([^']+)'/i.exec(line);
      // A GTID (uuid[:tag]:n); AUTOMATIC, and ANONYMOUS (gtid_mode OFF), name none.
      if (m && /:\d+$/.test(m[1])) this.addMysql(m[1]);
    } else if (line.startsWith('#')) {
      if (/^#\d{6}\s/.test(line)) {
        // An event header: a statement that committed by itself ended with the event before.
        if (this.group === 'statement') this.commit();
        if (/\t(?:Anonymous_GTID|GTID)(?:\t|\s+\d+-\d+-\d+\b)/.test(line)) this.group = 'gtid';
        else if (this.group === 'gtid' && /\tQuery\t/.test(line)) this.group = 'statement';
      }
      const g = /^#\d{6}\s.*\bGTID (\d+)-(\d+)-(\d+)\b/.exec(line);
      if (g) this.addMaria(Number(g[1]), Number(g[2]), BigInt(g[3]));
      if (this.previous === undefined && /^#\d{6}\s/.test(line)) {
        if (/\tPrevious-GTIDs\s*$/.test(line)) this.inPrevious = true;
        const list = /\tGtid list \[([^\]]*)\]/.exec(line);
        if (list) this.previous = list[1]!.trim();
      }
      if (this.trackEnds && /^#\d{6}\s/.test(line)) {
        // An event header. A new file begins with its format description event, after the
        // previous file's Rotate named it.
        if (this.nextFile && /\bStart: binlog v \d/.test(line)) {
          this.file = this.nextFile;
          this.nextFile = undefined;
        }
        const e = /\bend_log_pos (\d+)\b/.exec(line);
        if (e) this.endPos = Number(e[1]);
        const r = /\bRotate to (\S+)\s+pos: \d+/.exec(line);
        if (r) this.nextFile = r[1];
      }
    }
  }

  /** After the last line: a statement that committed by itself may end the output. */
  end(): this {
    if (this.group === 'statement') this.commit();
    return this;
  }

  private addMysql(gtid: string): void {
    const at = gtid.lastIndexOf(':');
    const src = gtid.slice(0, at).toLowerCase();
    const n = BigInt(gtid.slice(at + 1));
    let iv = this.mysql.get(src);
    if (!iv) this.mysql.set(src, (iv = []));
    const last = iv[iv.length - 1];
    if (last && n === last[1] + 1n) last[1] = n;
    else iv.push([n, n]);
  }

  private addMaria(domain: number, server: number, seq: bigint): void {
    const d = this.maria.get(domain);
    if (!d) this.maria.set(domain, { server, min: seq, max: seq, n: 1 });
    else {
      d.n++;
      if (seq < d.min) d.min = seq;
      if (seq > d.max) d.max = seq;
    }
  }

  /** How many transactions: the GTIDs named, else the ends counted (file/position without GTIDs: COMMITs and DDL). */
  get transactions(): number {
    let n = 0;
    for (const iv of this.mysql.values()) for (const [a, b] of iv) n += Number(b - a + 1n);
    for (const d of this.maria.values()) n += d.n;
    return n > 0 ? n : this.commits;
  }

  /**
   * MariaDB: the decoded transactions that `pos` does not hold (per domain, a seq beyond
   * pos's), as text; '' when it holds all of them.
   */
  mariaBeyond(pos: MariaGtidPos): string {
    const out: string[] = [];
    for (const [d, x] of this.maria) {
      const have = pos.get(d)?.seq ?? 0n;
      if (x.max > have) out.push(`domain ${d} seq ${have >= x.min ? have + 1n : x.min}-${x.max}`);
    }
    return out.join(', ');
  }

  /** The GTIDs, as a MySQL GTID set or a MariaDB list per domain; '' when none were named. */
  get gtids(): string {
    if (this.mysql.size) {
      return [...this.mysql.entries()].map(([src, iv]) => `${src}:${iv.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(':')}`).join(',');
    }
    return [...this.maria.entries()].map(([d, x]) => `domain ${d} seq ${x.min}-${x.max}`).join(', ');
  }
}

/**
 * What the dead master wrote before its oldest remaining binlog and the winner lacks, when
 * the binlog the survivors needed was purged (pure): MySQL, the Previous-GTIDs set minus the
 * winner's GTIDs; MariaDB, per domain the seqs between the winner's position and the Gtid
 * list (a MariaDB position would hide that gap once later transactions are applied).
 * count null when the decoded binlog showed no previous set.
 */
export function purgedGap(mode: PositionMode, previous: string | undefined, winnerBefore: string): { count: number | null; transactions: string } {
  if (previous === undefined || mode === 'file') return { count: null, transactions: '' };
  if (mode === 'mysql-gtid') {
    const prev = GtidSet.tryParse(previous);
    const have = GtidSet.tryParse(winnerBefore);
    if (!prev || !have) return { count: null, transactions: '' };
    const gap = prev.subtract(have);
    return { count: Number(gap.count()), transactions: gap.toString() };
  }
  const list = parseGtidList(previous);
  let have: MariaGtidPos | undefined;
  try {
    have = MariaGtidPos.parse(winnerBefore);
  } catch {
    have = undefined;
  }
  if (!list || !have) return { count: null, transactions: '' };
  const last = new Map<number, MariaGtid>();
  for (const g of list) if (!last.has(g.domain) || last.get(g.domain)!.seq < g.seq) last.set(g.domain, g);
  const behind = have.behind(MariaGtidPos.of([...last.values()]));
  return {
    count: Number(behind.reduce((n, b) => n + (b.to - b.from), 0n)),
    transactions: behind.map((b) => `domain ${b.domain} seq ${b.from + 1n}-${b.to}`).join(', '),
  };
}

/** Scan decoded text held in memory (tests, small outputs). */
export function scanDecodedText(text: string, trackEnds?: { firstFile: string }): DecodedScan {
  const s = new DecodedScan(trackEnds);
  for (const l of text.split('\n')) s.line(l);
  return s.end();
}

/** A value for a MySQL option file: double-quoted, with the escapes both clients read. */
export function optionValue(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
}

export type ClientFlavor = 'mysql' | 'mariadb';

/**
 * The [client] option file the mysql client reads (--defaults-extra-file): credentials stay
 * off the command line. TLS follows mysql.tls, in each client's own terms.
 */
export function clientOptionFile(o: { host: string; port: number; user: string; password: string; tls: TlsSettings; connectTimeoutS: number; flavor: ClientFlavor }): string {
  const lines = ['[client]', `host=${optionValue(o.host)}`, `port=${o.port}`, 'protocol=TCP', `user=${optionValue(o.user)}`, `password=${optionValue(o.password)}`, `connect-timeout=${Math.max(1, Math.ceil(o.connectTimeoutS))}`, 'max-allowed-packet=1G'];
  const t = o.tls;
  if (o.flavor === 'mysql') {
    lines.push(`ssl-mode=${t.mode.toUpperCase().replace('-', '_')}`);
    if (t.mode === 'disabled') lines.push('get-server-public-key');
  } else if (t.mode === 'disabled') lines.push('skip-ssl');
  else if (t.mode !== 'preferred') {
    lines.push('ssl');
    if (t.mode === 'verify-ca' || t.mode === 'verify-identity') lines.push('ssl-verify-server-cert');
  }
  if (t.mode !== 'disabled') {
    if (t.ca) lines.push(`ssl-ca=${optionValue(t.ca)}`);
    if (t.cert) lines.push(`ssl-cert=${optionValue(t.cert)}`);
    if (t.key) lines.push(`ssl-key=${optionValue(t.key)}`);
  }
  return lines.join('\n') + '\n';
}

/** Which client a `--version` line names. */
export function clientFlavor(versionLine: string): ClientFlavor {
  return /mariadb/i.test(versionLine) ? 'mariadb' : 'mysql';
}

/** The client's error line ("ERROR 1062 (23000) at line 5: ..."), else the end of its stderr. */
export function clientError(stderr: string): string {
  const m = /^ERROR \d+.*$/m.exec(stderr);
  return m ? m[0].slice(0, 1000) : stderr.slice(-1000).trim();
}

/** "ERROR 1064 (42000) at line 57: ..." → 57. */
export function clientErrorLine(stderr: string): number | undefined {
  const m = /\bat line (\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
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
  /** The binlog the survivors needed first, when the dead master no longer had it (purged). */
  purged?: string;
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
  const all = await locateBinlogs(o.cluster, o.node, o.deadlineMs, o.startFile);
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
  return { remote: sel.files, local, bytes, warnings, ...(sel.purged ? { purged: sel.purged } : {}) };
}

/**
 * The binlog files of `node`'s server, over SSH, oldest first: from the index file in
 * binlog_dir (else the directories my_print_defaults names, else /var/lib/mysql). Throws
 * SshError when the host does not answer, Error when no index is found.
 */
export async function locateBinlogs(cluster: ClusterConfig, node: NodeConfig, deadlineMs: number, startFile?: string): Promise<string[]> {
  const t = sshTarget(cluster, node);
  const left = () => Math.max(1000, deadlineMs - Date.now());
  let dirs = node.binlog_dir ? [node.binlog_dir] : [];
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
  const index = chooseIndex(indexes, startFile);
  if (!index) {
    throw new Error(
      `no binlog index (*.index) found on ${node.name}'s host in ${dirs.join(', ')}; set binlog_dir for node ${node.name} in the config`,
    );
  }
  return parseBinlogIndex(index.text, path.posix.dirname(index.path));
}

/**
 * Can salvage read `node`'s binlogs over SSH? Finds them and reads the first bytes of the
 * newest one (a binlog starts with the magic \xfe bin). What `heir check` asks of every
 * node: any of them may be the dead master one day.
 */
export async function probeBinlogAccess(cluster: ClusterConfig, node: NodeConfig, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const files = await locateBinlogs(cluster, node, deadline);
  const newest = files.at(-1);
  if (!newest) throw new Error('the binlog index lists no file');
  const r = await sshExec(sshTarget(cluster, node), `head -c 4 ${shq(newest)} | od -An -tx1`, { timeoutMs: Math.max(1000, deadline - Date.now()) });
  if (r.stdout.replace(/\s+/g, ' ').trim() !== 'fe 62 69 6e') {
    throw new Error(`cannot read ${newest} as ${cluster.ssh.user ?? 'the SSH user'}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
  }
  return `${files.length} binlog(s) readable, newest ${newest}`;
}

/** mariadb-binlog's complaint when no event follows its --start-position GTID state. */
const NEVER_REACHED = /never reached expected GTID state/i;

/**
 * Run mysqlbinlog (a command line from the config) on local files, its output written
 * straight to `outFile` (never held in memory). A binlog cut off mid-event (the server died
 * while writing) makes it exit non-zero after printing everything complete: that output is
 * kept, with a warning, when the last event is really cut off.
 */
export async function decodeToFile(commandLine: string, args: string[], files: string[], outFile: string, timeoutMs: number): Promise<{ warning?: string; startNotReached?: string }> {
  const argv = [...splitCommandLine(commandLine), ...args, ...files];
  if (argv.length === 0) throw new Error('failover.salvage.mysqlbinlog is empty');
  const fd = fs.openSync(outFile, 'w', 0o600);
  try {
    const r = await runChild(argv, { stdin: 'ignore', stdout: fd, timeoutMs, what: 'failover.salvage.mysqlbinlog' });
    if (r.code === 0) return { warning: r.stderr || undefined };
    // mariadb-binlog --start-position=GTID exits 1 when no event follows that GTID state, as
    // when the new master has everything the binlogs hold: nothing was cut off. Whether the
    // binlogs end at that state or never contain it is for the caller to tell (mariaUnreached).
    if (NEVER_REACHED.test(r.stderr)) return { startNotReached: r.stderr.trim().slice(0, 500) };
    const head = readHead(outFile, 65536);
    if (/DELIMITER/.test(head)) {
      return { warning: `${argv[0]} exited with code ${r.code}: ${r.stderr.slice(0, 500)} (the output up to the last complete event is kept)` };
    }
    throw new Error(`${argv[0]} ${args.join(' ')} exited with code ${r.code}: ${r.stderr.slice(0, 1000)}`);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The transactions in a decoded file, read line by line; by `deadline` (epoch ms, salvage's
 * timeout_s) or it throws, so that a huge decoded file cannot hold the failover past it.
 */
export async function scanDecodedFile(file: string, o: { trackEnds?: { firstFile: string }; deadline?: number } = {}): Promise<DecodedScan> {
  const s = new DecodedScan(o.trackEnds);
  const input = fs.createReadStream(file);
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const l of rl) {
      s.line(l);
      if (o.deadline !== undefined && ++n % 4096 === 0 && Date.now() > o.deadline) {
        throw new Error(`salvage.timeout_s ran out while reading the decoded binlogs (${file}, ${n} lines read)`);
      }
    }
  } finally {
    rl.close();
    input.destroy();
  }
  if (o.deadline !== undefined && Date.now() > o.deadline) throw new Error(`salvage.timeout_s ran out while reading the decoded binlogs (${file}, ${n} lines read)`);
  return s.end();
}

/** The first line a salvage tool (a command line from the config) prints for --version. */
export async function toolVersion(commandLine: string, timeoutMs = 5000): Promise<string> {
  const argv = splitCommandLine(commandLine);
  if (argv.length === 0) throw new Error('empty command line');
  return new Promise((resolve, reject) => {
    execFile(argv[0], [...argv.slice(1), '--version'], { timeout: timeoutMs }, (e, stdout) => {
      if (e) return reject(new Error(`cannot run ${argv.join(' ')} --version: ${e.message.split('\n')[0]}`));
      resolve(String(stdout).split('\n')[0]!.trim());
    });
  });
}

/**
 * Whether the configured mysqlbinlog takes a MariaDB GTID list as --start-position, which
 * salvage by MariaDB GTID needs (mariadb-binlog 10.8 and newer; its --version says only
 * "Ver 3.5"). Asked of the tool itself, on an empty input: one that accepted the option
 * complains about the input, one that did not complains about the option.
 */
export async function takesGtidStart(commandLine: string, timeoutMs = 5000): Promise<{ ok: boolean; detail: string }> {
  const argv = splitCommandLine(commandLine);
  if (argv.length === 0) throw new Error('empty command line');
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, [...argv.slice(1), '--start-position=0-1-1', '/dev/null'], { timeout: timeoutMs }, (e, _stdout, stderr) => {
      if (e && (e as NodeJS.ErrnoException).code === 'ENOENT') return reject(new Error(`cannot run ${argv[0]}: not found`));
      if (e && e.killed) return reject(new Error(`${argv.join(' ')} --start-position=0-1-1 /dev/null did not end within ${timeoutMs} ms`));
      resolve(gtidStartVerdict(String(stderr)));
    });
  });
}

/** The verdict of takesGtidStart from what the tool printed on stderr (pure). */
export function gtidStartVerdict(stderr: string): { ok: boolean; detail: string } {
  const said = stderr.trim().split('\n').filter(Boolean).slice(0, 2).join(' / ').slice(0, 300);
  if (/start[-_]position|incorrect|invalid|error while setting/i.test(stderr)) return { ok: false, detail: `it refused --start-position=0-1-1: ${said}` };
  if (/failed reading header|not a binary log|empty file/i.test(stderr)) return { ok: true, detail: 'takes a GTID list as --start-position' };
  return { ok: false, detail: `could not tell whether it takes a GTID list as --start-position; it said: ${said || '(nothing)'}` };
}

/** The flavor of the configured client, from its --version. */
export async function detectClientFlavor(commandLine: string, timeoutMs = 5000): Promise<ClientFlavor> {
  try {
    return clientFlavor(await toolVersion(commandLine, timeoutMs));
  } catch (e) {
    throw new Error(`failover.salvage.mysql: ${(e as Error).message}`);
  }
}

export interface ApplyTarget {
  name: string;
  host: string;
  port: number;
  user: string;
  password: string;
  tls: TlsSettings;
  connectTimeoutMs: number;
}

/**
 * Feed `file` to the mysql client (a command line from the config) connected to `target`,
 * in binary mode, stopping at the first error. A failed client leaves its open transaction
 * to the server, which rolls it back: what was applied is whole transactions.
 *
 * A client killed at the deadline leaves its session on the server, which goes on with the
 * statement in hand (a lock wait, a large row event) and only then finds the client gone:
 * the client's first statement prints its connection id, and `endSession` is given it to
 * KILL that session (its transaction rolled back) before the caller counts what was applied.
 */
export async function applySqlFile(o: {
  client: string;
  file: string;
  target: ApplyTarget;
  workDir: string;
  timeoutMs: number;
  endSession?: (id: number) => Promise<string>;
}): Promise<void> {
  const flavor = await detectClientFlavor(o.client, Math.min(5000, o.timeoutMs));
  const dir = fs.mkdtempSync(path.join(o.workDir, 'client-'));
  const opts = path.join(dir, 'client.cnf');
  fs.writeFileSync(
    opts,
    clientOptionFile({ host: o.target.host, port: o.target.port, user: o.target.user, password: o.target.password, tls: o.target.tls, connectTimeoutS: o.target.connectTimeoutMs / 1000, flavor }),
    { mode: 0o600 },
  );
  try {
    // --unbuffered: the connection id is printed as soon as it is known.
    const argv = [...splitCommandLine(o.client), `--defaults-extra-file=${opts}`, '--binary-mode', '--batch', '--skip-column-names', '--unbuffered'];
    let session: number | undefined;
    let r: { code: number; stderr: string };
    try {
      r = await runChild(argv, {
        stdin: { prefix: `${SESSION_ID_QUERY}\n`, file: o.file },
        stdout: { firstLine: (line) => (session = sessionIdOf(line)) },
        timeoutMs: o.timeoutMs,
        what: 'failover.salvage.mysql',
      });
    } catch (e) {
      if (!(e instanceof ChildKilled) || !o.endSession) throw e;
      const ended = session === undefined ? 'its connection id was not printed, its session may go on until the server finds the client gone' : await o.endSession(session).catch((x: Error) => `KILL ${session} failed: ${x.message}`);
      throw new Error(`${e.message}; ${ended}`);
    }
    if (r.code !== 0) {
      // The client numbers its input lines: the connection id query is line 1.
      const at = clientErrorLine(r.stderr);
      const line = at !== undefined && at > 1 ? at - 1 : undefined;
      const err = clientError(r.stderr);
      const hint = /\bERROR (2006|2013|1153)\b|max_allowed_packet/.test(err)
        ? " (a statement larger than the server's max_allowed_packet: raise it in the node's my.cnf, e.g. max_allowed_packet=1G, or let heir raise it for the salvage: SUPER on MariaDB)"
        : '';
      throw new Error(`${toolName(argv)} on ${o.target.name} stopped${line ? ` at line ${line} of ${o.file}` : ''}: ${err || `exit code ${r.code}`}${hint}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function readHead(file: string, n: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const b = Buffer.alloc(n);
    const got = fs.readSync(fd, b, 0, n, 0);
    return b.subarray(0, got).toString('latin1');
  } finally {
    fs.closeSync(fd);
  }
}

/** util-linux's setpriv, to give salvage children a parent-death signal (Linux). */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => fs.existsSync(f));

/**
 * The tool a command line runs, for messages: its program's name, or the program a dynamic
 * loader prefix runs (`ld-linux-x86-64.so.2 --library-path /x /x/mysql` is mysql) (pure).
 */
export function toolName(argv: string[]): string {
  const first = path.basename(argv[0] ?? '');
  if (!/^ld-.*\.so/.test(first)) return first;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (['--library-path', '--preload', '--argv0', '--audit', '--glibc-hwcaps-prepend', '--glibc-hwcaps-mask'].includes(a)) i++;
    else if (!a.startsWith('-')) return path.basename(a);
  }
  return first;
}

/** The salvage client's first statement: its connection id, for a KILL at the deadline. */
export const SESSION_ID_QUERY = 'SELECT CONNECTION_ID();';

/** The connection id from the client's first output line (pure). */
export function sessionIdOf(line: string): number | undefined {
  const m = /^\s*(\d+)\s*$/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** A child killed at its deadline. */
export class ChildKilled extends Error {}

/**
 * One child process with a deadline (SIGKILL at timeoutMs). The last 32–64 KB of stderr are kept.
 * stdin is 'ignore', or a short prefix followed by a file streamed through a pipe; stdout is a
 * file descriptor, or read for its first line only (the rest is discarded): nothing large is
 * held here.
 */
function runChild(
  argv: string[],
  o: { stdin: 'ignore' | { prefix: string; file: string }; stdout: number | { firstLine: (line: string) => void }; timeoutMs: number; what: string },
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    // The child dies with heir (SIGKILL on its parent's death): a salvage client orphaned by a
    // crash would go on applying while a rerun counts what was applied.
    const [cmd, ...args] = SETPRIV ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv] : argv;
    const stdin = typeof o.stdin === 'object' ? 'pipe' : o.stdin;
    const stdout = typeof o.stdout === 'object' ? 'pipe' : o.stdout;
    const p = spawn(cmd!, args, { stdio: [stdin, stdout, 'pipe'] });
    let err = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      p.kill('SIGKILL');
    }, Math.max(1, o.timeoutMs));
    if (typeof o.stdin === 'object' && p.stdin) {
      const feed = o.stdin;
      // A client that stops early closes its stdin: EPIPE is its exit code's business.
      p.stdin.on('error', () => {});
      p.stdin.write(feed.prefix);
      const file = fs.createReadStream(feed.file);
      file.on('error', (e) => p.stdin!.destroy(e));
      file.pipe(p.stdin);
      p.on('close', () => file.destroy());
    }
    if (typeof o.stdout === 'object' && p.stdout) {
      const want = o.stdout;
      let head: string | undefined = '';
      p.stdout.on('data', (c: Buffer) => {
        if (head === undefined) return;
        head += c.toString('utf8');
        const nl = head.indexOf('\n');
        if (nl >= 0 || head.length > 256) {
          want.firstLine(nl >= 0 ? head.slice(0, nl) : head);
          head = undefined;
        }
      });
    }
    p.stderr!.on('data', (c: Buffer) => {
      // The end is what matters (a client echoes the failing statement, then the error).
      err += c.toString('utf8');
      if (err.length > 65536) err = err.slice(-32768);
    });
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${argv[0]} (${o.what}): ${e.message}`));
    });
    p.on('close', (code, sig) => {
      clearTimeout(timer);
      if (killed) return reject(new ChildKilled(`${toolName(argv)} killed after ${o.timeoutMs} ms (failover.salvage.timeout_s)`));
      if (sig) return reject(new Error(`${toolName(argv)} killed by ${sig}`));
      resolve({ code: code ?? 1, stderr: err.trim() });
    });
  });
}
