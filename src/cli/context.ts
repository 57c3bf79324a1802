/**
 * What every CLI command gets: the global options, the configuration (loaded
 * once, errors become exit code 2), a logger on stderr, and output helpers
 * that honour --json.
 */
import type { Command } from 'commander';
import { createLogger, type Logger } from '../util/log';
import { defaultConfigPath, findCluster, loadConfigWithWarnings, type Validated } from '../config/load';
import type { ClusterConfig, HeirConfig } from '../config/schema';
import { ExitCode } from './exit';

export interface GlobalOptions {
  /** --config: the configuration file (default $HEIR_CONFIG or /etc/heir/heir.yaml). */
  config: string;
  /** --json: machine-readable output on stdout. */
  json: boolean;
  /** --log-level: trace|debug|info|warn|error|silent (logs go to stderr). */
  logLevel?: string;
}

/** A CLI command module: src/cli/commands/<name>.ts exports `command` (or `commands`) of this type. */
export interface CliCommand {
  /** Top-level command name (for ordering and diagnostics). */
  name: string;
  /** Adds the command (and its subcommands) to the program. Use ctx.action() to wrap handlers. */
  register(program: Command, ctx: CliContext): void;
}

export interface Writer {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface ContextOptions {
  env?: NodeJS.ProcessEnv;
  stdout?: Writer;
  stderr?: Writer;
}

export class CliContext {
  readonly env: NodeJS.ProcessEnv;
  readonly stdout: Writer;
  readonly stderr: Writer;
  /** Set by main once options are parsed. */
  private opts: GlobalOptions;
  private validated: Validated | undefined;
  private log: Logger | undefined;

  constructor(o: ContextOptions = {}) {
    this.env = o.env ?? process.env;
    this.stdout = o.stdout ?? process.stdout;
    this.stderr = o.stderr ?? process.stderr;
    this.opts = { config: defaultConfigPath(this.env), json: false };
  }

  /** Called by main before each action with the parsed global options. */
  setGlobals(g: Partial<GlobalOptions>): void {
    this.opts = {
      config: g.config || defaultConfigPath(this.env),
      json: !!g.json,
      logLevel: g.logLevel,
    };
  }

  get globals(): GlobalOptions {
    return this.opts;
  }

  get json(): boolean {
    return this.opts.json;
  }

  /** The configuration with its warnings (loaded once). Throws ConfigError → exit 2. */
  loadValidated(): Validated {
    this.validated ??= loadConfigWithWarnings(this.opts.config, { env: this.env });
    return this.validated;
  }

  /** The configuration (loaded once, warnings logged). Throws ConfigError → exit 2. */
  config(): HeirConfig {
    const first = this.validated === undefined;
    const v = this.loadValidated();
    if (first) for (const w of v.warnings) this.logger().warn({ path: w.path, line: w.line }, `config: ${w.message}`);
    return v.config;
  }

  /** The cluster named by --cluster (or the only one). Throws UnknownClusterError → exit 2. */
  cluster(name?: string): ClusterConfig {
    return findCluster(this.config(), name);
  }

  /**
   * Logger on stderr: pretty when stderr is a terminal (if pino-pretty is
   * installed), JSON otherwise. Level: --log-level, else heir.log_level when
   * a config was loaded, else 'warn' (the CLI's own output is on stdout).
   */
  logger(): Logger {
    if (this.log) return this.log;
    const level = this.opts.logLevel ?? this.env.HEIR_LOG_LEVEL ?? this.validated?.config.heir.log_level ?? 'warn';
    let destination: { write(s: string): unknown } = this.stderr as { write(s: string): unknown };
    if (this.stderr === process.stderr && process.stderr.isTTY) {
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const pretty = require('pino-pretty') as (o: object) => { write(s: string): unknown };
        destination = pretty({ destination: 2, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true });
      } catch {
        /* pino-pretty is a dev dependency: JSON lines then */
      }
    }
    this.log = createLogger({ level, name: 'heir', destination: destination as never });
    return this.log;
  }

  /** A line (or lines) on stdout. */
  print(text = ''): void {
    this.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** A line on stderr (messages for people, also in --json mode). */
  note(text: string): void {
    this.stderr.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** --json: the value as JSON on stdout; otherwise the human text. */
  emit(value: unknown, human: () => string): void {
    if (this.opts.json) this.print(JSON.stringify(value, jsonReplacer, 2));
    else this.print(human());
  }

  /** The exit code of the running command (set by actions that return one; see ExitCode). */
  exitCode: number = ExitCode.OK;

  /**
   * Wraps an action handler: its returned exit code (if any) becomes the
   * process's; thrown errors are reported by main with the right code.
   */
  action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void): (...args: A) => Promise<void> {
    return async (...args: A) => {
      const code = await fn(...args);
      if (typeof code === 'number') this.exitCode = code;
    };
  }
}

/** bigint → string, Error → message, so snapshots print as JSON. */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Error) return { name: v.name, message: v.message };
  if (v instanceof Map) return Object.fromEntries(v);
  if (v instanceof Set) return [...v];
  return v;
}
