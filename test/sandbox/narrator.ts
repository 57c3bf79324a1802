/**
 * The sandbox's terminal output: one line per thing that happened, stamped with
 * the time since the fault, and a tag saying who did it (lab, heir, ENI, app).
 * Colours only when stdout is a terminal; plain lines otherwise (CI, pipes).
 * heir's own JSON log lines (pino) are rendered readably: verdicts with their
 * evidence, failover steps with timings.
 */
export type Tag = 'sandbox' | 'lab' | 'heir' | 'ENI' | 'HaVip' | 'app' | 'cli' | 'etcd' | 'mgr-a' | 'mgr-b';

const COLORS: Record<string, string> = {
  reset: '\x1b[0m', dim: '\x1b[2m', bold: '\x1b[1m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', blue: '\x1b[34m', magenta: '\x1b[35m', cyan: '\x1b[36m',
};
const TAG_COLOR: Record<Tag, string> = { sandbox: 'bold', lab: 'magenta', heir: 'cyan', ENI: 'blue', HaVip: 'blue', app: 'green', cli: 'cyan', etcd: 'yellow', 'mgr-a': 'cyan', 'mgr-b': 'yellow' };

export interface NarratorOptions {
  /** Write function (default: process.stdout). */
  write?: (s: string) => void;
  color?: boolean;
  /** Print nothing (benchmarks). */
  quiet?: boolean;
}

export class Narrator {
  private readonly write: (s: string) => void;
  private readonly color: boolean;
  private readonly quiet: boolean;
  /** Date.now() of time zero (the fault); null before it. */
  private zeroWall: number | null = null;
  private zeroPerf = 0;

  constructor(o: NarratorOptions = {}) {
    this.write = o.write ?? ((s) => process.stdout.write(s));
    this.color = o.color ?? (!!process.stdout.isTTY && !process.env.NO_COLOR);
    this.quiet = o.quiet ?? false;
  }

  /** Marks time zero (the fault). */
  zero(wall: number, perf: number): void {
    this.zeroWall = wall;
    this.zeroPerf = perf;
  }

  c(color: string, s: string): string {
    return this.color ? `${COLORS[color] ?? ''}${s}${COLORS.reset}` : s;
  }

  /** Time since the fault for a wall-clock time (ms since epoch). */
  stampWall(wall: number): string {
    if (this.zeroWall === null) return ''.padStart(9);
    const d = (wall - this.zeroWall) / 1000;
    return `${d >= 0 ? '+' : '-'}${Math.abs(d).toFixed(3)}s`.padStart(9);
  }

  stampPerf(perf: number): string {
    if (this.zeroWall === null) return ''.padStart(9);
    return this.stampWall(this.zeroWall + (perf - this.zeroPerf));
  }

  line(tag: Tag, text: string, o: { wall?: number; perf?: number; level?: 'info' | 'warn' | 'error' | 'good' | 'dim' } = {}): void {
    if (this.quiet) return;
    const stamp = o.perf !== undefined ? this.stampPerf(o.perf) : this.stampWall(o.wall ?? Date.now());
    const tagText = this.c(TAG_COLOR[tag], tag.padEnd(7));
    const colored = o.level === 'error' ? this.c('red', text) : o.level === 'warn' ? this.c('yellow', text) : o.level === 'good' ? this.c('green', text) : o.level === 'dim' ? this.c('dim', text) : text;
    const [first, ...rest] = colored.split('\n');
    this.write(`${this.c('dim', stamp)}  ${tagText} ${first}\n`);
    for (const r of rest) this.write(`${''.padStart(9)}  ${''.padEnd(7)}   ${r}\n`);
  }

  raw(text: string): void {
    if (!this.quiet) this.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  heading(text: string): void {
    if (this.quiet) return;
    this.write(`\n${this.c('bold', text)}\n`);
  }
}

/** One parsed pino line of heir's log. */
export interface LogLine {
  level: number;
  time?: string | number;
  msg?: string;
  [k: string]: unknown;
}

export function parseLogLine(text: string): LogLine | null {
  const t = text.trim();
  if (!t.startsWith('{')) return null;
  try {
    const v = JSON.parse(t) as LogLine;
    return typeof v === 'object' && v !== null && typeof v.level === 'number' ? v : null;
  } catch {
    return null;
  }
}

export function lineTime(l: LogLine): number {
  if (typeof l.time === 'number') return l.time;
  if (typeof l.time === 'string') {
    const t = Date.parse(l.time);
    if (Number.isFinite(t)) return t;
  }
  return Date.now();
}

interface EvidenceItem { source?: string; subject?: string; observation?: string; points?: string }

/** Renders one of heir's log lines; returns the text and level, or null to skip it. */
export function renderLogLine(l: LogLine): { text: string; level: 'info' | 'warn' | 'error' | 'good' | 'dim' } | null {
  const msg = String(l.msg ?? '');
  if (!msg) return null;
  const level = l.level >= 50 ? 'error' : l.level >= 40 ? 'warn' : 'info';
  if (l.event === 'verdict') {
    const ev = (Array.isArray(l.evidence) ? (l.evidence as EvidenceItem[]) : []).filter((e) => e && e.observation);
    const head = `VERDICT ${String(l.to)}${l.failoverAllowed ? ' — failover allowed' : ''}: ${String(l.reason ?? msg)}`;
    const conf = Array.isArray(l.confirmedBy) && l.confirmedBy.length ? `\nconfirmed by: ${(l.confirmedBy as unknown[]).map(String).join(', ')}` : '';
    const lines = ev.slice(0, 12).map((e) => `evidence: [${e.source ?? '?'}${e.subject ? ` ${e.subject}` : ''}] ${e.observation}${e.points ? ` → ${e.points}` : ''}`);
    return { text: `${head}${conf}${lines.length ? `\n${lines.join('\n')}` : ''}`, level: l.failoverAllowed ? 'error' : l.to === 'Healthy' ? 'good' : level };
  }
  if (typeof l.outcome === 'string' && msg.startsWith('failover ')) {
    return { text: msg, level: l.outcome === 'promoted' ? 'good' : 'error' };
  }
  return { text: msg, level };
}
