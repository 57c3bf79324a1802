/**
 * `heir ack --cluster NAME`: an operator has looked at the cluster. Unfinished
 * failover journals are acknowledged (kept, with an ack record) and the block
 * after an automatic failover is lifted, so failovers may run again.
 *
 * With heir.ha the journals and the block are in etcd, and only the cluster's leader
 * records anything there: the acknowledgement goes through the daemon's API
 * (POST /api/v1/clusters/NAME/ack, heir.api.token), which refuses unless it leads.
 */
import * as os from 'node:os';
import type { CliCommand } from '../context';
import { CliError, ExitCode } from '../exit';
import { describeUnfinished } from '../../failover/journal';
import { checkGuard, LocalDiskStore } from '../../failover/store';
import { apiBaseUrl } from '../../daemon/api';
import { NoDaemonError, requestJson } from '../../daemon/client';

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
          if (cfg.heir.ha) {
            const base = apiBaseUrl(cfg.heir.api.listen);
            const token = cfg.heir.api.token;
            if (!token) {
              throw new CliError(
                `heir.ha is set: the acknowledgement of ${cluster.name} is recorded in etcd by the daemon that leads it, through its API, and heir.api.token is not set (without it the API takes no action)`,
              );
            }
            let r;
            try {
              r = await requestJson<{ ok?: boolean; message?: string; error?: string; journals?: string[]; hadBlock?: boolean; blocked?: boolean }>(
                base,
                `/api/v1/clusters/${encodeURIComponent(cluster.name)}/ack`,
                { method: 'POST', token, body: {}, timeoutMs: 30_000 },
              );
            } catch (e) {
              if (e instanceof NoDaemonError) throw new CliError(`heir.ha is set: the acknowledgement of ${cluster.name} goes through the daemon that leads it, and ${e.message}`);
              throw e;
            }
            if (r.status !== 200 || !r.body.ok) {
              throw new CliError(`the daemon at ${base} refused the acknowledgement of ${cluster.name} (HTTP ${r.status}): ${r.body.error ?? r.body.message ?? ''}`);
            }
            ctx.emit(
              { cluster: cluster.name, acknowledged: r.body.journals ?? [], liftedBlock: !!r.body.hadBlock, automaticFailoverAllowed: !r.body.blocked, via: base },
              () => r.body.message ?? '',
            );
            return ExitCode.OK;
          }
          const by = `cli ${os.userInfo().username}@${os.hostname()}`;
          const store = new LocalDiskStore(cfg.heir.state_dir);
          const r = await store.acknowledge(cluster.name, by);
          const after = await checkGuard(store, cluster.name, 'auto', cluster.failover.block_period_s);
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
