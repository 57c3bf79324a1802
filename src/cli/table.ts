/** Plain-text tables for a terminal (no colours, no dependencies). */

export interface Column<Row> {
  header: string;
  /** Cell text; default: String(row[key]) for object rows. */
  get?: (row: Row) => unknown;
  key?: keyof Row & string;
  align?: 'left' | 'right';
  /** Cut longer cells with an ellipsis. */
  maxWidth?: number;
}

const ANSI = /\x1b\[[0-9;]*m/g;

/** Display width: ANSI sequences count zero, East Asian wide characters two. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s.replace(ANSI, '')) {
    const cp = ch.codePointAt(0)!;
    if (cp < 32 || (cp >= 0x7f && cp < 0xa0) || (cp >= 0x300 && cp <= 0x36f)) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.map(cellText).join(', ');
  return String(v).replace(/\r?\n/g, ' ');
}

function truncate(s: string, max: number): string {
  if (displayWidth(s) <= max) return s;
  let out = '';
  for (const ch of s) {
    if (displayWidth(out + ch) > max - 1) break;
    out += ch;
  }
  return out + '…';
}

function pad(s: string, width: number, align: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(s)));
  return align === 'right' ? fill + s : s + fill;
}

/**
 * Renders rows under upper-case headers, columns separated by two spaces,
 * no trailing blanks. Returns '' + header only when there are no rows.
 */
export function renderTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((r) =>
    columns.map((c) => {
      const raw = c.get ? c.get(r) : c.key ? (r as Record<string, unknown>)[c.key] : '';
      const t = cellText(raw);
      return c.maxWidth ? truncate(t, c.maxWidth) : t;
    }),
  );
  const headers = columns.map((c) => c.header.toUpperCase());
  const widths = columns.map((_, i) => Math.max(displayWidth(headers[i]!), ...cells.map((row) => displayWidth(row[i]!))));
  const line = (row: string[]) =>
    row
      .map((cell, i) => pad(cell, i === row.length - 1 && columns[i]!.align !== 'right' ? 0 : widths[i]!, columns[i]!.align ?? 'left'))
      .join('  ')
      .replace(/\s+$/, '');
  return [line(headers), ...cells.map(line)].join('\n');
}

/** "key: value" lines with the keys aligned. */
export function renderKeyValues(pairs: readonly [string, unknown][]): string {
  const w = Math.max(0, ...pairs.map(([k]) => displayWidth(k)));
  return pairs.map(([k, v]) => `${pad(k + ':', w + 1, 'left')} ${cellText(v)}`.replace(/\s+$/, '')).join('\n');
}
