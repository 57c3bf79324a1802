/**
 * MySQL GTID sets, as plain values.
 *
 * Text form (what @@gtid_executed, Retrieved_Gtid_Set and GTID_SUBSET() use):
 *
 *   3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:11,
 *   8a94f357-aab4-11df-86ab-c80aa9429562:1-3:batch:1-10
 *
 * Elements are separated by commas (whitespace and newlines around them are
 * ignored). After the source UUID come colon-separated parts: an interval
 * (`N` or `N-M`) or, since MySQL 8.4, a tag (`[A-Za-z_][A-Za-z0-9_]{0,31}`)
 * that applies to the intervals that follow it. Tags are case-insensitive and
 * kept in lowercase, as are UUIDs. Transaction numbers run from 1 to 2^63-1,
 * so they are bigint throughout.
 *
 * A GtidSet is immutable and always normalized: intervals sorted and merged
 * when they overlap or touch (1-3 and 4-5 are 1-5).
 */

/** Highest transaction number MySQL accepts (2^63 - 1). */
export const MAX_GNO = (1n << 63n) - 1n;

/** An inclusive interval of transaction numbers. */
export type GtidInterval = readonly [start: bigint, end: bigint];

export class GtidParseError extends Error {
  constructor(
    message: string,
    readonly text: string,
    readonly part: string,
  ) {
    super(message);
    this.name = 'GtidParseError';
  }
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_COMPACT_RE = /^[0-9a-f]{32}$/;
const TAG_RE = /^[a-z_][a-z0-9_]{0,31}$/;
const NUM_RE = /^[0-9]+$/;

/** Key of one transaction source: 'uuid' for untagged GTIDs, 'uuid:tag' for tagged ones. */
type Tsid = string;

function shorten(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

function normalizeUuid(raw: string, text: string, element: string): string {
  let u = raw.trim().toLowerCase();
  if (u.startsWith('{') && u.endsWith('}')) u = u.slice(1, -1);
  if (UUID_COMPACT_RE.test(u)) {
    u = `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`;
  }
  if (!UUID_RE.test(u)) {
    throw new GtidParseError(
      `invalid GTID set: '${shorten(raw.trim())}' in element '${shorten(element)}' is not a server UUID ` +
        `(expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) in "${shorten(text)}"`,
      text,
      raw,
    );
  }
  return u;
}

function parseGno(raw: string, text: string, element: string): bigint {
  const s = raw.trim();
  if (!NUM_RE.test(s)) {
    throw new GtidParseError(
      `invalid GTID set: '${shorten(s)}' in element '${shorten(element)}' is not a transaction number in "${shorten(text)}"`,
      text,
      raw,
    );
  }
  const n = BigInt(s);
  if (n < 1n || n > MAX_GNO) {
    throw new GtidParseError(
      `invalid GTID set: transaction number ${s} in element '${shorten(element)}' is outside 1..${MAX_GNO} in "${shorten(text)}"`,
      text,
      raw,
    );
  }
  return n;
}

/** Sorts and merges intervals (overlapping or adjacent). Input is not modified. */
function normalizeIntervals(list: readonly GtidInterval[]): GtidInterval[] {
  if (list.length === 0) return [];
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [[sorted[0][0], sorted[0][1]]];
  for (let i = 1; i < sorted.length; i++) {
    const [s, e] = sorted[i];
    const last = out[out.length - 1];
    if (s <= last[1] + 1n) {
      if (e > last[1]) last[1] = e;
    } else {
      out.push([s, e]);
    }
  }
  return out;
}

/** a ∪ b for normalized lists. */
function unionIntervals(a: readonly GtidInterval[], b: readonly GtidInterval[]): GtidInterval[] {
  if (a.length === 0) return [...b];
  if (b.length === 0) return [...a];
  return normalizeIntervals([...a, ...b]);
}

/** a − b for normalized lists. */
function subtractIntervals(a: readonly GtidInterval[], b: readonly GtidInterval[]): GtidInterval[] {
  if (a.length === 0 || b.length === 0) return [...a];
  const out: GtidInterval[] = [];
  let j = 0;
  for (const [s0, e] of a) {
    let s = s0;
    while (j < b.length && b[j][1] < s) j++;
    let k = j;
    while (k < b.length && b[k][0] <= e && s <= e) {
      const [bs, be] = b[k];
      if (bs > s) out.push([s, bs - 1n]);
      s = be + 1n;
      if (be >= e) break;
      k++;
    }
    if (s <= e) out.push([s, e]);
  }
  return out;
}

/** a ∩ b for normalized lists. */
function intersectIntervals(a: readonly GtidInterval[], b: readonly GtidInterval[]): GtidInterval[] {
  const out: GtidInterval[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const s = a[i][0] > b[j][0] ? a[i][0] : b[j][0];
    const e = a[i][1] < b[j][1] ? a[i][1] : b[j][1];
    if (s <= e) out.push([s, e]);
    if (a[i][1] < b[j][1]) i++;
    else j++;
  }
  return out;
}

function compareTsid(a: Tsid, b: Tsid): number {
  const [ua, ta = ''] = a.split(':');
  const [ub, tb = ''] = b.split(':');
  if (ua !== ub) return ua < ub ? -1 : 1;
  if (ta === tb) return 0;
  return ta < tb ? -1 : 1; // untagged ('') first, then tags alphabetically
}

export class GtidSet {
  /** Normalized, non-empty interval lists by tsid. */
  private readonly map: ReadonlyMap<Tsid, readonly GtidInterval[]>;

  private constructor(map: Map<Tsid, GtidInterval[]>) {
    for (const [k, v] of map) if (v.length === 0) map.delete(k);
    this.map = map;
  }

  static empty(): GtidSet {
    return new GtidSet(new Map());
  }

  /**
   * Parses MySQL's text form. '' (or only whitespace) is the empty set. Throws
   * GtidParseError naming the offending part.
   */
  static parse(text: string): GtidSet {
    if (typeof text !== 'string') {
      throw new GtidParseError(`invalid GTID set: expected text, got ${typeof text}`, String(text), String(text));
    }
    const raw = new Map<Tsid, GtidInterval[]>();
    if (text.trim() === '') return new GtidSet(raw);
    const elements = text.split(',');
    for (const elementRaw of elements) {
      const element = elementRaw.trim();
      if (element === '') {
        throw new GtidParseError(`invalid GTID set: empty element (stray comma) in "${shorten(text)}"`, text, elementRaw);
      }
      const parts = element.split(':');
      const uuid = normalizeUuid(parts[0], text, element);
      let tag = '';
      for (let p = 1; p < parts.length; p++) {
        const part = parts[p].trim();
        if (part === '') {
          throw new GtidParseError(
            `invalid GTID set: empty part after ':' in element '${shorten(element)}' of "${shorten(text)}"`,
            text,
            element,
          );
        }
        if (/^[A-Za-z_]/.test(part)) {
          const t = part.toLowerCase();
          if (!TAG_RE.test(t)) {
            throw new GtidParseError(
              `invalid GTID set: '${shorten(part)}' in element '${shorten(element)}' is neither an interval nor a tag ` +
                `(letters, digits, _; at most 32; starting with a letter or _) in "${shorten(text)}"`,
              text,
              part,
            );
          }
          tag = t;
          continue;
        }
        const dash = part.indexOf('-');
        let start: bigint;
        let end: bigint;
        if (dash < 0) {
          start = end = parseGno(part, text, element);
        } else {
          start = parseGno(part.slice(0, dash), text, element);
          end = parseGno(part.slice(dash + 1), text, element);
          if (end < start) {
            throw new GtidParseError(
              `invalid GTID set: interval '${part}' in element '${shorten(element)}' ends before it starts in "${shorten(text)}"`,
              text,
              part,
            );
          }
        }
        const key = tag ? `${uuid}:${tag}` : uuid;
        let list = raw.get(key);
        if (!list) raw.set(key, (list = []));
        list.push([start, end]);
      }
    }
    for (const [k, v] of raw) raw.set(k, normalizeIntervals(v));
    return new GtidSet(raw);
  }

  /** Parses, or returns undefined for text that is not a GTID set. */
  static tryParse(text: string): GtidSet | undefined {
    try {
      return GtidSet.parse(text);
    } catch {
      return undefined;
    }
  }

  /** Normalized text: UUIDs ascending, untagged intervals before tags (tags ascending), elements joined by ','. */
  toString(): string {
    const byUuid = new Map<string, string[]>();
    for (const key of [...this.map.keys()].sort(compareTsid)) {
      const [uuid, tag] = key.split(':');
      const iv = this.map
        .get(key)!
        .map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`))
        .join(':');
      let parts = byUuid.get(uuid);
      if (!parts) byUuid.set(uuid, (parts = []));
      parts.push(tag ? `${tag}:${iv}` : iv);
    }
    return [...byUuid].map(([uuid, parts]) => `${uuid}:${parts.join(':')}`).join(',');
  }

  toJSON(): string {
    return this.toString();
  }

  private combine(o: GtidSet, f: (a: readonly GtidInterval[], b: readonly GtidInterval[]) => GtidInterval[]): GtidSet {
    const keys = new Set([...this.map.keys(), ...o.map.keys()]);
    const out = new Map<Tsid, GtidInterval[]>();
    for (const k of keys) out.set(k, f(this.map.get(k) ?? [], o.map.get(k) ?? []));
    return new GtidSet(out);
  }

  union(o: GtidSet): GtidSet {
    return this.combine(o, unionIntervals);
  }

  subtract(o: GtidSet): GtidSet {
    return this.combine(o, subtractIntervals);
  }

  intersect(o: GtidSet): GtidSet {
    return this.combine(o, intersectIntervals);
  }

  /** True when every GTID of o is in this set (o ⊆ this). */
  contains(o: GtidSet): boolean {
    return o.subtract(this).isEmpty();
  }

  equals(o: GtidSet): boolean {
    if (this.map.size !== o.map.size) return false;
    for (const [k, a] of this.map) {
      const b = o.map.get(k);
      if (!b || a.length !== b.length) return false;
      for (let i = 0; i < a.length; i++) if (a[i][0] !== b[i][0] || a[i][1] !== b[i][1]) return false;
    }
    return true;
  }

  isEmpty(): boolean {
    return this.map.size === 0;
  }

  /** Number of transactions in the set. */
  count(): bigint {
    let n = 0n;
    for (const list of this.map.values()) for (const [s, e] of list) n += e - s + 1n;
    return n;
  }

  /** Source UUIDs present (lowercase, ascending, each once even when tagged GTIDs exist). */
  uuids(): string[] {
    return [...new Set([...this.map.keys()].map((k) => k.split(':')[0]))].sort();
  }

  /** Intervals of one source (untagged unless tag is given). */
  intervals(uuid: string, tag = ''): GtidInterval[] {
    const key = tag ? `${uuid.toLowerCase()}:${tag.toLowerCase()}` : uuid.toLowerCase();
    return (this.map.get(key) ?? []).map(([s, e]) => [s, e] as const);
  }

  /** The subset whose source UUID is (or, with exclude, is not) the given one. */
  onlyUuid(uuid: string, o: { exclude?: boolean } = {}): GtidSet {
    const u = uuid.toLowerCase();
    const out = new Map<Tsid, GtidInterval[]>();
    for (const [k, v] of this.map) {
      const match = k.split(':')[0] === u;
      if (match !== !!o.exclude) out.set(k, [...v]);
    }
    return new GtidSet(out);
  }
}

/** Convenience: normalized text of a GTID set given as text. */
export function normalizeGtidText(text: string): string {
  return GtidSet.parse(text).toString();
}
