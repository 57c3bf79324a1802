import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  findCluster,
  loadConfig,
  loadConfigWithWarnings,
  parseConfigText,
  validateConfigText,
  UnknownClusterError,
  redactConfig,
  redactUrl,
} from '../../src/config';
import { editDistance, suggest } from '../../src/config/suggest';
import { drainMaxS } from '../../src/config/schema';
import { advertisedApiUrl } from '../../src/config/checks';

/** A minimal valid cluster; callers append or replace lines. */
const BASE = `clusters:
  - name: app1
    mysql:
      user: heir
      password: pw
      replication_user: repl
      replication_password: rpw
    nodes:
      - name: db1
        host: 10.0.0.1
      - name: db2
        host: 10.0.0.2
`;

function errorsOf(text: string, o: Parameters<typeof parseConfigText>[1] = {}): ConfigError {
  try {
    parseConfigText(text, { sourceName: 'heir.yaml', env: {}, ...o });
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the configuration to be rejected');
}

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpdir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-config-'));
  dirs.push(dir);
  return dir;
}

test('a minimal file loads with defaults filled in', () => {
  const cfg = parseConfigText(BASE, { env: {} });
  assert.equal(cfg.clusters.length, 1);
  const c = cfg.clusters[0]!;
  assert.equal(c.nodes[0]!.port, 3306);
  assert.equal(c.nodes[1]!.promotion, 'neutral');
  assert.equal(c.detection.min_sources, 2);
  assert.equal(c.failover.salvage.enabled, true);
  assert.deepEqual(c.address, { type: 'none' });
  assert.equal(cfg.heir.state_dir, '/var/lib/heir');
  assert.equal(cfg.heir.api.listen, '127.0.0.1:7878');
});

test('a typo in a key: its line, its path and a suggestion', () => {
  const text = BASE.replace('        host: 10.0.0.2\n', '        host: 10.0.0.2\n        promotoin: prefer\n');
  const e = errorsOf(text);
  assert.equal(e.issues.length, 1);
  assert.deepEqual(e.issues[0], {
    path: 'clusters[0].nodes[1].promotoin',
    line: 13,
    message: "unknown key 'promotoin' (did you mean 'promotion'?)",
  });
  assert.equal(e.message, "heir.yaml:13: clusters[0].nodes[1].promotoin: unknown key 'promotoin' (did you mean 'promotion'?)");
});

test('an unknown key with no near match lists the allowed keys', () => {
  const e = errorsOf(`heir:\n  verbosity: 3\n${BASE}`);
  assert.equal(e.issues.length, 1);
  assert.equal(e.issues[0]!.path, 'heir.verbosity');
  assert.equal(e.issues[0]!.line, 2);
  assert.match(e.issues[0]!.message, /^unknown key 'verbosity' \(allowed here: state_dir, log_level, api, cloud, ha\)$/);
});

test('wrong types, a missing required key and a bad enum value, all at once', () => {
  const text = BASE.replace('      replication_user: repl\n', '')
    .replace('        host: 10.0.0.1\n', '        host: 10.0.0.1\n        port: "3306"\n        promotion: prefered\n')
    .replace('      password: pw\n', '      password: 123456\n');
  const e = errorsOf(text);
  const byPath = Object.fromEntries(e.issues.map((i) => [i.path, i]));
  assert.deepEqual(Object.keys(byPath).sort(), [
    'clusters[0].mysql.password',
    'clusters[0].mysql.replication_user',
    'clusters[0].nodes[0].port',
    'clusters[0].nodes[0].promotion',
  ]);
  assert.equal(byPath['clusters[0].mysql.password']!.message, 'expected a string, got a number (put it in quotes)');
  assert.equal(byPath['clusters[0].mysql.password']!.line, 5);
  assert.equal(byPath['clusters[0].mysql.replication_user']!.message, "required key 'replication_user' is missing");
  assert.equal(byPath['clusters[0].mysql.replication_user']!.line, 3, 'a missing key points at its parent');
  assert.equal(byPath['clusters[0].nodes[0].port']!.message, 'expected a number, got a string (write it without quotes)');
  assert.equal(byPath['clusters[0].nodes[0].port']!.line, 10);
  assert.equal(byPath['clusters[0].nodes[0].promotion']!.message, "must be one of: prefer, neutral, never (did you mean 'prefer'?)");
  // One line per issue, in file order.
  const lines = e.message.split('\n');
  assert.equal(lines.length, 4);
  assert.deepEqual(
    lines.map((l) => Number(l.split(':')[1])),
    [3, 5, 10, 11],
  );
});

