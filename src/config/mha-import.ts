/**
 * `heir import-mha`: an MHA manager configuration (app1.cnf, optionally with the global
 * /etc/masterha_default.cnf) → heir's YAML, with a note for every setting that cannot be carried
 * over or is carried over only approximately.
 *
 * MHA's format (Config::Tiny, as MHA 0.58 reads it): `[server default]` holds app-wide defaults,
 * `[server<anything>]` one MySQL server each, `[binlog<anything>]` binlog servers; `key=value`
 * lines, `#`/`;` comment lines; a value loses one pair of surrounding quotes. A server's setting
 * overrides the app's [server default], which overrides the global file's [server default].
 *
 * Passwords are never copied: they become ${file:...} (default) or ${env:...} references, and a
 * note says where the value has to go. Pure: no file or network access here.
 */
import { Document, isMap, isScalar, type Pair, type Scalar, type YAMLMap } from 'yaml';

export interface MhaEntry {
  key: string;
  value: string;
  line: number;
}
export interface MhaSection {
  name: string;
  line: number;
  entries: MhaEntry[];
}
export interface MhaCnf {
  source: string;
  sections: MhaSection[];
}

export class MhaParseError extends Error {
  constructor(
    readonly source: string,
    readonly line: number,
    message: string,
  ) {
    super(`${source}:${line}: ${message}`);
    this.name = 'MhaParseError';
  }
}

/** Every parameter MHA 0.58 accepts (MHA::Config's list); anything else MHA itself rejects. */
export const MHA_PARAMETERS = [
  'hostname', 'ip', 'port', 'ssh_host', 'ssh_ip', 'ssh_port', 'ssh_connection_timeout', 'ssh_options',
  'node_label', 'candidate_master', 'no_master', 'ignore_fail', 'skip_init_ssh_check', 'skip_reset_slave',
  'user', 'password', 'repl_user', 'repl_password', 'disable_log_bin', 'master_pid_file', 'handle_raw_binlog',
  'ssh_user', 'remote_workdir', 'master_binlog_dir', 'log_level', 'manager_workdir', 'manager_log',
  'check_repl_delay', 'check_repl_filter', 'latest_priority', 'multi_tier_slave', 'ping_interval', 'ping_type',
  'secondary_check_script', 'master_ip_failover_script', 'master_ip_online_change_script', 'shutdown_script',
  'report_script', 'init_conf_load_script', 'client_bindir', 'client_libdir', 'use_gtid_auto_pos',
] as const;
const KNOWN = new Set<string>(MHA_PARAMETERS);

/** Parse an MHA .cnf file the way Config::Tiny does. */
export function parseMhaCnf(text: string, source = 'app.cnf'): MhaCnf {
  const sections: MhaSection[] = [];
  let current: MhaSection = { name: '_', line: 0, entries: [] };
  sections.push(current);
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (/^\s*(?:#|;|$)/.test(raw)) return;
    const sec = /^\s*\[\s*(.+?)\s*\]\s*$/.exec(raw);
    if (sec) {
      const name = sec[1]!;
      const existing = sections.find((s) => s.name === name);
      if (existing) {
        current = existing;
      } else {
        current = { name, line, entries: [] };
        sections.push(current);
      }
      return;
    }
    const kv = /^\s*([^=]+?)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!kv) throw new MhaParseError(source, line, `not "key=value", a [section] or a comment: ${raw.trim()}`);
    const key = kv[1]!;
    const value = kv[2]!;
    const prev = current.entries.findIndex((e) => e.key === key);
    if (prev >= 0) current.entries.splice(prev, 1); // Config::Tiny: the last one wins
    current.entries.push({ key, value, line });
  });
  return { source, sections: sections.filter((s) => s.name !== '_' || s.entries.length > 0) };
}

