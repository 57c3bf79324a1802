/**
 * `heir rejoin --cluster NAME --node OLD [--dry-run]`: a returning old master
 * becomes a read-only replica of the current master, only if it has no
 * transactions the master lacks; otherwise heir refuses and writes them to a
 * file for a human.
 */
import type { CliCommand } from '../context';
import { cliStore, refuseUnderHa } from '../store';
import { CliError, ExitCode } from '../exit';
import { rejoinNode } from '../../failover/rejoin';
import { formatHooks } from '../../failover/hooks';

export const command: CliCommand = {
  name: 'rejoin',
  register(program, ctx) {
    program
      .command('rejoin')
      .description('make a returning node (e.g. the old master) a read-only replica of the current master, if it lost nothing')
      .option('--cluster <name>', 'cluster (default: the only one in the config)')
      .requiredOption('--node <node>', 'the node to rejoin')
      .option('--dry-run', 'only check whether it can rejoin')
      .action(
        ctx.action(async (opts: { cluster?: string; node: string; dryRun?: boolean }) => {
          const cfg = ctx.config();
          const cluster = ctx.cluster(opts.cluster);
          if (!cluster.nodes.some((n) => n.name === opts.node)) {
            throw new CliError(`--node ${opts.node}: cluster ${cluster.name} has no such node (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`, ExitCode.USAGE);
          }
          if (!opts.dryRun) refuseUnderHa(cfg, cluster.name, `a rejoin of ${opts.node}`, 'the leader daemon rejoins a fenced old master itself with failover.auto_rejoin; --dry-run checks whether it can rejoin');
          const state = cliStore(cfg);
          let r;
          try {
            r = await rejoinNode({ cluster, global: cfg.heir, node: opts.node, dryRun: opts.dryRun, log: ctx.logger(), store: state.store });
          } finally {
            await state.close();
          }
          ctx.emit(r, () => [`${r.outcome.toUpperCase()}: ${r.summary}`, ...formatHooks(r.hooks)].join('\n'));
          switch (r.outcome) {
            case 'rejoined':
            case 'dry-run':
              return ExitCode.OK;
            case 'refused':
              return /locked by/.test(r.summary) ? ExitCode.BLOCKED : ExitCode.FAILED;
            case 'failed':
              return ExitCode.INCOMPLETE;
          }
        }),
      );
  },
};
