/**
 * MariaDB GTID positions, as plain values.
 *
 * A MariaDB GTID is domain-server-seq (e.g. 0-1-42). A *position* such as
 * @@gtid_binlog_pos, @@gtid_slave_pos, @@gtid_current_pos or Gtid_IO_Pos is a
 * comma-separated list holding the last GTID per replication domain, so it has
 * at most one entry per domain. Sequence numbers are unsigned 64-bit, hence
 * bigint. Within a domain, seq orders transactions; the server id only says
 * which server wrote the transaction.
 */

export interface MariaGtid {
  domain: number;
  server: number;
  seq: bigint;
}

export class MariaGtidParseError extends Error {
  constructor(
    message: string,
    readonly text: string,
    readonly part: string,
  ) {
    super(message);
    this.name = 'MariaGtidParseError';
  }
}

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;

function shorten(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

export class MariaGtidPos {
  /** By domain; one entry each. */
  private readonly byDomain: ReadonlyMap<number, MariaGtid>;

  private constructor(entries: Map<number, MariaGtid>) {
    this.byDomain = entries;
  }

  static empty(): MariaGtidPos {
    return new MariaGtidPos(new Map());
  }

  static of(entries: MariaGtid[]): MariaGtidPos {
    const m = new Map<number, MariaGtid>();
    for (const e of entries) {
      if (m.has(e.domain)) throw new MariaGtidParseError(`invalid MariaDB GTID position: domain ${e.domain} appears twice`, '', String(e.domain));
      m.set(e.domain, { ...e });
    }
    return new MariaGtidPos(m);
  }

  /** Parses 'domain-server-seq[,domain-server-seq...]'; '' is the empty position. */
  static parse(text: string): MariaGtidPos {
    if (typeof text !== 'string') {
      throw new MariaGtidParseError(`invalid MariaDB GTID position: expected text, got ${typeof text}`, String(text), String(text));
    }
    const m = new Map<number, MariaGtid>();
    if (text.trim() === '') return new MariaGtidPos(m);
    for (const raw of text.split(',')) {
      const part = raw.trim();
      const match = /^(\d+)\s*-\s*(\d+)\s*-\s*(\d+)$/.exec(part);
      if (!match) {
        throw new MariaGtidParseError(
          `invalid MariaDB GTID position: '${shorten(part)}' is not domain-server-seq in "${shorten(text)}"`,
          text,
          part,
        );
      }
      const domain = Number(match[1]);
      const server = Number(match[2]);
      const seq = BigInt(match[3]);
      if (domain > U32_MAX || server > U32_MAX || seq > U64_MAX) {
        throw new MariaGtidParseError(
          `invalid MariaDB GTID position: '${part}' is out of range (domain and server are 32-bit, seq 64-bit) in "${shorten(text)}"`,
          text,
          part,
        );
      }
      if (m.has(domain)) {
        throw new MariaGtidParseError(
          `invalid MariaDB GTID position: domain ${domain} appears twice ('${m.get(domain)!.domain}-${m.get(domain)!.server}-${m.get(domain)!.seq}' and '${part}') in "${shorten(text)}"`,
          text,
          part,
        );
      }
      m.set(domain, { domain, server, seq });
    }
    return new MariaGtidPos(m);
  }

  static tryParse(text: string): MariaGtidPos | undefined {
    try {
      return MariaGtidPos.parse(text);
    } catch {
      return undefined;
    }
  }

  /** Entries sorted by domain, joined by ','. */
  toString(): string {
    return this.entries()
      .map((e) => `${e.domain}-${e.server}-${e.seq}`)
      .join(',');
  }

  toJSON(): string {
    return this.toString();
  }

  entries(): MariaGtid[] {
    return [...this.byDomain.values()].sort((a, b) => a.domain - b.domain).map((e) => ({ ...e }));
  }

  domains(): number[] {
    return [...this.byDomain.keys()].sort((a, b) => a - b);
  }

  get(domain: number): { server: number; seq: bigint } | undefined {
    const e = this.byDomain.get(domain);
    return e ? { server: e.server, seq: e.seq } : undefined;
  }

  isEmpty(): boolean {
    return this.byDomain.size === 0;
  }

  /** For every domain in o, this position has the domain with seq >= o's seq. */
  contains(o: MariaGtidPos): boolean {
    for (const [d, e] of o.byDomain) {
      // A domain this position lacks counts as seq 0 (nothing in it), as in behind().
      const mine = this.byDomain.get(d)?.seq ?? 0n;
      if (mine < e.seq) return false;
    }
    return true;
  }

  /** Per-domain maximum. On equal seq this position's entry is kept. */
  max(o: MariaGtidPos): MariaGtidPos {
    const m = new Map<number, MariaGtid>();
    for (const [d, e] of this.byDomain) m.set(d, { ...e });
    for (const [d, e] of o.byDomain) {
      const mine = m.get(d);
      if (!mine || e.seq > mine.seq) m.set(d, { ...e });
    }
    return new MariaGtidPos(m);
  }

  /** Same domains, and per domain the same server and seq. */
  equals(o: MariaGtidPos): boolean {
    if (this.byDomain.size !== o.byDomain.size) return false;
    for (const [d, e] of this.byDomain) {
      const x = o.byDomain.get(d);
      if (!x || x.server !== e.server || x.seq !== e.seq) return false;
    }
    return true;
  }

  /**
   * What o has beyond this position, per domain: seqs in (from, to]. A domain
   * this position lacks is reported with from = 0.
   */
  behind(o: MariaGtidPos): { domain: number; from: bigint; to: bigint }[] {
    const out: { domain: number; from: bigint; to: bigint }[] = [];
    for (const d of o.domains()) {
      const theirs = o.byDomain.get(d)!;
      const mine = this.byDomain.get(d);
      const from = mine ? mine.seq : 0n;
      if (theirs.seq > from) out.push({ domain: d, from, to: theirs.seq });
    }
    return out;
  }

  /** Total number of sequence numbers o has beyond this position (sum over domains). */
  distance(o: MariaGtidPos): bigint {
    return this.behind(o).reduce((n, b) => n + (b.to - b.from), 0n);
  }
}

/**
 * A GTID *list* such as @@gtid_binlog_state: the last GTID per (domain, server_id),
 * so a domain may appear several times. '' is the empty list; undefined when unparsable.
 */
export function parseGtidList(text: string): MariaGtid[] | undefined {
  if (text.trim() === '') return [];
  const out: MariaGtid[] = [];
  for (const raw of text.split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(raw);
    if (!m) return undefined;
    out.push({ domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]) });
  }
  return out;
}