export type NoteKind =
  /** Not carried over: heir has no such setting (or does it differently). */
  | 'dropped'
  /** Carried over, but the meaning differs somewhat. */
  | 'approximate'
  /** A secret: replaced by a reference; the operator must put the value there. */
  | 'secret'
  /** Something the operator has to fill in or review. */
  | 'todo';

export interface ImportNote {
  kind: NoteKind;
  /** e.g. "app1.cnf:12 [server1] candidate_master" */
  from: string;
  message: string;
  /** Where in the output the note is written as a YAML comment. */
  at: (string | number)[];
}

export interface ImportOptions {
  /** Name of the cluster (default: file name without extension, e.g. app1). */
  clusterName?: string;
  /** The global defaults file (/etc/masterha_default.cnf), if the MHA setup had one. */
  global?: MhaCnf;
  /** How passwords are referenced: ${file:<secretsDir>/<cluster>/<name>} (default) or ${env:HEIR_<CLUSTER>_<NAME>}. */
  secrets?: 'file' | 'env';
  /** Directory of secret files (default /etc/heir/secrets). */
  secretsDir?: string;
}

export interface ImportResult {
  /** heir configuration as plain data (before defaults), with references in place of secrets. */
  config: { heir?: Record<string, unknown>; clusters: Record<string, unknown>[] };
  notes: ImportNote[];
  /** The YAML text, notes as comments. */
  yaml: string;
  /** Secret references the operator must provide: reference → what to put there. */
  secrets: { ref: string; what: string }[];
}

interface Value {
  value: string;
  from: string;
}
type Resolved = Map<string, Value>;

