/** heir's version, from the package.json next to the build. */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;

export function heirVersion(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'heir' && pkg.version) return (cached = pkg.version);
    } catch {
      /* keep looking upwards */
    }
    dir = path.dirname(dir);
  }
  return (cached = '0.0.0-unknown');
}