test('duplicate node names, duplicate servers and duplicate cluster names', () => {
  const dupNodes = BASE.replace('      - name: db2\n        host: 10.0.0.2\n', '      - name: db1\n        host: 10.0.0.2\n      - name: db3\n        host: 10.0.0.1\n');
  const e = errorsOf(dupNodes);
  assert.deepEqual(
    e.issues.map((i) => [i.path, i.line]),
    [
      ['clusters[0].nodes[1].name', 11],
      ['clusters[0].nodes[2].host', 14],
    ],
  );
  assert.match(e.issues[0]!.message, /node name 'db1' is already used by nodes\[0\]/);
  assert.match(e.issues[1]!.message, /same host and port as nodes\[0\] \(db1\)/);

  const twice = BASE + BASE.replace('clusters:\n', '');
  const e2 = errorsOf(twice);
  assert.equal(e2.issues.length, 1);
  assert.equal(e2.issues[0]!.path, 'clusters[1].name');
  assert.equal(e2.issues[0]!.line, 13);
});

test('duplicate node names are reported even when the cluster has schema errors too', () => {
  const text = BASE.replace('      - name: db2\n', '      - name: db1\n').replace('      user: heir\n', '      usr: heir\n');
  const e = errorsOf(text);
  const paths = e.issues.map((i) => i.path);
  assert.ok(paths.includes('clusters[0].nodes[1].name'), paths.join(', '));
  assert.ok(paths.includes('clusters[0].mysql.usr'), paths.join(', '));
  assert.ok(paths.includes('clusters[0].mysql.user'), paths.join(', '));
});

test('${env:} and ${file:} references are resolved, whole or embedded; relative files are relative to the config', () => {
  const dir = tmpdir();
  fs.mkdirSync(path.join(dir, 'secrets'));
  fs.writeFileSync(path.join(dir, 'secrets', 'repl'), 'repl-secret\n');
  fs.writeFileSync(path.join(dir, 'two-lines'), 'a\nb\n\n');
  fs.writeFileSync(path.join(dir, 'crlf'), 'c\r\n');
  const text = BASE.replace('password: pw', 'password: ${env:HEIR_PW}')
    .replace('replication_password: rpw', 'replication_password: ${file:secrets/repl}')
    .replace('host: 10.0.0.1', 'host: ${env:DB1_HOST}.internal')
    // (a function replacement: a replacement string would turn $$ into $)
    .replace('        host: 10.0.0.2\n', () => `        host: 10.0.0.2\n        port: \${env:DB2_PORT}\n        binlog_dir: \${file:${path.join(dir, 'two-lines')}}|\${file:crlf}|$\${env:LITERAL}\n`);
  const file = path.join(dir, 'heir.yaml');
  fs.writeFileSync(file, text);
  const cfg = loadConfig(file, { env: { HEIR_PW: 'p@ss', DB1_HOST: 'db1', DB2_PORT: '3307' } });
  const c = cfg.clusters[0]!;
  assert.equal(c.mysql.password, 'p@ss');
  assert.equal(c.mysql.replication_password, 'repl-secret');
  assert.equal(c.nodes[0]!.host, 'db1.internal');
  assert.equal(c.nodes[1]!.port, 3307, 'a whole reference becomes a number where the schema wants one');
  assert.equal(c.nodes[1]!.binlog_dir, 'a\nb\n|c|${env:LITERAL}', 'one trailing newline removed; $${ is a literal ${');
});

