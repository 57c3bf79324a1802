/**
 * Loading heir's configuration: YAML → references resolved → schema → checks
 * across fields → HeirConfig. A bad file is rejected with every problem at
 * once (ConfigError), each naming the field path and the line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ClusterConfig, GlobalSettings, HeirConfig } from './schema';
import { ConfigError, formatPath, type ConfigIssue } from './errors';
import { Locator } from './locate';
import { resolveRefs, describeFsError } from './refs';
import { kindOf, schemaAt, shapeOf, unionOptions } from './schema-walk';
import { suggest } from './suggest';
import { checkConfig } from './checks';

export interface LoadOptions {
  /** Environment for ${env:} references (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative ${file:} paths start from (default: the config file's, or the cwd). */
  baseDir?: string;
  /** Name used in messages (default: the path, or '<config>'). */
  sourceName?: string;
}

export interface Validated {
  config: HeirConfig;
  /** Things that load but that a DBA should look at. */
  warnings: ConfigIssue[];
  /** The source name used in issues (the file path). */
  source: string;
}

/** Default configuration path: $HEIR_CONFIG, else /etc/heir/heir.yaml. */
export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.HEIR_CONFIG || '/etc/heir/heir.yaml';
}

export function loadConfig(file: string, o: { env?: NodeJS.ProcessEnv } = {}): HeirConfig {
  return loadConfigWithWarnings(file, o).config;
}

