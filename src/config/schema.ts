/**
 * The shape of heir's configuration file, as a schema.
 *
 * One YAML file describes any number of clusters. Keys are snake_case, as DBAs
 * know them from MHA and my.cnf. Every object is strict: an unknown key is an
 * error, never silently ignored. Secrets are given as `${env:NAME}` or
 * `${file:/path}` references; the loader resolves them before validation.
 */
import { z } from 'zod';

const ms = (def: number) => z.number().int().positive().default(def);

export const PromotionRule = z.enum(['prefer', 'neutral', 'never']);
export type PromotionRule = z.infer<typeof PromotionRule>;

export const TlsConfig = z.strictObject({
  mode: z.enum(['disabled', 'preferred', 'required', 'verify-ca', 'verify-identity']).default('preferred'),
  ca: z.string().optional(),
  cert: z.string().optional(),
  key: z.string().optional(),
});
export type TlsSettings = z.infer<typeof TlsConfig>;

export const MysqlCredentials = z.strictObject({
  user: z.string().min(1),
  password: z.string(),
  replication_user: z.string().min(1),
  replication_password: z.string(),
  connect_timeout_ms: ms(2000),
  query_timeout_ms: ms(5000),
  tls: TlsConfig.prefault({}),
});
export type MysqlCredentials = z.infer<typeof MysqlCredentials>;

export const SshSettings = z.strictObject({
  user: z.string().min(1).default('root'),
  port: z.number().int().min(1).max(65535).default(22),
  /** Path of the private key file the manager uses. */
  private_key: z.string().optional(),
  /** known_hosts file the host keys are checked against. There is no "accept any" mode. */
  known_hosts: z.string().default('/etc/heir/known_hosts'),
  connect_timeout_ms: ms(3000),
  command_timeout_ms: ms(10000),
  /**
   * Keep a connection open this long after its last command, for the next one (detection's
   * SSH checks at a suspicion, then the failover's fence, salvage and address move reuse it
   * instead of a new key exchange each). 0: a new connection per command.
   */
  keep_open_s: z.number().int().min(0).max(3600).default(30),
});
export type SshSettings = z.infer<typeof SshSettings>;

export const NodeConfig = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(3306),
  /** ECS instance that hosts this node (i-...), for the ENI mover and STONITH. */
  instance_id: z.string().optional(),
  promotion: PromotionRule.default('neutral'),
  /** Per-node SSH overrides (address, port, user) of the cluster's ssh settings. */
  ssh: z
    .strictObject({
      host: z.string().optional(),
      port: z.number().int().min(1).max(65535).optional(),
      user: z.string().optional(),
    })
    .optional(),
  /** Where this node keeps its binary logs, when it cannot be read from the server (salvage). */
  binlog_dir: z.string().optional(),
});
export type NodeConfig = z.infer<typeof NodeConfig>;

export const DetectionSettings = z.strictObject({
  interval_ms: ms(1000),
  /**
   * Timeout of one ping. A ping answers in about a millisecond on a LAN; one that does not
   * within this time only makes the master suspect: corroboration (started after 50 ms of
   * silence) tells a slow master from a dead one, never the timeout alone.
   */
  ping_timeout_ms: ms(500),
  /**
   * ping (COM_PING on a persistent connection, what `mysqladmin ping` sends: the cheapest for
   * heir and for the server), select (SELECT 1 on a persistent connection), connect (a new
   * connection and SELECT 1 each time), insert (writes heartbeat_table: proves writability).
   */
  ping_type: z.enum(['connect', 'ping', 'select', 'insert']).default('ping'),
  /** Table written by ping_type insert; created when missing. */
  heartbeat_table: z.string().regex(/^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/).default('heir.heartbeat'),
  /** Independent sources that must agree the master is dead (manager, replicas, ssh, secondary checks). */
  min_sources: z.number().int().min(1).max(4).default(2),
  /** SSH to the master's host to see whether host and mysqld are alive. */
  ssh_check: z.boolean().default(true),
  /**
   * Nodes whose hosts probe the master's port over SSH (MHA's secondary check): other
   * vantage points than the manager, independent of the replication stream. 'all': every
   * other node of the cluster (the default); []: none.
   */
  secondary_checks: z.union([z.literal('all'), z.array(z.string())]).default('all'),
  /** How long a ping may fail before, with no corroboration either way, the master counts as dead. */
  suspect_timeout_ms: ms(10000),
});
export type DetectionSettings = z.infer<typeof DetectionSettings>;

