/**
 * `heir ack --cluster NAME`: an operator has looked at the cluster. Unfinished
 * failover journals are acknowledged (kept, with an ack record) and the block
 * after an automatic failover is lifted, so failovers may run again.
 */
import * as os from 'node:os';
import type { CliCommand } from '../context';
import { ExitCode } from '../exit';
import { acknowledge, checkFailoverGuard } from '../../failover/guard';
import { describeUnfinished } from '../../failover/journal';

export const command: CliCommand = {
  name: 'ack',
  register(program, ctx) {
    program
      .command('ack')
      .description('acknowledge an interrupted or recent failover: allow failovers of the cluster again')
      .option('--cluster <name>', 'cluster (default: the only one in the config)')
      .action(
        ctx.action(async (opts: { cluster?: string }) => {
          const cfg = ctx.config();
          const cluster = ctx.cluster(opts.cluster);
          const by = `cli ${os.userInfo().username}@${os.hostname()}`;
          const r = acknowledge(cfg.heir.state_dir, cluster.name, by);
          const after = checkFailoverGuard(cfg.heir.state_dir, cluster.name, 'auto', cluster.failover.block_period_s);
          ctx.emit(
            {
              cluster: cluster.name,
              acknowledged: r.journals.map((j) => ({ operation: j.operation, id: j.id, path: j.path, steps: j.steps })),
              liftedBlock: r.hadBlock,
              automaticFailoverAllowed: after.allowed,
              by,
            },
            () => {
              const lines: string[] = [];
              for (const j of r.journals) lines.push(...describeUnfinished(j), `  → acknowledged (journal kept: ${j.path})`);
              if (r.hadBlock) lines.push(`lifted the block after the last automatic failover of ${cluster.name}`);
              if (!r.journals.length && !r.hadBlock) lines.push(`${cluster.name}: nothing was blocked`);
              lines.push(`automatic failover of ${cluster.name}: ${after.allowed ? 'allowed' : `still blocked: ${after.reasons.join('; ')}`}`);
              return lines.join('\n');
            },
          );
          return ExitCode.OK;
        }),
      );
  },
};
