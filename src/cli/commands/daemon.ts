/**
 * `heir daemon [--config FILE]`: run in the foreground, watching every cluster of the
 * configuration (systemd's ExecStart). Logs are JSON lines on stdout for journald.
 * SIGHUP reloads the configuration; SIGTERM/SIGINT stop cleanly (exit 0).
 */
import type { CliCommand } from '../context';
import { ExitCode } from '../exit';
import { runDaemon } from '../../daemon/daemon';
import { createLogger } from '../../util/log';

export const command: CliCommand = {
  name: 'daemon',
  register(program, ctx) {
    program
      .command('daemon')
      .description('watch every cluster of the configuration and fail over automatically (foreground; JSON logs on stdout; SIGHUP reloads)')
      .action(
        ctx.action(async () => {
          const level = ctx.globals.logLevel;
          const code = await runDaemon({
            configPath: ctx.globals.config,
            env: ctx.env,
            ...(level ? { log: createLogger({ level, name: 'heir' }) } : {}),
          });
          // Anything still holding the event loop (a connection closing slowly) must not keep
          // a stopped daemon alive.
          setTimeout(() => process.exit(code), 3000).unref();
          return code === 0 ? ExitCode.OK : ExitCode.FAILED;
        }),
      );
  },
};