/** The nodes whose hosts run the secondary checks of `master` (detection.secondary_checks resolved). */
export function secondaryCheckNodes(cluster: { nodes: { name: string }[]; detection: DetectionSettings }, master: string): string[] {
  const sc = cluster.detection.secondary_checks;
  const names = sc === 'all' ? cluster.nodes.map((n) => n.name) : sc;
  return names.filter((n) => n !== master);
}

export const FailoverSettings = z.strictObject({
  /** Fail over automatically on a dead verdict. When false, heir alerts and waits for `heir failover`. */
  auto: z.boolean().default(true),
  /** After an automatic failover, no other automatic one until acknowledged or this period ends. */
  block_period_s: z.number().int().min(0).default(3600),
  /** Candidates lagging more than this (seconds behind, as last seen) are gated. */
  max_lag_s: z.number().int().min(0).default(300),
  /** Replicas with errant GTIDs: block them from promotion, or allow with a warning. */
  errant_gtids: z.enum(['block', 'warn']).default('block'),
  /**
   * Bounded wait for catch-up, and for a relay log to be applied while nothing moves: a node
   * whose applier makes no progress for this long is stuck (dropped, or the failover stops).
   */
  apply_timeout_s: z.number().positive().default(120),
  /**
   * Hard bound of one node's drain while its applier keeps making progress (a long transaction
   * in its relay log). Past it the node is dropped and the next candidate promoted. Default:
   * 3 × apply_timeout_s (drainMaxS).
   */
  drain_max_s: z.number().positive().optional(),
  salvage: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** mysqlbinlog on the manager (reads the dead master's binlogs fetched over SSH). */
      mysqlbinlog: z.string().default('mysqlbinlog'),
      /** The mysql client on the manager, fed the decoded binlogs (connects to the new master). */
      mysql: z.string().default('mysql'),
      timeout_s: z.number().positive().default(60),
    })
    .prefault({}),
  /** Force-stop the old master's ECS instance when it cannot be fenced otherwise. */
  stonith: z.boolean().default(false),
  /**
   * An old master that does not answer SQL while its host answers SSH (hung, SIGSTOPped) has
   * its mysqld killed (SIGKILL over SSH) before the promotion, so it cannot resume writable
   * beside the new master. false: it is made read-only when it answers again.
   */
  kill_unresponsive_master: z.boolean().default(true),
  /** Turn on semi-sync source on the new master and replica on the others. */
  semi_sync: z.boolean().default(false),
  /**
   * The daemon makes a returning old master (fenced read-only) a replica of the new master by
   * itself when it has nothing the new master lacks (the decision of `heir rejoin`); otherwise it
   * stays fenced and the transactions it has are reported.
   */
  auto_rejoin: z.boolean().default(false),
});
export type FailoverSettings = z.infer<typeof FailoverSettings>;

/** failover.drain_max_s as configured, else 3 × apply_timeout_s. */
export function drainMaxS(fo: Pick<FailoverSettings, 'apply_timeout_s' | 'drain_max_s'>): number {
  return fo.drain_max_s ?? 3 * fo.apply_timeout_s;
}

