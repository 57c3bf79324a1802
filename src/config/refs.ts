/**
 * `${env:NAME}` and `${file:/path}` references in string values.
 *
 * A reference may be the whole value or embedded in it
 * ("mysql://${env:USER}@db"); `$${` stands for a literal `${`. File contents
 * lose one trailing newline; a relative file path is relative to the
 * configuration file's directory. A value that is exactly one reference
 * becomes a number or boolean where the schema wants one (port: ${env:PORT}).
 *
 * Resolved values are never put into messages: they are often secrets.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { suggest } from './suggest';

export interface RefIssue {
  path: PropertyKey[];
  message: string;
}

export interface RefOptions {
  env: NodeJS.ProcessEnv;
  baseDir: string;
  /** Schema type wanted at a path ('number', 'boolean', ...), to convert whole-value references. */
  kindAt?: (path: PropertyKey[]) => string | undefined;
  readFile?: (file: string) => string;
}

const REF = /\$\$\{|\$\{([A-Za-z]+):([^}]*)\}/g;
const KINDS = ['env', 'file'];

export interface RefResult {
  data: unknown;
  issues: RefIssue[];
  /** Paths whose value came (partly) from a reference. */
  resolved: PropertyKey[][];
  /** Paths whose reference could not be resolved (their schema errors are not reported). */
  failed: PropertyKey[][];
}

export function resolveRefs(data: unknown, o: RefOptions): RefResult {
  const out: RefResult = { data: undefined, issues: [], resolved: [], failed: [] };
  const readFile = o.readFile ?? ((f: string) => fs.readFileSync(f, 'utf8'));

  const resolveString = (s: string, p: PropertyKey[]): unknown => {
    if (!s.includes('${')) return s;
    let whole = false;
    let failed = false;
    let used = false;
    REF.lastIndex = 0;
    const wholeMatch = /^\$\{(env|file):[^}]*\}$/.exec(s);
    if (wholeMatch) whole = true;
    const text = s.replace(REF, (m: string, kind: string | undefined, arg: string | undefined) => {
      if (m === '$${') return '${';
      if (kind === undefined || arg === undefined) return m;
      if (!KINDS.includes(kind)) {
        const near = suggest(kind, KINDS);
        if (near) {
          failed = true;
          out.issues.push({ path: p, message: `unknown reference \${${kind}:...} (did you mean \${${near}:...}?)` });
        }
        return m; // not ours (a shell ${VAR:-x} in a command, for instance)
      }
      used = true;
      if (kind === 'env') {
        const name = arg.trim();
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
          failed = true;
          out.issues.push({ path: p, message: `\${env:${arg}}: not a valid environment variable name` });
          return '';
        }
        const v = o.env[name];
        if (v === undefined) {
          failed = true;
          out.issues.push({ path: p, message: `\${env:${name}}: environment variable ${name} is not set` });
          return '';
        }
        return v;
      }
      const rel = arg.trim();
      if (!rel) {
        failed = true;
        out.issues.push({ path: p, message: '${file:}: no file name given' });
        return '';
      }
      const file = path.resolve(o.baseDir, rel);
      try {
        let content = readFile(file);
        if (content.endsWith('\r\n')) content = content.slice(0, -2);
        else if (content.endsWith('\n')) content = content.slice(0, -1);
        return content;
      } catch (e) {
        failed = true;
        out.issues.push({ path: p, message: `\${file:${rel}}: cannot read ${file}: ${describeFsError(e)}` });
        return '';
      }
    });
    if (failed) {
      out.failed.push(p);
      return text;
    }
    if (!used) return text;
    out.resolved.push(p);
    if (whole && o.kindAt) {
      const kind = o.kindAt(p);
      if (kind === 'number' && /^\s*-?\d+(\.\d+)?\s*$/.test(text)) return Number(text);
      if (kind === 'boolean' && /^\s*(true|false)\s*$/i.test(text)) return text.trim().toLowerCase() === 'true';
    }
    return text;
  };

  const walk = (v: unknown, p: PropertyKey[]): unknown => {
    if (typeof v === 'string') return resolveString(v, p);
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...p, i]));
    if (v && typeof v === 'object') {
      const r: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) r[k] = walk(x, [...p, k]);
      return r;
    }
    return v;
  };
  out.data = walk(data, []);
  return out;
}

export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied for this user (${code}); check the file's owner and mode`;
    case 'EISDIR':
      return 'is a directory (EISDIR)';
    default:
      return code ?? (e instanceof Error ? e.message : String(e));
  }
}
