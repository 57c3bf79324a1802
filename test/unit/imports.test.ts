/**
 * No module of src/ imports itself through others (type imports and re-exports included):
 * each folder owns one idea, and a circle between two files means the idea is split wrongly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const SRC = path.join(__dirname, '..', '..', '..', 'src');

function tsFiles(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The file a relative specifier names: x.ts or x/index.ts. */
function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
}

test('no import circles in src/', () => {
  const graph = new Map<string, string[]>();
  for (const f of tsFiles(SRC)) {
    const text = fs.readFileSync(f, 'utf8');
    const deps = [...text.matchAll(/(?:import|export)[^;]*?from\s+'(\.{1,2}\/[^']+)'/g)].map((m) => resolve(f, m[1]!)).filter((d): d is string => !!d);
    graph.set(f, deps);
  }
  assert.ok(graph.size > 100 && [...graph.values()].some((d) => d.length > 5), `imports were read (${graph.size} files)`);
  const circles = new Set<string>();
  const state = new Map<string, 'open' | 'done'>();
  const visit = (f: string, trail: string[]) => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      circles.add([...trail.slice(trail.indexOf(f)), f].map((x) => path.relative(SRC, x)).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...trail, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual([...circles], []);
});
