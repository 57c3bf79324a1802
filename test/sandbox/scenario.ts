/**
 * The sandbox: a complete heir installation on one machine, then a fault.
 *
 *   up()      three database hosts in network namespaces (MySQL 9.7 or MariaDB
 *             10.11, GTID replication), the ECS API emulator holding the ENI with
 *             the floating address (its attach/detach really move the address
 *             between the namespaces), a generated heir configuration, heir's
 *             daemon as a child process (credentials through the SDK's default
 *             chain: ALIBABA_CLOUD_CREDENTIALS_URI served by the emulator), and a
 *             writer committing through the floating address.
 *   fault()   kill -9 of the master's mysqld (or `heir switchover`), then follows
 *             heir's JSON log, the emulator's ENI transitions and the writer.
 *   summary() rows acknowledged vs rows present on the new master, and timings.
 *   down()    stops what up() started, by pid; removes the temp folder.
 *
 * With `ha`, heir runs as two daemons (mgr-a, mgr-b) under heir.ha on a three-member etcd
 * (loopback ports): the failover state is in etcd, and haTakeover() kills the leading daemon
 * in the middle of its failover so that the other one resumes and finishes it.
 *
 * Used by the sandbox command (main.ts) and the end-to-end benchmark.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { loadConfig, findCluster } from '../../src/config';
import type { ClusterConfig, HeirConfig } from '../../src/config/schema';
import { createLogger } from '../../src/util/log';
import { describeSettings, startNetLab, type LabSettings, type NetLab } from '../lab';
import { freePort } from '../lab/ports';
import { onExitSync } from '../lab/procs';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { DEFAULT_DELAYS, type Delays } from '../ecs-emulator/state';
import { Narrator, lineTime, parseLogLine, renderLogLine, type LogLine } from './narrator';
import { APP, Writer, appSetupSql, type WriterEvent } from './writer';
import { assertInvariant, type InvariantInput } from '../support/invariant';
import { etcdAvailable, startEtcdLab, type EtcdLab } from '../lab/etcd';

export const REPO = path.resolve(__dirname, '..', '..', '..');
const HEIR_BIN = path.join(REPO, 'bin', 'heir.js');
const CLUSTER = 'sandbox';
const ENI_ID = 'eni-sandbox';
const HAVIP_ID = 'havip-sandbox';
const REGION = 'cn-hangzhou';
/** The two managers of --ha, and their etcd key prefix. */
const MANAGERS = ['mgr-a', 'mgr-b'] as const;
const HA_PREFIX = '/heir-sandbox/';

export type Engine = 'daemon' | 'inprocess';
/**
 * kill: kill -9 of the master's mysqld (host up); host-down: the master's host unplugged
 * (mysqld, sshd and binlogs out of reach); hang: SIGSTOP of the master's mysqld (it resumes
 * only when the caller sends SIGCONT: lab.resume); switchover: a planned one.
 */
export type Mode = 'kill' | 'host-down' | 'hang' | 'switchover';

export interface SandboxOptions {
  flavor: 'mysql' | 'mariadb';
  mode: Mode;
  /** daemon: `heir daemon` as a child process; inprocess: monitor + executor in this process. */
  engine: Engine;
  narrator: Narrator;
  /** Emulator delays (default: the emulator's, near the platform's). */
  delays?: Partial<Delays>;
  /**
   * The emulator's Describe actions answer from the state this long ago (eventual
   * consistency), and heir's cloud.describe_lag_ms says so (default 0: no lag).
   */
  describeLagMs?: number;
  /**
   * How the floating address moves (default eni). havip: a HaVip associated with the three
   * instances; heir brings the address up on the new master over SSH and announces it by
   * ARP, and the manager's ARP cache (the writer's path) follows it as the VPC would.
   */
  address?: 'eni' | 'havip';
  /** Bound on waiting for the failover and the first write after the fault (s). */
  timeoutS?: number;
  /** Switchover target (default db2). */
  switchoverTo?: string;
  /** Wait a random 0–1000 ms before the fault, so that it lands at a random phase of heir's 1 s ping (benchmarks). */
  randomPhase?: boolean;
  /** Server settings varied on purpose (default: the servers' own defaults). */
  settings?: LabSettings;
  /** Semi-synchronous replication on the lab and failover.semi_sync in heir's config. */
  semiSync?: boolean;
  /** failover.auto in heir's config (default true). */
  auto?: boolean;
  /** More of heir's failover settings, varied on purpose (merged into the failover section). */
  failover?: Record<string, unknown>;
  /** The writer's pause between two commits (ms; default 5), or a function of the commits so far (bursts). */
  writerPauseMs?: number | ((acked: number) => number);
  /**
   * Keep the cluster idle this long before the writer starts (ms; default 0). An idle MySQL
   * source sends heartbeats; once writes flow it sends none, so the replicas' last heartbeat
   * then dates from before the writes, as on a server that was quiet before its busy hours.
   */
  idleBeforeWriterMs?: number;
  /**
   * Manager high availability: a three-member etcd and two daemons (mgr-a, mgr-b) under
   * heir.ha instead of one daemon (engine daemon only). See haTakeover().
   */
  ha?: boolean;
  /**
   * --ha: where the leader daemon is killed (default attach). attach: when its
   * AttachNetworkInterface call reaches the emulator (held there): the promotion is done, the
   * address on no host. verdict: when it logs the dead verdict that allows failover, before it
   * has acted; the other daemon fails over on its own verdict once it leads.
   */
  haKillAt?: 'attach' | 'verdict';
  /** Replication by file and position instead of GTID (default GTID). */
  gtid?: boolean;
  /**
   * One survivor's applier held by a lock, as a backup's or a report's session on a replica
   * holds one: taken on `node` just before the fault (MySQL: LOCK TABLES of the application's
   * table READ; MariaDB: a locking read above every row), released `releaseAfterMs` after it.
   * Its STOP REPLICA waits for the lock (MariaDB always; MySQL by file and position; MySQL
   * with GTID auto-positioning switches only the receiver and never stops the applier).
   */
  holdApplier?: { node: string; releaseAfterMs: number };
}

/** What happened to the managers in an --ha run (see Sandbox.haTakeover). */
export interface HaTakeover {
  /** The daemon that led and was killed in its failover. */
  killed: string;
  /** When it was killed: its ENI attach held at the emulator, or its dead verdict. */
  killedAt: 'attach' | 'verdict';
  /** ms from the fault to the kill of the leader daemon. */
  faultToKillMs: number;
  /** The node the killed leader had promoted (from the resume line of the other daemon). */
  promotedByKilled: string | null;
  /** The daemon that took the leadership and finished the failover. */
  finishedBy: string;
  /** ms from the kill of the leader to the other daemon's leadership (its log line's time). */
  killToLeaderMs: number;
  /** ms from the fault to the other daemon's leadership. */
  faultToLeaderMs: number;
}

/** What a manager-only partition of the master did (see Sandbox.partition). */
export interface PartitionResult {
  flavor: string;
  version: string;
  settings: string;
  partitionMs: number;
  /** Verdicts the daemon reported while cut off and until it was Healthy again (ms from the cut). */
  verdicts: { atMs: number; to: string; failoverAllowed: boolean; rule: string; reason: string }[];
  /** Failover reports started after the cut. */
  failovers: number;
  /** The emulator's ENI hooks fired (detach or attach) after the cut. */
  addressMoved: boolean;
  acknowledgedDuring: number;
  writerFailuresDuring: number;
  /** Acknowledged ids missing on the master after the heal. */
  lost: number | null;
  lostIds: number[];
  /** Nodes with read_only=0 after the heal. */
  writable: string[];
  problems: string[];
}

