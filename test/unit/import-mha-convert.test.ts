/** MHA configuration → heir YAML: parsing, mapping, notes, secrets, and validation by the config loader. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { importMha, parseMhaCnf, parseSecondaryCheck, parseSshOptions, MhaParseError, MHA_PARAMETERS, type ImportResult } from '../../src/config/mha-import';
import { parseConfigText } from '../../src/config/load';

const FIX = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'mha');
const read = (f: string) => parseMhaCnf(fs.readFileSync(path.join(FIX, f), 'utf8'), f);
const SECRETS = ['MhaAdm1nPass!', 'R3plPass#9', 'GlobalPass'];

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-mha-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Write a value into every secret file the result references, then load the YAML with the real loader. */
function loadWithSecretFiles(r: ImportResult) {
  for (const s of r.secrets) {
    const m = /^\$\{file:(.+)\}$/.exec(s.ref);
    assert.ok(m, `not a file reference: ${s.ref}`);
    fs.mkdirSync(path.dirname(m[1]!), { recursive: true });
    fs.writeFileSync(m[1]!, `secret-for-${path.basename(m[1]!)}\n`);
  }
  return parseConfigText(r.yaml, { env: {}, sourceName: 'imported.yaml' });
}

describe('parseMhaCnf', () => {
  test('sections, comments, whitespace, last value wins', () => {
    const c = parseMhaCnf('# c\n; c2\n[server default]\n user = a \nuser=b\n\n[server1]\nhostname=h1\n', 'x.cnf');
    assert.deepEqual(
      c.sections.map((s) => [s.name, s.entries.map((e) => `${e.key}=${e.value}@${e.line}`)]),
      [['server default', ['user=b@5']], ['server1', ['hostname=h1@8']]],
    );
  });
  test('a line that is not key=value names file and line', () => {
    assert.throws(() => read('bad-syntax.cnf'), (e: unknown) => e instanceof MhaParseError && e.line === 3 && /bad-syntax\.cnf:3/.test(e.message));
  });
});