test('missing env vars and unreadable files are errors naming the field and line, never the values', () => {
  const dir = tmpdir();
  const text = BASE.replace('password: pw', 'password: ${env:NOT_SET_ANYWHERE}')
    .replace('replication_password: rpw', 'replication_password: ${file:no/such/file}')
    .replace('user: heir', 'user: ${env:HEIR_USER}');
  const file = path.join(dir, 'heir.yaml');
  fs.writeFileSync(file, text);
  let err: unknown;
  try {
    loadConfig(file, { env: { HEIR_USER: 'top-secret-value' } });
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ConfigError);
  assert.deepEqual(
    err.issues.map((i) => [i.path, i.line]),
    [
      ['clusters[0].mysql.password', 5],
      ['clusters[0].mysql.replication_password', 7],
    ],
  );
  assert.match(err.issues[0]!.message, /environment variable NOT_SET_ANYWHERE is not set/);
  assert.match(err.issues[1]!.message, /cannot read .*no\/such\/file: no such file \(ENOENT\)/);
  assert.ok(err.message.startsWith(`${file}:5: clusters[0].mysql.password: `), err.message);
  assert.ok(!err.message.includes('top-secret-value'));
});

test('resolved secrets never appear in error messages', () => {
  const secret = 'S3cr3t-Value-42';
  // A secret resolved into fields that then fail validation.
  const text = BASE.replace('        host: 10.0.0.2\n', '        host: 10.0.0.2\n        promotion: ${env:SECRET}\n        instance_id: 12\n').replace(
    'name: db1',
    'name: "${env:SECRET} x"',
  );
  const e = errorsOf(text, { env: { SECRET: secret } });
  assert.ok(e.issues.length >= 3, e.message);
  assert.ok(!e.message.includes(secret), e.message);
  assert.ok(!JSON.stringify(e.issues).includes(secret));
});

test('a mistyped reference kind is reported; shell ${VAR:-x} in commands is left alone', () => {
  const e = errorsOf(BASE.replace('password: pw', 'password: ${evn:PW}'));
  assert.equal(e.issues[0]!.path, 'clusters[0].mysql.password');
  assert.match(e.issues[0]!.message, /did you mean \$\{env:\.\.\.\}/);
  const cfg = parseConfigText(
    BASE + '    address:\n      type: script\n      path: /usr/local/bin/ipf\n      floating_ip: 10.0.0.100\n',
    { env: {} },
  );
  assert.equal(cfg.clusters[0]!.address.type, 'script');
  const cmd = parseConfigText(
    BASE.replace('        host: 10.0.0.2\n', '        host: 10.0.0.2\n        binlog_dir: /data/${HOME:-x}\n'),
    { env: {} },
  );
  assert.equal(cmd.clusters[0]!.nodes[1]!.binlog_dir, '/data/${HOME:-x}');
});

test('YAML syntax errors carry their line', () => {
  const e = errorsOf('clusters:\n  - name: a\n    mysql: {user: x\n');
  assert.ok(e.issues.length >= 1);
  assert.ok(e.issues[0]!.line !== undefined && e.issues[0]!.line >= 3, JSON.stringify(e.issues));
  assert.match(e.issues[0]!.message, /^YAML: /);
  const dup = errorsOf(BASE.replace('      user: heir\n', '      user: heir\n      user: again\n'));
  assert.match(dup.issues[0]!.message, /unique/i);
  assert.equal(dup.issues[0]!.line, 5);
});

test('empty files and wrong top level are clear', () => {
  assert.match(errorsOf('').message, /empty/);
  assert.match(errorsOf('- a\n- b\n').message, /top level must be a mapping/);
  assert.match(errorsOf('heir: {}\n').issues[0]!.message, /required key 'clusters' is missing/);
});

