/**
 * Configuration errors: every problem of a file at once, each with the field
 * path (clusters[0].nodes[1].promotion) and, where known, the line.
 *
 * Messages never contain configured values: a value may be a secret resolved
 * from ${env:} or ${file:}.
 */

export interface ConfigIssue {
  /** Field path as a DBA reads it: clusters[0].nodes[1].promotion ('' for the whole file). */
  path: string;
  /** 1-based line in the configuration file, when the field (or its parent) is in the file. */
  line?: number;
  message: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly issues: ConfigIssue[];
  /** The file (or source name) the issues refer to. */
  readonly source: string;

  constructor(source: string, issues: ConfigIssue[]) {
    super(formatIssues(source, issues));
    this.source = source;
    this.issues = sortIssues(issues);
  }
}

/** `file:line: path: message`, one line per issue (line and path left out when unknown). */
export function formatIssue(source: string, i: ConfigIssue): string {
  const where = i.line !== undefined ? `${source}:${i.line}` : source;
  return i.path ? `${where}: ${i.path}: ${i.message}` : `${where}: ${i.message}`;
}

export function formatIssues(source: string, issues: ConfigIssue[]): string {
  return sortIssues(issues)
    .map((i) => formatIssue(source, i))
    .join('\n');
}

/** In file order (issues without a line last), stable otherwise. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, idx) => ({ issue, idx }))
    .sort((a, b) => {
      const la = a.issue.line ?? Number.MAX_SAFE_INTEGER;
      const lb = b.issue.line ?? Number.MAX_SAFE_INTEGER;
      return la - lb || a.idx - b.idx;
    })
    .map((x) => x.issue);
}

/** clusters[0].nodes[1].promotion from ['clusters', 0, 'nodes', 1, 'promotion']. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else {
      const s = String(p);
      const plain = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(s);
      out += plain ? (out ? `.${s}` : s) : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}
