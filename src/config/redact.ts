/** Secrets out of configuration for display (heir config show, API output, logs). */

/** Keys whose values are secrets wherever they appear. */
export const SECRET_KEYS = new Set(['password', 'replication_password', 'secret', 'token', 'key', 'passphrase']);

export const REDACTED = '[redacted]';

/**
 * A webhook URL safe to print: the query string (DingTalk access_token, WeCom
 * key) and long path segments (Slack and Feishu put their tokens in the path)
 * are replaced.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return REDACTED;
  }
  const pathName = u.pathname
    .split('/')
    .map((seg) => (seg.length >= 16 ? '…' : seg))
    .join('/');
  return `${u.protocol}//${u.host}${pathName}${u.search ? '?…' : ''}`;
}

/** A deep copy with secret values replaced; webhook URLs shortened with redactUrl. */
export function redactConfig<T>(value: T): T {
  const walk = (v: unknown, key: string | undefined, parentKey: string | undefined): unknown => {
    if (key !== undefined && SECRET_KEYS.has(key) && typeof v === 'string') return v === '' ? '' : REDACTED;
    if (key === 'url' && typeof v === 'string') return redactUrl(v);
    if (Array.isArray(v)) return v.map((x) => walk(x, undefined, key ?? parentKey));
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x, k, key);
      return out;
    }
    return v;
  };
  return walk(value, undefined, undefined) as T;
}