test('address eni needs heir.cloud and instance ids; secondary-ip ENIs cover every node', () => {
  const eni = BASE + '    address:\n      type: eni\n      eni_id: eni-abc\n      floating_ip: 10.0.0.100\n';
  const e = errorsOf(eni);
  const msgs = e.issues.map((i) => `${i.path}@${i.line}: ${i.message}`);
  assert.equal(e.issues.length, 3, msgs.join('\n'));
  assert.match(msgs[0]!, /^clusters\[0\]\.nodes\[0\]@9: instance_id .* required because address.type is eni/);
  assert.match(msgs[1]!, /^clusters\[0\]\.nodes\[1\]@11: instance_id/);
  assert.match(msgs[2]!, /^clusters\[0\]\.address\.type@14: address.type eni calls the ECS API: set heir.cloud/);

  const ok = `heir:\n  cloud:\n    region_id: cn-hangzhou\n${eni.replace('host: 10.0.0.1', 'host: 10.0.0.1\n        instance_id: i-1').replace('host: 10.0.0.2', 'host: 10.0.0.2\n        instance_id: i-2')}`;
  assert.equal(parseConfigText(ok, { env: {} }).clusters[0]!.address.type, 'eni');
  const sameInstance = ok.replace('instance_id: i-2', 'instance_id: i-1');
  assert.match(errorsOf(sameInstance).message, /nodes\[1\]\.instance_id: same instance as nodes\[0\]/);

  const sec = ok.replace(
    '      type: eni\n      eni_id: eni-abc\n',
    '      type: secondary-ip\n      enis:\n        db1: eni-1\n        dbx: eni-2\n',
  );
  const e2 = errorsOf(sec);
  const m2 = e2.issues.map((i) => `${i.path}: ${i.message}`);
  assert.ok(m2.some((m) => /^clusters\[0\]\.address\.enis\.dbx: 'dbx' is not a node/.test(m)), m2.join('\n'));
  assert.ok(m2.some((m) => /^clusters\[0\]\.address\.enis: no ENI given for db2/.test(m)), m2.join('\n'));
});

test('address havip: a havip- id, heir.cloud and instance ids, a valid interface; clear errors naming the field', () => {
  const havip = BASE + '    address:\n      type: havip\n      havip_id: vip-abc\n      floating_ip: 10.0.0.200\n      interface: "eth0; reboot"\n';
  const e = errorsOf(havip);
  const msgs = e.issues.map((i) => `${i.path}: ${i.message}`);
  assert.ok(msgs.some((m) => /^clusters\[0\]\.address\.havip_id: a HaVip id looks like havip-xxxxxxxx/.test(m)), msgs.join('\n'));
  assert.ok(msgs.some((m) => /^clusters\[0\]\.address\.interface: a network interface name/.test(m)), msgs.join('\n'));

  const ids = havip.replace('vip-abc', 'havip-abc').replace('      interface: "eth0; reboot"\n', '');
  const m2 = errorsOf(ids).issues.map((i) => `${i.path}: ${i.message}`);
  assert.ok(m2.some((m) => /^clusters\[0\]\.nodes\[0\]: instance_id .* required because address.type is havip/.test(m)), m2.join('\n'));
  assert.ok(m2.some((m) => /^clusters\[0\]\.address\.type: address.type havip calls the VPC and ECS APIs: set heir.cloud/.test(m)), m2.join('\n'));

  const ok = `heir:\n  cloud:\n    region_id: cn-hangzhou\n${ids.replace('host: 10.0.0.1', 'host: 10.0.0.1\n        instance_id: i-1').replace('host: 10.0.0.2', 'host: 10.0.0.2\n        instance_id: i-2')}`;
  const a = parseConfigText(ok, { env: {} }).clusters[0]!.address;
  assert.equal(a.type, 'havip');
  if (a.type === 'havip') {
    assert.equal(a.interface, 'eth0');
    assert.equal(a.announce_count, 2);
    assert.equal(a.verify, true);
  }
});

