/**
 * config/cluster.example.yaml is the reference documentation of every key:
 * it must load, mention every key of the schema, and comment each one.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { loadConfigWithWarnings } from '../../src/config';
import { HeirConfig } from '../../src/config/schema';
import { defOf, kindOf, unionOptions, unwrap } from '../../src/config/schema-walk';
import { Locator } from '../../src/config/locate';

const EXAMPLE = path.join(__dirname, '..', '..', '..', 'config', 'cluster.example.yaml');

interface KeyInfo {
  /** clusters[].address<eni>.eni_id */
  path: string;
  key: string;
  hasDefault: boolean;
  isObject: boolean;
}

/** Every key the schema allows, with union options marked <type>. */
function schemaKeys(s: z.ZodType, prefix: string, out: KeyInfo[] = []): KeyInfo[] {
  const u = unwrap(s);
  const d = defOf(u);
  if (d.type === 'object') {
    for (const [k, child] of Object.entries(d.shape!)) {
      const p = prefix ? `${prefix}.${k}` : k;
      const ck = kindOf(child);
      const wrapped = defOf(child).type;
      out.push({ path: p, key: k, hasDefault: wrapped === 'default' || wrapped === 'prefault', isObject: ck === 'object' || ck === 'union' || ck === 'array' || ck === 'record' });
      schemaKeys(child, p, out);
    }
  } else if (d.type === 'array') {
    schemaKeys(d.element!, `${prefix}[]`, out);
  } else if (d.type === 'union') {
    for (const o of unionOptions(u)) schemaKeys(o.schema, `${prefix}<${o.value}>`, out);
  }
  return out;
}

/** Key paths present in the data, in the same notation, with the YAML path of one occurrence each. */
function dataKeys(s: z.ZodType, data: unknown, prefix: string, yamlPath: PropertyKey[], out: Map<string, PropertyKey[][]>): void {
  const u = unwrap(s);
  const d = defOf(u);
  if (d.type === 'object' && data && typeof data === 'object') {
    for (const [k, v] of Object.entries(data)) {
      const p = prefix ? `${prefix}.${k}` : k;
      const list = out.get(p) ?? [];
      list.push([...yamlPath, k]);
      out.set(p, list);
      const child = d.shape![k];
      if (child) dataKeys(child, v, p, [...yamlPath, k], out);
    }
  } else if (d.type === 'array' && Array.isArray(data)) {
    data.forEach((x, i) => dataKeys(d.element!, x, `${prefix}[]`, [...yamlPath, i], out));
  } else if (d.type === 'union' && data && typeof data === 'object') {
    const t = (data as Record<string, unknown>)[d.discriminator!];
    const o = unionOptions(u).find((x) => x.value === t);
    if (o) dataKeys(o.schema, data, `${prefix}<${o.value}>`, yamlPath, out);
  }
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function exampleSetup(): { file: string; env: NodeJS.ProcessEnv } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-example-'));
  dirs.push(dir);
  let text = fs.readFileSync(EXAMPLE, 'utf8');
  // Absolute secret files move under the temporary directory; every reference gets a value.
  text = text.replace(/\$\{file:\/etc\/heir\//g, () => `\${file:${dir}/etc/heir/`);
  const env: NodeJS.ProcessEnv = {};
  for (const m of text.matchAll(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g)) {
    env[m[1]!] = m[1] === 'SLACK_WEBHOOK_URL' ? 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX' : `value-of-${m[1]}`;
  }
  for (const m of text.matchAll(/\$\{file:([^}]+)\}/g)) {
    const f = path.resolve(dir, m[1]!);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, `content-of-${path.basename(f)}\n`);
  }
  const file = path.join(dir, 'heir.yaml');
  fs.writeFileSync(file, text);
  return { file, env };
}

test('the example configuration validates, without warnings', () => {
  const { file, env } = exampleSetup();
  const v = loadConfigWithWarnings(file, { env });
  assert.deepEqual(v.warnings, []);
  assert.deepEqual(
    v.config.clusters.map((c) => [c.name, c.address.type, c.nodes.length]),
    [
      ['orders', 'eni', 3],
      ['billing', 'script', 2],
    ],
  );
  // The references were resolved (relative one too).
  assert.equal(v.config.clusters[0]!.mysql.password, 'content-of-orders-mysql');
  assert.equal(v.config.clusters[1]!.mysql.replication_password, 'content-of-billing-repl');
  assert.equal(v.config.clusters[1]!.mysql.password, 'value-of-BILLING_MYSQL_PASSWORD');
});

