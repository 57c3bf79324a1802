/**
 * Binary log coordinates (file + position), compared as MySQL orders them:
 * by the file's numeric index (the digits after the last '.', e.g.
 * binlog.000123 → 123, so binlog.1000000 comes after binlog.999999), then by
 * position. Files without a numeric index fall back to text order.
 */
import type { BinlogCoordinates } from './types';

/** Numeric index of a binlog file name (binlog.000042 → 42), or undefined. */
export function binlogIndex(file: string): number | undefined {
  const m = /\.(\d+)$/.exec(file);
  return m ? Number(m[1]) : undefined;
}

/** Base name without the index (binlog.000042 → 'binlog'). */
export function binlogBase(file: string): string {
  const m = /^(.*)\.\d+$/.exec(file);
  return m ? m[1] : file;
}

function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * -1 when a is before b, 0 when equal, 1 when after. Coordinates are only
 * comparable within one server's binlog series; if the base names differ the
 * index still decides, and the base name breaks ties.
 */
export function compareCoords(a: BinlogCoordinates, b: BinlogCoordinates): -1 | 0 | 1 {
  const ia = binlogIndex(a.file);
  const ib = binlogIndex(b.file);
  if (ia !== undefined && ib !== undefined) {
    if (ia !== ib) return sign(ia - ib);
    const ba = binlogBase(a.file);
    const bb = binlogBase(b.file);
    if (ba !== bb) return ba < bb ? -1 : 1;
  } else if (a.file !== b.file) {
    return a.file < b.file ? -1 : 1;
  }
  return sign(a.pos - b.pos);
}

export function coordsEqual(a: BinlogCoordinates | null | undefined, b: BinlogCoordinates | null | undefined): boolean {
  if (!a || !b) return false;
  return compareCoords(a, b) === 0;
}

export function formatCoords(c: BinlogCoordinates | null | undefined): string {
  return c ? `${c.file}:${c.pos}` : '-';
}

/** Coordinates read back from JSON (a report, a journal): `{file, pos}` of the right types, else undefined. */
export function asCoords(v: unknown): BinlogCoordinates | undefined {
  const o = v as { file?: unknown; pos?: unknown } | null | undefined;
  return o && typeof o.file === 'string' && typeof o.pos === 'number' ? { file: o.file, pos: o.pos } : undefined;
}
