/**
 * `heir check`: is the cluster fit to fail over? Exit 0 only when it is;
 * otherwise exit 1 with every reason, each naming the node and what to do.
 */
import type { CliCommand } from '../context';
import { ExitCode } from '../exit';
import { runCheck, type CheckRun } from '../../check/run';
import { loadCloudMovers, usesCloudMover } from '../../eni';
import type { NodeSnapshot } from '../../mysql/types';
import { renderTable } from '../table';

function role(n: NodeSnapshot, master?: string): string {
  if (!n.reachable) return 'unreachable';
  if (n.name === master) return 'master';
  return n.replication.length ? 'replica' : '?';
}

function human(r: CheckRun): string {
  const lines: string[] = [];
  lines.push(`cluster ${r.cluster}: ${r.fit ? 'OK, fit to fail over' : 'NOT fit to fail over'}`);
  lines.push(
    renderTable(r.snapshot.nodes, [
      { header: 'node', get: (n) => n.name },
      { header: 'address', get: (n) => `${n.host}:${n.port}` },
      { header: 'role', get: (n) => role(n, r.master) },
      { header: 'version', get: (n) => n.version?.raw ?? '' , maxWidth: 24 },
      { header: 'ro', get: (n) => (n.reachable ? (n.superReadOnly ? 'super' : n.readOnly ? 'yes' : 'no') : '') },
      { header: 'io/sql', get: (n) => (n.replication[0] ? `${n.replication[0].ioState}/${n.replication[0].sqlRunning ? 'Yes' : 'No'}` : '') },
      { header: 'lag', get: (n) => n.replication[0]?.secondsBehind ?? '', align: 'right' },
      { header: 'gtid', get: (n) => n.executedGtid ?? '', maxWidth: 48 },
    ]),
  );
  if (r.liveness.length) {
    lines.push('replicas\' view of the master (what detection can read):');
    lines.push(
      renderTable(r.liveness, [
        { header: 'replica', get: (l) => l.node },
        { header: 'performance_schema', get: (l) => (l.performanceSchema === null ? '?' : l.performanceSchema ? 'ON' : 'OFF') },
        { header: 'heartbeat', get: (l) => (l.heartbeatPeriodS === null ? '?' : `${l.heartbeatPeriodS} s`), align: 'right' },
        { header: 'net timeout', get: (l) => (l.netTimeoutS === null ? '?' : `${l.netTimeoutS} s`), align: 'right' },
        { header: 'signals', get: (l) => l.signals.join('; '), maxWidth: 70 },
      ]),
    );
  }
  lines.push(`candidates: ${r.candidates.length ? r.candidates.join(', ') : 'none'}`);
  for (const f of r.findings) {
    lines.push(`${f.severity === 'error' ? 'ERROR' : 'warn '} ${f.node ? `[${f.node}] ` : ''}${f.message}`);
    if (f.fix) lines.push(...f.fix.split('\n').map((l) => `        fix: ${l}`));
  }
  return lines.join('\n');
}

export const command: CliCommand = {
  name: 'check',
  register(program, ctx) {
    program
      .command('check')
      .description('check that a cluster is fit to fail over: one writable master, healthy replicas, GTIDs, grants, address')
      .option('--cluster <name>', 'the cluster (default: every cluster in the file)')
      .option('--skip-address', "do not run the address mover's preflight")
      .action(
        ctx.action(async (opts: { cluster?: string; skipAddress?: boolean }) => {
          const cfg = ctx.config();
          const clusters = opts.cluster ? [ctx.cluster(opts.cluster)] : cfg.clusters;
          // The SDK's blocking load happens before any MySQL connection waits on its timeout.
          if (!opts.skipAddress && clusters.some(usesCloudMover)) loadCloudMovers();
          const results = await Promise.all(clusters.map((c) => runCheck(c, cfg.heir, { log: ctx.logger(), skipAddress: opts.skipAddress })));
          ctx.emit(
            results.map(({ snapshot, ...r }) => ({ ...r, nodes: snapshot.nodes })),
            () => results.map(human).join('\n\n'),
          );
          return results.every((r) => r.fit) ? ExitCode.OK : ExitCode.FAILED;
        }),
      );
  },
};