export const CloudSettings = z.strictObject({
  region_id: z.string().min(1),
  /** Override of the ECS endpoint (e.g. a VPC endpoint); default ecs.<region>.aliyuncs.com. */
  endpoint: z.string().optional(),
  /** Override of the VPC API endpoint (address.type havip); default the SDK's for the region. */
  vpc_endpoint: z.string().optional(),
  protocol: z.enum(['https', 'http']).default('https'),
  connect_timeout_ms: ms(5000),
  read_timeout_ms: ms(10000),
  /** Total time budget of one fence or attach, retries included. */
  operation_timeout_s: z.number().positive().default(60),
  /**
   * How long a Describe may lag behind a change heir made (eventual consistency). Within
   * this time after its own mutation of an ENI or address, heir draws no conclusion
   * (moved, already there, failed) from a Describe and sends no repeat of the mutation. A
   * failover's ENI attach then starts while the detach settles: the API refuses
   * AttachNetworkInterface until the ENI is Available (src/eni/eni-mover.ts attachWhileFencing).
   */
  describe_lag_ms: z.number().int().nonnegative().default(0),
  /** CA bundle for the endpoint's certificate (verification is never disabled). */
  ca_file: z.string().optional(),
});
export type CloudSettings = z.infer<typeof CloudSettings>;

export const AddressSettings = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('eni'),
    eni_id: z.string().regex(/^eni-[A-Za-z0-9]+$/, 'an ENI id looks like eni-xxxxxxxx'),
    floating_ip: z.string().min(1),
    /** Run on the new master's host after attach (bring the NIC up, routes). */
    post_attach_command: z.string().optional(),
    /** Connect to floating_ip after the move and check it reaches the new master. */
    verify: z.boolean().default(true),
  }),
  z.strictObject({
    type: z.literal('secondary-ip'),
    floating_ip: z.string().min(1),
    /** Primary ENI of each node's instance, by node name. */
    enis: z.record(z.string(), z.string()),
    post_attach_command: z.string().optional(),
    verify: z.boolean().default(true),
  }),
  z.strictObject({
    type: z.literal('havip'),
    /** The HaVip (VPC API) whose address applications connect to; one vSwitch, associated with every node's instance. */
    havip_id: z.string().regex(/^havip-[A-Za-z0-9]+$/, 'a HaVip id looks like havip-xxxxxxxx'),
    /** The HaVip's private IP address. */
    floating_ip: z.string().min(1),
    /** The network interface on each node's host that carries the address. */
    interface: z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'a network interface name, e.g. eth0').default('eth0'),
    /** Gratuitous ARP packets sent by the new master (arping -U, then -A). */
    announce_count: z.number().int().min(1).max(10).default(2),
    /** Connect to floating_ip after the move and check it reaches the new master. */
    verify: z.boolean().default(true),
  }),
  z.strictObject({
    type: z.literal('script'),
    /** An MHA master_ip_failover script. */
    path: z.string().min(1),
    floating_ip: z.string().optional(),
    timeout_s: z.number().positive().default(60),
  }),
  z.strictObject({ type: z.literal('none') }),
]);
export type AddressSettings = z.infer<typeof AddressSettings>;

export const WebhookConfig = z.strictObject({
  type: z.enum(['generic', 'dingtalk', 'wecom', 'feishu', 'slack']),
  url: z.string().url(),
  /** HMAC secret (generic), signing secret (dingtalk, feishu). */
  secret: z.string().optional(),
  /** Event types to send; all when empty. */
  events: z.array(z.string()).default([]),
  timeout_ms: ms(5000),
  max_attempts: z.number().int().min(1).default(5),
});
export type WebhookConfig = z.infer<typeof WebhookConfig>;

/**
 * A hook: a program heir runs after (or, pre_failover, before) an operation. The command is
 * an argv list run without a shell (nothing in it is expanded or interpreted); for a shell
 * pipeline write ["/bin/sh", "-c", "..."]. The report (pre_failover: the plan) is on its
 * standard input as JSON; key facts are in HEIR_* environment variables.
 */
export const HookCommand = z.strictObject({
  command: z.array(z.string().min(1)).min(1, 'the program and its arguments, e.g. ["/usr/local/bin/repoint-proxysql"]'),
  /** Killed (its whole process group) after this long. */
  timeout_s: z.number().positive().default(30),
});
export type HookCommand = z.infer<typeof HookCommand>;

export const PreFailoverHook = z.strictObject({
  ...HookCommand.shape,
  /** A failing (non-zero, killed, timed out) pre_failover stops the failover; otherwise it is a warning. */
  abort_on_failure: z.boolean().default(false),
});
export type PreFailoverHook = z.infer<typeof PreFailoverHook>;

