/**
 * The rejoin's I/O by node name (RejoinIO, what its steps call): the cluster lock and journal
 * through a FailoverStore (store.ts), one connection per node opened when first needed, and
 * the file of transactions the master lacks (mysqlbinlog output where it can get it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ClusterConfig, GlobalSettings, NodeConfig } from '../config/schema';
import { Conn, connOptions } from '../mysql/conn';
import { readChannels, readTopology } from '../mysql/inspect';
import { changeSource, setReadOnly, setSemiSync, startReplica, stopReplica, verifyReplicating } from '../mysql/ops';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import type { Logger } from '../util/log';
import { clusterDir, LockHeldError } from './lock';
import { fileAnchorOf, type FileAnchor } from './rejoin-plan';
import type { RejoinIO, RejoinLock } from './rejoin-steps';
import type { RepointPosition } from './steps';
import { decodeToFile, optionValue } from './salvage';
import type { FailoverStore } from './store';

export class ConnectedRejoinIO implements RejoinIO {
  private readonly conns = new Map<string, Promise<Conn>>();

  constructor(
    private readonly cluster: ClusterConfig,
    private readonly global: GlobalSettings,
    private readonly store: FailoverStore,
    /** The node to rejoin, for the lock's holder detail. */
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  private cfg(name: string): NodeConfig {
    const n = this.cluster.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`node ${name} is not in cluster ${this.cluster.name}`);
    return n;
  }

  private conn(name: string): Promise<Conn> {
    let c = this.conns.get(name);
    if (!c) {
      c = Conn.open(connOptions(this.cluster, this.cfg(name)));
      this.conns.set(name, c);
      // A failed open is not kept: the next step that needs the node tries again.
      c.catch(() => this.conns.delete(name));
    }
    return c;
  }

  async acquireLock(): Promise<RejoinLock | { refused: string }> {
    const cluster = this.cluster.name;
    let lock;
    try {
      lock = await this.store.acquireLock(cluster, 'rejoin', this.node);
    } catch (e) {
      if (e instanceof LockHeldError) return { refused: e.message };
      throw e;
    }
    if (lock.tookOverFrom) this.log.warn({ previous: lock.tookOverFrom }, 'took over a stale cluster lock');
    return {
      openJournal: (detail) => this.store.beginJournal(cluster, 'rejoin', detail),
      release: () => lock.release(),
    };
  }

  readTopology(): Promise<TopologySnapshot> {
    return readTopology(this.cluster);
  }

  async setReadOnly(node: string): Promise<void> {
    await setReadOnly(await this.conn(node), true);
  }

  async fileAnchor(): Promise<FileAnchor | string> {
    const l = await this.store.listReports(this.cluster.name, { kinds: ['failover', 'switchover'], limit: 1 });
    const why = l.warnings.length ? ` (${l.warnings.join('; ')})` : '';
    const a = fileAnchorOf(l.reports[0] as Record<string, unknown> | undefined, this.cluster);
    return typeof a === 'string' ? `${a}${why}` : a;
  }

  async pointAt(node: string, master: string, position: RepointPosition): Promise<void> {
    const c = await this.conn(node);
    const m = this.cfg(master);
    await stopReplica(c);
    await changeSource(c, {
      host: m.host,
      port: m.port,
      user: this.cluster.mysql.replication_user,
      password: this.cluster.mysql.replication_password,
      position,
      connectRetryS: 1,
      heartbeatPeriodS: 1,
      // A former MariaDB master's own writes are in gtid_binlog_pos, not gtid_slave_pos.
      mariadbUseGtid: 'current_pos',
    });
  }

  async semiSyncReplica(node: string): Promise<void> {
    await setSemiSync(await this.conn(node), 'replica');
  }

  async startReplica(node: string): Promise<void> {
    await startReplica(await this.conn(node));
  }

  async stopReplica(node: string): Promise<void> {
    await stopReplica(await this.conn(node));
  }

  async verifyReplicating(node: string, timeoutS: number): Promise<void> {
    await verifyReplicating(await this.conn(node), timeoutS);
  }

  async isReadOnly(node: string): Promise<boolean> {
    const [r] = await (await this.conn(node)).query<{ ro: number | string }>('SELECT @@GLOBAL.read_only AS ro');
    return Number(r.ro) === 1;
  }

  async sourceOf(node: string): Promise<string | null> {
    const ch = (await readChannels(await this.conn(node)))[0];
    if (!ch) return null;
    return this.cluster.nodes.find((n) => n.host === ch.sourceHost && n.port === ch.sourcePort)?.name ?? `${ch.sourceHost}:${ch.sourcePort}`;
  }

  async close(): Promise<void> {
    const open = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(open.map((p) => p.then((c) => c.close().catch(() => c.destroy()), () => undefined)));
  }

  /** Write the node's extra transactions for a human: GTIDs, and mysqlbinlog output when it can be read. */
  async writeExtra(node: NodeSnapshot, master: NodeSnapshot, extra: string): Promise<string> {
    const cluster = this.cluster;
    const nodeCfg = this.cfg(node.name);
    const dir = clusterDir(this.global.state_dir, cluster.name);
    fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
    const file = path.join(dir, `rejoin-${nodeCfg.name}-${new Date().toISOString().replace(/[:]/g, '')}.txt`);
    const lines = [
      `# heir rejoin refused: ${nodeCfg.name} has transactions the master ${master.name} lacks`,
      `# cluster: ${cluster.name}`,
      `# ${nodeCfg.name} executed: ${node.executedGtid ?? '?'}`,
      `# ${master.name} executed: ${master.executedGtid ?? '?'}`,
      `# missing on ${master.name}: ${extra}`,
      '#',
      '# Decide: apply them on the master (review the statements below), or discard them',
      '# and rebuild the node from the master. Then run heir rejoin again.',
      '# This file can be fed to the mysql client as it is (every note is a comment):',
      `#   mysql --binary-mode -h <${master.name}> -u <user> -p < ${path.basename(file)}`,
      '',
    ];
    if (node.version?.flavor === 'mysql') {
      let defaults: string | undefined;
      try {
        const files = (await (await this.conn(node.name)).query('SHOW BINARY LOGS')).map((r) => String(r.Log_name));
        defaults = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'heir-rejoin-')), 'my.cnf');
        fs.writeFileSync(defaults, `[client]\npassword=${optionValue(cluster.mysql.password)}\n`, { mode: 0o600 });
        const decoded = path.join(path.dirname(defaults), 'decoded.sql');
        const out = await decodeToFile(
          cluster.failover.salvage.mysqlbinlog,
          [
            `--defaults-extra-file=${defaults}`,
            '--read-from-remote-server',
            `--host=${nodeCfg.host}`,
            `--port=${nodeCfg.port}`,
            `--user=${cluster.mysql.user}`,
            `--include-gtids=${extra}`,
            '--verbose',
          ],
          files,
          decoded,
          cluster.failover.salvage.timeout_s * 1000,
        );
        if (out.warning) lines.push(`# mysqlbinlog: ${out.warning.replace(/\n/g, ' ')}`);
        lines.push('# mysqlbinlog output of those transactions:');
        fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o640 });
        await pipeline(fs.createReadStream(decoded), fs.createWriteStream(file, { flags: 'a' }));
        return file;
      } catch (e) {
        lines.push(`# mysqlbinlog output unavailable: ${(e as Error).message.replace(/\n/g, ' ')}`);
        this.log.warn({ err: (e as Error).message }, 'rejoin: could not decode the extra transactions');
      } finally {
        if (defaults) fs.rmSync(path.dirname(defaults), { recursive: true, force: true });
      }
    } else {
      lines.push(
        `# MariaDB: decode them with mariadb-binlog on ${nodeCfg.name}'s binlogs, e.g.`,
        `#   mariadb-binlog --read-from-remote-server --host=${nodeCfg.host} --port=${nodeCfg.port} --user=... --start-position=<the master's position in that domain> <binlog files>`,
      );
    }
    fs.writeFileSync(file, lines.join('\n') + '\n', { mode: 0o640 });
    return file;
  }
}
