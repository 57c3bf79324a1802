/**
 * `npm run sandbox` (scripts/sandbox.sh runs setup, then this):
 *
 *   node dist/test/sandbox/main.js [--mariadb] [--switchover] [--havip] [--ha] [--keep] [--engine daemon|inprocess] [--timeout S] [--json FILE]
 *
 * Starts the sandbox (see scenario.ts), kills the master (or runs a switchover),
 * narrates what heir sees and does, prints a summary and tears everything down,
 * also on Ctrl-C / SIGTERM. Exit 0 when no acknowledged row was lost and the
 * writer resumed through the floating address; 1 otherwise; 2 on a usage error.
 */
import * as fs from 'node:fs';
import { onExitSync } from '../lab/procs';
import { Narrator } from './narrator';
import { Sandbox, daemonAvailable, type Engine, type SandboxResult } from './scenario';

interface Args {
  flavor: 'mysql' | 'mariadb';
  mode: 'kill' | 'switchover';
  keep: boolean;
  engine: Engine | null;
  address: 'eni' | 'havip';
  timeoutS: number;
  json: string | null;
  ha: boolean;
}

const USAGE = `usage: npm run sandbox -- [--mariadb] [--switchover] [--havip] [--ha] [--keep] [--no-setup]
  --mariadb            MariaDB 10.11 instead of MySQL 9.7
  --switchover         a planned heir switchover instead of kill -9 of the master
  --havip              the address is a HaVip (SSH + gratuitous ARP) instead of an ENI
  --ha                 manager high availability: 3 etcd members and 2 heir daemons; the leader daemon
                       is killed with kill -9 in the middle of its failover, the other one finishes it
  --keep               stay up after the summary (try heir status / heir switchover), until Ctrl-C
  --engine E           daemon (default) or inprocess (monitor + executor in the sandbox process)
  --timeout S          bound on waiting for the failover and the first write (default 120)
  --json FILE          also write the result as JSON
  --no-setup           (scripts/sandbox.sh) skip scripts/setup.sh`;

function parseArgs(argv: string[]): Args {
  const a: Args = { flavor: 'mysql', mode: 'kill', keep: false, address: 'eni', engine: null, timeoutS: 120, json: null, ha: false };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${x} needs a value`);
      return v;
    };
    if (x === '--mariadb') a.flavor = 'mariadb';
    else if (x === '--mysql') a.flavor = 'mysql';
    else if (x === '--switchover') a.mode = 'switchover';
    else if (x === '--havip') a.address = 'havip';
    else if (x === '--keep') a.keep = true;
    else if (x === '--ha') a.ha = true;
    else if (x === '--no-setup') { /* handled by scripts/sandbox.sh */ }
    else if (x === '--engine') {
      const v = value();
      if (v !== 'daemon' && v !== 'inprocess') throw new Error('--engine is daemon or inprocess');
      a.engine = v;
    } else if (x === '--timeout') {
      a.timeoutS = Number(value());
      if (!(a.timeoutS > 0)) throw new Error('--timeout must be a positive number of seconds');
    } else if (x === '--json') a.json = value();
    else if (x === '-h' || x === '--help') { process.stdout.write(`${USAGE}\n`); process.exit(0); }
    else throw new Error(`unknown argument ${x}`);
  }
  if (a.ha && a.mode === 'switchover') throw new Error('--ha goes with the kill of the master, not --switchover');
  if (a.ha && a.engine === 'inprocess') throw new Error('--ha runs heir daemons: not with --engine inprocess');
  if (a.ha && a.address === 'havip') throw new Error('--ha holds the leader at its ENI attach: not with --havip');
  return a;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`sandbox: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    process.stderr.write('sandbox: needs root (network namespaces for the three database hosts). Run: sudo npm run sandbox\n');
    return 1;
  }
  const narrator = new Narrator();
  let engine: Engine = args.engine ?? 'daemon';
  if (engine === 'daemon' && !daemonAvailable()) {
    if (args.engine === 'daemon' || args.ha) {
      process.stderr.write('sandbox: the daemon command is not built (dist/src/cli/commands/daemon.js missing); build first\n');
      return 1;
    }
    narrator.line('sandbox', 'heir daemon is not available in this build: running the monitor and failover executor in-process', { level: 'warn' });
    engine = 'inprocess';
  }
  const sb = new Sandbox({ flavor: args.flavor, mode: args.mode, engine, address: args.address, narrator, timeoutS: args.timeoutS, ha: args.ha });

  // Ctrl-C / SIGTERM: tear down what we started, then exit. (The lab also kills its
  // servers and removes its namespaces synchronously on exit, as a last resort.)
  let stopping = false;
  let keepResolve: (() => void) | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    // Replaces the lab's own signal handler (which kills its servers and exits at once):
    // an orderly teardown (daemon first, then emulator, lab, temp folders) is better.
    // The lab's exit hook stays: if the teardown does not finish in 60 s, exiting runs it.
    if (keepResolve) { keepResolve(); keepResolve = null; return; }
    if (stopping) return;
    stopping = true;
    narrator.raw(`\nsandbox: ${sig}: tearing down…`);
    setTimeout(() => process.exit(sig === 'SIGINT' ? 130 : 143), 60000).unref();
    void sb.down()
      .then(() => narrator.raw('sandbox: everything it started is stopped and removed.'))
      .catch((e) => narrator.raw(`sandbox: ${(e as Error).message}`))
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  onExitSync(() => {})(); // installs the lab's process hooks now, so that its signal handlers can be replaced
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    for (const l of process.listeners(sig)) process.removeListener(sig, l as (...a: unknown[]) => void);
    process.on(sig, onSignal);
  }

  let result: SandboxResult | null = null;
  try {
    narrator.heading(`heir sandbox: ${args.flavor === 'mysql' ? 'MySQL 9.7' : 'MariaDB 10.11'}, ${args.mode === 'kill' ? 'kill -9 of the master' : 'planned switchover'}${args.ha ? ', then of the leader heir daemon (2 daemons on 3 etcd members)' : ''}`);
    await sb.up();
    await sb.fault();
    if (args.ha) await sb.haTakeover(args.timeoutS * 1000);
    result = await sb.observe();
    sb.summary(result);
    if (args.json) fs.writeFileSync(args.json, JSON.stringify(result, null, 2) + '\n');
    if (args.keep) {
      if (args.mode === 'kill' && result.newMaster) {
        await sb.rejoinOldMaster(result.newMaster).catch((e) => narrator.line('lab', `could not bring the old master back as a replica: ${(e as Error).message}`, { level: 'warn' }));
      }
      sb.keepInstructions();
      await new Promise<void>((r) => { keepResolve = r; });
      narrator.raw('\nsandbox: tearing down…');
    }
  } catch (e) {
    narrator.raw(narrator.c('red', `\nsandbox failed: ${(e as Error).stack ?? e}`));
  } finally {
    if (!stopping) {
      stopping = true;
      try {
        await sb.down();
        narrator.raw('sandbox: everything it started is stopped and removed.');
      } catch (e) {
        narrator.raw(narrator.c('red', (e as Error).message));
      }
    }
  }
  return result?.ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`sandbox: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
