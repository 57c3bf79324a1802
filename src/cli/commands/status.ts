/**
 * `heir status [--cluster NAME] [--json]`: every cluster's topology and health at a
 * glance. Asks the running daemon (GET /clusters on heir.api.listen); when no daemon
 * answers, reads the servers directly (no verdict then: detection runs only in the daemon).
 */
import type { CliCommand } from '../context';
import { ExitCode } from '../exit';
import { findCluster } from '../../config/load';
import type { ClusterConfig, HeirConfig } from '../../config/schema';
import { readTopology } from '../../mysql/inspect';
import { checkGuard, type FailoverStore } from '../../failover/store';
import { cliStore } from '../store';
import { apiBaseUrl } from '../../daemon/api';
import { NoDaemonError, requestJson } from '../../daemon/client';
import { inferMaster } from '../../daemon/decide';
import { addressOf, haLines, nodesStatus, statusRows, type ClusterStatus } from '../../daemon/status';
import { renderTable } from '../table';

interface Opts {
  cluster?: string;
  direct?: boolean;
  timeout?: string;
}

export const command: CliCommand = {
  name: 'status',
  register(program, ctx) {
    program
      .command('status')
      .description("clusters' topology and health: from the running daemon, or read from the servers when none answers")
      .option('--cluster <name>', 'only this cluster')
      .option('--direct', 'read the servers directly, without asking the daemon')
      .action(
        ctx.action(async (opts: Opts) => {
          const cfg = ctx.config();
          const only = opts.cluster ? findCluster(cfg, opts.cluster) : undefined;
          let clusters: ClusterStatus[] | undefined;
          let note = '';
          if (!opts.direct) {
            try {
              clusters = await fromDaemon(cfg, only?.name);
            } catch (e) {
              if (!(e instanceof NoDaemonError)) throw e;
              note = `${e.message}; read the servers directly (no detection verdicts)`;
              ctx.logger().info(note);
            }
          }
          if (!clusters) clusters = await direct(cfg, only ? [only] : cfg.clusters);
          const source = clusters[0]?.source ?? 'direct';
          ctx.emit({ source, clusters }, () => human(clusters!, note));
          return ExitCode.OK;
        }),
      );
  },
};

async function fromDaemon(cfg: HeirConfig, name?: string): Promise<ClusterStatus[]> {
  const base = apiBaseUrl(cfg.heir.api.listen);
  if (name) {
    const r = await requestJson<ClusterStatus & { error?: string }>(base, `/api/v1/clusters/${encodeURIComponent(name)}`);
    if (r.status !== 200) throw new Error(`the daemon at ${base} answered HTTP ${r.status}: ${r.body.error ?? ''} (is it running with the same configuration?)`);
    return [r.body];
  }
  const r = await requestJson<{ clusters: ClusterStatus[]; error?: string }>(base, '/api/v1/clusters');
  if (r.status !== 200) throw new Error(`the daemon at ${base} answered HTTP ${r.status}: ${r.body.error ?? ''}`);
  return r.body.clusters;
}

/** Read every cluster's servers (a few clusters at a time). */
export async function direct(cfg: HeirConfig, list: ClusterConfig[]): Promise<ClusterStatus[]> {
  const out: ClusterStatus[] = new Array(list.length);
  // The failover state where the daemons keep it: etcd under heir.ha (read only), else state_dir.
  const state = cliStore(cfg);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < list.length; i = next++) out[i] = await directOne(state.store, list[i]!);
  };
  try {
    await Promise.all(Array.from({ length: Math.min(8, list.length) }, worker));
  } finally {
    await state.close();
  }
  return out;
}

async function directOne(store: FailoverStore, c: ClusterConfig): Promise<ClusterStatus> {
  const snap = await readTopology(c);
  const guess = inferMaster(snap, c);
  let blocked = false;
  let reasons: string[] = [];
  let until: string | null = null;
  try {
    const g = await checkGuard(store, c.name, 'auto', c.failover.block_period_s);
    blocked = !g.allowed;
    reasons = g.reasons;
    until = g.blockedUntil ?? null;
  } catch (e) {
    reasons = [`cannot read the failover state (${store.where}): ${(e as Error).message}`];
  }
  return {
    name: c.name,
    master: guess.master,
    verdict: 'unknown (no daemon)',
    blocked,
    blockedReasons: reasons,
    blockedUntil: until,
    source: 'direct',
    snapshotAt: new Date(snap.takenAt).toISOString(),
    operation: null,
    verdictAt: null,
    verdictReason: null,
    failoverAllowed: false,
    monitor: guess.master ? 'not running (no daemon)' : `cannot tell the master: ${guess.why}`,
    address: addressOf(c),
    nodes: nodesStatus(snap, guess.master, c),
  };
}

function human(list: ClusterStatus[], note: string): string {
  const lines: string[] = [];
  if (note) lines.push(`(${note})`, '');
  lines.push(
    renderTable(statusRows(list), [
      { header: 'CLUSTER', key: 'cluster' },
      { header: 'NODE', key: 'node' },
      { header: 'ROLE', key: 'role' },
      { header: 'READ-ONLY', key: 'ro' },
      { header: 'IO/SQL', key: 'threads' },
      { header: 'LAG', key: 'lag', align: 'right' },
      { header: 'GTID', key: 'gtid', maxWidth: 44 },
      { header: 'VERDICT', key: 'verdict', maxWidth: 40 },
      { header: 'BLOCKED', key: 'blocked' },
    ]),
  );
  for (const c of list) {
    const extra: string[] = [];
    if (c.address.type !== 'none') extra.push(`address: ${c.address.type}${c.address.floatingIp ? ` ${c.address.floatingIp}` : ''}`);
    if (c.monitor !== 'running' && c.source === 'daemon') extra.push(`monitor: ${c.monitor}`);
    if (c.verdictReason && c.verdict !== 'Healthy') extra.push(`verdict: ${c.verdictReason}`);
    for (const r of c.blockedReasons) extra.push(`blocked: ${r}`);
    for (const n of c.nodes) if (n.error) extra.push(`${n.name}: ${n.error}`);
    if (c.ha) extra.push(...haLines(c.ha, Date.now()));
    if (extra.length) lines.push('', `${c.name}:`, ...extra.map((e) => `  ${e}`));
  }
  return lines.join('\n');
}
