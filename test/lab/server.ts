/**
 * One database server of the lab: where its binaries are, the cached template
 * datadir it is copied from, its command line, and starting/waiting for it.
 *
 * MySQL 9.7 comes from Debian sid, unpacked by scripts/setup.sh into
 * <cache>/mysql-sid/root and run through that root's own loader; MariaDB 10.11
 * is bookworm's /usr/sbin/mariadbd.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import mysql from 'mysql2/promise';
import { APPLIER_KILL_GRANTS, HEIR_GRANTS, REPL_GRANTS, SALVAGE_GRANTS, grantFamily, grantStatements } from './grants';
import { spawnTracked, terminate, waitExit, tailFile, sleep, Tracked } from './procs';

export type LabFlavor = 'mysql' | 'mariadb';

export const ADMIN = { user: 'heir', password: 'heir-lab-admin' };
export const REPL = { user: 'repl', password: 'heir-lab-repl' };

export function cacheDir(): string {
  return process.env.HEIR_LAB_CACHE || '/var/cache/heir-lab';
}

export interface Binaries {
  flavor: LabFlavor;
  mysqld: string;
  mysql: string;
  mysqlbinlog: string;
  /** Wraps argv so it runs (through the sid root's loader for MySQL). */
  run(argv: string[]): string[];
  /** Extra server options that locate files (basedir, messages, plugins). */
  layoutArgs: string[];
  /** Version as the package says, e.g. 9.7.4 / 10.11.19. */
  version: string;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

export function binaries(flavor: LabFlavor): Binaries {
  if (flavor === 'mysql') {
    const root = path.join(cacheDir(), 'mysql-sid', 'root');
    const marker = path.join(root, '.complete');
    if (!fs.existsSync(marker)) {
      throw new Error(`lab: MySQL 9.7 is not unpacked at ${root}; run scripts/setup.sh as root (it downloads it from Debian sid)`);
    }
    const loader = [path.join(root, 'usr/lib64/ld-linux-x86-64.so.2'), path.join(root, 'lib64/ld-linux-x86-64.so.2')].find((p) => fs.existsSync(p));
    if (!loader) throw new Error(`lab: no ld-linux-x86-64.so.2 in ${root}; remove ${marker} and rerun scripts/setup.sh`);
    const libs = [path.join(root, 'usr/lib/x86_64-linux-gnu'), path.join(root, 'lib/x86_64-linux-gnu')].join(':');
    return {
      flavor,
      mysqld: path.join(root, 'usr/sbin/mysqld'),
      mysql: path.join(root, 'usr/bin/mysql'),
      mysqlbinlog: path.join(root, 'usr/bin/mysqlbinlog'),
      run: (argv) => [loader, '--library-path', libs, ...argv],
      layoutArgs: [
        `--basedir=${path.join(root, 'usr')}`,
        `--lc-messages-dir=${path.join(root, 'usr/share/mysql')}`,
        `--plugin-dir=${path.join(root, 'usr/lib/mysql/plugin')}`,
        `--character-sets-dir=${path.join(root, 'usr/share/mysql/charsets')}`,
      ],
      version: fs.readFileSync(marker, 'utf8').trim(),
    };
  }
  const mysqld = '/usr/sbin/mariadbd';
  if (!fs.existsSync(mysqld)) throw new Error('lab: /usr/sbin/mariadbd missing; run scripts/setup.sh as root (installs mariadb-server-core)');
  const out = execFileSync(mysqld, ['--no-defaults', '--version'], { encoding: 'utf8' });
  const m = /Ver\s+(\d+\.\d+\.\d+)/.exec(out);
  return {
    flavor,
    mysqld,
    mysql: '/usr/bin/mariadb',
    mysqlbinlog: '/usr/bin/mariadb-binlog',
    run: (argv) => argv,
    layoutArgs: [],
    version: m ? m[1] : 'unknown',
  };
}

/** Options shared by template initialization and every node. */
function commonArgs(b: Binaries): string[] {
  const a = ['--no-defaults', ...b.layoutArgs, '--innodb-buffer-pool-size=32M', '--skip-name-resolve'];
  if (isRoot()) a.push('--user=root');
  if (b.flavor === 'mysql') a.push('--secure-file-priv=', '--mysqlx=OFF', '--innodb-redo-log-capacity=8M');
  else a.push('--innodb-log-file-size=16M');
  return a;
}

export interface ServerSpec {
  name: string;
  dir: string;           // node folder: datadir, socket, logs
  datadir: string;
  socket: string;
  port: number;
  bindAddress: string;
  reportHost: string;
  serverId: number;
  gtid: boolean;
  semiSync: boolean;
  /** argv prefix, e.g. ['ip', 'netns', 'exec', ns] */
  prefix: string[];
  settings: LabSettings;
}