export function loadConfigWithWarnings(file: string, o: { env?: NodeJS.ProcessEnv } = {}): Validated {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the configuration file: ${describeFsError(e)}` }]);
  }
  return validateConfigText(text, { env: o.env, baseDir: path.dirname(path.resolve(file)), sourceName: file });
}

export function parseConfigText(text: string, o: LoadOptions = {}): HeirConfig {
  return validateConfigText(text, o).config;
}

export function validateConfigText(text: string, o: LoadOptions = {}): Validated {
  const source = o.sourceName ?? '<config>';
  const env = o.env ?? process.env;
  const baseDir = o.baseDir ?? process.cwd();

  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, merge: true, uniqueKeys: true });
  const loc = new Locator(doc, lc);

  // 1. YAML syntax. Nothing else is reliable when the file does not parse.
  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => ({ path: '', line: loc.lineAt(e.pos?.[0]), message: `YAML: ${firstLine(e.message)}` })),
    );
  }
  let raw: unknown;
  try {
    // Anchors shared by thousands of clusters (`mysql: *creds`) are ordinary in a large
    // fleet; the bound still stops an exponential alias expansion.
    raw = doc.toJS({ maxAliasCount: 100_000 });
  } catch (e) {
    throw new ConfigError(source, [{ path: '', message: `YAML: ${firstLine((e as Error).message)}` }]);
  }
  if (raw === null || raw === undefined) {
    throw new ConfigError(source, [{ path: '', message: 'the file is empty; expected heir: (optional) and clusters:' }]);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(source, [{ path: '', line: 1, message: 'the top level must be a mapping with the keys heir: (optional) and clusters:' }]);
  }

  const issues: ConfigIssue[] = [];
  const at = (p: PropertyKey[], key = false): ConfigIssue['line'] => loc.line(p, { key });

  // 2. ${env:} and ${file:} references.
  const refs = resolveRefs(raw, {
    env,
    baseDir,
    kindAt: (p) => {
      const s = schemaAt(HeirConfig, raw, p);
      return s ? kindOf(s) : undefined;
    },
  });
  for (const r of refs.issues) issues.push({ path: formatPath(r.path), line: at(r.path), message: r.message });
  const failed = new Set(refs.failed.map((p) => formatPath(p)));
  const data = refs.data as Record<string, unknown>;

  // 3. The schema.
  const parsed = HeirConfig.safeParse(data);
  if (!parsed.success) {
    for (const zi of parsed.error.issues) {
      for (const i of describeZodIssue(zi, data)) {
        if (failed.has(formatPath(i.path))) continue; // already reported: the reference
        issues.push({ path: formatPath(i.path), line: at(i.path, i.key), message: i.message });
      }
    }
  }

  // 4. Checks across fields, on whatever parts passed the schema.
  const rawClusters = Array.isArray(data.clusters) ? (data.clusters as unknown[]) : [];
  const heir = parsed.success ? parsed.data.heir : GlobalSettings.safeParse(data.heir ?? {}).data;
  const clusters = parsed.success
    ? parsed.data.clusters
    : rawClusters.map((c) => {
        const r = ClusterConfig.safeParse(c);
        return r.success ? r.data : undefined;
      });
  const checked = checkConfig({
    heir,
    clusters,
    raw: rawClusters,
  });
  for (const e of checked.errors) issues.push({ path: formatPath(e.path), line: at(e.path, e.key), message: e.message });

  if (issues.length || !parsed.success) throw new ConfigError(source, issues);
  return {
    config: parsed.data,
    source,
    warnings: checked.warnings.map((w) => ({ path: formatPath(w.path), line: at(w.path, w.key), message: w.message })),
  };
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

interface Described {
  path: PropertyKey[];
  message: string;
  key?: boolean;
}

function valueAt(root: unknown, p: readonly PropertyKey[]): { present: boolean; value: unknown } {
  let cur: unknown = root;
  for (const k of p) {
    if (cur === null || typeof cur !== 'object' || !(k in (cur as object))) return { present: false, value: undefined };
    cur = (cur as Record<PropertyKey, unknown>)[k as string];
  }
  return { present: true, value: cur };
}

function typeName(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true/false';
    case 'object':
      return 'a mapping';
    default:
      return typeof v;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping (key: value lines)',
  array: 'a list (- item lines)',
  record: 'a mapping (key: value lines)',
};

/** A zod issue in a DBA's words. Never echoes the configured value. */
function describeZodIssue(zi: z.core.$ZodIssue, data: unknown): Described[] {
  const p = zi.path as PropertyKey[];
  switch (zi.code) {
    case 'unrecognized_keys': {
      const shape = shapeOf(schemaAt(HeirConfig, data, p) ?? HeirConfig, valueAt(data, p).value);
      const allowed = shape ? Object.keys(shape) : [];
      return zi.keys.map((k) => {
        const near = suggest(k, allowed);
        const hint = near ? `did you mean '${near}'?` : allowed.length ? `allowed here: ${allowed.join(', ')}` : '';
        return { path: [...p, k], key: true, message: `unknown key '${k}'${hint ? ` (${hint})` : ''}` };
      });
    }
    case 'invalid_type': {
      const { present, value } = valueAt(data, p);
      const expected = EXPECTED[zi.expected] ?? zi.expected;
      if (!present || value === undefined) {
        const last = p[p.length - 1];
        return [{ path: p, message: typeof last === 'number' ? `expected ${expected}` : `required key '${String(last)}' is missing` }];
      }
      let hint = '';
      if (zi.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')) hint = ' (put it in quotes)';
      if (zi.expected === 'number' && typeof value === 'string') hint = ' (write it without quotes)';
      if (zi.expected === 'boolean' && typeof value === 'string') hint = ' (write true or false, without quotes)';
      return [{ path: p, message: `expected ${expected}, got ${typeName(value)}${hint}` }];
    }
    case 'invalid_value': {
      const options = zi.values.map(String);
      const { value } = valueAt(data, p);
      const near = typeof value === 'string' ? suggest(value, options) : undefined;
      return [{ path: p, message: `must be one of: ${options.join(', ')}${near ? ` (did you mean '${near}'?)` : ''}` }];
    }
    case 'invalid_union': {
      const disc = (zi as { discriminator?: string }).discriminator;
      if (disc) {
        const parentPath = p[p.length - 1] === disc ? p.slice(0, -1) : p;
        const unionSchema = schemaAt(HeirConfig, data, parentPath);
        const options = unionSchema ? unionOptions(unionSchema).map((o) => o.value) : [];
        const { present, value } = valueAt(data, [...parentPath, disc]);
        if (!present) return [{ path: [...parentPath, disc], message: `required key '${disc}' is missing (one of: ${options.join(', ')})` }];
        const near = typeof value === 'string' ? suggest(value, options) : undefined;
        return [{ path: [...parentPath, disc], message: `must be one of: ${options.join(', ')}${near ? ` (did you mean '${near}'?)` : ''}` }];
      }
      return [{ path: p, message: zi.message }];
    }
    case 'invalid_format': {
      if (zi.format === 'url') return [{ path: p, message: 'expected a URL (https://...)' }];
      if (zi.format === 'regex' && zi.message.startsWith('Invalid string')) return [{ path: p, message: `does not match the pattern ${(zi as { pattern?: string }).pattern ?? ''}` }];
      return [{ path: p, message: zi.message }];
    }
    case 'too_small':
    case 'too_big': {
      const key = zi.code === 'too_small' ? 'minimum' : 'maximum';
      const bound = String((zi as unknown as Record<string, unknown>)[key]);
      const cmp = zi.code === 'too_small' ? (zi.inclusive ? 'at least' : 'more than') : zi.inclusive ? 'at most' : 'less than';
      if (zi.origin === 'number' || zi.origin === 'int' || zi.origin === 'bigint') {
        if (zi.message.startsWith('Too ')) return [{ path: p, message: `must be ${cmp} ${bound}` }];
      }
      if (zi.origin === 'string' && zi.message.startsWith('Too ')) {
        return [{ path: p, message: bound === '1' && zi.code === 'too_small' ? 'must not be empty' : `must be ${cmp} ${bound} characters long` }];
      }
      if (zi.origin === 'array' && zi.message.startsWith('Too ')) return [{ path: p, message: `needs ${cmp} ${bound} item(s)` }];
      return [{ path: p, message: zi.message }];
    }
    default:
      return [{ path: p, message: zi.message }];
  }
}

/** findCluster could not pick a cluster: the name is unknown, or none was given among several. */
export class UnknownClusterError extends Error {
  override readonly name = 'UnknownClusterError';
  constructor(
    message: string,
    readonly known: string[],
  ) {
    super(message);
  }
}

/** The cluster called `name`; with one cluster and no name, that one. Throws UnknownClusterError. */
export function findCluster(cfg: HeirConfig, name?: string): ClusterConfig {
  const names = cfg.clusters.map((c) => c.name);
  if (name === undefined || name === '') {
    if (cfg.clusters.length === 1) return cfg.clusters[0]!;
    throw new UnknownClusterError(`the configuration has ${cfg.clusters.length} clusters; choose one with --cluster NAME: ${names.join(', ')}`, names);
  }
  const c = cfg.clusters.find((x) => x.name === name);
  if (c) return c;
  const near = suggest(name, names);
  throw new UnknownClusterError(`no cluster named '${name}' in the configuration${near ? ` (did you mean '${near}'?)` : ''}; clusters: ${names.join(', ')}`, names);
}
