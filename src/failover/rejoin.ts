/**
 * `heir rejoin`: a returning old master (or any node left out of a failover)
 * becomes a read-only replica of the current master — but only when it has no
 * transaction the master lacks. Otherwise heir refuses and writes those
 * transactions (GTIDs, and the mysqlbinlog output where it can get it) to a
 * file for a human: silently dropping them, or replicating on top of them,
 * would both hide a data problem.
 *
 * The daemon runs the same rejoin by itself when failover.auto_rejoin is on
 * (trigger 'auto'). Every real run takes the cluster lock, is journaled
 * (rejoin-<id>.journal.jsonl) and ends in a report (reports/rejoin-<id>.json,
 * written by finishRejoin), whatever its outcome.
 *
 * The decision is pure (rejoinDecision); rejoinNode does the I/O.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ClusterConfig, GlobalSettings, NodeConfig } from '../config/schema';
import { Conn, connOptions } from '../mysql/conn';
import { GtidSet } from '../mysql/gtid';
import { errantGtids, readTopology } from '../mysql/inspect';
import { changeSource, setReadOnly, setSemiSync, startReplica, stopReplica, verifyReplicating } from '../mysql/ops';
import type { NodeSnapshot, TopologySnapshot } from '../mysql/types';
import { silentLogger, type Logger } from '../util/log';
import { writableMasters } from './discover';
import { Journal } from './journal';
import { acquireLock, clusterDir, LockHeldError } from './lock';
import { runPostHook, type HookRun } from './hooks';
import { writeReportFile } from './report';
import { decodeToFile, optionValue } from './salvage';

export interface RejoinDecision {
  allowed: boolean;
  /** Transactions the node has and the master lacks ('' when none). */
  extra: string;
  reasons: string[];
}

/** Pure: may `node` follow `master`? */
export function rejoinDecision(node: NodeSnapshot, master: NodeSnapshot): RejoinDecision {
  const reasons: string[] = [];
  if (!node.reachable) reasons.push(`${node.name} does not answer: start it first`);
  if (!master.reachable) reasons.push(`the master ${master.name} does not answer`);
  if (node.version && master.version && node.version.flavor !== master.version.flavor) {
    reasons.push(`${node.name} is ${node.version.flavor}, the master ${master.version.flavor}`);
  }
  if (reasons.length) return { allowed: false, extra: '', reasons };
  const flavor = node.version?.flavor;
  if (flavor === 'mysql' && (node.gtidMode !== 'ON' || master.gtidMode !== 'ON')) {
    return { allowed: false, extra: '', reasons: ['GTID mode is off: heir rejoins only GTID clusters; repoint this node by hand'] };
  }
  let extra: string;
  if (flavor === 'mysql') {
    extra = GtidSet.parse(node.executedGtid ?? '').subtract(GtidSet.parse(master.executedGtid ?? '')).toString();
  } else {
    extra = errantGtids(node, master);
  }
  if (extra) {
    reasons.push(
      `${node.name} has transactions the master ${master.name} lacks: ${extra}. ` +
        'They were committed on it and never reached the survivors (not salvaged). Replicating on top of them would hide them; ' +
        'a person must decide: apply them to the master, or discard them and rebuild the node',
    );
  }
  return { allowed: reasons.length === 0, extra, reasons };
}

export interface RejoinResult {
  outcome: 'rejoined' | 'refused' | 'failed' | 'dry-run';
  /** An operator (`heir rejoin`) or the daemon (failover.auto_rejoin). */
  trigger: 'manual' | 'auto';
  node: string;
  master: string | null;
  summary: string;
  extra: string;
  /** Where the transactions the master lacks were written (refused). */
  file?: string;
  steps: string[];
  /** The post_rejoin hook's run, once it ran. */
  hooks?: HookRun[];
  /**
   * Refused for a reason that may pass by itself: the cluster lock is held (a failover,
   * switchover or other rejoin), the node or the master does not answer, or the master is
   * not (yet) the one expected or not unique.
   */
  transient?: boolean;
  /** The operation's id, journal and report (every real run that took the cluster lock). */
  id?: string;
  journal?: string;
  reportPath?: string;
  startedAt?: string;
  endedAt?: string;
}