export interface SandboxResult {
  ok: boolean;
  flavor: string;
  version: string;
  mode: Mode;
  engine: Engine;
  oldMaster: string;
  newMaster: string | null;
  acknowledged: number;
  presentOnNewMaster: number | null;
  lost: number | null;
  lostIds: number[];
  /** Unacknowledged attempts that nevertheless committed (allowed, not a loss). */
  committedUnacknowledged: number | null;
  writerFailedAttempts: number;
  /** ms from the fault (kill -9 / switchover start) to the first write accepted through the floating address on the new master. */
  faultToFirstWriteMs: number | null;
  /** Longest gap between two acknowledged writes around the fault (ms). */
  writerGapMs: number | null;
  faultToVerdictMs: number | null;
  verdict: string | null;
  faultToWritableMs: number | null;
  failoverOutcome: string | null;
  failoverDurationMs: number | null;
  eni: { delays: Delays; detachedAtMs: number | null; attachedAtMs: number | null; attachedTo: string | null };
  replicasInSync: { node: string; rows: number; ok: boolean }[];
  problems: string[];
  configPath: string;
  /** --ha: the takeover; null otherwise. */
  ha: HaTakeover | null;
  /** --ha: the manager whose failover report ends with the outcome shown (the one that finished it). */
  reportBy: string | null;
  /** The cluster invariant after the failover: 'holds', or why not (null: not checked). */
  invariant: string | null;
  /** The failover report's steps, their end in ms after the fault (null: no report). */
  steps: { name: string; outcome: string; durationMs: number | null; endedAtMs: number | null }[] | null;
  /** holdApplier: ms from the fault to the release of the held survivor's lock (null: no hold). */
  heldReleasedAtMs: number | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether the built CLI has the daemon command. */
export function daemonAvailable(): boolean {
  return fs.existsSync(path.join(REPO, 'dist', 'src', 'cli', 'commands', 'daemon.js'));
}

export class Sandbox {
  readonly n: Narrator;
  lab!: NetLab;
  emu!: EcsEmulator;
  dir = '';
  configPath = '';
  envFile = '';
  cluster!: ClusterConfig;
  config!: HeirConfig;
  writer!: Writer;
  private childEnv: NodeJS.ProcessEnv = {};
  private daemon: ChildProcess | null = null;
  private daemonExited: Promise<void> = Promise.resolve();
  /** --ha: the etcd members and both daemons (the one above is then unused). */
  etcd: EtcdLab | null = null;
  private managers = new Map<string, { child: ChildProcess | null; exited: Promise<void>; configPath: string; stateDir: string }>();
  private takeover: HaTakeover | null = null;
  private inproc: { stop(): Promise<void> } | null = null;
  private removeExitHook: () => void = () => {};
  private logLines: LogLine[] = [];
  private logWaiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  private faultWall = 0;
  private faultPerf = 0;
  /** holdApplier: the session holding the lock, its release timer, when it was released. */
  private hold: { session: mysql.Connection; timer: NodeJS.Timeout | null; releasedPerf: number | null } | null = null;
  private eniDetachedAt: number | null = null;
  private eniAttachedAt: number | null = null;
  private eniAttachedTo: string | null = null;
  private readonly delays: Delays;
  private oldMaster = 'db1';

  constructor(readonly o: SandboxOptions) {
    this.n = o.narrator;
    this.delays = { ...DEFAULT_DELAYS, ...(o.delays ?? {}) };
  }

  // ---------------------------------------------------------------------------
  // up

  async up(): Promise<void> {
    const n = this.n;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-sandbox-'));
    const dir = this.dir;
    this.removeExitHook = onExitSync(() => this.killSync());

    n.line('lab', `starting 3 ${this.o.flavor === 'mysql' ? 'MySQL' : 'MariaDB'} hosts in network namespaces (GTID replication, db1 is the master)…`);
    let t = performance.now();
    this.lab = await startNetLab({ flavor: this.o.flavor, hosts: 3, name: CLUSTER, settings: this.o.settings, semiSync: this.o.semiSync, gtid: this.o.gtid });
    const lab = this.lab;
    n.line('lab', `${lab.flavor === 'mysql' ? 'MySQL' : 'MariaDB'} ${lab.version} up in ${((performance.now() - t) / 1000).toFixed(1)} s: ` +
      lab.nodes.map((x) => `${x.name} ${x.address}:${x.port} (ns ${x.ns})`).join(', '));

    // The application's schema and account, created on the master (they replicate).
    for (const s of appSetupSql()) await lab.sql(lab.nodes[0]!, s);

    // The ECS API emulator: one instance per host, the ENI with the floating address on db1
    // (or the HaVip associated with every instance, announced by db1).
    const havip = this.o.address === 'havip';
    const key = { id: `LTAI5tSandbox${randomBytes(4).toString('hex')}`, secret: randomBytes(18).toString('base64url') };
    const zone = { zone: `${REGION}-h`, vpc: 'vpc-sandbox', vswitch: 'vsw-sandbox-h' };
    const nodeOf = (instanceId: string) => {
      const x = lab.nodes.find((y) => lab.instanceIdOf(y) === instanceId);
      if (!x) throw new Error(`sandbox: no host for instance ${instanceId}`);
      return x;
    };
    this.emu = await startEcsEmulator({
      state: {
        region: REGION,
        delays: this.delays,
        instances: lab.nodes.map((x) => ({ id: lab.instanceIdOf(x), name: x.name, status: 'Running' as const, ...zone })),
        enis: [
          ...lab.nodes.map((x, i) => ({ id: `eni-primary${i + 1}`, type: 'Primary' as const, privateIp: x.address!, status: 'InUse' as const, instanceId: lab.instanceIdOf(x), ...zone })),
          ...(havip ? [] : [{ id: ENI_ID, type: 'Secondary' as const, privateIp: lab.floatingIp, status: 'InUse' as const, instanceId: lab.instanceIdOf(lab.nodes[0]!), ...zone }]),
        ],
      },
      ...(havip
        ? {
            havip: {
              havips: [{ id: HAVIP_ID, ipAddress: lab.floatingIp, vpc: zone.vpc, vswitch: zone.vswitch, status: 'InUse' as const, associated: lab.nodes.map((x) => lab.instanceIdOf(x)), associatedType: 'EcsInstance' as const }],
              hooks: {
                // The VPC delivers the address to the associated instance that announced it last:
                // the lab's bridge does the same through the manager's ARP cache.
                masterOf: () => {
                  const h = lab.arpHolder();
                  return h ? lab.instanceIdOf(h) : undefined;
                },
                // Unassociated: the VPC no longer delivers the address to that instance.
                onUnassociate: async (_id: string, instanceId: string) => {
                  const host = nodeOf(instanceId);
                  await lab.exec(host, ['ip', '-4', 'addr', 'del', `${lab.floatingIp}/32`, 'dev', 'eth0']);
                  n.line('HaVip', `${HAVIP_ID} unassociated from ${instanceId}: ${host.name} no longer receives ${lab.floatingIp}`);
                },
                onHookError: (what: string, err: unknown) => n.line('HaVip', `emulator hook ${what} failed: ${(err as Error).message}`, { level: 'error' }),
              },
            },
          }
        : {}),
      keys: [key],
      protocol: 'https',
      tlsDir: path.join(dir, 'emulator-tls'),
      hooks: {
        onAttach: async (_eni, instanceId) => {
          const host = nodeOf(instanceId);
          await lab.addFloating(host);
          this.eniAttachedAt = performance.now();
          this.eniAttachedTo = host.name;
          n.line('ENI', `${ENI_ID} InUse on ${instanceId}: ${lab.floatingIp} is up on ${host.name} (after ${this.delays.attachMs} ms Attaching in the emulator)`, { perf: this.eniAttachedAt, level: 'good' });
        },
        onDetach: async (_eni, instanceId) => {
          const host = nodeOf(instanceId);
          await lab.removeFloating(host);
          this.eniDetachedAt = performance.now();
          n.line('ENI', `${ENI_ID} Available: detached from ${instanceId}, ${lab.floatingIp} is gone from ${host.name} (after ${this.delays.detachMs} ms Detaching)`, { perf: this.eniDetachedAt });
        },
        onHookError: (what, err) => n.line('ENI', `emulator hook ${what} failed: ${(err as Error).message}`, { level: 'error' }),
      },
    });
    await lab.addFloating(lab.nodes[0]!);
    if (this.o.describeLagMs) {
      this.emu.control({ op: 'lag', ms: this.o.describeLagMs });
      n.line('ENI', `the emulator's Describe actions answer from the state ${this.o.describeLagMs} ms ago (eventual consistency); heir's cloud.describe_lag_ms is the same`);
    }
    if (havip) {
      n.line('HaVip', `ECS and VPC API emulator at https://${this.emu.endpoint} (region ${REGION}); ${HAVIP_ID} (${lab.floatingIp}) associated with ${lab.nodes.map((x) => lab.instanceIdOf(x)).join(', ')}, up on db1`);
    } else {
      n.line('ENI', `ECS API emulator at https://${this.emu.endpoint} (region ${REGION}; ENI delays: ${this.delays.detachMs} ms Detaching, ${this.delays.attachMs} ms Attaching); ` +
        `${ENI_ID} (${lab.floatingIp}) InUse on ${lab.instanceIdOf(lab.nodes[0]!)} (db1)`);
    }
    n.line('lab', `server settings: ${describeSettings(lab.flavor, this.o.settings)}`);

    if (this.o.ha) {
      const missing = etcdAvailable();
      if (missing) throw new Error(`sandbox --ha: ${missing}`);
      n.line('etcd', 'starting 3 etcd members on loopback ports…');
      t = performance.now();
      this.etcd = await startEtcdLab();
      n.line('etcd', `up in ${((performance.now() - t) / 1000).toFixed(1)} s: ${this.etcd.endpoints.join(', ')}`);
    }

    // heir's configuration and the credential chain's environment.
    this.apiPort = await freePort();
    if (this.o.ha) this.apiPortB = await freePort();
    this.writeConfig();
    n.line('sandbox', `configuration: ${this.configPath}`);

    // The writer, through the floating address.
    if (this.o.idleBeforeWriterMs) await sleep(this.o.idleBeforeWriterMs);
    this.writer = new Writer(lab.floatingIp, 3306, (e) => this.onWriter(e), this.o.writerPauseMs ?? 5);
    this.writer.start();
    t = performance.now();
    while (this.writer.acks.length === 0) {
      if (performance.now() - t > 15000) throw new Error(`sandbox: the writer could not commit through ${lab.floatingIp}:3306 within 15 s`);
      await sleep(50);
    }
    n.line('app', `writer committing through ${lab.floatingIp}:3306 as ${APP.user} (server_id ${this.writer.acks[0]!.serverId}, db1)`);

    // heir.
    if (this.o.ha) await this.startManagers();
    else if (this.o.engine === 'daemon') await this.startDaemon();
    else await this.startInProcess();
    await this.waitLog((l) => /^monitoring .*: master /.test(String(l.msg ?? '')), 30000, 'heir did not start monitoring the cluster');
    await this.waitLog((l) => l.event === 'replicas', 8000, '').catch(() => undefined);
    await sleep(1500);
  }

