/**
 * `heir failover --cluster NAME [--to NODE] [--master NODE] [--dry-run] [--force]`:
 * an operator-driven failover of a dead master. The dry run prints the plan with
 * every candidate's verdict and changes nothing. A master that still answers is
 * not failed over without --force (moving a live master is `heir switchover`).
 */
import * as os from 'node:os';
import type { CliCommand } from '../context';
import { cliStore, refuseUnderHa } from '../store';
import { CliError, ExitCode } from '../exit';
import { readTopology } from '../../mysql/inspect';
import { findReplicasMaster, writableMasters } from '../../failover/discover';
import { runFailover } from '../../failover/execute';
import { formatPlan, formatReport, type FailoverReport } from '../../failover/report';
import type { StepRecord } from '../../failover/report';

interface Opts {
  cluster?: string;
  to?: string;
  master?: string;
  dryRun?: boolean;
  force?: boolean;
}

export function exitCodeOf(r: FailoverReport): number {
  switch (r.outcome) {
    case 'promoted':
      // Nodes it could not repoint (unreachable, dropped, not locatable) need someone: a
      // script must not read this as a clean failover.
      return (r.plan?.leftOut.length ?? 0) > 0 ? ExitCode.PARTIAL : ExitCode.OK;
    case 'dry-run':
      return r.plan?.winner ? ExitCode.OK : ExitCode.FAILED;
    case 'refused':
      // Nothing was changed: the lock, a block, the hook, or the master still answers (heir
      // switchover moves a live master; --force overrides).
      return ExitCode.BLOCKED;
    case 'no-candidate':
    // The master turned out alive during the run: what was done was undone.
    case 'master-alive':
      return ExitCode.FAILED;
    case 'failed':
    case 'interrupted':
    case 'promoted-with-errors':
      return ExitCode.INCOMPLETE;
  }
}

function stepLine(s: StepRecord): string {
  const state = s.outcome === 'ok' ? 'ok  ' : s.outcome === 'skipped' ? 'skip' : 'FAIL';
  return `  ${state} ${s.name.padEnd(14)} ${String(s.durationMs ?? 0).padStart(6)} ms  ${s.detail}${s.error && s.error !== s.detail ? ` — ${s.error}` : ''}`;
}

export const command: CliCommand = {
  name: 'failover',
  register(program, ctx) {
    program
      .command('failover')
      .description('fail over a dead master: elect the most advanced replica, salvage, promote, repoint, move the address')
      .option('--cluster <name>', 'cluster (default: the only one in the config)')
      .option('--to <node>', 'promote this node (it must pass the gates, or add --force)')
      .option('--master <node>', 'the dead master (default: the node the replicas replicate from)')
      .option('--dry-run', 'print the plan and every candidate\'s verdict; change nothing')
      .option('--force', 'fail over although the master answers (it is made read-only first); with --to, override lag/errant/version/never gates')
      .action(
        ctx.action(async (opts: Opts) => {
          const cfg = ctx.config();
          const cluster = ctx.cluster(opts.cluster);
          if (opts.to && !cluster.nodes.some((n) => n.name === opts.to)) {
            throw new CliError(`--to ${opts.to}: cluster ${cluster.name} has no such node (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`, ExitCode.USAGE);
          }
          if (!opts.dryRun) refuseUnderHa(cfg, cluster.name, 'a failover', `ask any heir daemon's API (one that does not lead forwards to the leader): POST /api/v1/clusters/${cluster.name}/failover (heir.api.token)`);
          const snapshot = await readTopology(cluster);
          let dead = opts.master;
          if (dead) {
            if (!cluster.nodes.some((n) => n.name === dead)) {
              throw new CliError(`--master ${dead}: cluster ${cluster.name} has no such node`, ExitCode.USAGE);
            }
          } else {
            const g = findReplicasMaster(snapshot, cluster);
            if (!g.master) {
              const live = writableMasters(snapshot);
              throw new CliError(
                `cannot tell which node is the master: ${g.why}` +
                  (live.length ? ` (writable, not replicating: ${live.map((n) => n.name).join(', ')})` : '') +
                  '; name it with --master NODE',
                ExitCode.USAGE,
              );
            }
            dead = g.master;
            if (!ctx.json) ctx.note(`master: ${dead} (${g.why})`);
          }
          const out = (s: string) => (ctx.json ? ctx.note(s) : ctx.print(s));
          if (!ctx.json) out(`${opts.dryRun ? 'Dry run: failover' : 'Failover'} of ${cluster.name}: dead master ${dead}`);
          const state = cliStore(cfg);
          const report = await runFailover({
            cluster,
            global: cfg.heir,
            store: state.store,
            deadMaster: dead,
            trigger: 'manual',
            verdict: `operator (cli ${os.userInfo().username}@${os.hostname()})`,
            to: opts.to,
            force: opts.force,
            dryRun: opts.dryRun,
            snapshot,
            log: ctx.globals.logLevel ? ctx.logger() : ctx.logger().child({}, { level: 'warn' }),
            onEvent: (e) => {
              if (e.type === 'failover.step') out(stepLine(e.step));
            },
          }).finally(() => state.close());
          ctx.emit(report, () => {
            const lines: string[] = [];
            if (report.plan && (report.outcome === 'dry-run' || report.outcome === 'no-candidate' || report.outcome === 'refused')) {
              lines.push('', ...formatPlan(report.plan));
            }
            lines.push('', ...formatReport(report));
            return lines.join('\n');
          });
          return exitCodeOf(report);
        }),
      );
  },
};