export interface RejoinRequest {
  cluster: ClusterConfig;
  global: GlobalSettings;
  node: string;
  dryRun?: boolean;
  log?: Logger;
  snapshot?: TopologySnapshot;
  /** Default manual. */
  trigger?: 'manual' | 'auto';
  /** Who asked, for the journal and the report. */
  by?: string;
  /** Refuse (transient) unless the master found is this node: the daemon's master. */
  expectMaster?: string;
}

/**
 * Rejoin `node` (see rejoinDecision), then, unless it was a dry run, the post_rejoin hook
 * with the result on stdin (as {"kind": "rejoin", "cluster": ..., ...result}).
 */
export async function rejoinNode(o: RejoinRequest): Promise<RejoinResult> {
  const r = await rejoin(o);
  if (r.outcome === 'dry-run' || !o.cluster.hooks.post_rejoin) return r;
  const doc: { kind: 'rejoin'; cluster: string; hooks?: HookRun[] } & RejoinResult = { kind: 'rejoin', cluster: o.cluster.name, ...r };
  await runPostHook(o.cluster, 'post_rejoin', doc, { operation: 'rejoin', outcome: r.outcome, node: r.node, newMaster: r.master }, { log: o.log });
  return { ...r, hooks: doc.hooks };
}

async function rejoin(o: RejoinRequest): Promise<RejoinResult> {
  const log = o.log ?? silentLogger;
  const cluster = o.cluster;
  const nodeCfg = cluster.nodes.find((n) => n.name === o.node);
  const trigger = o.trigger ?? 'manual';
  const base = { trigger, node: o.node, master: null as string | null, extra: '', steps: [] as string[] };
  if (!nodeCfg) {
    return { ...base, outcome: 'refused', summary: `cluster ${cluster.name} has no node ${o.node} (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})` };
  }
  if (o.expectMaster === o.node) {
    return { ...base, outcome: 'refused', summary: `${o.node} is the master: it follows no one` };
  }
  let lock;
  let journal: Journal | undefined;
  if (!o.dryRun) {
    try {
      lock = acquireLock(o.global.state_dir, cluster.name, 'rejoin', o.node);
    } catch (e) {
      if (e instanceof LockHeldError) return { ...base, outcome: 'refused', summary: e.message, transient: true };
      throw e;
    }
  }
  const startedAt = new Date().toISOString();
  try {
    if (!o.dryRun) journal = Journal.begin(o.global.state_dir, cluster.name, 'rejoin', { node: o.node, trigger, ...(o.by ? { by: o.by } : {}) });
    let finished = false;
    const done = (r: RejoinResult): RejoinResult => {
      if (!journal || finished) return r;
      finished = true;
      return finishRejoin(o.global.state_dir, cluster.name, journal, { ...r, startedAt });
    };
    /** One journaled step; its detail is what it returns. */
    const step = async (name: string, fn: () => Promise<string>): Promise<void> => {
      journal?.stepStart(name);
      try {
        const detail = await fn();
        journal?.stepEnd(name, 'ok', detail);
      } catch (e) {
        journal?.stepEnd(name, 'failed', name, (e as Error).message);
        throw e;
      }
    };
    let r: RejoinResult = { ...base, outcome: 'failed', summary: '' };
    try {
      journal?.stepStart('decide');
      const snap = o.snapshot ?? (await readTopology(cluster));
      const masters = writableMasters(snap, [o.node]);
      if (masters.length !== 1) {
        journal?.stepEnd('decide', 'failed', 'no single master');
        return done({
          ...base,
          outcome: 'refused',
          transient: true,
          summary:
            masters.length === 0
              ? `no writable master found among the other nodes (a writable node that replicates from no one); nothing for ${o.node} to follow`
              : `more than one writable master: ${masters.map((m) => m.name).join(', ')}; resolve that first`,
        });
      }
      const master = masters[0];
      if (o.expectMaster && master.name !== o.expectMaster) {
        journal?.stepEnd('decide', 'failed', `master ${master.name}, not ${o.expectMaster}`);
        return done({ ...base, master: master.name, outcome: 'refused', transient: true, summary: `the writable master is ${master.name}, not ${o.expectMaster}; ${o.node} is left as it is` });
      }
      const node = snap.nodes.find((n) => n.name === o.node)!;
      const d = rejoinDecision(node, master);
      r = { ...base, master: master.name, extra: d.extra, outcome: 'refused', summary: d.reasons.join('; ') };
      if (!node.reachable || !master.reachable) r.transient = true;
      journal?.stepEnd('decide', d.allowed ? 'ok' : 'failed', d.allowed ? `${o.node} has nothing ${master.name} lacks` : r.summary);
      if (!d.allowed) {
        if (d.extra && !o.dryRun) r.file = await writeExtra(cluster, nodeCfg, node, master, d.extra, o.global, log);
        if (r.file) r.summary += `; written to ${r.file}`;
        return done(r);
      }
      if (o.dryRun) {
        return { ...r, outcome: 'dry-run', summary: `${o.node} has nothing the master ${master.name} lacks: it can rejoin as a read-only replica` };
      }
      const masterCfg = cluster.nodes.find((n) => n.name === master.name)!;
      const c = await Conn.open(connOptions(cluster, nodeCfg));
      try {
        // Read-only first: whatever happens next, it takes no writes.
        await step('read-only', async () => {
          await setReadOnly(c, true);
          return `${o.node} read-only`;
        });
        r.steps.push('read-only');
        await step('source', async () => {
          await stopReplica(c);
          await changeSource(c, {
            host: masterCfg.host,
            port: masterCfg.port,
            user: cluster.mysql.replication_user,
            password: cluster.mysql.replication_password,
            position: { kind: 'gtid' },
            connectRetryS: 1,
            heartbeatPeriodS: 1,
            // A former MariaDB master's own writes are in gtid_binlog_pos, not gtid_slave_pos.
            mariadbUseGtid: 'current_pos',
          });
          return `source ${master.name} (${masterCfg.host}:${masterCfg.port}), GTID auto-positioning`;
        });
        r.steps.push(`source ${master.name}`);
        if (cluster.failover.semi_sync) {
          await step('semi-sync', async () => {
            await setSemiSync(c, 'replica');
            return 'semi-sync replica';
          });
          r.steps.push('semi-sync replica');
        }
        await step('start', async () => {
          await startReplica(c);
          return 'replication started';
        });
        try {
          await step('verify', async () => {
            await verifyReplicating(c, 30);
            return 'both threads running';
          });
        } catch (e) {
          // E.g. MariaDB's "not in the master's binlog": diverged after all. Stop, stay read-only.
          await stopReplica(c).catch(() => undefined);
          return done({ ...r, outcome: 'failed', summary: `${o.node} did not replicate from ${master.name}: ${(e as Error).message}; replication stopped, it stays read-only` });
        }
        r.steps.push('replicating');
        log.info({ node: o.node, master: master.name }, `${o.node} rejoined as a read-only replica of ${master.name}`);
        return done({ ...r, outcome: 'rejoined', summary: `${o.node} is a read-only replica of ${master.name}, both threads running` });
      } finally {
        await c.close();
      }
    } catch (e) {
      done({ ...r, outcome: 'failed', summary: `${o.node}: ${(e as Error).message}` });
      throw e;
    }
  } finally {
    journal?.close();
    lock?.release();
  }
}

