/**
 * `heir eni status|move`: where the application's address is, and moving it
 * by hand (e.g. after a manual promotion). Moving never changes a server's
 * role; it refuses to give the address to a read-only server unless --force,
 * since every client write would then fail. A move holds the cluster lock that
 * failover, switchover and rejoin take, so it cannot race a daemon's failover.
 */
import type { CliCommand } from '../context';
import { refuseUnderHa } from '../store';
import { CliError, ExitCode } from '../exit';
import { eniStatus, move } from '../../eni';
import { acquireLock, LockHeldError, type ClusterLock } from '../../failover/lock';
import { readNode } from '../../mysql/inspect';
import { renderKeyValues } from '../table';

export const command: CliCommand = {
  name: 'eni',
  register(program, ctx) {
    const eni = program.command('eni').description("the application's address (ENI, secondary IP or script): where it is, and moving it");

    eni
      .command('status')
      .description('where the address is now (read-only: describes, never changes)')
      .option('--cluster <name>', 'the cluster (default: the only one)')
      .action(
        ctx.action(async (opts: { cluster?: string }) => {
          const cluster = ctx.cluster(opts.cluster);
          const s = await eniStatus(cluster, ctx.config().heir, { log: ctx.logger() });
          ctx.emit({ cluster: cluster.name, ...s }, () =>
            renderKeyValues([
              ['cluster', cluster.name],
              ['mover', s.kind],
              ['address', s.address ?? ''],
              ['eni', s.eniId ?? ''],
              ['holder', s.holder ?? '(none)'],
              ['instance', s.instanceId ?? ''],
              ['state', `${s.state}${s.settled ? '' : ' (not settled)'}`],
              ['detail', s.detail],
            ]),
          );
          return s.state === 'unknown' || s.state === 'error' ? ExitCode.FAILED : ExitCode.OK;
        }),
      );

    eni
      .command('move')
      .description('move the address to a node: detach from its holder, attach to the node, verify')
      .option('--cluster <name>', 'the cluster (default: the only one)')
      .requiredOption('--to <node>', 'the node that gets the address')
      .option('--from <node>', 'the node to take it from (default: the current holder)')
      .option('--force', 'move even when the target is read-only or cannot be read')
      .action(
        ctx.action(async (opts: { cluster?: string; to: string; from?: string; force?: boolean }) => {
          const cluster = ctx.cluster(opts.cluster);
          const to = cluster.nodes.find((n) => n.name === opts.to);
          if (!to) throw new CliError(`cluster ${cluster.name} has no node ${opts.to} (nodes: ${cluster.nodes.map((n) => n.name).join(', ')})`, ExitCode.USAGE);
          if (opts.from && !cluster.nodes.some((n) => n.name === opts.from)) throw new CliError(`cluster ${cluster.name} has no node ${opts.from}`, ExitCode.USAGE);
          refuseUnderHa(ctx.config(), cluster.name, 'an address move', `the leader daemon moves the address at each failover and switchover (POST /api/v1/clusters/${cluster.name}/switchover)`);
          if (!opts.force) {
            const snap = await readNode(cluster, to);
            if (!snap.reachable) throw new CliError(`${to.name} cannot be reached (${snap.error?.message}); refusing to send clients to it (use --force to move anyway)`, ExitCode.FAILED);
            if (snap.readOnly) throw new CliError(`${to.name} is read-only: clients would fail every write. Promote it first (heir switchover / heir failover), or use --force`, ExitCode.FAILED);
          }
          let lock: ClusterLock;
          try {
            lock = acquireLock(ctx.config().heir.state_dir, cluster.name, 'eni move', `to ${to.name}`);
          } catch (e) {
            if (e instanceof LockHeldError) throw new CliError(`not moving the address: ${e.message}`, ExitCode.BLOCKED);
            throw e;
          }
          let r;
          try {
            r = await move(cluster, ctx.config().heir, { to: to.name, from: opts.from, log: ctx.logger() });
          } finally {
            lock.release();
          }
          ctx.emit({ cluster: cluster.name, ...r }, () =>
            [
              `${r.ok ? 'moved' : 'NOT moved'}: ${cluster.name} address ${r.from ? `from ${r.from} ` : ''}to ${r.to}`,
              `  fence:  ${r.fence.ok ? 'ok' : 'FAILED'} ${r.fence.action} (${r.fence.durationMs} ms): ${r.fence.detail}`,
              r.attach ? `  attach: ${r.attach.ok ? 'ok' : 'FAILED'} ${r.attach.action} (${r.attach.durationMs} ms): ${r.attach.detail}` : '  attach: not attempted (fence failed)',
            ].join('\n'),
          );
          if (r.ok) return ExitCode.OK;
          return r.fence.ok && r.from ? ExitCode.INCOMPLETE : ExitCode.FAILED;
        }),
      );
  },
};
