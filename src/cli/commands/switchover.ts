/**
 * `heir switchover --cluster NAME --to NODE [--dry-run] [--timeout S]`: move the
 * master role to NODE on purpose (maintenance), with a short write pause.
 * Progress is printed step by step; --json prints the report as JSON.
 */
import { InvalidArgumentError } from 'commander';
import type { CliCommand } from '../context';
import { cliStore, refuseUnderHa } from '../store';
import { ExitCode } from '../exit';
import { formatPreflight } from '../../failover/switchover-preflight';
import { formatPlan } from '../../failover/switchover-plan';
import { formatHooks } from '../../failover/hooks';
import { switchover, type ProgressEvent, type SwitchoverReport } from '../../failover/switchover';
import * as os from 'node:os';

function positive(name: string, allowZero = false) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new InvalidArgumentError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number`);
    return n;
  };
}

interface Opts {
  cluster?: string;
  to: string;
  dryRun?: boolean;
  timeout?: number;
  maxLag?: number;
  maxTrx?: number;
  killAfterMs?: number;
  force?: boolean;
}

export function progressLine(e: ProgressEvent): string | undefined {
  const at = `+${e.atMs.toFixed(1)}ms`.padStart(11);
  const node = (e.node ?? '').padEnd(6);
  switch (e.phase) {
    case 'start':
      return undefined;
    case 'done':
      return `${at}  ok    ${e.step.padEnd(16)} ${node} ${e.detail} (${e.durationMs} ms)`;
    case 'failed':
      return `${at}  FAIL  ${e.step.padEnd(16)} ${node} ${e.detail} (${e.durationMs} ms)`;
    case 'info':
      return `${at}  ..    ${e.step.padEnd(16)} ${node} ${e.detail}`;
  }
}

export function formatReport(r: SwitchoverReport): string {
  const lines: string[] = [];
  if (r.preflight) {
    lines.push(`Preflight (${r.preflight.ok ? 'passed' : 'REFUSED'}):`, ...formatPreflight(r.preflight), '');
  }
  if (r.outcome === 'dry-run' && r.plan) lines.push('Plan:', ...formatPlan(r.plan), '');
  if (r.outcome !== 'dry-run' && r.outcome !== 'refused') {
    const w = r.writePause;
    lines.push('Write pause:');
    lines.push(`  to first write on ${r.to}: ${w.toNewMasterMs ?? '-'} ms (read_only ${w.readOnlyMs ?? '-'} ms, apply wait ${w.applyWaitMs ?? '-'} ms)`);
    if (r.address && r.address.kind !== 'none') lines.push(`  to first write through the address: ${w.toAddressMs ?? '-'} ms`);
    if (r.repointed.length) {
      lines.push('Repointed:');
      for (const n of r.repointed) lines.push(`  ${n.ok ? 'ok  ' : 'FAIL'} ${n.node.padEnd(8)} ${n.detail} (${n.durationMs} ms)`);
    }
    if (r.killedConnections?.length) lines.push(`Killed connections on ${r.from}: ${r.killedConnections.join(', ')}`);
    lines.push('');
  }
  lines.push(`${r.outcome.toUpperCase()}: ${r.summary}`);
  if (r.next) lines.push(`Next: ${r.next}`);
  lines.push(...formatHooks(r.hooks));
  return lines.join('\n');
}

/** The process exit code for a switchover's outcome (see src/cli/exit.ts). */
export function exitCodeOf(r: SwitchoverReport): number {
  switch (r.outcome) {
    case 'switched':
      return ExitCode.OK;
    case 'dry-run':
      return r.preflight?.ok ? ExitCode.OK : ExitCode.FAILED;
    case 'refused':
      return r.preflight?.refusals.some((c) => c.id === 'lock') ? ExitCode.BLOCKED : ExitCode.FAILED;
    case 'rolled-back':
    case 'aborted':
      return ExitCode.FAILED;
    default:
      return ExitCode.INCOMPLETE;
  }
}

export const command: CliCommand = {
  name: 'switchover',
  register(program, ctx) {
    program
      .command('switchover')
      .description('planned switchover: make NODE the master with a short write pause (old master becomes a read-only replica)')
      .option('--cluster <name>', 'cluster (default: the only one in the config)')
      .requiredOption('--to <node>', 'the replica to promote')
      .option('--dry-run', 'print the plan and every preflight result; change nothing')
      .option('--timeout <s>', 'wait at most this long for the target to apply the old master\'s last transactions, then roll back (default 10)', positive('--timeout'))
      .option('--max-lag <s>', 'refuse when the target is more than this many seconds behind (default 5)', positive('--max-lag', true))
      .option('--max-trx <s>', 'refuse when a write transaction on the master has run this long (default 5)', positive('--max-trx', true))
      .option('--kill-after-ms <ms>', 'once writes stop, kill the application connections left on the old master after this grace period', positive('--kill-after-ms', true))
      .option('--force', 'allow a target with promotion: never')
      .action(
        ctx.action(async (opts: Opts) => {
          const cfg = ctx.config();
          const cluster = ctx.cluster(opts.cluster);
          if (!opts.dryRun) refuseUnderHa(cfg, cluster.name, 'a switchover', `ask any heir daemon's API (one that does not lead forwards to the leader): POST /api/v1/clusters/${cluster.name}/switchover with {"to": "${opts.to}"} (heir.api.token)`);
          const out = (s: string) => (ctx.json ? ctx.note(s) : ctx.print(s));
          if (!ctx.json) out(`${opts.dryRun ? 'Dry run: switchover' : 'Switchover'} of ${cluster.name} to ${opts.to}`);
          const state = cliStore(cfg);
          const report = await switchover(cluster, {
            store: state.store,
            to: opts.to,
            dryRun: opts.dryRun,
            force: opts.force,
            timeoutS: opts.timeout,
            maxLagS: opts.maxLag,
            maxTransactionS: opts.maxTrx,
            killAfterMs: opts.killAfterMs,
            requestedBy: `cli ${os.userInfo().username}@${os.hostname()}`,
            global: cfg.heir,
            // The progress lines narrate every step; logs add only warnings unless asked for.
            log: ctx.globals.logLevel ? ctx.logger() : ctx.logger().child({}, { level: 'warn' }),
            onProgress: (e) => {
              const l = progressLine(e);
              if (l) out(l);
            },
          }).finally(() => state.close());
          ctx.emit(report, () => '\n' + formatReport(report));
          return exitCodeOf(report);
        }),
      );
  },
};