const truthy = (v: Value | undefined): boolean => v !== undefined && v.value !== '' && v.value !== '0';
const unquote = (v: string): string => v.replace(/^['"]?(.*)['"]$/s, '$1');
/** Keys a [server*] section can set that heir handles per node (or compares with the cluster's account). */
const PER_NODE = new Set([
  'hostname', 'ip', 'port', 'ssh_host', 'ssh_ip', 'ssh_port', 'ssh_user', 'node_label', 'candidate_master', 'no_master',
  'ignore_fail', 'skip_init_ssh_check', 'master_binlog_dir', 'user', 'password', 'repl_user', 'repl_password',
]);
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** A string fit for the output: a literal `${` is written `$${` so the loader does not read it as a reference. */
const lit = (s: string): string => s.replace(/\$\{/g, '$${');

/** Convert a parsed MHA configuration. */
export function importMha(app: MhaCnf, o: ImportOptions = {}): ImportResult {
  const notes: ImportNote[] = [];
  const secrets: { ref: string; what: string }[] = [];
  const note = (kind: NoteKind, from: string, message: string, at: (string | number)[]): void => {
    notes.push({ kind, from, message, at });
  };

  const clusterName = sanitizeName(o.clusterName ?? baseName(app.source)) || 'app1';
  const C = ['clusters', 0] as const;

  // --- sections, defaults and precedence --------------------------------------------------
  const where = (cnf: MhaCnf, s: MhaSection, e: MhaEntry): string => `${cnf.source}:${e.line} [${s.name}] ${e.key}`;
  const defaults: Resolved = new Map();
  const servers: { section: MhaSection; values: Resolved }[] = [];
  const binlogServers: MhaSection[] = [];

  const take = (cnf: MhaCnf, s: MhaSection, into: Resolved): void => {
    for (const e of s.entries) {
      if (!KNOWN.has(e.key)) {
        note('dropped', where(cnf, s, e), `"${e.key}" is not an MHA 0.58 parameter (MHA itself rejects it); ignored`, [...C, 'name']);
        continue;
      }
      into.set(e.key, { value: unquote(e.value), from: where(cnf, s, e) });
    }
  };
  for (const cnf of [o.global, app]) {
    if (!cnf) continue;
    for (const s of cnf.sections) {
      if (s.name === 'server default') take(cnf, s, defaults);
      else if (cnf === o.global) {
        note('dropped', `${cnf.source}:${s.line} [${s.name}]`, 'only [server default] is read from the global file (as MHA does)', [...C, 'name']);
      } else if (/^server\S+/.test(s.name)) {
        const values: Resolved = new Map();
        take(cnf, s, values);
        servers.push({ section: s, values });
      } else if (/^binlog\S+/.test(s.name)) binlogServers.push(s);
      else {
        note('dropped', `${cnf.source}:${s.line} [${s.name}]`, 'section name is neither "server default", server* nor binlog* (MHA rejects it); ignored', [...C, 'name']);
      }
    }
  }
  // MHA orders servers by the number in their section name when all have one.
  if (servers.every((s) => /^server\D*\d+/.test(s.section.name))) {
    const num = (n: string): number => Number(/^server\D*(\d+)/.exec(n)![1]);
    servers.sort((a, b) => num(a.section.name) - num(b.section.name));
  }
  const get = (srv: Resolved | undefined, key: string): Value | undefined => srv?.get(key) ?? defaults.get(key);
  // heir has one admin and one replication account per cluster: [server default]'s, else the first server's.
  const account = new Map<string, Value | undefined>();
  for (const key of ['user', 'password', 'repl_user', 'repl_password']) {
    account.set(key, defaults.get(key) ?? servers.map((s) => s.values.get(key)).find((v) => v !== undefined));
  }

  // --- nodes -------------------------------------------------------------------------------
  const nodes: Record<string, unknown>[] = [];
  const used = new Set<string>();
  servers.forEach(({ section, values }, i) => {
    const at = [...C, 'nodes', i];
    const hostname = values.get('hostname');
    const ip = values.get('ip');
    const host = ip?.value || hostname?.value;
    if (!host) {
      note('todo', `${app.source}:${section.line} [${section.name}]`, 'no hostname (MHA requires one): set host', [...at, 'host']);
    }
    const label = values.get('node_label')?.value;
    let name = [label, hostname && !IPV4.test(hostname.value) ? hostname.value.split('.')[0] : undefined, section.name]
      .map((n) => (n ? sanitizeName(n) : ''))
      .find((n) => n !== '' && !used.has(n));
    if (!name) name = `${sanitizeName(section.name) || 'server'}-${i + 1}`;
    used.add(name);
    const node: Record<string, unknown> = { name, host: host ?? 'FILL-IN' };
    if (ip && hostname && ip.value !== hostname.value) {
      note('approximate', ip.from, `host is the ip MHA connected to; hostname was ${hostname.value}`, [...at, 'host']);
    }
    const port = get(values, 'port');
    if (port) node.port = intOr(port, notes, [...at, 'port']);

    // promotion rule
    const cand = values.get('candidate_master');
    const noMaster = values.get('no_master');
    if (truthy(noMaster)) {
      node.promotion = 'never';
      if (truthy(cand)) note('approximate', cand!.from, 'candidate_master=1 together with no_master=1: never wins, as in MHA', [...at, 'promotion']);
    } else if (truthy(cand)) {
      node.promotion = 'prefer';
      note(
        'approximate',
        cand!.from,
        'candidate_master=1 → promotion: prefer. heir still picks the most advanced replica first; prefer decides among equally advanced ones and makes a lagging preferred node catch up from the winner',
        [...at, 'promotion'],
      );
    }

    // per-node ssh
    const ssh: Record<string, unknown> = {};
    const sshHost = values.get('ssh_ip') ?? values.get('ssh_host');
    if (sshHost && sshHost.value !== host) ssh.host = sshHost.value;
    for (const [key, field] of [['ssh_port', 'port'], ['ssh_user', 'user']] as const) {
      const local = values.get(key);
      const dflt = defaults.get(key);
      if (local && (!dflt || dflt.value !== local.value)) ssh[field] = field === 'port' ? intOr(local, notes, [...at, 'ssh']) : local.value;
    }
    if (Object.keys(ssh).length) node.ssh = ssh;

    const binlogDir = get(values, 'master_binlog_dir');
    if (binlogDir) {
      const dirs = binlogDir.value.replace(/\s/g, '').split(',').filter(Boolean);
      if (dirs.length) {
        node.binlog_dir = dirs[0];
        if (dirs.length > 1) {
          note('approximate', binlogDir.from, `heir takes one binlog directory per node; kept ${dirs[0]}, dropped ${dirs.slice(1).join(', ')}`, [...at, 'binlog_dir']);
        }
      }
    }

    // per-node things heir does not have
    const perNode: [string, string][] = [
      ['ignore_fail', 'heir has no per-node ignore_fail; a replica that is down or broken is left out of the failover and reported, and does not stop it'],
      ['skip_init_ssh_check', 'heir has no such switch; `heir check` reports SSH problems and detection.ssh_check controls SSH corroboration'],
    ];
    for (const [key, msg] of perNode) {
      const v = values.get(key);
      if (v && truthy(v)) note('dropped', v.from, msg, [...at, 'name']);
    }
    for (const key of ['user', 'password', 'repl_user', 'repl_password']) {
      const v = values.get(key);
      const d = account.get(key);
      if (v && d && d.value !== v.value) {
        note(
          'dropped',
          v.from,
          `per-server ${key} is not supported: heir uses one ${key.startsWith('repl') ? 'replication' : 'admin'} account per cluster (mysql.*); create the same account on every server`,
          [...at, 'name'],
        );
      }
    }
    // settings heir only has per cluster, given for one server
    for (const [key, v] of values) {
      if (PER_NODE.has(key)) continue;
      note(
        'dropped',
        v.from,
        `set for this server only: heir has ${key} per cluster (if at all), so [server default]'s value or heir's default applies to every node`,
        [...at, 'name'],
      );
    }
    nodes.push(node);
  });
  if (servers.length < 2) {
    note('todo', app.source, `only ${servers.length} [server*] section(s): a heir cluster needs at least two nodes`, [...C, 'nodes']);
  }
  for (const s of binlogServers) {
    note(
      'dropped',
      `${app.source}:${s.line} [${s.name}]`,
      'binlog servers are not used: heir salvages the dead master\'s binary logs over SSH from the master\'s host',
      [...C, 'name'],
    );
  }

  // --- cluster-level settings (app [server default] + global) ------------------------------
  const cluster: Record<string, unknown> = { name: clusterName };

  // credentials
  const ref = (key: string, what: string): string => {
    const r =
      (o.secrets ?? 'file') === 'env'
        ? `\${env:HEIR_${clusterName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_${key.toUpperCase()}}`
        : `\${file:${(o.secretsDir ?? '/etc/heir/secrets').replace(/\/+$/, '')}/${clusterName}/${key.replace(/_/g, '-')}}`;
    secrets.push({ ref: r, what });
    return r;
  };
  const user = account.get('user');
  const password = account.get('password');
  const replUser = account.get('repl_user');
  const replPassword = account.get('repl_password');
  const mysql: Record<string, unknown> = {};
  const M = [...C, 'mysql'];
  mysql.user = user?.value || 'root';
  if (!user || mysql.user === 'root') {
    note(
      'todo',
      user?.from ?? `${app.source} [server default] user`,
      `${user ? '' : 'no user (MHA defaulted to root); '}give heir its own account with the privileges in docs/GRANTS.md rather than root`,
      [...M, 'user'],
    );
  }
  mysql.password = ref('mysql_password', `the password of MySQL user ${String(mysql.user)}${password ? ` (${password.from})` : ' (MHA had none: empty)'}`);
  note(
    'secret',
    password?.from ?? `${app.source} [server default] password`,
    `not copied: put the password of ${String(mysql.user)} in ${String(mysql.password)}`,
    [...M, 'password'],
  );
  if (replUser?.value) {
    mysql.replication_user = replUser.value;
  } else {
    mysql.replication_user = 'repl';
    note(
      'todo',
      `${app.source} [server default] repl_user`,
      'MHA read the replication user from SHOW SLAVE STATUS (Master_User); heir needs it configured: check this guess',
      [...M, 'replication_user'],
    );
  }
  mysql.replication_password = ref(
    'replication_password',
    `the password of replication user ${String(mysql.replication_user)}${replPassword ? ` (${replPassword.from})` : ''}`,
  );
  note(
    'secret',
    replPassword?.from ?? `${app.source} [server default] repl_password`,
    `not copied: put the replication password in ${String(mysql.replication_password)}` +
      (replPassword ? '' : ' (MHA reused the current one from the replicas)'),
    [...M, 'replication_password'],
  );
  cluster.mysql = mysql;

  // ssh
  const ssh: Record<string, unknown> = {};
  const S = [...C, 'ssh'];
  const sshUser = defaults.get('ssh_user');
  if (sshUser) ssh.user = sshUser.value;
  else {
    note('todo', `${app.source} [server default] ssh_user`, 'MHA used the OS user running masterha_manager; heir defaults to root: set ssh.user if that was someone else', [...C, 'name']);
  }
  const sshPort = defaults.get('ssh_port');
  if (sshPort) ssh.port = intOr(sshPort, notes, [...S, 'port']);
  const sshTimeout = defaults.get('ssh_connection_timeout');
  if (sshTimeout) ssh.connect_timeout_ms = intOr(sshTimeout, notes, [...S, 'connect_timeout_ms']) * 1000;
  const sshOptions = defaults.get('ssh_options');
  if (sshOptions) {
    const { privateKey, knownHosts, rest } = parseSshOptions(sshOptions.value);
    if (privateKey) ssh.private_key = privateKey;
    if (knownHosts) ssh.known_hosts = knownHosts;
    if (rest.length) {
      note('dropped', sshOptions.from, `ssh options heir does not use: ${rest.join(' ')} (heir speaks SSH itself, not through the ssh command)`, [...C, 'name']);
    }
  }
  if (!ssh.private_key) {
    note('todo', `${app.source} [server default] ssh_options`, 'set ssh.private_key to the key the manager logs in with (MHA used ~/.ssh of its OS user)', [...C, 'name']);
  }
  note(
    'todo',
    sshOptions?.from ?? `${app.source} [server default]`,
    `heir checks host keys against ${String(ssh.known_hosts ?? '/etc/heir/known_hosts')} (MHA ran ssh with StrictHostKeyChecking=no): fill it with ssh-keyscan of every host and check the fingerprints`,
    [...C, 'name'],
  );
  if (Object.keys(ssh).length) cluster.ssh = ssh;

  cluster.nodes = nodes;

  // detection
  const detection: Record<string, unknown> = {};
  const D = [...C, 'detection'];
  const pingInterval = defaults.get('ping_interval');
  if (pingInterval) {
    detection.interval_ms = intOr(pingInterval, notes, [...D, 'interval_ms']) * 1000;
    note(
      'approximate',
      pingInterval.from,
      'MHA declared the master dead after 3 failed pings (up to 4 × ping_interval); heir decides with corroboration from other sources (detection.min_sources) and detection.suspect_timeout_ms',
      [...D, 'interval_ms'],
    );
  }
  const pingType = defaults.get('ping_type');
  if (pingType) {
    const t = pingType.value.toLowerCase();
    if (t === 'connect' || t === 'select' || t === 'insert') detection.ping_type = t;
    if (t === 'insert') {
      note('approximate', pingType.from, 'heir\'s insert ping writes to detection.heartbeat_table (default heir.heartbeat, created when missing)', [...D, 'ping_type']);
    }
    if (!detection.ping_type) note('dropped', pingType.from, `ping_type ${pingType.value} is not CONNECT, SELECT or INSERT; heir's default (ping: COM_PING on a persistent connection) is used`, [...C, 'name']);
  }
  const secondary = defaults.get('secondary_check_script');
  if (secondary) {
    const hosts = parseSecondaryCheck(secondary.value);
    if (hosts === undefined) {
      note(
        'dropped',
        secondary.from,
        `custom secondary check script not carried over (${lit(secondary.value)}); heir corroborates through the replicas, SSH to the master's host and detection.secondary_checks (nodes that probe the master's port)`,
        [...C, 'name'],
      );
    } else {
      const byHost = new Map<string, string>();
      servers.forEach(({ values }, i) => {
        const n = nodes[i]!;
        for (const k of ['hostname', 'ip', 'ssh_host', 'ssh_ip']) {
          const v = values.get(k)?.value;
          if (v) byHost.set(v, n.name as string);
        }
      });
      const matched = hosts.filter((h) => byHost.has(h)).map((h) => byHost.get(h)!);
      const unmatched = hosts.filter((h) => !byHost.has(h));
      if (matched.length) {
        detection.secondary_checks = [...new Set(matched)];
        note('approximate', secondary.from, 'masterha_secondary_check hosts that are nodes of this cluster → detection.secondary_checks (they probe the master\'s port over SSH)', [...D, 'secondary_checks']);
      }
      if (unmatched.length) {
        note(
          'dropped',
          secondary.from,
          `secondary check hosts outside the cluster not carried over: ${unmatched.join(', ')} (heir's secondary checks run on the cluster's own nodes)`,
          [...C, 'name'],
        );
      }
    }
  }
  if (Object.keys(detection).length) cluster.detection = detection;

  // failover
  const failover: Record<string, unknown> = {};
  const F = [...C, 'failover'];
  const replDelay = defaults.get('check_repl_delay');
  if (replDelay && !truthy(replDelay)) {
    failover.max_lag_s = 86400;
    note(
      'approximate',
      replDelay.from,
      'check_repl_delay=0: MHA ignored delay when choosing a new master; heir gates candidates by seconds behind (max_lag_s), set to a day here. The winner still applies all its relay log before it is promoted',
      [...F, 'max_lag_s'],
    );
  } else if (replDelay) {
    note(
      'approximate',
      replDelay.from,
      'check_repl_delay=1: MHA skipped replicas more than 100MB of relay log behind; heir gates by seconds behind instead (failover.max_lag_s, default 300)',
      [...C, 'name'],
    );
  }
  const shutdown = defaults.get('shutdown_script');
  if (shutdown) {
    note(
      'dropped',
      shutdown.from,
      `shutdown script not run (${lit(shutdown.value)}). heir fences the old master itself (read-only, address taken away); to power it off through the ECS API set failover.stonith: true and give its instance_id on each node`,
      [...F],
    );
    failover.stonith = false;
  }
  if (Object.keys(failover).length) cluster.failover = failover;

  // address
  const ipScript = defaults.get('master_ip_failover_script');
  if (ipScript) {
    cluster.address = { type: 'script', path: lit(ipScript.value) };
    note(
      'approximate',
      ipScript.from,
      'the MHA master_ip_failover script is kept as the address mover. heir can move an Alibaba Cloud ENI (address.type: eni) or a secondary private IP (secondary-ip) itself, fencing first and attaching last: consider switching',
      [...C, 'address', 'type'],
    );
  } else {
    note('todo', `${app.source} [server default] master_ip_failover_script`, 'no address mover: the application must find the new master itself. Consider address.type: eni', [...C, 'name']);
  }
  const onlineScript = defaults.get('master_ip_online_change_script');
  if (onlineScript) {
    note(
      'dropped',
      onlineScript.from,
      `online change script not carried over (${lit(onlineScript.value)}): heir's switchover moves the address with the same mover as a failover`,
      [...C, 'name'],
    );
  }
  const report = defaults.get('report_script');
  if (report) {
    note(
      'dropped',
      report.from,
      `report script not carried over (${lit(report.value)}): heir's hooks.post_failover runs a program with the report as JSON on stdin and HEIR_* environment variables, not MHA's --orig_master_host=... arguments (docs/HOOKS.md); adapt it and add it there, or send alerts to webhooks (generic JSON, DingTalk, WeCom, Feishu, Slack)`,
      [...C, 'name'],
    );
  }

  // global
  const heir: Record<string, unknown> = {};
  const logLevel = defaults.get('log_level');
  if (logLevel) {
    const map: Record<string, string> = { debug: 'debug', info: 'info', notice: 'info', warning: 'warn', warn: 'warn', error: 'error', critical: 'error', alert: 'error', emergency: 'error' };
    const level = map[logLevel.value.toLowerCase()];
    if (level) {
      heir.log_level = level;
      if (level !== logLevel.value.toLowerCase()) note('approximate', logLevel.from, `log level ${logLevel.value} → ${level}`, ['heir', 'log_level']);
    } else note('dropped', logLevel.from, `unknown log level ${logLevel.value}`, ['heir']);
  }

  const dropped: [string, string][] = [
    ['manager_workdir', 'heir keeps journals and reports in heir.state_dir (/var/lib/heir); the MHA workdir is not used'],
    ['manager_log', 'heir logs JSON to stdout (journald under systemd)'],
    ['remote_workdir', 'heir needs no working directory on the database hosts: salvaged binary logs are read over SSH and applied from the manager'],
    ['check_repl_filter', 'heir does not compare replication filters between servers'],
    ['latest_priority', 'heir always prefers the most advanced replica; promotion rules break ties (there is no "order in the file" election)'],
    ['multi_tier_slave', 'heir manages one master with direct replicas; replicas of replicas are not supported'],
    ['disable_log_bin', 'heir does not apply relay-log differences by hand: replicas catch up by GTID from the new master'],
    ['handle_raw_binlog', 'not needed: heir reads the dead master\'s binary logs with mysqlbinlog on the manager'],
    ['master_pid_file', 'heir finds mysqld over SSH and SQL, not by pid file'],
    ['skip_reset_slave', 'heir always resets the new master\'s replication configuration'],
    ['init_conf_load_script', 'secrets come from ${env:} / ${file:} references instead of a script'],
    ['client_bindir', 'heir runs mysqlbinlog on the manager: set failover.salvage.mysqlbinlog if it is not in PATH'],
    ['client_libdir', 'not needed'],
    ['use_gtid_auto_pos', 'heir uses GTID auto-positioning whenever the servers have GTIDs, file/position otherwise'],
  ];
  const at0 = [...C, 'name'];
  for (const [key, msg] of dropped) {
    const v = defaults.get(key);
    if (v) note('dropped', v.from, msg, key === 'client_bindir' ? [...F] : at0);
  }

  const out: ImportResult['config'] = Object.keys(heir).length ? { heir, clusters: [cluster] } : { clusters: [cluster] };
  return { config: out, notes, secrets, yaml: toYaml(out, notes, app.source) };
}

function toYaml(config: ImportResult['config'], notes: ImportNote[], source: string): string {
  const doc = new Document(config);
  const counts = (k: NoteKind): number => notes.filter((n) => n.kind === k).length;
  doc.commentBefore = [
    ` heir configuration converted from the MHA configuration ${source} by \`heir import-mha\`.`,
    ` Review before use: ${counts('secret')} secret reference(s) to provide, ${counts('todo')} item(s) to fill in or check,`,
    ` ${counts('approximate')} approximate mapping(s), ${counts('dropped')} setting(s) not carried over (each noted below).`,
    ' Validate with: heir check --config <this file>',
  ].join('\n');

  // Attach each note as a comment before the deepest existing key on its path.
  const byTarget = new Map<Scalar | 'doc', string[]>();
  for (const n of notes) {
    const target = findKey(doc, n.at) ?? 'doc';
    const text = ` ${tag(n.kind)} ${n.from}: ${n.message}`;
    byTarget.set(target, [...(byTarget.get(target) ?? []), text]);
  }
  for (const [target, lines] of byTarget) {
    const text = lines.map(oneLine).join('\n');
    if (target === 'doc') doc.commentBefore = `${doc.commentBefore}\n${text}`;
    else target.commentBefore = target.commentBefore ? `${target.commentBefore}\n${text}` : text;
  }
  return doc.toString({ lineWidth: 0 });
}

const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

function tag(k: NoteKind): string {
  return { dropped: 'NOT CARRIED OVER', approximate: 'APPROXIMATE', secret: 'SECRET', todo: 'TODO' }[k];
}

/** The key scalar at path, or of the nearest ancestor that is a map entry. */
function findKey(doc: Document, at: (string | number)[]): Scalar | undefined {
  for (let len = at.length; len > 0; len--) {
    const parentPath = at.slice(0, len - 1);
    const last = at[len - 1];
    const parent = parentPath.length ? doc.getIn(parentPath, true) : doc.contents;
    if (typeof last === 'string' && isMap(parent)) {
      const pair = (parent as YAMLMap).items.find((p: Pair) => isScalar(p.key) && (p.key as Scalar).value === last);
      if (pair) return pair.key as Scalar;
    }
    if (typeof last === 'number') {
      const item = doc.getIn([...parentPath, last], true);
      if (isMap(item) && (item as YAMLMap).items.length) return (item as YAMLMap).items[0]!.key as Scalar;
    }
  }
  return undefined;
}

function intOr(v: Value, notes: ImportNote[], at: (string | number)[]): number {
  const n = Number(v.value);
  if (!Number.isInteger(n) || n < 0) {
    notes.push({ kind: 'todo', from: v.from, message: `"${v.value}" is not a whole number: fix the value`, at });
    return 0;
  }
  return n;
}

function baseName(source: string): string {
  const b = source.split(/[\\/]/).pop() ?? source;
  return b.replace(/\.(cnf|conf|ini)$/i, '');
}

function sanitizeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '');
}

/** Split a command line on whitespace, honouring simple quotes. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

/** ssh_options: -i KEY and -o UserKnownHostsFile=FILE carry over; the rest is reported. */
export function parseSshOptions(s: string): { privateKey?: string; knownHosts?: string; rest: string[] } {
  const args = splitArgs(s);
  const r: { privateKey?: string; knownHosts?: string; rest: string[] } = { rest: [] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-i' && args[i + 1]) r.privateKey = args[++i];
    else if (a.startsWith('-i') && a.length > 2) r.privateKey = a.slice(2);
    else if (a === '-o' && args[i + 1]) {
      const opt = args[++i]!;
      const kh = /^UserKnownHostsFile[= ](.+)$/i.exec(opt);
      if (kh) r.knownHosts = kh[1]!.trim();
      else r.rest.push(`-o ${opt}`);
    } else r.rest.push(a);
  }
  return r;
}

/**
 * The hosts of a `masterha_secondary_check -s h1 -s h2 ...` command (also --secondary_host=h);
 * undefined when the script is something else.
 */
export function parseSecondaryCheck(script: string): string[] | undefined {
  const args = splitArgs(script);
  if (!args.length || !/(^|\/)masterha_secondary_check$/.test(args[0]!)) return undefined;
  const hosts: string[] = [];
  // Getopt::Long: --secondary_host or any unambiguous prefix of it (-s), with a value after = or as the next word.
  const isOpt = (name: string): boolean => name.length > 0 && 'secondary_host'.startsWith(name);
  for (let i = 1; i < args.length; i++) {
    const m = /^--?([A-Za-z_]+)(?:=(.*))?$/.exec(args[i]!);
    if (!m || !isOpt(m[1]!)) continue;
    if (m[2] !== undefined) hosts.push(m[2]);
    else if (args[i + 1] !== undefined) hosts.push(args[++i]!);
  }
  return hosts;
}