test('detection: secondary checks name nodes; min_sources must be reachable', () => {
  const text = BASE + '    detection:\n      secondary_checks: [db2, bd1]\n      ssh_check: false\n      min_sources: 4\n';
  const e = errorsOf(text);
  const m = e.issues.map((i) => `${i.path}@${i.line}: ${i.message}`);
  assert.equal(m.length, 2, m.join('\n'));
  assert.match(m[0]!, /^clusters\[0\]\.detection\.secondary_checks\[1\]@14: 'bd1' is not a node of cluster 'app1' \(did you mean 'db1'\?\)/);
  assert.match(m[1]!, /^clusters\[0\]\.detection\.min_sources@16: 4 sources required but only 3 configured/);
});

test('failover.drain_max_s: 3 × apply_timeout_s by default; below apply_timeout_s, or not a positive number, is an error naming the field', () => {
  const ok = parseConfigText(BASE + '    failover:\n      apply_timeout_s: 40\n', { env: {} });
  assert.equal(drainMaxS(ok.clusters[0]!.failover), 120);
  const set = parseConfigText(BASE + '    failover:\n      apply_timeout_s: 40\n      drain_max_s: 600\n', { env: {} });
  assert.equal(drainMaxS(set.clusters[0]!.failover), 600);
  const low = errorsOf(BASE + '    failover:\n      apply_timeout_s: 40\n      drain_max_s: 30\n');
  assert.match(low.message, /clusters\[0\]\.failover\.drain_max_s: 30 is less than failover\.apply_timeout_s 40/);
  const bad = errorsOf(BASE + '    failover:\n      drain_max_s: -5\n');
  assert.match(bad.message, /clusters\[0\]\.failover\.drain_max_s/);
});

test('detection: with heir.ha the other managers are one more source for min_sources', () => {
  const det = '    detection:\n      ssh_check: false\n      secondary_checks: []\n      min_sources: 3\n';
  assert.match(errorsOf(BASE + det).message, /3 sources required but only 2 configured \(manager, replicas\)/);
  const ha = 'heir:\n  ha:\n    manager_id: m1\n    etcd:\n      endpoints: [http://10.0.1.5:2379]\n';
  assert.equal(parseConfigText(ha + BASE + det, { env: {} }).clusters[0]!.detection.min_sources, 3);
  assert.match(errorsOf(ha + BASE + det.replace('min_sources: 3', 'min_sources: 4')).message, /4 sources required but only 3 configured \(manager, replicas, other managers\)/);
});

test('no promotable node is an error; a single one is a warning', () => {
  const never = BASE.replace('host: 10.0.0.1', 'host: 10.0.0.1\n        promotion: never').replace('host: 10.0.0.2', 'host: 10.0.0.2\n        promotion: never');
  assert.match(errorsOf(never).message, /clusters\[0\]\.nodes: every node has promotion: never/);
  const one = BASE.replace('host: 10.0.0.1', 'host: 10.0.0.1\n        promotion: never');
  const v = validateConfigText(one, { env: {} });
  assert.equal(v.warnings.length, 1);
  assert.match(v.warnings[0]!.message, /only db2 can be promoted/);
  assert.equal(v.warnings[0]!.path, 'clusters[0].nodes');
});

test('webhook event filters are checked with suggestions', () => {
  const text = BASE + '    webhooks:\n      - type: generic\n        url: https://example.invalid/hook\n        secret: s\n        events: [failover.started, failover.finsihed, switchover.*, bogus.*]\n';
  const e = errorsOf(text);
  assert.deepEqual(
    e.issues.map((i) => i.path),
    ['clusters[0].webhooks[0].events[1]', 'clusters[0].webhooks[0].events[3]'],
  );
  assert.match(e.issues[0]!.message, /did you mean 'failover.finished'/);
  assert.equal(e.issues[0]!.line, 17);
});