/**
 * Server settings a test varies on purpose, and says so. Left out, a setting is the server's
 * default, as most production servers run: replication net timeout 60 s, heartbeat period
 * half of it, performance_schema as the flavor ships it (MySQL ON, MariaDB OFF).
 * `shortTimeouts: true` tunes the replication timeouts short (net timeout 5 s, heartbeat 1 s).
 */
export interface LabSettings {
  /** Replication net timeout 5 s and heartbeat period 1 s instead of the servers' defaults. */
  shortTimeouts?: boolean;
  /** MySQL: --performance-schema=ON/OFF (MariaDB's default is OFF and is left alone unless set). */
  performanceSchema?: boolean;
}

/** How a lab's settings read in a test name or a benchmark row. */
export function describeSettings(flavor: LabFlavor, s: LabSettings = {}): string {
  const parts = [s.shortTimeouts ? 'net timeout 5 s, heartbeat 1 s' : 'stock replication timeouts'];
  const ps = s.performanceSchema ?? (flavor === 'mysql' ? true : undefined);
  if (ps !== undefined) parts.push(`performance_schema ${ps ? 'ON' : 'OFF'}`);
  return parts.join(', ');
}

export function serverArgs(b: Binaries, s: ServerSpec): string[] {
  const a = [
    b.mysqld,
    ...commonArgs(b),
    `--datadir=${s.datadir}`,
    `--socket=${s.socket}`,
    `--pid-file=${path.join(s.dir, 'mysqld.pid')}`,
    `--log-error=${path.join(s.dir, 'error.log')}`,
    `--port=${s.port}`,
    `--bind-address=${s.bindAddress}`,
    `--server-id=${s.serverId}`,
    `--report-host=${s.reportHost}`,
    `--report-port=${s.port}`,
    '--log-bin=binlog',
    '--relay-log=relay-bin',
    '--binlog-format=ROW',
  ];
  const tuned = s.settings.shortTimeouts === true;
  if (b.flavor === 'mysql') {
    a.push('--log-replica-updates=ON', `--performance-schema=${s.settings.performanceSchema === false ? 'OFF' : 'ON'}`);
    if (tuned) a.push('--replica-net-timeout=5');
    if (s.gtid) a.push('--gtid-mode=ON', '--enforce-gtid-consistency=ON');
    else a.push('--gtid-mode=OFF', '--enforce-gtid-consistency=OFF');
    if (s.semiSync) a.push('--plugin-load-add=semisync_source.so', '--plugin-load-add=semisync_replica.so');
  } else {
    a.push('--log-slave-updates=ON', '--gtid-strict-mode=ON');
    if (tuned) a.push('--slave-net-timeout=5');
    if (s.settings.performanceSchema !== undefined) a.push(`--performance-schema=${s.settings.performanceSchema ? 'ON' : 'OFF'}`);
  }
  return [...s.prefix, ...b.run(a)];
}

// --- template datadir ----------------------------------------------------------

function templateKey(b: Binaries): string {
  const fam = grantFamily(b.flavor, ...(b.version.split('.').map(Number) as [number, number]));
  const h = crypto.createHash('sha256')
    .update(JSON.stringify([b.flavor, b.version, commonArgs(b), HEIR_GRANTS[fam], SALVAGE_GRANTS[fam], APPLIER_KILL_GRANTS[fam], REPL_GRANTS, ADMIN, REPL, 3]))
    .digest('hex').slice(0, 12);
  return `${b.flavor}-${b.version}-${h}`;
}

export function accountSql(b: Binaries): string[] {
  const [maj, min] = b.version.split('.').map(Number);
  const fam = grantFamily(b.flavor, maj, min);
  const admin = `'${ADMIN.user}'@'%'`;
  const repl = `'${REPL.user}'@'%'`;
  return [
    `CREATE USER ${admin} IDENTIFIED BY '${ADMIN.password}'`,
    ...grantStatements(HEIR_GRANTS[fam], admin),
    ...grantStatements(SALVAGE_GRANTS[fam], admin),
    ...grantStatements(APPLIER_KILL_GRANTS[fam], admin),
    `CREATE USER ${repl} IDENTIFIED BY '${REPL.password}'`,
    ...grantStatements(REPL_GRANTS, repl),
  ];
}

