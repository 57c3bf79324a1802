/**
 * `heir config validate`: load the file as the daemon would and say OK with a
 * summary, or list every problem with file:line (exit 2).
 * `heir config show`: the effective configuration, defaults filled in,
 * secrets redacted.
 */
import { stringify } from 'yaml';
import type { CliCommand } from '../context';
import { ExitCode } from '../exit';
import { ConfigError, formatIssue } from '../../config/errors';
import { findCluster } from '../../config/load';
import { redactConfig } from '../../config/redact';
import type { ClusterConfig } from '../../config/schema';
import { renderTable } from '../table';

function addressSummary(c: ClusterConfig): string {
  const a = c.address;
  switch (a.type) {
    case 'eni':
      return `eni ${a.eni_id} (${a.floating_ip})`;
    case 'secondary-ip':
      return `secondary-ip ${a.floating_ip}`;
    case 'havip':
      return `havip ${a.havip_id} (${a.floating_ip})`;
    case 'script':
      return `script${a.floating_ip ? ` (${a.floating_ip})` : ''}`;
    default:
      return 'none';
  }
}

function nodeSummary(c: ClusterConfig): string {
  return c.nodes.map((n) => (n.promotion === 'neutral' ? n.name : `${n.name} (${n.promotion})`)).join(', ');
}

export const command: CliCommand = {
  name: 'config',
  register(program, ctx) {
    const config = program.command('config').description('check and show the configuration file');

    config
      .command('validate')
      .description('check the configuration file: every problem with file:line, or OK with a summary')
      .option('--strict', 'treat warnings as errors (exit 2)')
      .action(
        ctx.action((opts: { strict?: boolean }) => {
          const file = ctx.globals.config;
          let v;
          try {
            v = ctx.loadValidated();
          } catch (e) {
            if (!(e instanceof ConfigError)) throw e;
            ctx.emit({ ok: false, file, errors: e.issues }, () =>
              [`${file}: INVALID, ${e.issues.length} problem${e.issues.length === 1 ? '' : 's'}:`, e.message].join('\n'),
            );
            return ExitCode.USAGE;
          }
          const cfg = v.config;
          const warnings = v.warnings;
          const nodes = cfg.clusters.reduce((n, c) => n + c.nodes.length, 0);
          const failed = !!opts.strict && warnings.length > 0;
          ctx.emit(
            {
              ok: !failed,
              file,
              clusters: cfg.clusters.map((c) => ({
                name: c.name,
                nodes: c.nodes.map((n) => ({ name: n.name, host: n.host, port: n.port, promotion: n.promotion, instance_id: n.instance_id })),
                address: c.address.type,
                auto_failover: c.failover.auto,
                webhooks: c.webhooks.length,
              })),
              warnings,
            },
            () => {
              const lines = [
                `${file}: ${failed ? 'INVALID (warnings with --strict)' : 'OK'}, ${cfg.clusters.length} cluster${cfg.clusters.length === 1 ? '' : 's'}, ${nodes} nodes`,
                '',
                renderTable(cfg.clusters, [
                  { header: 'cluster', key: 'name' },
                  { header: 'nodes', get: nodeSummary },
                  { header: 'address', get: addressSummary },
                  { header: 'failover', get: (c) => (c.failover.auto ? 'auto' : 'manual') },
                  { header: 'webhooks', get: (c) => c.webhooks.map((w) => w.type).join(', ') || '-' },
                ]),
              ];
              if (warnings.length) {
                lines.push('', `${warnings.length} warning${warnings.length === 1 ? '' : 's'}:`);
                for (const w of warnings) lines.push(formatIssue(file, w));
              }
              return lines.join('\n');
            },
          );
          return failed ? ExitCode.USAGE : ExitCode.OK;
        }),
      );

    config
      .command('show')
      .description('print the effective configuration (defaults filled in, secrets redacted)')
      .option('--cluster <name>', 'only this cluster')
      .action(
        ctx.action((opts: { cluster?: string }) => {
          const cfg = ctx.config();
          const value = opts.cluster ? { heir: cfg.heir, clusters: [findCluster(cfg, opts.cluster)] } : cfg;
          const safe = redactConfig(value);
          ctx.emit(safe, () => stringify(safe, { lineWidth: 0 }).trimEnd());
        }),
      );
  },
};
