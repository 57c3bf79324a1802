/**
 * Structured logging (pino). JSON to stdout for journald; secrets are redacted
 * by key name wherever they appear in a logged object.
 */
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

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream } = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? process.env.HEIR_LOG_LEVEL ?? 'info',
    redact: { paths: redactPaths, censor: '[redacted]' },
    base: opts.name ? { name: opts.name } : {},
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** A logger that drops everything: for pure code paths and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
