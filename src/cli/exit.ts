/**
 * heir's exit codes, in one place. Scripts and systemd act on them; every
 * command uses these names, never bare numbers.
 */
export const ExitCode = {
  /** Done: the check passed, the action completed, the config is valid. */
  OK: 0,
  /** The check found problems, or the action failed without changing the cluster (see the output). */
  FAILED: 1,
  /** Bad usage or bad configuration: unknown option, invalid file, unknown cluster or node. */
  USAGE: 2,
  /** Refused, nothing changed: the cluster is locked by another action, failovers are blocked until acknowledged, a failover's master still answers (no --force), or a pre_failover hook stopped one. */
  BLOCKED: 3,
  /** The action failed part-way after changing the cluster: it needs attention (see the report/journal). */
  INCOMPLETE: 4,
  /** The action completed, but left nodes out (a failover could not repoint them): they need attention (see the report). */
  PARTIAL: 5,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code table for `heir --help`. */
export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  ok: check passed, action done, configuration valid',
  '  1  failed: the check found problems, or the action failed without changing the cluster',
  '  2  bad usage or configuration (every problem is listed with file:line)',
  '  3  refused, nothing changed: cluster locked, failovers blocked until `heir ack`, master still answers (no --force), or a pre_failover hook',
  '  4  incomplete: the action failed part-way and changed the cluster; read its report',
  '  5  partial: the failover promoted a new master but left nodes out of the new topology; the report says why for each',
].join('\n');

/** An error that ends a command with a message and an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.FAILED,
    /** Extra fields for --json output. */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}
