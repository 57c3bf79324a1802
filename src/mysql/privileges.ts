/**
 * The privileges heir's admin account needs, per server family, as data.
 *
 * The lab creates its `heir` account from this list; docs and `heir check` can
 * reuse it to report missing grants with the GRANT statement to run.
 * `schema` is the database of heir's heartbeat table (detection.heartbeat_table).
 */

export type GrantFamily = 'mysql57' | 'mysql80' | 'mysql84' | 'mariadb';

export interface GrantItem {
  /** Privilege names exactly as GRANT spells them (dynamic privileges included). */
  privileges: string[];
  /** Object: '*.*' or '<schema>.*'. The placeholder {schema} stands for heir's heartbeat schema. */
  on: string;
  /** What heir uses it for. */
  why: string;
}

const HEARTBEAT: GrantItem = {
  privileges: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE'],
  on: '{schema}.*',
  why: 'heartbeat table written by ping_type insert and by switchover checks (created when missing)',
};

const COMMON: GrantItem[] = [
  { privileges: ['SELECT'], on: '*.*', why: 'performance_schema and mysql.* replication tables' },
  { privileges: ['PROCESS'], on: '*.*', why: 'see every thread (replication threads, clients to kill when fencing)' },
  { privileges: ['RELOAD'], on: '*.*', why: 'FLUSH BINARY LOGS / FLUSH TABLES during switchover' },
];
const REPLICATION_SLAVE: GrantItem = { privileges: ['REPLICATION SLAVE'], on: '*.*', why: 'read binary logs remotely (salvage, catch-up)' };

/** MySQL 8.0 and later: dynamic privileges instead of SUPER. */
const MYSQL8: GrantItem[] = [
  ...COMMON,
  { privileges: ['REPLICATION CLIENT'], on: '*.*', why: 'SHOW BINARY LOG STATUS (8.0: SHOW MASTER STATUS), SHOW REPLICA STATUS' },
  REPLICATION_SLAVE,
  { privileges: ['REPLICATION_SLAVE_ADMIN'], on: '*.*', why: 'CHANGE REPLICATION SOURCE, START/STOP REPLICA, RESET REPLICA' },
  { privileges: ['SYSTEM_VARIABLES_ADMIN'], on: '*.*', why: 'SET GLOBAL and SET PERSIST read_only/super_read_only (fencing), semi-sync variables' },
  { privileges: ['CONNECTION_ADMIN'], on: '*.*', why: 'KILL application connections when fencing; connect when max_connections is reached' },
  { privileges: ['BINLOG_ADMIN'], on: '*.*', why: 'binary log administration (PURGE, SET sql_log_bin)' },
  HEARTBEAT,
];

export const HEIR_GRANTS: Record<GrantFamily, GrantItem[]> = {
  mysql57: [
    ...COMMON,
    { privileges: ['REPLICATION CLIENT'], on: '*.*', why: 'SHOW MASTER STATUS, SHOW SLAVE STATUS' },
    REPLICATION_SLAVE,
    { privileges: ['SUPER'], on: '*.*', why: 'CHANGE MASTER, START/STOP SLAVE, SET GLOBAL read_only, KILL' },
    HEARTBEAT,
  ],
  mysql80: MYSQL8,
  mysql84: MYSQL8,
  mariadb: [
    { privileges: ['SELECT'], on: '*.*', why: 'mysql.gtid_slave_pos and information_schema' },
    { privileges: ['PROCESS'], on: '*.*', why: 'see every thread (replication threads, clients to kill when fencing)' },
    { privileges: ['RELOAD'], on: '*.*', why: 'FLUSH BINARY LOGS / FLUSH TABLES during switchover' },
    { privileges: ['BINLOG MONITOR'], on: '*.*', why: 'SHOW MASTER STATUS, SHOW BINARY LOGS' },
    { privileges: ['SLAVE MONITOR'], on: '*.*', why: 'SHOW SLAVE STATUS' },
    { privileges: ['REPLICATION SLAVE'], on: '*.*', why: 'read binary logs remotely (salvage, catch-up)' },
    { privileges: ['REPLICATION SLAVE ADMIN'], on: '*.*', why: 'CHANGE MASTER, START/STOP SLAVE, SET GLOBAL gtid_slave_pos' },
    { privileges: ['REPLICATION MASTER ADMIN'], on: '*.*', why: 'semi-sync master variables, SHOW SLAVE HOSTS' },
    { privileges: ['READ_ONLY ADMIN'], on: '*.*', why: 'SET GLOBAL read_only' },
    { privileges: ['CONNECTION ADMIN'], on: '*.*', why: 'KILL application connections when fencing' },
    { privileges: ['BINLOG ADMIN'], on: '*.*', why: 'binary log administration (PURGE, SET sql_log_bin)' },
    HEARTBEAT,
  ],
};