/** A GTID list as the server writes it: domain-server-seq, comma-separated. */
export function gtidListText(list: MariaGtid[]): string {
  return list.map((e) => `${e.domain}-${e.server}-${e.seq}`).join(',');
}

/**
 * Errant transactions from gtid_binlog_state, which keeps the last GTID of every
 * (domain, server_id) a server's binlog holds, where gtid_binlog_pos keeps only
 * the last per domain (a local write followed by replicated ones vanishes from
 * it). An entry of `own` written by the node itself (server `self`) is errant
 * unless some other server's binlog state (`others`: the master's, the other
 * replicas') holds that server's transactions up to the same seq or later: a
 * former master's writes reached the others' binlogs, a local write did not.
 * The same seq as the master's in that domain, from another server, is errant too.
 */
export function errantFromBinlogStates(own: MariaGtid[], self: number, others: MariaGtid[][]): MariaGtid[] {
  const seen = new Map<string, bigint>();
  for (const list of others) {
    for (const e of list) {
      const k = `${e.domain}-${e.server}`;
      if ((seen.get(k) ?? -1n) < e.seq) seen.set(k, e.seq);
    }
  }
  return own.filter((e) => e.server === self && (seen.get(`${e.domain}-${e.server}`) ?? -1n) < e.seq);
}
