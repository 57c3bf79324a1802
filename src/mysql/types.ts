/**
 * Plain data that describes servers and their replication, as read at one
 * instant. Decision logic (monitor verdicts, failover plans, checks) works on
 * these types only; it never talks to a server.
 */

export type Flavor = 'mysql' | 'mariadb';

export interface ServerVersion {
  flavor: Flavor;
  major: number;
  minor: number;
  patch: number;
  /** @@version as the server reported it. */
  raw: string;
}

/** A position in a binary log. */
export interface BinlogCoordinates {
  file: string;
  pos: number;
}

/** One replication channel (MySQL) or connection (MariaDB multi-source) of a replica. */
export interface ReplicationChannel {
  /** '' for the default channel. */
  channel: string;
  sourceHost: string;
  sourcePort: number;
  /** SHOW REPLICA STATUS Replica_IO_Running: 'Yes' | 'No' | 'Connecting'. */
  ioState: 'Yes' | 'No' | 'Connecting';
  sqlRunning: boolean;
  lastIoErrno: number;
  lastIoError: string;
  lastSqlErrno: number;
  lastSqlError: string;
  secondsBehind: number | null;
  /** Source_Server_Id / Master_Server_Id as seen by the replica (0 when never connected). */
  sourceServerId: number;
  /** Coordinates in the source's binlog up to which events were received. */
  read: BinlogCoordinates | null;
  /** Coordinates in the source's binlog up to which events were applied. */
  exec: BinlogCoordinates | null;
  /** MySQL: Retrieved_Gtid_Set (received into the relay log). '' when none. */
  retrievedGtidSet: string;
  /** MySQL: Auto_Position=1; MariaDB: Using_Gtid != No. */
  gtidAutoPosition: boolean;
  /** MariaDB: Using_Gtid (Current_Pos | Slave_Pos | No). */
  mariadbUsingGtid?: 'No' | 'Current_Pos' | 'Slave_Pos';
  /** Seconds since the replica last heard anything (event or heartbeat) from its source, when known. */
  lastHeardSecondsAgo?: number | null;
  /** Heartbeats received on this channel, when the server reports it. */
  heartbeatsReceived?: number | null;
  /** The channel's heartbeat period (s), when the server reports it. */
  heartbeatPeriodS?: number | null;
  /** Replica_SQL_Running_State / Slave_SQL_Running_State (e.g. '... has read all relay log; waiting for more updates'). */
  sqlThreadState?: string;
  /** Replica_IO_State / Slave_IO_State. */
  ioThreadState?: string;
  /** MySQL: Source_UUID as seen by the replica ('' when never connected). */
  sourceUuid?: string;
  /** MariaDB: Gtid_IO_Pos of this connection (received position). */
  mariadbGtidIoPos?: string;
  /** Relay_Log_File: the relay log file the applier is reading. */
  relayLogFile?: string;
}

export interface SemiSyncState {
  /** rpl_semi_sync_source_enabled / rpl_semi_sync_master_enabled. */
  sourceEnabled: boolean;
  /** Status: semi-sync currently active on the source. */
  sourceActive: boolean;
  replicaEnabled: boolean;
  replicaActive: boolean;
}

export interface NodeSnapshot {
  /** Node name from the config. */
  name: string;
  host: string;
  port: number;
  /** ms since epoch when this node was read. */
  takenAt: number;
  reachable: boolean;
  /** Why it could not be read: mysql error code/message, timeout. */
  error?: { code: string; errno?: number; message: string };
  version?: ServerVersion;
  serverId?: number;
  /** MySQL @@server_uuid; MariaDB has none (undefined). */
  serverUuid?: string;
  readOnly?: boolean;
  superReadOnly?: boolean;
  /** @@performance_schema (MySQL always reads it; MariaDB too). */
  performanceSchema?: boolean;
  /** replica_net_timeout / slave_net_timeout (s): how long a silent IO thread waits before it reconnects. */
  netTimeoutS?: number;
  logBin?: boolean;
  logReplicaUpdates?: boolean;
  /** MySQL @@gtid_mode ('OFF'|'ON'|...); MariaDB: 'ON' when a gtid position is in use, else 'OFF'. */
  gtidMode?: string;
  /**
   * Everything this server has executed, in its flavor's notation:
   * MySQL @@gtid_executed (uuid:intervals set), MariaDB @@gtid_current_pos (domain-server-seq list).
   */
  executedGtid?: string;
  /** MariaDB: @@gtid_binlog_pos, @@gtid_slave_pos, and the received position (gtid_io_pos from status). */
  mariadb?: { binlogPos: string; slavePos: string; ioPos?: string; binlogState?: string };
  /** relay_log_purge (MySQL): applied relay logs are deleted; file/position level-up needs them. */
  relayLogPurge?: boolean;
  /** SHOW BINARY LOG STATUS / SHOW MASTER STATUS, when binlog is on. */
  binlog?: BinlogCoordinates;
  /** Empty for a server that is not a replica. */
  replication: ReplicationChannel[];
  semiSync?: SemiSyncState;
}

export interface TopologySnapshot {
  cluster: string;
  takenAt: number;
  nodes: NodeSnapshot[];
}
