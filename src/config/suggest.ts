/** "Did you mean" suggestions for mistyped keys and values. */

/** Damerau-Levenshtein distance (optimal string alignment): a swap of two letters counts as one edit. */
export function editDistance(a: string, b: string): number {
  const n = a.length;
  const m = b.length;
  if (n === 0) return m;
  if (m === 0) return n;
  const d: number[][] = [];
  for (let i = 0; i <= n; i++) {
    d.push(new Array<number>(m + 1).fill(0));
    d[i]![0] = i;
  }
  for (let j = 0; j <= m; j++) d[0]![j] = j;
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[n]![m]!;
}

/**
 * The closest candidate to `input`, if it is close enough to be a typo:
 * case/separator differences (failOver, fail-over) always match; otherwise at
 * most a third of the word's letters may differ (at least one, at most three).
 */
export function suggest(input: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_ ]/g, '');
  const ni = norm(input);
  for (const c of candidates) if (norm(c) === ni && c !== input) return c;
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(input.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = Math.min(3, Math.max(1, Math.floor(Math.max(input.length, best.length) / 3)));
  if (bestD <= limit) return best;
  // A prefix or containment is a common slip too (enable vs enabled, timeout vs timeout_ms).
  for (const c of candidates) {
    if (ni.length >= 4 && (norm(c).startsWith(ni) || ni.startsWith(norm(c)))) return c;
  }
  return undefined;
}