/** The replication account's privileges (every family). */
export const REPL_GRANTS: GrantItem[] = [
  { privileges: ['REPLICATION SLAVE'], on: '*.*', why: 'replicas read the binary log' },
];

/** Which list applies to a server: MySQL by major.minor, MariaDB one list (10.5+). */
export function grantFamily(flavor: 'mysql' | 'mariadb', major: number, minor: number): GrantFamily {
  if (flavor === 'mariadb') return 'mariadb';
  if (major < 8) return 'mysql57';
  if (major === 8 && minor < 4) return 'mysql80';
  return 'mysql84';
}

/** GRANT statements for a list, e.g. for `heir check` output or the lab's account set-up. */
export function grantStatements(items: GrantItem[], account: string, schema = 'heir'): string[] {
  return items.map((g) => `GRANT ${g.privileges.join(', ')} ON ${g.on.replace('{schema}', '`' + schema + '`')} TO ${account}`);
}

/**
 * What salvage needs on top (failover.salvage.enabled): applying the dead
 * master's decoded binlog on the winner sets GTID_NEXT and replays row events
 * (BINLOG statements), and those events write the application's tables, so the
 * account needs write access to the application's schemas as well. Given on
 * *.* here; narrow `on` to the application's schemas if you prefer.
 */
const SALVAGE_WRITE: GrantItem = {
  privileges: ['INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'ALTER', 'INDEX'],
  on: '*.*',
  why: "salvaged transactions write the application's tables (narrow to its schemas if you prefer)",
};

export const SALVAGE_GRANTS: Record<GrantFamily, GrantItem[]> = {
  mysql57: [SALVAGE_WRITE],
  mysql80: [
    { privileges: ['REPLICATION_APPLIER'], on: '*.*', why: 'replay row events (BINLOG statements) of salvaged transactions' },
    { privileges: ['SESSION_VARIABLES_ADMIN'], on: '*.*', why: 'SET GTID_NEXT and pseudo_thread_id while applying salvaged transactions' },
    SALVAGE_WRITE,
  ],
  mysql84: [
    { privileges: ['REPLICATION_APPLIER'], on: '*.*', why: 'replay row events (BINLOG statements) of salvaged transactions' },
    { privileges: ['SESSION_VARIABLES_ADMIN'], on: '*.*', why: 'SET GTID_NEXT and pseudo_thread_id while applying salvaged transactions' },
    SALVAGE_WRITE,
  ],
  mariadb: [
    { privileges: ['BINLOG REPLAY'], on: '*.*', why: 'replay row events (BINLOG statements) of salvaged transactions' },
    SALVAGE_WRITE,
  ],
};

/**
 * Recommended on MySQL 8.0+ (`heir check` warns when it is missing): the replication applier
 * threads hold SYSTEM_USER, and only an account holding it may KILL them. heir KILLs a
 * replica's applier that waits for the rest of a transaction its dead source never finished
 * sending (the relay log ends inside it): STOP REPLICA would wait 60 s for it first. Without
 * the privilege the failover still completes, 60 s later on such a node. 5.7: SUPER covers it;
 * MariaDB's applier has no such wait.
 */
export const APPLIER_KILL_GRANTS: Record<GrantFamily, GrantItem[]> = {
  mysql57: [],
  mysql80: [{ privileges: ['SYSTEM_USER'], on: '*.*', why: "KILL a replica's applier waiting for the rest of a transaction its dead source never sent (else STOP REPLICA waits 60 s)" }],
  mysql84: [{ privileges: ['SYSTEM_USER'], on: '*.*', why: "KILL a replica's applier waiting for the rest of a transaction its dead source never sent (else STOP REPLICA waits 60 s)" }],
  mariadb: [],
};