describe('app1.cnf with global defaults', () => {
  let r: ImportResult;
  before(() => {
    r = importMha(read('app1.cnf'), { global: read('masterha_default.cnf'), secretsDir: path.join(tmp, 'secrets') });
  });

  test('no password value is copied anywhere', () => {
    const everything = r.yaml + JSON.stringify(r.notes) + JSON.stringify(r.config) + JSON.stringify(r.secrets);
    for (const s of SECRETS) assert.ok(!everything.includes(s), `leaked ${s}`);
    assert.equal(r.secrets.length, 2);
  });

  test('the output loads with the config loader and carries the settings over', () => {
    const cfg = loadWithSecretFiles(r);
    assert.equal(cfg.heir.log_level, 'debug');
    const c = cfg.clusters[0]!;
    assert.equal(c.name, 'app1');
    assert.equal(c.mysql.user, 'mha');
    assert.equal(c.mysql.password, 'secret-for-mysql-password');
    assert.equal(c.mysql.replication_user, 'repl');
    assert.equal(c.mysql.replication_password, 'secret-for-replication-password');
    assert.deepEqual(
      c.nodes.map((n) => [n.name, n.host, n.port, n.promotion, n.ssh?.port, n.binlog_dir]),
      [
        ['db1', '10.0.1.11', 3306, 'prefer', undefined, '/data/mysql/binlog'],
        ['db2', '10.0.1.12', 3306, 'prefer', undefined, '/data/mysql/binlog'],
        ['server3', '10.0.1.13', 3307, 'never', 2222, '/data/mysql/binlog'],
      ],
    );
    assert.equal(c.ssh.user, 'root', 'app value overrides the global ssh_user=mha');
    assert.equal(c.ssh.private_key, '/root/.ssh/id_mha');
    assert.equal(c.ssh.known_hosts, '/root/.ssh/known_hosts_mha');
    assert.equal(c.detection.interval_ms, 1000, 'app ping_interval=1 overrides global 3');
    assert.equal(c.detection.ping_type, 'connect');
    assert.deepEqual(c.detection.secondary_checks, ['db2']);
    assert.equal(c.failover.max_lag_s, 86400);
    assert.equal(c.failover.stonith, false);
    assert.deepEqual(c.address, { type: 'script', path: '/usr/local/bin/master_ip_failover --vip=10.0.1.100', timeout_s: 60 });
  });

  test('every setting not carried over exactly has a note, and each note is a YAML comment', () => {
    const exact = new Set(['hostname', 'port', 'user', 'repl_user', 'ssh_user', 'ssh_port', 'ping_type', 'log_level', 'master_binlog_dir', 'no_master']);
    const app = read('app1.cnf');
    for (const s of app.sections) {
      for (const e of s.entries) {
        if (exact.has(e.key)) continue;
        assert.ok(
          r.notes.some((n) => n.from === `app1.cnf:${e.line} [${s.name}] ${e.key}`),
          `no note for app1.cnf:${e.line} [${s.name}] ${e.key}`,
        );
      }
    }
    const comments = r.yaml;
    for (const n of r.notes) assert.ok(comments.includes(n.message), `note missing from the YAML: ${n.message}`);
    assert.match(r.yaml, /^# heir configuration converted from the MHA configuration app1\.cnf/);
    assert.ok(r.notes.some((n) => n.kind === 'dropped' && /10\.0\.9\.9/.test(n.message)), 'secondary host outside the cluster');
  });

  test('the YAML parses and comments sit next to the keys they are about', () => {
    const doc = parseDocument(r.yaml);
    assert.deepEqual(doc.errors, []);
    const lines = r.yaml.split('\n');
    const i = lines.findIndex((l) => /^\s+password: \$\{file:/.test(l));
    assert.match(lines[i - 1]!, /# SECRET app1\.cnf:8 \[server default\] password/);
  });
});

test('env secrets: ${env:HEIR_<CLUSTER>_...} references resolve from the environment', () => {
  const r = importMha(read('app1.cnf'), { secrets: 'env', clusterName: 'orders-db' });
  assert.deepEqual(r.secrets.map((s) => s.ref), ['${env:HEIR_ORDERS_DB_MYSQL_PASSWORD}', '${env:HEIR_ORDERS_DB_REPLICATION_PASSWORD}']);
  const cfg = parseConfigText(r.yaml, { env: { HEIR_ORDERS_DB_MYSQL_PASSWORD: 'a', HEIR_ORDERS_DB_REPLICATION_PASSWORD: 'b' } });
  assert.equal(cfg.clusters[0]!.name, 'orders-db');
  assert.equal(cfg.clusters[0]!.mysql.password, 'a');
});

test('app3-odd.cnf: odd settings are noted, literal ${ survives, names and ssh hosts', () => {
  const r = importMha(read('app3-odd.cnf'), { secretsDir: path.join(tmp, 'secrets3') });
  const cfg = loadWithSecretFiles(r);
  const c = cfg.clusters[0]!;
  assert.deepEqual(c.address, { type: 'script', path: '/opt/ip_failover --vip=${VIP}', timeout_s: 60 });
  assert.deepEqual(c.nodes.map((n) => n.name), ['primary', 'mysql-b']);
  assert.equal(c.nodes[1]!.promotion, 'never');
  assert.deepEqual(c.nodes[1]!.ssh, { host: 'mysql-b-admin' });
  assert.equal(c.nodes[0]!.binlog_dir, '/var/lib/mysql');
  assert.equal(c.ssh.connect_timeout_ms, 20000);
  assert.equal(c.detection.ping_type, 'insert');
  assert.equal(c.mysql.user, 'root');
  const has = (kind: string, re: RegExp) => assert.ok(r.notes.some((n) => n.kind === kind && re.test(`${n.from} ${n.message}`)), `${kind} ${re}`);
  has('dropped', /frobnicate.*not an MHA 0\.58 parameter/);
  has('dropped', /\[binlog1\].*binlog servers/);
  has('dropped', /\[extra\].*neither/);
  has("dropped", /\[server1\] user per-server user/);
  has('dropped', /custom secondary check script/);
  has('approximate', /kept \/var\/lib\/mysql, dropped \/var\/log\/mysql/);
  has('approximate', /candidate_master=1 together with no_master=1/);
  has('todo', /rather than root/);
  has('todo', /replication user from SHOW SLAVE STATUS/);
});

test('app2-minimal.cnf: defaults filled and flagged; validates', () => {
  const r = importMha(read('app2-minimal.cnf'), { secretsDir: path.join(tmp, 'secrets2') });
  const c = loadWithSecretFiles(r).clusters[0]!;
  assert.equal(c.name, 'app2-minimal');
  assert.deepEqual(c.nodes.map((n) => [n.name, n.host]), [['server_a', '10.1.0.1'], ['server_b', '10.1.0.2']]);
  assert.deepEqual(c.address, { type: 'none' });
  assert.ok(r.notes.some((n) => n.kind === 'todo' && /no address mover/.test(n.message)));
});

test('a single server is reported: heir needs two nodes', () => {
  const r = importMha(read('app4-single.cnf'));
  assert.ok(r.notes.some((n) => n.kind === 'todo' && /at least two nodes/.test(n.message)));
});

test('the parameter list is MHA 0.58\'s', () => {
  assert.equal(MHA_PARAMETERS.length, 42);
  for (const k of ['candidate_master', 'no_master', 'secondary_check_script', 'use_gtid_auto_pos', 'client_bindir']) assert.ok((MHA_PARAMETERS as readonly string[]).includes(k));
});

test('parseSecondaryCheck', () => {
  assert.deepEqual(parseSecondaryCheck('masterha_secondary_check -s h1 -s h2 --user=root'), ['h1', 'h2']);
  assert.deepEqual(parseSecondaryCheck('/usr/bin/masterha_secondary_check --secondary_host=h1 --secondary h2 -s=h3 --master_host=m'), ['h1', 'h2', 'h3']);
  assert.equal(parseSecondaryCheck('/opt/check.sh -s h1'), undefined);
});

test('parseSshOptions', () => {
  assert.deepEqual(parseSshOptions('-i /k -o UserKnownHostsFile=/kh -o ConnectTimeout=3 -q'), {
    privateKey: '/k',
    knownHosts: '/kh',
    rest: ['-o ConnectTimeout=3', '-q'],
  });
  assert.deepEqual(parseSshOptions('-i/k2'), { privateKey: '/k2', rest: [] });
});