/** The cached template datadir for this flavor/version: initialized once, accounts created, no binlogs. */
export async function ensureTemplate(b: Binaries): Promise<string> {
  const base = path.join(cacheDir(), 'templates');
  const dir = path.join(base, templateKey(b));
  if (fs.existsSync(path.join(dir, '.complete'))) return path.join(dir, 'data');
  fs.mkdirSync(base, { recursive: true });
  const work = fs.mkdtempSync(path.join(base, 'tmp-'));
  try {
    const data = path.join(work, 'data');
    const log = path.join(work, 'init.log');
    if (b.flavor === 'mysql') {
      fs.mkdirSync(data);
      run(b.run([b.mysqld, ...commonArgs(b), `--datadir=${data}`, '--initialize-insecure', `--log-error=${log}`]), log);
    } else {
      const args = ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--innodb-log-file-size=16M'];
      if (isRoot()) args.push('--user=root');
      run(['/usr/bin/mariadb-install-db', ...args], log);
    }
    // Start it once without networking or binlog to create the accounts.
    const sock = path.join(work, 'init.sock');
    const argv = b.run([
      b.mysqld, ...commonArgs(b), `--datadir=${data}`, `--socket=${sock}`, '--skip-networking',
      `--log-error=${path.join(work, 'error.log')}`, `--pid-file=${path.join(work, 'init.pid')}`,
      ...(b.flavor === 'mysql' ? ['--skip-log-bin'] : []),
    ]);
    const t = spawnTracked('template', argv, log);
    try {
      await waitReady(t, sock, path.join(work, 'error.log'), 120000);
      await sqlSocket(sock, accountSql(b));
      await sqlSocket(sock, ['SHUTDOWN']).catch(() => undefined);
      if (!(await waitExit(t, 60000))) throw new Error('template server did not shut down');
    } finally {
      await terminate(t);
    }
    for (const f of ['auto.cnf', 'init.pid']) fs.rmSync(path.join(data, f), { force: true });
    for (const f of fs.readdirSync(data)) if (f.endsWith('.err') || f.endsWith('.pid')) fs.rmSync(path.join(data, f), { force: true });
    fs.writeFileSync(path.join(work, '.complete'), `${b.flavor} ${b.version}\n`);
    try {
      fs.renameSync(work, dir);
    } catch (e) {
      // Another process made it first: use theirs.
      if (!fs.existsSync(path.join(dir, '.complete'))) throw e;
      fs.rmSync(work, { recursive: true, force: true });
    }
    return path.join(dir, 'data');
  } catch (e) {
    fs.rmSync(work, { recursive: true, force: true });
    throw new Error(`lab: initializing the ${b.flavor} ${b.version} template datadir failed: ${(e as Error).message}`);
  }
}

function run(argv: string[], log: string): void {
  try {
    execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', fs.openSync(log, 'a'), fs.openSync(log, 'a')], timeout: 180000 });
  } catch (e) {
    throw new Error(`${argv.slice(0, 4).join(' ')} ... failed: ${(e as Error).message}\n${tailFile(log)}`);
  }
}

// --- running --------------------------------------------------------------------

export async function sqlSocket(socket: string, statements: string[], timeoutMs = 30000): Promise<any[]> {
  const c = await mysql.createConnection({ socketPath: socket, user: 'root', password: '', connectTimeout: 10000, multipleStatements: true });
  try {
    let last: any[] = [];
    for (const s of statements) {
      const [rows] = await c.query({ sql: s, timeout: timeoutMs });
      last = Array.isArray(rows) ? (rows as any[]) : [];
    }
    return last;
  } finally {
    closeHard(c);
  }
}

/**
 * Closes a connection without waiting for the peer: mysql2's destroy() only
 * half-closes the socket, which stays open (and keeps the test process alive)
 * when the server's address has gone away, e.g. a moved floating address.
 */
function closeHard(c: mysql.Connection): void {
  c.destroy();
  const stream = (c as any).connection?.stream;
  if (stream && typeof stream.destroy === 'function') stream.destroy();
}

/** One statement over TCP with a given account (e.g. the admin account, or the floating address). */
export async function queryTcp(o: { host: string; port: number; user: string; password: string; connectTimeoutMs?: number }, statement: string): Promise<any[]> {
  const c = await mysql.createConnection({ host: o.host, port: o.port, user: o.user, password: o.password, connectTimeout: o.connectTimeoutMs ?? 5000 });
  try {
    const [rows] = await c.query({ sql: statement, timeout: 30000 });
    return Array.isArray(rows) ? (rows as any[]) : [];
  } finally {
    closeHard(c);
  }
}

export async function waitReady(t: Tracked, socket: string, errorLog: string, timeoutMs = 60000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  while (Date.now() < deadline) {
    if (!t.running) {
      throw new Error(`lab: ${t.name} exited during start-up; ${errorLog}:\n${tailFile(errorLog)}\n${t.logFile}:\n${tailFile(t.logFile, 10)}`);
    }
    if (fs.existsSync(socket)) {
      try {
        await sqlSocket(socket, ['SELECT 1'], 5000);
        return;
      } catch (e) {
        lastErr = (e as Error).message;
      }
    }
    await sleep(50);
  }
  throw new Error(`lab: ${t.name} not ready within ${timeoutMs} ms (${lastErr}); ${errorLog}:\n${tailFile(errorLog)}`);
}

export function startServer(b: Binaries, s: ServerSpec): Tracked {
  fs.rmSync(s.socket, { force: true });
  return spawnTracked(s.name, serverArgs(b, s), path.join(s.dir, 'mysqld.out'));
}

/** Copies the template datadir (cp -a keeps it fast and sparse). */
export function copyTemplate(template: string, datadir: string): void {
  execFileSync('cp', ['-a', '--sparse=always', template, datadir]);
}
