/**
 * `heir notify test [--cluster NAME]`: send a test event to every webhook of
 * the cluster(s) and report, per webhook, whether it arrived. Exit 0 when all
 * were delivered, 1 otherwise.
 */
import type { CliCommand } from '../context';
import { ExitCode } from '../exit';
import { findCluster } from '../../config/load';
import { makeEvent } from '../../notify/events';
import { Notifier, type DeliveryResult } from '../../notify/notifier';
import { renderTable } from '../table';
import { heirVersion } from '../version';
import * as os from 'node:os';

export const command: CliCommand = {
  name: 'notify',
  register(program, ctx) {
    const notify = program.command('notify').description('alert webhooks');
    notify
      .command('test')
      .description('send a test event to the webhooks of a cluster (or of all clusters) and report each delivery')
      .option('--cluster <name>', 'only this cluster')
      .action(
        ctx.action(async (opts: { cluster?: string }) => {
          const cfg = ctx.config();
          const clusters = opts.cluster ? [findCluster(cfg, opts.cluster)] : cfg.clusters;
          const results: DeliveryResult[] = [];
          const notifier = new Notifier(clusters, { log: ctx.logger(), onResult: (r) => results.push(r), userAgent: `heir/${heirVersion()}` });
          let queued = 0;
          for (const c of clusters) {
            queued += notifier.enqueue(
              makeEvent('test', c.name, `Test message from heir on ${os.hostname()}: webhooks of cluster ${c.name} work.`, {
                sent_by: 'heir notify test',
                manager: os.hostname(),
              }),
            );
          }
          // Each webhook's own timeouts and attempts bound the wait; this is a backstop.
          const budget = Math.max(
            10_000,
            ...clusters.flatMap((c) => c.webhooks.map((w) => w.max_attempts * (w.timeout_ms + 30_000))),
          );
          await notifier.close(budget);
          const rows = results.map((r) => ({ ...r }));
          const failed = rows.filter((r) => r.outcome !== 'delivered').length;
          ctx.emit({ ok: failed === 0 && queued > 0, queued, results: rows }, () => {
            if (queued === 0) return 'no webhooks accept test events in the selected cluster(s) (see webhooks[].events)';
            return renderTable(rows, [
              { header: 'cluster', key: 'cluster' },
              { header: 'type', key: 'webhookType' },
              { header: 'webhook', key: 'webhook', maxWidth: 60 },
              { header: 'result', key: 'outcome' },
              { header: 'attempts', key: 'attempts', align: 'right' },
              { header: 'error', get: (r) => r.error ?? '' },
            ]);
          });
          return failed === 0 && queued > 0 ? ExitCode.OK : ExitCode.FAILED;
        }),
      );
  },
};