test('a generic webhook secret in the whsec_ form must be Base64 of 24-64 bytes; its value is never printed', () => {
  const hook = (secret: string) => BASE + `    webhooks:\n      - type: generic\n        url: https://example.invalid/hook\n        secret: \${env:HOOK_SECRET}\n`;
  const short = 'whsec_' + Buffer.alloc(16, 9).toString('base64');
  const e = errorsOf(hook(short), { env: { HOOK_SECRET: short } });
  assert.deepEqual(e.issues.map((i) => i.path), ['clusters[0].webhooks[0].secret']);
  assert.match(e.issues[0]!.message, /24 to 64 random bytes; this one holds 16/);
  assert.ok(!e.message.includes(short.slice(6)));
  const good = 'whsec_' + Buffer.alloc(32, 9).toString('base64');
  assert.deepEqual(validateConfigText(hook(good), { env: { HOOK_SECRET: good } }).warnings, []);
  const none = validateConfigText(BASE + '    webhooks:\n      - type: generic\n        url: https://example.invalid/hook\n', { env: {} });
  assert.match(none.warnings[0]!.message, /no secret: deliveries are not signed \(webhook-signature is left out\)/);
});

test('YAML anchors and merge keys work for shared settings', () => {
  const text = `clusters:
  - name: a
    mysql: &creds
      user: heir
      password: pw
      replication_user: repl
      replication_password: rpw
    nodes: [{name: a1, host: h1}, {name: a2, host: h2}]
    detection: &det
      interval_ms: 500
  - name: b
    mysql: *creds
    nodes: [{name: b1, host: h3}, {name: b2, host: h4}]
    detection:
      <<: *det
      ping_type: insert
`;
  const cfg = parseConfigText(text, { env: {} });
  assert.equal(cfg.clusters[1]!.mysql.user, 'heir');
  assert.equal(cfg.clusters[1]!.detection.interval_ms, 500);
  assert.equal(cfg.clusters[1]!.detection.ping_type, 'insert');
});

test('loadConfig: an unreadable file is a ConfigError naming the file', () => {
  assert.throws(
    () => loadConfig('/nonexistent/heir.yaml'),
    (e: unknown) => e instanceof ConfigError && e.message === '/nonexistent/heir.yaml: cannot read the configuration file: no such file (ENOENT)',
  );
});

test('loadConfigWithWarnings returns warnings with lines', () => {
  const dir = tmpdir();
  const file = path.join(dir, 'heir.yaml');
  fs.writeFileSync(file, `heir:\n  api:\n    listen: 0.0.0.0:7878\n${BASE}`);
  const v = loadConfigWithWarnings(file, { env: {} });
  assert.equal(v.warnings.length, 1);
  assert.equal(v.warnings[0]!.path, 'heir.api.listen');
  assert.equal(v.warnings[0]!.line, 3);
});

test('findCluster: the only cluster, by name, or a clear error listing names', () => {
  const one = parseConfigText(BASE, { env: {} });
  assert.equal(findCluster(one).name, 'app1');
  assert.equal(findCluster(one, 'app1').name, 'app1');
  const two = parseConfigText(BASE + BASE.replace('clusters:\n', '').replace('name: app1', 'name: app2'), { env: {} });
  assert.equal(findCluster(two, 'app2').name, 'app2');
  assert.throws(() => findCluster(two), (e: unknown) => e instanceof UnknownClusterError && /--cluster NAME: app1, app2/.test(e.message));
  assert.throws(
    () => findCluster(two, 'app3'),
    (e: unknown) => e instanceof UnknownClusterError && /no cluster named 'app3'.*clusters: app1, app2/.test(e.message),
  );
});

test('redaction hides secrets and webhook tokens', () => {
  const cfg = parseConfigText(
    BASE +
      '    webhooks:\n      - type: dingtalk\n        url: https://oapi.dingtalk.com/robot/send?access_token=abcdef\n        secret: SECdeadbeef\n',
    { env: {} },
  );
  const safe = JSON.stringify(redactConfig(cfg));
  for (const s of ['"pw"', '"rpw"', 'abcdef', 'SECdeadbeef']) assert.ok(!safe.includes(s), s);
  assert.equal(redactUrl('https://oapi.dingtalk.com/robot/send?access_token=abc'), 'https://oapi.dingtalk.com/robot/send?…');
  assert.equal(
    redactUrl('https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX'),
    'https://hooks.slack.com/services/T000/B000/…',
  );
  assert.equal(
    redactUrl('https://open.feishu.cn/open-apis/bot/v2/hook/0123abcd-0123-abcd-0123-0123456789ab'),
    'https://open.feishu.cn/open-apis/bot/v2/hook/…',
  );
});