  private writeConfig(): void {
    const lab = this.lab;
    const dir = this.dir;
    const secrets = path.join(dir, 'secrets');
    fs.mkdirSync(secrets, { mode: 0o700 });
    fs.writeFileSync(path.join(secrets, 'mysql-admin'), lab.admin.password, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, 'mysql-repl'), lab.repl.password, { mode: 0o600 });
    fs.writeFileSync(path.join(secrets, 'api-token'), randomBytes(24).toString('hex'), { mode: 0o600 });
    const doc = {
      heir: {
        state_dir: path.join(dir, 'state'),
        log_level: 'info',
        api: { listen: `127.0.0.1:${this.apiPort}`, token: '${file:secrets/api-token}' },
        cloud: {
          region_id: REGION,
          endpoint: this.emu.endpoint,
          ...(this.o.address === 'havip' ? { vpc_endpoint: this.emu.endpoint } : {}),
          protocol: 'https',
          ca_file: this.emu.caFile,
          connect_timeout_ms: 2000,
          read_timeout_ms: 5000,
          operation_timeout_s: 30,
          ...(this.o.describeLagMs ? { describe_lag_ms: this.o.describeLagMs } : {}),
        },
      },
      clusters: [
        {
          name: CLUSTER,
          mysql: {
            user: lab.admin.user,
            password: '${file:secrets/mysql-admin}',
            replication_user: lab.repl.user,
            replication_password: '${file:secrets/mysql-repl}',
          },
          ssh: { user: lab.ssh.user, private_key: lab.ssh.privateKeyPath, known_hosts: lab.ssh.knownHostsPath },
          nodes: lab.nodes.map((x) => ({ name: x.name, host: x.host, port: x.port, instance_id: lab.instanceIdOf(x.name), binlog_dir: x.datadir })),
          detection: { interval_ms: 1000 },
          failover: { ...(this.o.semiSync ? { semi_sync: true } : {}), ...(this.o.auto === false ? { auto: false } : {}), ...(this.o.failover ?? {}), salvage: { mysqlbinlog: lab.bin.run([lab.bin.mysqlbinlog]).map(shellQuote).join(' '), mysql: lab.bin.run([lab.bin.mysql]).map(shellQuote).join(' ') } },
          address: this.o.address === 'havip'
            ? { type: 'havip', havip_id: HAVIP_ID, floating_ip: lab.floatingIp, interface: 'eth0', verify: true }
            : { type: 'eni', eni_id: ENI_ID, floating_ip: lab.floatingIp, verify: true },
        },
      ],
    };
    this.configPath = path.join(dir, 'heir.yaml');
    fs.writeFileSync(this.configPath,
      '# Generated by the heir sandbox. The ECS endpoint is the local emulator; credentials come\n' +
      '# from the SDK default chain (ALIBABA_CLOUD_CREDENTIALS_URI, see env.sh).\n' + stringify(doc));
    this.childEnv = {
      ...process.env,
      ALIBABA_CLOUD_CREDENTIALS_URI: this.emu.credentialsUri,
      ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true',
      ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true',
      ALIBABA_CLOUD_CREDENTIALS_FILE: '/nonexistent/heir-sandbox-credentials',
    };
    for (const k of ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_SECURITY_TOKEN']) delete this.childEnv[k];
    this.envFile = path.join(dir, 'env.sh');
    fs.writeFileSync(this.envFile, [
      '# Credentials for heir commands against the sandbox (the emulator serves them).',
      `export ALIBABA_CLOUD_CREDENTIALS_URI=${this.emu.credentialsUri}`,
      'export ALIBABA_CLOUD_ECS_METADATA_DISABLED=true',
      'export ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true',
      'export ALIBABA_CLOUD_CREDENTIALS_FILE=/nonexistent/heir-sandbox-credentials',
      'unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET ALIBABA_CLOUD_SECURITY_TOKEN',
      '',
    ].join('\n'));
    this.config = loadConfig(this.configPath, { env: this.childEnv });
    this.cluster = findCluster(this.config, CLUSTER);
    if (this.o.ha) {
      // One configuration per manager: the same clusters, its own state directory, API and manager_id.
      MANAGERS.forEach((id, i) => {
        const port = i === 0 ? this.apiPort : this.apiPortB;
        const configPath = i === 0 ? this.configPath : path.join(dir, `heir-${id}.yaml`);
        const stateDir = path.join(dir, `state-${id}`);
        const d = {
          ...doc,
          heir: {
            ...doc.heir,
            state_dir: stateDir,
            api: { listen: `127.0.0.1:${port}`, advertise_url: `http://127.0.0.1:${port}`, token: '${file:secrets/api-token}' },
            ha: { etcd: { endpoints: this.etcd!.endpoints }, manager_id: id, prefix: HA_PREFIX },
          },
        };
        fs.writeFileSync(configPath, `# Generated by the heir sandbox (--ha): manager ${id} of ${MANAGERS.join(', ')}, state in etcd.\n` + stringify(d));
        this.managers.set(id, { child: null, exited: Promise.resolve(), configPath, stateDir });
      });
      this.config = loadConfig(this.configPath, { env: this.childEnv });
      this.cluster = findCluster(this.config, CLUSTER);
    }
  }

  apiPort = 0;
  private apiPortB = 0;

  // ---------------------------------------------------------------------------
  // heir: the daemon (child process) or the same parts in this process

