/**
 * heir's command line. Global options, error → exit code mapping, and the
 * commands found in src/cli/commands (one module per command).
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/errors';
import { UnknownClusterError } from '../config/load';
import { CliContext, jsonReplacer, type ContextOptions } from './context';
import { CliError, EXIT_CODES_HELP, ExitCode } from './exit';
import { loadCommands } from './commands';
import { heirVersion } from './version';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('heir');
  program
    .description('Keeps a MySQL/MariaDB primary-replica cluster writable when its master dies.')
    .version(heirVersion(), '-V, --version', "print heir's version")
    .option('-c, --config <file>', 'configuration file (default: $HEIR_CONFIG, else /etc/heir/heir.yaml)')
    .option('--json', 'machine-readable JSON on stdout')
    .addOption(new Option('--log-level <level>', 'log level for messages on stderr (default: warn)').choices(LOG_LEVELS))
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride()
    .addHelpText(
      'after',
      `\n${EXIT_CODES_HELP}\n\nConfiguration: ${'`heir config validate`'} checks a file; config/cluster.example.yaml documents every key.`,
    );

  program.hook('preAction', (_root, action) => {
    const o = action.optsWithGlobals() as { config?: string; json?: boolean; logLevel?: string };
    ctx.setGlobals({ config: o.config, json: o.json, logLevel: o.logLevel });
  });

  const { commands, failures } = loadCommands();
  for (const { command, file } of commands) {
    try {
      command.register(program, ctx);
    } catch (e) {
      failures.push({ file, error: e });
    }
  }
  for (const f of failures) {
    // One broken command must not take the others (failover, status) down with it.
    ctx.note(`heir: warning: command module ${f.file} could not be loaded: ${(f.error as Error)?.message ?? String(f.error)}`);
  }
  return program;
}

/** Runs the CLI; resolves to the exit code (the caller sets process.exitCode). */
export async function main(argv: string[] = process.argv, o: ContextOptions = {}): Promise<number> {
  const ctx = new CliContext(o);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (e) {
    return reportError(ctx, e);
  }
}

function reportError(ctx: CliContext, e: unknown): number {
  if (e instanceof CommanderError) {
    // Help and version end with 0; everything else commander rejects is bad usage.
    return e.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  if (e instanceof ConfigError) {
    const n = e.issues.length;
    if (ctx.json) ctx.print(JSON.stringify({ ok: false, error: 'config', file: e.source, errors: e.issues }, null, 2));
    ctx.note(`heir: invalid configuration ${e.source} (${n} problem${n === 1 ? '' : 's'}):\n${e.message}`);
    return ExitCode.USAGE;
  }
  if (e instanceof UnknownClusterError) {
    if (ctx.json) ctx.print(JSON.stringify({ ok: false, error: 'usage', message: e.message, clusters: e.known }, null, 2));
    ctx.note(`heir: ${e.message}`);
    return ExitCode.USAGE;
  }
  if (e instanceof CliError) {
    if (ctx.json) ctx.print(JSON.stringify({ ok: false, error: e.message, exit_code: e.exitCode, ...e.details }, jsonReplacer, 2));
    ctx.note(`heir: ${e.message}`);
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  if (ctx.json) ctx.print(JSON.stringify({ ok: false, error: err.message }, null, 2));
  ctx.note(`heir: ${err.message}`);
  if (ctx.globals.logLevel === 'debug' || ctx.globals.logLevel === 'trace') ctx.note(err.stack ?? '');
  return ExitCode.FAILED;
}
