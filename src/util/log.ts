/**
 * Structured logging (pino). JSON to stdout for journald; secrets are redacted
 * by key name wherever they appear in a logged object. When stdout is the journal
 * (JOURNAL_STREAM, sd-daemon(3)), each line starts with its syslog priority as "<N>",
 * which journald takes as the entry's PRIORITY and strips: `journalctl -p err` shows
 * errors only.
 */
import * as fs from 'node:fs';
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_KEYS = [
  'password',
  'replication_password',
  'token',
  'secret',
  'private_key',
  'passphrase',
  'accessKeySecret',
  'securityToken',
];

const redactPaths = REDACT_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/** syslog priority of each pino level: trace and debug 7, info 6, warn 4, error 3, fatal 2. */
export function syslogPriority(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

/** A pino line prefixed with its syslog priority ("<3>{"level":50,...}"). */
export function withPriorityPrefix(line: string): string {
  const m = /^\{"level":(\d+)/.exec(line);
  return m ? `<${syslogPriority(Number(m[1]))}>${line}` : line;
}

/**
 * Whether stdout is connected to the journal: JOURNAL_STREAM ("device:inode", set by systemd
 * for StandardOutput=journal) names the file stdout is, as sd-daemon(3) says to check.
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream; journal?: boolean } = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? process.env.HEIR_LOG_LEVEL ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: opts.name ? { name: opts.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  // The level is the first key of every line pino writes, so the prefix is read off it.
  if (opts.journal ?? (!opts.destination && stdoutIsJournal())) options.hooks = { streamWrite: withPriorityPrefix };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything: for pure code paths and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