/**
 * The one place a real rejoin (manual or automatic) ends: the journal's end record and the
 * report (reports/rejoin-<id>.json). Whatever else is to follow a finished rejoin belongs here.
 */
function finishRejoin(stateDir: string, cluster: string, journal: Journal, r: RejoinResult): RejoinResult {
  const out: RejoinResult = { ...r, id: journal.id, journal: journal.path, endedAt: new Date().toISOString() };
  journal.end(out.outcome, out.summary);
  writeReportFile(stateDir, cluster, 'rejoin', journal.id, out);
  return out;
}

/** Write the node's extra transactions for a human: GTIDs, and mysqlbinlog output when it can be read. */
async function writeExtra(
  cluster: ClusterConfig,
  nodeCfg: NodeConfig,
  node: NodeSnapshot,
  master: NodeSnapshot,
  extra: string,
  global: GlobalSettings,
  log: Logger,
): Promise<string> {
  const dir = clusterDir(global.state_dir, cluster.name);
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
      const c = await Conn.open(connOptions(cluster, nodeCfg));
      let files: string[];
      try {
        files = (await c.query('SHOW BINARY LOGS')).map((r) => String(r.Log_name));
      } finally {
        await c.close();
      }
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
      log.warn({ err: (e as Error).message }, 'rejoin: could not decode the extra transactions');
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