export const HooksSettings = z.strictObject({
  pre_failover: PreFailoverHook.optional(),
  post_failover: HookCommand.optional(),
  post_switchover: HookCommand.optional(),
  post_rejoin: HookCommand.optional(),
});
export type HooksSettings = z.infer<typeof HooksSettings>;
export type HookName = keyof HooksSettings;

export const ClusterConfig = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  mysql: MysqlCredentials,
  ssh: SshSettings.prefault({}),
  nodes: z.array(NodeConfig).min(2, 'a cluster needs at least two nodes'),
  detection: DetectionSettings.prefault({}),
  failover: FailoverSettings.prefault({}),
  address: AddressSettings.default({ type: 'none' }),
  webhooks: z.array(WebhookConfig).default([]),
  hooks: HooksSettings.prefault({}),
});
export type ClusterConfig = z.infer<typeof ClusterConfig>;

/**
 * Manager high availability: several daemons watch the same clusters and keep their shared
 * state in etcd; per cluster, only the holder of a lease-bound leadership key acts. Absent: one
 * daemon, state on local disk.
 */
export const HaSettings = z.strictObject({
  etcd: z.strictObject({
    /** Client URLs of the etcd members, e.g. https://10.0.1.5:2379. */
    endpoints: z
      .array(z.string().regex(/^https?:\/\/[^/\s]+:\d+\/?$/, 'an etcd endpoint looks like https://host:2379 (scheme, host and port)'))
      .min(1, 'at least one etcd endpoint'),
    /** TLS to etcd (https endpoints), PEM files: the CA that signed the members' certificates, and a client certificate when etcd asks for one. */
    tls: z
      .strictObject({
        ca: z.string().min(1),
        cert: z.string().optional(),
        key: z.string().optional(),
      })
      .optional(),
    /** etcd's role-based authentication. */
    auth: z.strictObject({ user: z.string().min(1), password: z.string() }).optional(),
    /** Bound of one etcd request; a store that does not answer within it counts as unreachable. */
    request_timeout_ms: ms(2000),
  }),
  /** This daemon's name among the managers: unique per manager (it is the leader's name in etcd). */
  manager_id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only'),
  /** Leadership lease: a leader that cannot renew it for this long loses leadership, and another manager takes over. */
  lease_ttl_s: z.number().int().min(2, 'at least 2 s (etcd refuses shorter leases)').max(60, 'at most 60 s (longer leaves a cluster unwatched that long)').default(5),
  /** Key prefix of heir's state in etcd; several heir installations can share one etcd with different prefixes. */
  prefix: z.string().regex(/^\/[A-Za-z0-9_.\/-]*\/$/, 'an absolute key prefix ending in /, e.g. /heir/').default('/heir/'),
});
export type HaSettings = z.infer<typeof HaSettings>;

export const GlobalSettings = z.strictObject({
  state_dir: z.string().default('/var/lib/heir'),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  api: z
    .strictObject({
      listen: z.string().default('127.0.0.1:7878'),
      /** Bearer token for actions. Without one, the API is read-only. */
      token: z.string().optional(),
      /**
       * heir.ha: the URL at which the other managers reach this daemon's API, published in etcd;
       * a manager that does not lead a cluster forwards actions on it to the leader's. Default:
       * http://<listen> when listen names an address other than loopback or a wildcard.
       */
      advertise_url: z
        .string()
        .regex(/^https?:\/\/[^/\s@?#]+:\d+\/?$/, 'a URL with scheme, host and port, e.g. http://10.0.1.7:7878')
        .optional(),
    })
    .prefault({}),
  cloud: CloudSettings.optional(),
  ha: HaSettings.optional(),
});
export type GlobalSettings = z.infer<typeof GlobalSettings>;

export const HeirConfig = z.strictObject({
  heir: GlobalSettings.prefault({}),
  clusters: z.array(ClusterConfig).min(1, 'at least one cluster'),
});
export type HeirConfig = z.infer<typeof HeirConfig>;
