/**
 * OpenSSH known_hosts, parsed and matched (pure).
 *
 * Supported: plain host patterns (with `*`, `?` and `!` negation), `[host]:port` for
 * non-default ports, hashed entries (`|1|salt|hmac-sha1`), the `@revoked` marker, and
 * the key types OpenSSH writes (ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa).
 * `@cert-authority` lines are recognised and ignored: heir checks plain host keys only.
 * There is deliberately no way to accept an unknown key.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export type KnownHostMarker = 'revoked' | 'cert-authority' | null;

export interface KnownHostEntry {
  /** 1-based line number in the file, for error messages. */
  line: number;
  marker: KnownHostMarker;
  /** Host patterns of a plain entry (as written, lowercased); empty for a hashed entry. */
  patterns: string[];
  /** Hashed entry: HMAC-SHA1 salt and digest. */
  hashed?: { salt: Buffer; hash: Buffer };
  /** Key type as written on the line, e.g. 'ssh-ed25519'. */
  keyType: string;
  /** The raw public key blob (base64-decoded). */
  key: Buffer;
}

export interface KnownHostsParseResult {
  entries: KnownHostEntry[];
  /** Lines that could not be parsed: reported, never fatal (OpenSSH skips them too). */
  invalid: { line: number; reason: string }[];
}

export const SUPPORTED_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;

/** Parse the text of a known_hosts file. */
export function parseKnownHosts(text: string): KnownHostsParseResult {
  const entries: KnownHostEntry[] = [];
  const invalid: { line: number; reason: string }[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i]!.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/\s+/);
    let marker: KnownHostMarker = null;
    if (fields[0]!.startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else {
        invalid.push({ line: lineNo, reason: `unknown marker ${m}` });
        continue;
      }
    }
    if (fields.length < 3) {
      invalid.push({ line: lineNo, reason: 'expected "hosts keytype base64-key [comment]"' });
      continue;
    }
    const [hostField, keyType, keyB64] = fields as [string, string, string];
    const key = decodeBase64Strict(keyB64);
    if (!key) {
      invalid.push({ line: lineNo, reason: 'key is not valid base64' });
      continue;
    }
    const blobType = keyBlobType(key);
    if (blobType === null) {
      invalid.push({ line: lineNo, reason: 'key blob is malformed' });
      continue;
    }
    if (blobType !== keyType) {
      invalid.push({ line: lineNo, reason: `key type ${keyType} does not match the key's own type ${blobType}` });
      continue;
    }
    if (hostField.startsWith('|')) {
      const hashed = parseHashedHost(hostField);
      if (!hashed) {
        invalid.push({ line: lineNo, reason: 'malformed hashed host (expected |1|salt|hash)' });
        continue;
      }
      entries.push({ line: lineNo, marker, patterns: [], hashed, keyType, key });
    } else {
      const patterns = hostField.split(',').filter((p) => p !== '').map((p) => p.toLowerCase());
      if (patterns.length === 0) {
        invalid.push({ line: lineNo, reason: 'no host patterns' });
        continue;
      }
      entries.push({ line: lineNo, marker, patterns, keyType, key });
    }
  }
  return { entries, invalid };
}

function decodeBase64Strict(s: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return b.length > 0 ? b : null;
}

function parseHashedHost(field: string): { salt: Buffer; hash: Buffer } | null {
  const parts = field.split('|');
  // '', '1', salt, hash
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== '1') return null;
  const salt = decodeBase64Strict(parts[2]!);
  const hash = decodeBase64Strict(parts[3]!);
  if (!salt || !hash || hash.length !== 20) return null;
  return { salt, hash };
}

/** The key type written at the start of an SSH public key blob (an SSH 'string'), or null. */
export function keyBlobType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return null;
  const t = blob.subarray(4, 4 + len).toString('latin1');
  return /^[\x21-\x7e]+$/.test(t) ? t : null;
}

/** OpenSSH's SHA256 fingerprint of a key blob: 'SHA256:' + unpadded base64. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The name OpenSSH looks up for host:port ('host' on port 22, '[host]:port' otherwise). */
export function lookupName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** Glob match with OpenSSH's `*` and `?`. */
function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(
    '^' +
      pattern
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
        .join('') +
      '$',
  );
  return re.test(name);
}

/** Whether a known_hosts entry names this host:port. */
export function entryMatchesHost(e: KnownHostEntry, host: string, port: number): boolean {
  const name = lookupName(host, port);
  if (e.hashed) {
    const h = createHmac('sha1', e.hashed.salt).update(name).digest();
    return h.length === e.hashed.hash.length && timingSafeEqual(h, e.hashed.hash);
  }
  let matched = false;
  for (const p of e.patterns) {
    const negated = p.startsWith('!');
    const pat = negated ? p.slice(1) : p;
    if (globMatch(pat, name)) {
      if (negated) return false; // a negated match excludes the host outright
      matched = true;
    }
  }
  return matched;
}

export type HostKeyCheck =
  | { status: 'match'; line: number; keyType: string; fingerprint: string }
  | { status: 'unknown'; keyType: string; fingerprint: string }
  | { status: 'mismatch'; keyType: string; fingerprint: string; knownLines: number[] }
  | { status: 'revoked'; keyType: string; fingerprint: string; line: number };

/**
 * Check the key a server presented against known_hosts entries.
 * - revoked: the key is listed as @revoked (for any host) → reject;
 * - match: an entry for this host has exactly this key;
 * - mismatch: entries for this host exist, none with this key (the host key changed, or
 *   someone is in the middle);
 * - unknown: no entry names this host.
 */
export function checkHostKey(entries: KnownHostEntry[], host: string, port: number, presented: Buffer): HostKeyCheck {
  const keyType = keyBlobType(presented) ?? 'unknown';
  const fp = fingerprint(presented);
  for (const e of entries) {
    if (e.marker === 'revoked' && e.key.equals(presented)) {
      return { status: 'revoked', keyType, fingerprint: fp, line: e.line };
    }
  }
  const forHost = entries.filter((e) => e.marker === null && entryMatchesHost(e, host, port));
  const exact = forHost.find((e) => e.key.equals(presented));
  if (exact) return { status: 'match', line: exact.line, keyType, fingerprint: fp };
  if (forHost.length > 0) return { status: 'mismatch', keyType, fingerprint: fp, knownLines: forHost.map((e) => e.line) };
  return { status: 'unknown', keyType, fingerprint: fp };
}

/**
 * Host key algorithms to offer, in preference order, restricted to the key types that
 * known_hosts holds for this host — as OpenSSH does, so that a host known only by its RSA
 * key is not asked for its ed25519 key (which would look like a changed key).
 * Returns null when known_hosts has nothing for the host (let the server pick; the
 * verifier will then report the unknown key with its fingerprint).
 */
export function hostKeyAlgorithmsFor(entries: KnownHostEntry[], host: string, port: number): string[] | null {
  const types = new Set(entries.filter((e) => e.marker === null && entryMatchesHost(e, host, port)).map((e) => e.keyType));
  if (types.size === 0) return null;
  const algos: string[] = [];
  for (const t of SUPPORTED_KEY_TYPES) {
    if (!types.has(t)) continue;
    if (t === 'ssh-rsa') algos.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else algos.push(t);
  }
  return algos.length > 0 ? algos : null;
}