test('every key of the schema appears in the example, each with a comment; defaults are stated', () => {
  const text = fs.readFileSync(EXAMPLE, 'utf8');
  const lines = text.split('\n');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const loc = new Locator(doc, lc);
  const data = doc.toJS();
  const present = new Map<string, PropertyKey[][]>();
  dataKeys(HeirConfig, data, '', [], present);
  const all = schemaKeys(HeirConfig, '');
  assert.ok(all.length > 80, `walked ${all.length} keys`);

  /** The comment lines just above a key (and a trailing comment on its line). */
  const commentOf = (line: number): string => {
    const out: string[] = [];
    const own = lines[line - 1]!;
    const hash = own.indexOf(' #');
    if (hash >= 0) out.push(own.slice(hash));
    for (let i = line - 2; i >= 0; i--) {
      const l = lines[i]!.trim();
      if (/^(-\s*)?#/.test(l)) out.unshift(l);
      else break;
    }
    return out.join('\n');
  };

  const missing: string[] = [];
  const uncommented: string[] = [];
  const noDefault: string[] = [];
  for (const k of all) {
    const occurrences = present.get(k.path);
    if (!occurrences) {
      // A union option not used by a cluster: documented in a commented-out block.
      const m = /<([^>]+)>/.exec(k.path);
      const inComment = m && new RegExp(`^\\s*#\\s+${k.key}:`, 'm').test(text) && new RegExp(`^\\s*#\\s+type: ${m[1]}$`, 'm').test(text);
      if (!inComment) missing.push(k.path);
      continue;
    }
    const comments = occurrences.map((p) => commentOf(loc.line(p, { key: true })!));
    if (!comments.some((c) => c.length > 0)) uncommented.push(k.path);
    if (k.hasDefault && !k.isObject && !comments.some((c) => /Default/.test(c))) noDefault.push(k.path);
  }
  assert.deepEqual(missing, [], 'keys missing from config/cluster.example.yaml');
  assert.deepEqual(uncommented, [], 'keys without a comment in config/cluster.example.yaml');
  assert.deepEqual(noDefault, [], 'keys whose default is not stated in config/cluster.example.yaml');
});

test('deploy/ha/heir.yaml (the three-manager example) loads, with its ha section and the same file for every manager', () => {
  const file = path.join(__dirname, '..', '..', '..', 'deploy', 'ha', 'heir.yaml');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-deploy-ha-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const text = fs.readFileSync(file, 'utf8').replace(/\$\{file:\/etc\/heir\//g, () => `\${file:${dir}/etc/heir/`);
  for (const [name, content] of [['manager-id', 'manager-b'], ['secrets/api-token', 't'], ['secrets/etcd-password', 'p'], ['secrets/orders-mysql', 'm'], ['secrets/orders-repl', 'r']]) {
    fs.mkdirSync(path.dirname(path.join(dir, 'etc/heir', name)), { recursive: true });
    fs.writeFileSync(path.join(dir, 'etc/heir', name), content + '\n');
  }
  const copy = path.join(dir, 'heir.yaml');
  fs.writeFileSync(copy, text);
  const v = loadConfigWithWarnings(copy, { env: {} });
  assert.equal(v.config.heir.ha?.manager_id, 'manager-b', 'manager_id comes from /etc/heir/manager-id');
  assert.equal(v.config.heir.ha?.etcd.endpoints.length, 3);
  assert.equal(v.config.clusters[0]!.address.type, 'eni');
  const env = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'deploy', 'ha', 'etcd.env'), 'utf8');
  const members = /ETCD_INITIAL_CLUSTER=(.*)/.exec(env)![1]!.split(',').map((m) => new URL(m.split('=')[1]!).hostname);
  assert.deepEqual(members, v.config.heir.ha!.etcd.endpoints.map((e) => new URL(e).hostname), 'the etcd members are the endpoints heir connects to');
});