  private onLog(text: string, manager?: (typeof MANAGERS)[number]): void {
    const tag = manager ?? 'heir';
    const l = parseLogLine(text);
    if (!l) {
      if (text.trim()) this.n.line(tag, text.trimEnd(), { level: 'dim' });
      return;
    }
    if (manager) l.byManager = manager;
    this.logLines.push(l);
    for (const w of [...this.logWaiters]) {
      if (w.pred(l)) {
        this.logWaiters.splice(this.logWaiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
    const r = renderLogLine(l);
    if (r) this.n.line(tag, r.text, { wall: lineTime(l), level: r.level });
  }

  /** Resolves with the first log line (seen so far or later) matching pred. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> {
    const seen = this.logLines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { pred, resolve: (l: LogLine) => { clearTimeout(timer); resolve(l); } };
      const timer = setTimeout(() => {
        const i = this.logWaiters.indexOf(w);
        if (i >= 0) this.logWaiters.splice(i, 1);
        reject(new Error(`sandbox: ${what || 'log line not seen'} within ${timeoutMs} ms (daemon log: ${path.join(this.dir, 'daemon.log')})`));
      }, timeoutMs);
      this.logWaiters.push(w);
    });
  }

  private async startDaemon(): Promise<void> {
    const logFile = fs.createWriteStream(path.join(this.dir, 'daemon.log'));
    this.n.line('heir', `starting: heir daemon --config ${this.configPath}`);
    const child = spawn(process.execPath, [HEIR_BIN, 'daemon', '--config', this.configPath], {
      cwd: this.dir,
      env: { ...this.childEnv, HEIR_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.daemon = child;
    this.daemonExited = new Promise((resolve) => child.once('exit', (code, sig) => {
      if (this.daemon === child) this.n.line('heir', `daemon exited (${sig ?? `code ${code}`})`, { level: sig === 'SIGTERM' || code === 0 ? 'dim' : 'error' });
      this.daemon = null;
      logFile.end();
      resolve();
    }));
    child.once('error', (e) => this.n.line('heir', `could not start the daemon: ${e.message}`, { level: 'error' }));
    readline.createInterface({ input: child.stdout! }).on('line', (t) => { logFile.write(`${t}\n`); this.onLog(t); });
    readline.createInterface({ input: child.stderr! }).on('line', (t) => { logFile.write(`${t}\n`); this.onLog(t); });
  }

  /** --ha: mgr-a, once it leads the cluster, then mgr-b, once it follows mgr-a. */
  private async startManagers(): Promise<void> {
    const [a, b] = MANAGERS;
    this.startManager(a);
    await this.waitLog((l) => l.byManager === a && String(l.msg ?? '').startsWith(`${a} leads cluster ${CLUSTER}`), 60000, `${a} did not take the leadership of ${CLUSTER}`);
    this.startManager(b);
    await this.waitLog((l) => l.byManager === b && String(l.msg ?? '').startsWith(`cluster ${CLUSTER} is led by ${a}`), 60000, `${b} did not see ${a} as the leader`);
    this.n.line('sandbox', `${a} leads cluster ${CLUSTER} (it alone may fail over and move the address); ${b} follows, ready to take over when ${a}'s etcd lease ends`, { level: 'good' });
  }

  private startManager(id: (typeof MANAGERS)[number]): void {
    const m = this.managers.get(id)!;
    const logFile = fs.createWriteStream(path.join(this.dir, `${id}.log`));
    this.n.line(id, `starting: heir daemon --config ${m.configPath}`);
    const child = spawn(process.execPath, [HEIR_BIN, 'daemon', '--config', m.configPath], {
      cwd: this.dir,
      env: { ...this.childEnv, HEIR_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    m.child = child;
    m.exited = new Promise((resolve) => child.once('exit', (code, sig) => {
      this.n.line(id, `daemon exited (${sig ?? `code ${code}`})`, { level: sig === 'SIGTERM' || sig === 'SIGKILL' || code === 0 ? 'dim' : 'error' });
      m.child = null;
      logFile.end();
      resolve();
    }));
    child.once('error', (e) => this.n.line(id, `could not start the daemon: ${e.message}`, { level: 'error' }));
    readline.createInterface({ input: child.stdout! }).on('line', (t) => { logFile.write(`${t}\n`); this.onLog(t, id); });
    readline.createInterface({ input: child.stderr! }).on('line', (t) => { logFile.write(`${t}\n`); this.onLog(t, id); });
  }

  /**
   * --ha, after fault(): the leader daemon is killed with SIGKILL in its failover, and the
   * other daemon takes the leadership when the lease ends. haKillAt attach (default): the
   * leader's AttachNetworkInterface call is held at the emulator (a hang injected before the
   * fault: the promotion is done, the address is on no node); once it arrives the leader is
   * killed, and the other daemon finds the unfinished failover in etcd and finishes it.
   * haKillAt verdict: the leader is killed as soon as it logs the dead verdict that allows
   * failover; the other daemon, once it leads, fails over (on its own verdict, or finishing
   * whatever the killed one had begun).
   */
  async haTakeover(timeoutMs = 90000): Promise<HaTakeover> {
    const [a, b] = MANAGERS;
    const n = this.n;
    const atVerdict = this.o.haKillAt === 'verdict';
    if (atVerdict) {
      await this.waitLog((l) => l.byManager === a && l.event === 'verdict' && l.failoverAllowed === true && lineTime(l) >= this.faultWall - 1, timeoutMs, `${a} did not reach a dead verdict`);
    } else {
      const t0 = performance.now();
      while (!this.emu.requests.some((r) => r.action === 'AttachNetworkInterface' && r.fault === 'hang')) {
        if (performance.now() - t0 > timeoutMs) throw new Error(`sandbox --ha: ${a}'s AttachNetworkInterface call did not reach the emulator within ${timeoutMs / 1000} s`);
        await sleep(20);
      }
    }
    const m = this.managers.get(a)!;
    const pid = m.child?.pid;
    if (!pid) throw new Error(`sandbox --ha: ${a} is not running`);
    if (atVerdict) n.line('lab', `${a} reached its dead verdict: kill -9 of ${a} (pid ${pid}) before it acts`, { level: 'error' });
    else n.line('lab', `${a}'s AttachNetworkInterface call reached the cloud (held there by the sandbox): the new master is promoted, ${this.lab.floatingIp} is on no host — kill -9 of ${a} (pid ${pid}) in the middle of its failover`, { level: 'error' });
    const killedPerf = performance.now();
    try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    await m.exited;
    const killedWall = this.faultWall + (killedPerf - this.faultPerf);
    const led = await this.waitLog((l) => l.byManager === b && String(l.msg ?? '').startsWith(`${b} leads cluster ${CLUSTER}`) && lineTime(l) >= killedWall - 1, timeoutMs, `${b} did not take the leadership after ${a} was killed`);
    const killToLeaderMs = Math.round(lineTime(led) - killedWall);
    n.line('sandbox', `${b} leads cluster ${CLUSTER} ${(killToLeaderMs / 1000).toFixed(1)} s after the kill of ${a} (${a}'s etcd lease ended)`, { level: 'good' });
    let keeps: string | null = null;
    if (!atVerdict) {
      const resumed = await this.waitLog((l) => l.byManager === b && /finishing it now/.test(String(l.msg ?? '')), timeoutMs, `${b} did not take up ${a}'s unfinished failover`);
      keeps = /the rerun keeps (db\d+)/.exec(String(resumed.msg ?? ''))?.[1] ?? null;
      n.line('sandbox', `${b} found ${a}'s unfinished failover in etcd and finishes it${keeps ? `, keeping ${keeps} (the node ${a} promoted): no second election` : ''}`, { level: 'good' });
    }
    this.takeover = {
      killed: a,
      killedAt: atVerdict ? 'verdict' : 'attach',
      faultToKillMs: Math.round(killedPerf - this.faultPerf),
      promotedByKilled: keeps,
      finishedBy: b,
      killToLeaderMs,
      faultToLeaderMs: Math.round(lineTime(led) - this.faultWall),
    };
    return this.takeover;
  }

  /** kill -9 of the daemon (its whole process group), as a crash of the manager would. */
  async killDaemon(): Promise<void> {
    const d = this.daemon;
    if (!d?.pid) throw new Error('sandbox: no daemon running');
    this.n.line('lab', `kill -9 of heir's daemon (pid ${d.pid})`, { level: 'error' });
    try { process.kill(-d.pid, 'SIGKILL'); } catch { /* gone */ }
    await this.daemonExited;
  }

  /** Start the daemon again (after killDaemon), as systemd would. */
  async restartDaemon(): Promise<void> {
    if (this.daemon) throw new Error('sandbox: the daemon is still running');
    await this.startDaemon();
  }

  /** The daemon's parts in this process: a ClusterMonitor whose dead verdict runs the failover executor. */
  private async startInProcess(): Promise<void> {
    this.n.line('heir', 'engine: in-process monitor + failover executor (not the daemon)', { level: 'warn' });
    for (const [k, v] of Object.entries(this.childEnv)) if (k.startsWith('ALIBABA_CLOUD_')) process.env[k] = v;
    for (const k of ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET', 'ALIBABA_CLOUD_SECURITY_TOKEN']) delete process.env[k];
    const { ClusterMonitor } = await import('../../src/monitor');
    const { runFailover } = await import('../../src/failover/execute');
    let buf = '';
    const sink = new Writable({
      write: (chunk, _enc, cb) => {
        buf += String(chunk);
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          this.onLog(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        cb();
      },
    });
    const log = createLogger({ level: 'info', destination: sink });
    const cluster = this.cluster;
    const monitor = new ClusterMonitor(cluster, { log });
    let busy = false;
    monitor.on('verdict', (ev) => {
      if (!ev.failoverAllowed || busy) return;
      busy = true;
      monitor.pause();
      void runFailover({ cluster, global: this.config.heir, deadMaster: ev.master, trigger: 'auto', verdict: ev, verdictReceived: ev.detail.received, log })
        .then((r) => { if (r.newMaster) monitor.setMaster(r.newMaster); })
        .finally(() => { monitor.resume(); busy = false; });
    });
    (monitor as unknown as NodeJS.EventEmitter).on('error', (e: Error) => log.error({ err: e }, `monitor error: ${e.message}`));
    await monitor.start();
    this.inproc = { stop: () => monitor.stop() };
  }

  // ---------------------------------------------------------------------------
  // the fault

  private onWriter(e: WriterEvent): void {
    const node = (id?: number) => this.lab.nodes.find((x) => x.serverId === id)?.name ?? `server_id ${id}`;
    if (e.kind === 'failed') this.n.line('app', `write through ${this.lab.floatingIp} failed: ${e.error} — retrying every 20 ms`, { perf: e.at, level: 'warn' });
    else if (e.kind === 'resumed') this.n.line('app', `write accepted again through ${this.lab.floatingIp}, now on ${node(e.serverId)} (after ${e.failures} failed attempts)`, { perf: e.at, level: 'good' });
  }

  async fault(): Promise<void> {
    const lab = this.lab;
    const master = lab.nodes[0]!;
    this.oldMaster = master.name;
    if (this.o.holdApplier) await this.holdApplier(this.o.holdApplier.node);
    if (this.o.randomPhase) await sleep(Math.random() * 1000);
    this.n.heading(
      this.o.mode === 'kill'
        ? `The fault: kill -9 of ${master.name}'s ${this.daemonName()}`
        : this.o.mode === 'host-down'
          ? `The fault: ${master.name}'s host goes down`
          : this.o.mode === 'hang'
            ? `The fault: ${master.name}'s ${this.daemonName()} hangs (SIGSTOP)`
            : `A planned switchover: ${master.name} → ${this.o.switchoverTo ?? 'db2'}`,
    );
    this.faultPerf = performance.now();
    this.faultWall = Date.now();
    this.n.zero(this.faultWall, this.faultPerf);
    if (this.hold && this.o.holdApplier) this.hold.timer = setTimeout(() => void this.releaseHold(), this.o.holdApplier.releaseAfterMs);
    if (this.o.ha && this.o.haKillAt !== 'verdict') {
      this.n.line('sandbox', `the emulator will hold the leader's first AttachNetworkInterface call unanswered: the leader is killed there, in the middle of its failover`, { perf: this.faultPerf });
      this.emu.inject({ kind: 'hang', count: 1, actions: ['AttachNetworkInterface'] });
    }
    if (this.o.mode === 'kill') {
      this.n.line('lab', `kill -9 ${master.pid} (${this.daemonName()} on ${master.name}); the host (sshd, binlogs) stays up`, { perf: this.faultPerf, level: 'error' });
      await lab.kill(master, 'SIGKILL');
    } else if (this.o.mode === 'hang') {
      this.n.line('lab', `kill -STOP ${master.pid} (${this.daemonName()} on ${master.name}): it accepts TCP and answers nothing`, { perf: this.faultPerf, level: 'error' });
      lab.pause(master);
    } else if (this.o.mode === 'host-down') {
      this.n.line('lab', `${master.name}'s network link goes down: mysqld, sshd and its binlogs are out of everyone's reach`, { perf: this.faultPerf, level: 'error' });
      await lab.unplug(master);
    } else {
      await this.runSwitchoverCli(this.o.switchoverTo ?? 'db2');
    }
  }

  /** holdApplier: a session on `node` takes a lock its applier needs for the writer's next rows. */
  private async holdApplier(node: string): Promise<void> {
    const x = this.lab.nodes.find((y) => y.name === node);
    if (!x) throw new Error(`sandbox: holdApplier: no node ${node}`);
    const session = await mysql.createConnection({ socketPath: x.socket, user: 'root', password: '' });
    this.hold = { session, timer: null, releasedPerf: null };
    if (this.lab.flavor === 'mysql') {
      // A locking read is refused under super_read_only; a table read lock is not.
      await session.query(`LOCK TABLES ${APP.table} READ`);
    } else {
      await session.query('BEGIN');
      const [rows] = await session.query(`SELECT COALESCE(MAX(id), 0) AS m FROM ${APP.table}`);
      await session.query(`SELECT id FROM ${APP.table} WHERE id > ${Number((rows as any[])[0].m)} FOR UPDATE`);
    }
    this.n.line('lab', `a session on ${node} holds a lock its applier needs (${this.lab.flavor === 'mysql' ? `LOCK TABLES ${APP.table} READ` : `a locking read above every row of ${APP.table}`}): ${node} receives, and cannot apply`);
    await sleep(500);
  }

  private async releaseHold(): Promise<void> {
    const h = this.hold;
    if (!h || h.releasedPerf !== null) return;
    if (h.timer) clearTimeout(h.timer);
    h.releasedPerf = performance.now();
    this.n.line('lab', `the lock on ${this.o.holdApplier?.node} is released`, { perf: h.releasedPerf });
    await h.session.end().catch(() => h.session.destroy());
  }

  private daemonName(): string {
    return this.lab.flavor === 'mysql' ? 'mysqld' : 'mariadbd';
  }

  /** Runs a heir command against the sandbox (its config and the emulator's credentials). */
  runHeir(args: string[], timeoutMs = 180_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [HEIR_BIN, ...args, '--config', this.configPath], { cwd: this.dir, env: this.childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d) => (stdout += String(d)));
      child.stderr!.on('data', (d) => (stderr += String(d)));
      const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('exit', (code) => { clearTimeout(t); resolve({ code: code ?? 1, stdout, stderr }); });
      child.once('error', (e) => { clearTimeout(t); resolve({ code: 1, stdout, stderr: `${stderr}${e.message}` }); });
    });
  }

  /** The daemon's log lines so far (parsed JSON). */
  get log(): readonly LogLine[] {
    return this.logLines;
  }

  private runSwitchoverCli(to: string): Promise<number> {
    const argv = [HEIR_BIN, 'switchover', '--config', this.configPath, '--cluster', CLUSTER, '--to', to];
    this.n.line('cli', `heir switchover --config ${this.configPath} --cluster ${CLUSTER} --to ${to}`, { perf: this.faultPerf });
    return new Promise((resolve) => {
      const child = spawn(process.execPath, argv, { cwd: this.dir, env: this.childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      readline.createInterface({ input: child.stdout! }).on('line', (t) => this.n.line('cli', t));
      readline.createInterface({ input: child.stderr! }).on('line', (t) => this.n.line('cli', t, { level: 'warn' }));
      child.once('exit', (code) => resolve(code ?? 1));
      child.once('error', (e) => { this.n.line('cli', `could not run heir switchover: ${e.message}`, { level: 'error' }); resolve(1); });
    });
  }

  /** Waits for heir to finish and for the writer to commit on the new master through the floating address. */
  async observe(): Promise<SandboxResult> {
    const lab = this.lab;
    const timeoutMs = (this.o.timeoutS ?? 120) * 1000;
    const deadline = this.faultPerf + timeoutMs;
    const problems: string[] = [];
    const oldId = lab.nodes.find((x) => x.name === this.oldMaster)!.serverId;

    // The failover report (kill) or the switchover's end.
    let report: any = null;
    let newMaster: string | null = null;
    if (this.o.mode !== 'switchover') {
      report = await this.waitReport(deadline);
      if (!report) problems.push(`no failover report within ${timeoutMs / 1000} s of the kill`);
      else newMaster = report.newMaster ?? null;
    } else {
      newMaster = this.o.switchoverTo ?? 'db2';
    }

    // The first write accepted through the floating address on another server.
    let first = this.writer.acks.find((a) => a.at >= this.faultPerf && a.serverId !== oldId);
    const outcomeOk = this.o.mode === 'switchover' || (report && String(report.outcome).startsWith('promoted'));
    const writeDeadline = outcomeOk ? deadline : Math.min(deadline, performance.now() + 3000);
    while (!first && performance.now() < writeDeadline) {
      await sleep(20);
      first = this.writer.acks.find((a) => a.at >= this.faultPerf && a.serverId !== oldId);
    }
    if (!first) problems.push(`no write accepted through ${lab.floatingIp} on a new master within ${timeoutMs / 1000} s`);
    if (first && this.o.mode === 'switchover') newMaster = lab.nodes.find((x) => x.serverId === first!.serverId)?.name ?? newMaster;

    await sleep(1000); // a little more traffic on the new master
    await this.writer.stop();
    const acked = this.writer.ackedIds();

    if (report) this.printElection(report);

    // Rows acknowledged vs rows present on the new master.
    let present: number | null = null;
    let lostIds: number[] = [];
    let extra: number | null = null;
    const replicasInSync: SandboxResult['replicasInSync'] = [];
    if (newMaster) {
      try {
        const ids = await this.idsOn(newMaster);
        present = ids.size;
        lostIds = acked.filter((id) => !ids.has(id));
        const ackedSet = new Set(acked);
        extra = [...ids].filter((id) => !ackedSet.has(id)).length;
        // The other survivors replicate from the new master: they should get every row too.
        for (const x of lab.nodes) {
          if (x.name === newMaster || (this.o.mode !== 'switchover' && x.name === this.oldMaster)) continue;
          // A held survivor applies only once its lock is released.
          const heldUntil = this.o.holdApplier?.node === x.name && this.faultPerf ? this.faultPerf + this.o.holdApplier.releaseAfterMs : 0;
          const until = Math.max(performance.now(), heldUntil) + 10000;
          let rows = 0;
          let ok = false;
          while (performance.now() < until) {
            const s = await this.idsOn(x.name).catch(() => new Set<number>());
            rows = s.size;
            ok = [...ids].every((id) => s.has(id));
            if (ok) break;
            await sleep(200);
          }
          replicasInSync.push({ node: x.name, rows, ok });
          if (!ok) problems.push(`${x.name} does not have every row of ${newMaster} after 10 s`);
        }
      } catch (e) {
        problems.push(`could not read the rows on ${newMaster}: ${(e as Error).message}`);
      }
    }
    const verdictLine = this.logLines.find((l) => l.event === 'verdict' && l.failoverAllowed === true && lineTime(l) >= this.faultWall - 1);
    const writable = report?.toWritableMs !== undefined && report?.startedAt ? Date.parse(report.startedAt) + report.toWritableMs - this.faultWall : null;
    const lost = present === null ? null : lostIds.length;
    const result: SandboxResult = {
      ok: lost === 0 && problems.length === 0,
      flavor: lab.flavor,
      version: lab.version,
      mode: this.o.mode,
      engine: this.o.engine,
      oldMaster: this.oldMaster,
      newMaster,
      acknowledged: acked.length,
      presentOnNewMaster: present,
      lost,
      lostIds: lostIds.slice(0, 50),
      committedUnacknowledged: extra,
      writerFailedAttempts: this.writer.failures,
      faultToFirstWriteMs: first ? Math.round(first.at - this.faultPerf) : null,
      writerGapMs: Math.round(this.writer.longestGap(this.faultPerf - 1000, performance.now())),
      faultToVerdictMs: verdictLine ? lineTime(verdictLine) - this.faultWall : null,
      verdict: verdictLine ? String(verdictLine.to) : null,
      faultToWritableMs: writable,
      failoverOutcome: report ? String(report.outcome) : null,
      failoverDurationMs: report?.durationMs ?? null,
      eni: {
        delays: this.delays,
        detachedAtMs: this.eniDetachedAt !== null ? Math.round(this.eniDetachedAt - this.faultPerf) : null,
        attachedAtMs: this.eniAttachedAt !== null ? Math.round(this.eniAttachedAt - this.faultPerf) : null,
        attachedTo: this.o.address === 'havip' ? (lab.arpHolder() ?? null) : this.eniAttachedTo,
      },
      replicasInSync,
      problems,
      configPath: this.configPath,
      ha: this.takeover,
      reportBy: report?.byManager ?? null,
      invariant: null,
      steps: report
        ? (report.steps ?? []).map((x: any) => ({
            name: String(x.name),
            outcome: String(x.outcome),
            durationMs: typeof x.durationMs === 'number' ? x.durationMs : null,
            endedAtMs: x.endedAt ? Date.parse(x.endedAt) - this.faultWall : null,
          }))
        : null,
      heldReleasedAtMs: this.hold?.releasedPerf ? Math.round(this.hold.releasedPerf - this.faultPerf) : null,
    };
    if (this.o.ha) {
      if (this.takeover && this.takeover.promotedByKilled === null) {
        // Killed at its verdict: had it begun to promote a node, the other daemon's resume says which.
        const resumed = this.logLines.find((l) => l.byManager === this.takeover!.finishedBy && lineTime(l) >= this.faultWall && /finishing it now/.test(String(l.msg ?? '')));
        this.takeover.promotedByKilled = /the rerun keeps (db\d+)/.exec(String(resumed?.msg ?? ''))?.[1] ?? null;
      }
      if (!this.takeover) problems.push('the leader daemon was not killed in its failover');
      if (report && this.takeover && report.byManager !== this.takeover.finishedBy) problems.push(`the failover was finished by ${report.byManager}, not ${this.takeover.finishedBy}`);
      if (newMaster && this.takeover?.promotedByKilled && newMaster !== this.takeover.promotedByKilled) {
        problems.push(`${this.takeover.finishedBy} promoted ${newMaster}; ${this.takeover.killed} had promoted ${this.takeover.promotedByKilled}`);
      }
      result.ok = lost === 0 && problems.length === 0;
    }
    if ((this.o.ha || this.o.holdApplier) && newMaster) {
      // holdApplier: the held survivor too ends read-only, replicating from the new master, with every row.
      try {
        await this.assertInvariant(newMaster, { absent: [this.oldMaster] });
        result.invariant = 'holds';
      } catch (e) {
        result.invariant = (e as Error).message;
        problems.push(`cluster invariant: ${(e as Error).message}`);
      }
      result.ok = lost === 0 && problems.length === 0;
    }
    if (report && !String(report.outcome).startsWith('promoted')) problems.push(`failover outcome: ${report.outcome}: ${report.summary}`);
    if (lost === null) result.ok = false;
    return result;
  }

  private async idsOn(node: string): Promise<Set<number>> {
    const rows = await this.lab.sql(node, `SELECT id FROM ${APP.table}`);
    return new Set(rows.map((r) => Number(r.id)));
  }

  private async waitReport(deadline: number): Promise<any> {
    while (performance.now() < deadline) {
      // --ha: the report of the daemon that finished the failover (the killed leader wrote none).
      const [r] = this.reportsSince(this.faultWall).filter((x) => !this.takeover || x.byManager === this.takeover.finishedBy);
      if (r) return r;
      await sleep(100);
    }
    return null;
  }

  private printElection(report: any): void {
    const plan = report.plan;
    if (!plan) return;
    this.n.heading(`Election (${plan.mode}): ${plan.winner ?? 'no winner'}`);
    if (plan.why) this.n.raw(`  ${plan.why}`);
    for (const c of plan.candidates ?? []) {
      const why = [...(c.reasons ?? []), ...(c.warnings ?? []).map((w: string) => `warning: ${w}`)].join('; ');
      this.n.raw(`  ${String(c.name).padEnd(5)} ${String(c.verdict).padEnd(11)} received ${c.received || '(nothing)'}${why ? ` — ${why}` : ''}`);
    }
    if (report.salvage) {
      const s = report.salvage;
      this.n.raw(`  salvage: ${s.attempted ? `${s.count} transaction(s) from ${this.oldMaster}'s binlogs${s.gtids ? ` (${s.gtids})` : ''}` : `not attempted (${s.why})`}`);
    }
    for (const p of report.possiblyLost ?? []) this.n.raw(`  possibly lost: ${JSON.stringify(p)}`);
    this.n.heading('Steps');
    for (const s of report.steps ?? []) {
      this.n.raw(`  ${String(s.name).padEnd(14)} ${String(s.outcome).padEnd(7)} ${String(s.durationMs ?? '-').padStart(6)} ms  ${s.detail ?? ''}${s.error ? ` (${s.error})` : ''}`);
    }
  }

  /**
   * A manager-only partition of the master for partitionMs: the master's own address stops
   * answering the manager (pings, TCP probes, ssh) while the replicas and the writer (through
   * the floating address) still reach it. Then the partition heals and the daemon is given
   * until it reports Healthy again. heir must not fail over, fence or move the address.
   */
  async partition(partitionMs: number): Promise<PartitionResult> {
    const lab = this.lab;
    const master = lab.nodes[0]!;
    const problems: string[] = [];
    const firstLine = this.logLines.length;
    this.eniDetachedAt = null;
    this.eniAttachedAt = null;
    const cutWall = Date.now();
    const cutPerf = performance.now();
    const acksBefore = this.writer.acks.length;
    const failuresBefore = this.writer.failures;
    this.n.line('lab', `${master.name}'s own address stops answering the manager for ${(partitionMs / 1000).toFixed(0)} s; replicas and the writer (through ${lab.floatingIp}) still reach it`, { level: 'warn' });
    await lab.isolateFromManager(master);
    try {
      await sleep(partitionMs);
    } finally {
      await lab.heal(master);
    }
    const acknowledgedDuring = this.writer.acks.length - acksBefore;
    const writerFailuresDuring = this.writer.failures - failuresBefore;
    this.n.line('lab', `partition healed after ${((performance.now() - cutPerf) / 1000).toFixed(1)} s`);
    const healthy = (l: LogLine) => l.event === 'verdict' && l.to === 'Healthy' && lineTime(l) >= cutWall;
    const sawFailure = () => this.logLines.slice(firstLine).some((l) => l.event === 'verdict' && l.to !== 'Healthy');
    if (sawFailure()) await this.waitLog(healthy, 30000, 'the daemon did not report Healthy again').catch((e) => problems.push((e as Error).message));
    await sleep(500);
    const verdicts = this.logLines.slice(firstLine).filter((l) => l.event === 'verdict').map((l) => ({
      atMs: lineTime(l) - cutWall,
      to: String(l.to),
      failoverAllowed: l.failoverAllowed === true,
      rule: String(l.rule ?? ''),
      reason: String(l.reason ?? ''),
    }));
    const failovers = this.reportsSince(cutWall).length;
    const addressMoved = this.eniDetachedAt !== null || this.eniAttachedAt !== null;
    const acked = this.writer.ackedIds();
    let lostIds: number[] = [];
    let lost: number | null = null;
    try {
      const ids = await this.idsOn(master.name);
      lostIds = acked.filter((id) => !ids.has(id));
      lost = lostIds.length;
    } catch (e) {
      problems.push(`could not read the rows on ${master.name}: ${(e as Error).message}`);
    }
    const writable: string[] = [];
    for (const x of lab.nodes) {
      const [r] = await lab.sql(x, 'SELECT @@global.read_only AS ro').catch(() => [undefined]);
      if (r && Number(r.ro) === 0) writable.push(x.name);
    }
    if (failovers) problems.push(`${failovers} failover(s) started during a manager-only partition`);
    if (addressMoved) problems.push('the address was moved during a manager-only partition');
    if (writable.length !== 1 || writable[0] !== master.name) problems.push(`writable nodes after the partition: ${writable.join(', ') || 'none'} (expected ${master.name} only)`);
    if (lost) problems.push(`${lost} acknowledged rows missing on ${master.name}`);
    if (acknowledgedDuring === 0) problems.push('the writer committed nothing during the partition: the application path was cut too');
    return {
      flavor: lab.flavor,
      version: lab.version,
      settings: describeSettings(lab.flavor, this.o.settings),
      partitionMs,
      verdicts,
      failovers,
      addressMoved,
      acknowledgedDuring,
      writerFailuresDuring,
      lost,
      lostIds: lostIds.slice(0, 50),
      writable,
      problems,
    };
  }

  /**
   * The cluster invariant with `master` the one writable node: the writer's acknowledged rows
   * (or `o.acked`) on every survivor, no id never attempted, the floating address on the master
   * only. `o` adds what the case knows (absent nodes, rows declared lost).
   */
  assertInvariant(master: string, o: Partial<Pick<InvariantInput, 'absent' | 'acked' | 'leftOut' | 'convergeMs'>> = {}): Promise<void> {
    return assertInvariant({
      lab: this.lab,
      master,
      table: APP.table,
      acked: this.writer.ackedIds(),
      maxAttemptedId: () => this.writer.maxAttemptedId(),
      addressHolders: () => this.lab.floatingHolders(),
      ...o,
    });
  }

  /** Failover reports started at or after `sinceWall` (ms since epoch). */
  reportsSince(sinceWall: number): any[] {
    // --ha: every manager writes its reports in its own state directory; each is tagged byManager.
    const dirs: [string | null, string][] = this.o.ha
      ? [...this.managers].map(([id, m]) => [id, m.stateDir])
      : [[null, this.config.heir.state_dir]];
    const out: any[] = [];
    for (const [id, stateDir] of dirs) {
      const dir = path.join(stateDir, CLUSTER, 'reports');
      let files: string[] = [];
      try { files = fs.readdirSync(dir).filter((f) => f.startsWith('failover-') && f.endsWith('.json')); } catch { continue; }
      for (const f of files) {
        try {
          const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
          if (id) r.byManager = id;
          if (Date.parse(r.startedAt) >= sinceWall - 1000) out.push(r);
        } catch { /* being written */ }
      }
    }
    return out;
  }

  summary(r: SandboxResult): void {
    const n = this.n;
    const s = (ms: number | null) => (ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`);
    const row = (k: string, v: string) => n.raw(`  ${k.padEnd(44)} ${v}`);
    n.heading(`Summary: ${r.flavor === 'mysql' ? 'MySQL' : 'MariaDB'} ${r.version}, ${r.mode === 'kill' ? `kill -9 of ${r.oldMaster}'s ${this.daemonName()}` : r.mode === 'host-down' ? `${r.oldMaster}'s host down` : r.mode === 'hang' ? `${r.oldMaster}'s ${this.daemonName()} hung` : `switchover ${r.oldMaster} → ${r.newMaster}`}, ${r.ha ? `heir daemons ${MANAGERS.join(', ')} on 3 etcd members` : r.engine === 'daemon' ? 'heir daemon' : 'in-process monitor + executor'}`);
    row('new master', `${r.newMaster ?? 'none'}${r.failoverOutcome ? ` (failover ${r.failoverOutcome})` : ''}`);
    row('rows acknowledged to the writer', String(r.acknowledged));
    row(`rows present on ${r.newMaster ?? '?'} (new master)`, `${r.presentOnNewMaster ?? '—'}${r.committedUnacknowledged ? ` (${r.committedUnacknowledged} committed without the acknowledgement reaching the writer)` : ''}`);
    for (const x of r.replicasInSync) row(`rows on ${x.node} (replica of ${r.newMaster})`, `${x.rows}${x.ok ? ' (in sync)' : ' (MISSING ROWS)'}`);
    const fault = r.mode === 'kill' ? 'kill' : r.mode === 'host-down' ? 'host down' : r.mode === 'hang' ? 'SIGSTOP' : '`heir switchover` started';
    if (r.mode !== 'switchover') {
      row(`${fault} → ${r.verdict ?? 'dead'} verdict`, s(r.faultToVerdictMs));
      row(`${fault} → new master writable`, s(r.faultToWritableMs));
    }
    row(`${fault} → first write through ${this.lab.floatingIp}`, s(r.faultToFirstWriteMs));
    row('longest gap between acknowledged writes', s(r.writerGapMs));
    if (this.o.address === 'havip') row('address (HaVip)', `the manager's ARP cache sends ${this.lab.floatingIp} to ${r.eni.attachedTo ?? 'no host'}`);
    else row('ENI delays in the emulator', `${r.eni.delays.detachMs} ms Detaching + ${r.eni.delays.attachMs} ms Attaching` +
      (r.eni.detachedAtMs !== null ? `; address gone at +${s(r.eni.detachedAtMs)}` : '') + (r.eni.attachedAtMs !== null ? `, up on ${r.eni.attachedTo} at +${s(r.eni.attachedAtMs)}` : ''));
    if (r.ha) {
      row('leader daemon killed in its failover', `${r.ha.killed} (kill -9 ${r.ha.killedAt === 'verdict' ? 'at its dead verdict' : 'while its ENI attach was in flight'}, +${s(r.ha.faultToKillMs)})`);
      row(`kill of ${r.ha.killed} → ${r.ha.finishedBy} leads`, s(r.ha.killToLeaderMs));
      row('failover finished by', `${r.reportBy ?? 'nobody'}${r.ha.promotedByKilled ? ` (kept ${r.ha.promotedByKilled}, promoted by ${r.ha.killed})` : ''}`);
    }
    if (r.invariant !== null) row('cluster invariant', r.invariant === 'holds' ? 'holds (one writable master, survivors replicating, every acknowledged row, address on the master)' : `FAILS: ${r.invariant}`);
    if (r.mode === 'kill') n.raw('  (MHA 0.58 measured in the same kind of lab: 15.0 s median with its defaults, 20.4 s with an ENI hook)');
    for (const p of r.problems) n.raw(n.c('red', `  problem: ${p}`));
    if (r.lost === null) n.raw(n.c('red', '\n  acknowledged rows lost: UNKNOWN (the new master could not be read)'));
    else if (r.lost === 0) n.raw(n.c('green', '\n  0 acknowledged rows lost'));
    else n.raw(n.c('red', `\n  ${r.lost} acknowledged rows lost (ids ${r.lostIds.slice(0, 20).join(', ')}${r.lost > 20 ? ', …' : ''})`));
  }

  /**
   * --keep after a kill: restart the old master's server and attach it to the new
   * master as a read-only replica (GTID auto-position), so that `heir switchover`
   * has a complete cluster to work with.
   */
  async rejoinOldMaster(newMaster: string): Promise<void> {
    const lab = this.lab;
    const old = lab.nodes.find((x) => x.name === this.oldMaster)!;
    if (old.pid !== null) return;
    const to = lab.nodes.find((x) => x.name === newMaster)!;
    await lab.start(old);
    const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
    const stmts = lab.flavor === 'mysql'
      ? ['SET GLOBAL super_read_only=1', 'STOP REPLICA',
        `CHANGE REPLICATION SOURCE TO SOURCE_HOST=${q(to.host)}, SOURCE_PORT=${to.port}, SOURCE_USER=${q(lab.repl.user)}, SOURCE_PASSWORD=${q(lab.repl.password)}, ` +
          'GET_SOURCE_PUBLIC_KEY=1, SOURCE_AUTO_POSITION=1, SOURCE_CONNECT_RETRY=1, SOURCE_RETRY_COUNT=86400, SOURCE_HEARTBEAT_PERIOD=1',
        'START REPLICA']
      : ['SET GLOBAL read_only=1', 'STOP SLAVE',
        `CHANGE MASTER TO MASTER_HOST=${q(to.host)}, MASTER_PORT=${to.port}, MASTER_USER=${q(lab.repl.user)}, MASTER_PASSWORD=${q(lab.repl.password)}, ` +
          'MASTER_CONNECT_RETRY=1, MASTER_HEARTBEAT_PERIOD=1, MASTER_USE_GTID=current_pos',
        'START SLAVE'];
    for (const st of stmts) await lab.sql(old, st);
    this.n.line('lab', `${old.name} restarted by the sandbox and attached to ${newMaster} as a read-only replica, so switchovers can be tried`);
  }

  /** How to play with the sandbox while it stays up (--keep). */
  /** The daemon's topology page (on its API's address). */
  pageUrl(): string {
    return `http://127.0.0.1:${this.apiPort}/`;
  }

  keepInstructions(): void {
    const n = this.n;
    n.heading('The sandbox stays up. In another terminal:');
    n.raw(`  cd ${REPO}`);
    n.raw(`  source ${this.envFile}          # credentials for the ECS emulator`);
    // The sandbox's own Node.js (setup.sh's Node.js 24): the system's `node` may be too old for heir.
    const heir = `${process.execPath} bin/heir.js`;
    n.raw(`  ${heir} status --config ${this.configPath}`);
    n.raw(`  ${heir} switchover --config ${this.configPath} --cluster ${CLUSTER} --to <node>`);
    n.raw(`  ${heir} check --config ${this.configPath}`);
    n.raw(`  ip netns exec ${this.lab.nodes[1]!.ns} ip -4 addr show dev eth0   # who holds ${this.lab.floatingIp}`);
    if (this.o.engine === 'daemon' && this.apiPort) {
      n.raw(`\n  Topology page: ${this.pageUrl()}   (live tree, verdicts, failover timelines;`);
      n.raw(`  its actions ask for the API token: ${path.join(this.dir, 'secrets', 'api-token')})`);
    }
    if (this.o.ha) n.raw(`\n  Configs: ${[...this.managers.values()].map((m) => m.configPath).join(', ')}   daemon logs: ${MANAGERS.map((id) => path.join(this.dir, `${id}.log`)).join(', ')}`);
    else n.raw(`\n  Config: ${this.configPath}   daemon log: ${path.join(this.dir, 'daemon.log')}`);
    n.raw('  Press Ctrl-C to tear everything down.');
  }

  // ---------------------------------------------------------------------------
  // down

  /** Synchronous last resort on exit: kill the daemon's process group. */
  private killSync(): void {
    for (const d of [this.daemon, ...[...this.managers.values()].map((m) => m.child)]) {
      if (d?.pid) {
        try { process.kill(-d.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  }

  async down(): Promise<void> {
    const errors: string[] = [];
    const step = async (what: string, fn: () => Promise<void> | void) => {
      try { await fn(); } catch (e) { errors.push(`${what}: ${(e as Error).message}`); }
    };
    await step('writer', async () => { await this.writer?.stop(); });
    await step('held lock', async () => { await this.releaseHold(); });
    await step('daemon', async () => {
      const d = this.daemon;
      if (!d?.pid) return;
      try { process.kill(d.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-d.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10000);
      await this.daemonExited;
      clearTimeout(t);
      try { process.kill(-d.pid, 'SIGKILL'); } catch { /* group gone */ }
    });
    for (const [id, m] of this.managers) {
      await step(id, async () => {
        const pid = m.child?.pid;
        if (!pid) return;
        try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ } }, 10000);
        await m.exited;
        clearTimeout(t);
        try { process.kill(-pid, 'SIGKILL'); } catch { /* group gone */ }
      });
    }
    await step('monitor', async () => { await this.inproc?.stop(); });
    await step('emulator', async () => { await this.emu?.close(); });
    await step('lab', async () => { await this.lab?.teardown(); });
    await step('etcd', async () => { await this.etcd?.stop(); });
    this.removeExitHook();
    if (this.dir && process.env.HEIR_SANDBOX_KEEP_DIR !== '1') fs.rmSync(this.dir, { recursive: true, force: true });
    if (errors.length) throw new Error(`sandbox teardown: ${errors.join('; ')}`);
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
