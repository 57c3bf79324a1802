/** heir's version, from the package.json next to the build; its git commit when run from a checkout. */
import * as fs from 'node:fs';
import * as path from 'node:path';

let cached: string | undefined;
let packageDir: string | undefined;

export function heirVersion(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, 'package.json');
    try {
      const pkg = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'heir' && pkg.version) {
        packageDir = dir;
        return (cached = pkg.version);
      }
    } catch {
      /* keep looking upwards */
    }
    dir = path.dirname(dir);
  }
  return (cached = '0.0.0-unknown');
}

let revision: string | null | undefined;

/**
 * The git commit heir runs from, when its package folder is a git checkout (read from .git, no git
 * command); null otherwise (an npm or Docker install).
 */
export function heirRevision(): string | null {
  if (revision !== undefined) return revision;
  heirVersion();
  return (revision = packageDir ? gitHead(packageDir) : null);
}

/** The commit HEAD of the checkout at dir names: a detached HEAD, a loose ref or a packed one. */
export function gitHead(dir: string): string | null {
  const read = (p: string) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return null;
    }
  };
  let gitDir = path.join(dir, '.git');
  const link = read(gitDir); // a worktree: ".git" is a file "gitdir: <path>"
  if (link !== null) {
    const m = /^gitdir: (.+)$/m.exec(link);
    if (!m) return null;
    gitDir = path.resolve(dir, m[1]!.trim());
  }
  const head = read(path.join(gitDir, 'HEAD'))?.trim();
  if (!head) return null;
  if (/^[0-9a-f]{40,64}$/.test(head)) return head;
  const ref = /^ref: (refs\/\S+)$/.exec(head)?.[1];
  if (!ref) return null;
  const common = read(path.join(gitDir, 'commondir'))?.trim();
  for (const d of common ? [gitDir, path.resolve(gitDir, common)] : [gitDir]) {
    const loose = read(path.join(d, ref))?.trim();
    if (loose && /^[0-9a-f]{40,64}$/.test(loose)) return loose;
    const packed = read(path.join(d, 'packed-refs'));
    const hit = packed?.split('\n').find((l) => l.endsWith(` ${ref}`));
    if (hit && /^[0-9a-f]{40,64} /.test(hit)) return hit.split(' ')[0]!;
  }
  return null;
}