test('suggestions: transpositions and separators count as typos, unrelated words do not', () => {
  assert.equal(editDistance('promotoin', 'promotion'), 1);
  assert.equal(suggest('promotoin', ['promotion', 'port']), 'promotion');
  assert.equal(suggest('interval-ms', ['interval_ms']), 'interval_ms');
  assert.equal(suggest('zzz', ['promotion', 'port']), undefined);
});

test('five thousand clusters sharing one anchor load (a large fleet is not an alias attack)', () => {
  const creds = '    mysql: &creds\n      user: heir\n      password: pw\n      replication_user: repl\n      replication_password: rpw\n';
  const cluster = (i: number) =>
    `  - name: c${i}\n${i === 0 ? creds : '    mysql: *creds\n'}    nodes:\n      - { name: db1, host: 10.0.${i % 250}.1 }\n      - { name: db2, host: 10.0.${i % 250}.2 }\n`;
  const cfg = parseConfigText('clusters:\n' + Array.from({ length: 5000 }, (_, i) => cluster(i)).join(''), { env: {} });
  assert.equal(cfg.clusters.length, 5000);
  assert.equal(cfg.clusters[4999]!.mysql.user, 'heir');
});

test('heir.ha: absent by default; defaults filled in; bounds, endpoints, TLS and manager id checked with the field named', () => {
  assert.equal(parseConfigText(BASE, { env: {} }).heir.ha, undefined);
  const ha = (body: string) => `heir:\n  ha:\n${body}${BASE}`;
  const minimal = '    manager_id: m1\n    etcd:\n      endpoints: [http://10.0.1.5:2379, http://10.0.2.5:2379]\n';
  const cfg = parseConfigText(ha(minimal), { env: {} });
  assert.deepEqual(cfg.heir.ha, {
    manager_id: 'm1',
    etcd: { endpoints: ['http://10.0.1.5:2379', 'http://10.0.2.5:2379'], request_timeout_ms: 2000 },
    lease_ttl_s: 5,
    prefix: '/heir/',
  });

  const msgs = (text: string) => errorsOf(text).issues.map((i) => `${i.path}: ${i.message}`);
  assert.deepEqual(msgs(ha(minimal + '    lease_ttl_s: 1\n')), ['heir.ha.lease_ttl_s: at least 2 s (etcd refuses shorter leases)']);
  assert.match(msgs(ha(minimal + '    lease_ttl_s: 600\n'))[0]!, /^heir\.ha\.lease_ttl_s: at most 60 s/);
  assert.match(msgs(ha(minimal.replace('http://10.0.1.5:2379', '10.0.1.5')))[0]!, /^heir\.ha\.etcd\.endpoints\[0\]: an etcd endpoint looks like https:\/\/host:2379/);
  assert.match(msgs(ha(minimal.replace('m1', 'm 1')))[0]!, /^heir\.ha\.manager_id: letters, digits/);
  assert.deepEqual(msgs(ha('    manager_id: m1\n    etcd:\n      endpoints: []\n')), ['heir.ha.etcd.endpoints: at least one etcd endpoint']);
  assert.deepEqual(msgs(ha('    etcd:\n      endpoints: [http://e:2379]\n')), ["heir.ha.manager_id: required key 'manager_id' is missing"]);
  assert.match(msgs(ha(minimal + '    prefix: heir\n'))[0]!, /^heir\.ha\.prefix: an absolute key prefix ending in \//);
  assert.deepEqual(msgs(ha(minimal.replace('http://10.0.2.5', 'https://10.0.2.5'))), [
    'heir.ha.etcd.endpoints: mixes http:// and https:// endpoints: every etcd member is reached the same way',
  ]);
  assert.deepEqual(msgs(ha(minimal.replace(/http:/g, 'https:'))), [
    "heir.ha.etcd.endpoints: https endpoints need heir.ha.etcd.tls.ca (the CA that signed the etcd members' certificates)",
  ]);
  assert.deepEqual(msgs(ha(minimal + '      tls:\n        ca: /etc/heir/etcd-ca.pem\n')), [
    'heir.ha.etcd.tls: TLS settings with http:// endpoints: use https:// endpoints, or remove tls',
  ]);
  const tls = minimal.replace(/http:/g, 'https:') + '      tls:\n        ca: /etc/heir/etcd-ca.pem\n        cert: /etc/heir/etcd-client.pem\n';
  assert.deepEqual(msgs(ha(tls)), ['heir.ha.etcd.tls.key: a client certificate needs both cert and key']);
  const full = parseConfigText(ha(tls + '        key: /etc/heir/etcd-client.key\n      auth:\n        user: heir\n        password: ${env:ETCD_PW}\n'), { env: { ETCD_PW: 's3' } });
  assert.equal(full.heir.ha?.etcd.auth?.password, 's3');
});

test('heir.api.advertise_url: a URL with scheme, host and port; derived from a listen address that is not loopback or a wildcard; warned when missing under heir.ha', () => {
  const ha = '  ha:\n    manager_id: m1\n    etcd:\n      endpoints: [http://10.0.1.5:2379]\n';
  const api = (body: string) => `heir:\n  api:\n${body}${ha}${BASE}`;
  const warnings = (text: string) => validateConfigText(text, { env: {} }).warnings.map((w) => `${w.path}: ${w.message}`);
  const bad = errorsOf(api('    listen: 127.0.0.1:7878\n    advertise_url: 10.0.1.7:7878\n'));
  assert.deepEqual(bad.issues.map((i) => `${i.path}: ${i.message}`), ['heir.api.advertise_url: a URL with scheme, host and port, e.g. http://10.0.1.7:7878']);
  assert.match(errorsOf(api('    advertise_url: http://10.0.1.7:7878/heir\n')).message, /heir\.api\.advertise_url: a URL with scheme, host and port/);

  assert.equal(advertisedApiUrl({ listen: '127.0.0.1:7878', advertise_url: 'https://mgr-a.example:8443/' }), 'https://mgr-a.example:8443');
  assert.equal(advertisedApiUrl({ listen: '10.0.1.7:7878' }), 'http://10.0.1.7:7878');
  assert.equal(advertisedApiUrl({ listen: '[fd00::7]:7878' }), 'http://[fd00::7]:7878');
  for (const listen of ['127.0.0.1:7878', 'localhost:7878', '[::1]:7878', '0.0.0.0:7878', '[::]:7878', '10.0.1.7:0']) {
    assert.equal(advertisedApiUrl({ listen }), undefined, listen);
  }

  const tok = '    token: 0123456789abcdef0123\n';
  assert.deepEqual(warnings(api(`    listen: 127.0.0.1:7878\n${tok}`)), [
    'heir.api.listen: with heir.ha, the other managers cannot forward actions to this one: listen is loopback and heir.api.advertise_url is not set (e.g. http://10.0.1.7:7878)',
  ]);
  assert.match(warnings(api(`    listen: 0.0.0.0:7878\n${tok}`)).join('\n'), /listen is a wildcard address and heir\.api\.advertise_url is not set/);
  assert.deepEqual(warnings(api(`    listen: 10.0.1.7:7878\n${tok}`)), []);
  assert.deepEqual(warnings(api(`    listen: 0.0.0.0:7878\n    advertise_url: http://10.0.1.7:7878\n${tok}`)), []);
  assert.deepEqual(warnings(`heir:\n  api:\n    advertise_url: http://10.0.1.7:7878\n${BASE}`), [
    'heir.api.advertise_url: used only with heir.ha (the address the other managers forward actions to)',
  ]);
});
