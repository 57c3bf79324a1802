/** The CLI as a user runs it: `node bin/heir.js ...` (after the build), exit codes and output. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/cli/exit';
import { renderTable, displayWidth, renderKeyValues } from '../../src/cli/table';

const ROOT = path.join(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'heir.js');

function heir(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...env },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GOOD = `clusters:
  - name: app1
    mysql:
      user: heir
      password: \${env:APP1_PW}
      replication_user: repl
      replication_password: rpw-inline
    nodes:
      - name: db1
        host: 10.0.0.1
        promotion: prefer
      - name: db2
        host: 10.0.0.2
    webhooks:
      - type: slack
        url: https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX
  - name: app2
    mysql:
      user: heir
      password: pw2
      replication_user: repl
      replication_password: rpw2
    nodes:
      - name: db3
        host: 10.0.0.3
      - name: db4
        host: 10.0.0.4
`;

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function write(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-cli-'));
  dirs.push(dir);
  const f = path.join(dir, 'heir.yaml');
  fs.writeFileSync(f, text);
  return f;
}

test('config validate: OK with a summary, exit 0', () => {
  const f = write(GOOD);
  const r = heir(['config', 'validate', '--config', f], { APP1_PW: 'secret-pw' });
  assert.equal(r.code, ExitCode.OK, r.stderr);
  assert.match(r.stdout, new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK, 2 clusters, 4 nodes`));
  assert.match(r.stdout, /^app1\s+db1 \(prefer\), db2\s+none\s+auto\s+slack$/m);
  assert.match(r.stdout, /^app2\s+db3, db4\s+none\s+auto\s+-$/m);
  assert.ok(!r.stdout.includes('secret-pw'));
});

test('config validate: every error with file:line, exit 2', () => {
  const bad = GOOD.replace('        promotion: prefer\n', '        promotoin: prefer\n').replace('        host: 10.0.0.4\n', '        host: 10.0.0.4\n        port: many\n');
  const f = write(bad);
  const r = heir(['config', 'validate', '-c', f], {});
  assert.equal(r.code, ExitCode.USAGE);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines[0], `${f}: INVALID, 3 problems:`);
  assert.equal(lines[1], `${f}:5: clusters[0].mysql.password: \${env:APP1_PW}: environment variable APP1_PW is not set`);
  assert.equal(lines[2], `${f}:11: clusters[0].nodes[0].promotoin: unknown key 'promotoin' (did you mean 'promotion'?)`);
  assert.equal(lines[3], `${f}:28: clusters[1].nodes[1].port: expected a number, got a string (write it without quotes)`);
});

test('config validate --json: errors as data; HEIR_CONFIG is the default file', () => {
  const f = write(GOOD.replace('      replication_user: repl\n', ''));
  const r = heir(['--json', 'config', 'validate'], { HEIR_CONFIG: f, APP1_PW: 'x' });
  assert.equal(r.code, ExitCode.USAGE);
  const out = JSON.parse(r.stdout);
  assert.equal(out.ok, false);
  assert.equal(out.file, f);
  assert.deepEqual(out.errors, [{ path: 'clusters[0].mysql.replication_user', line: 3, message: "required key 'replication_user' is missing" }]);

  const ok = heir(['config', 'validate', '--json', '--config', write(GOOD)], { APP1_PW: 'x' });
  assert.equal(ok.code, ExitCode.OK, ok.stderr);
  const v = JSON.parse(ok.stdout);
  assert.equal(v.ok, true);
  assert.deepEqual(
    v.clusters.map((c: { name: string }) => c.name),
    ['app1', 'app2'],
  );
});

test('config validate: a missing file is exit 2 naming the file', () => {
  const r = heir(['config', 'validate', '--config', '/nonexistent/heir.yaml']);
  assert.equal(r.code, ExitCode.USAGE);
  assert.match(r.stdout, /\/nonexistent\/heir\.yaml: cannot read the configuration file: no such file/);
});

test('config validate --strict: warnings fail', () => {
  const f = write(GOOD.replace('        host: 10.0.0.2\n', '        host: 10.0.0.2\n        promotion: never\n'));
  const loose = heir(['config', 'validate', '--config', f], { APP1_PW: 'x' });
  assert.equal(loose.code, ExitCode.OK);
  assert.match(loose.stdout, /1 warning:\n.*:8: clusters\[0\]\.nodes: only db1 can be promoted/);
  const strict = heir(['config', 'validate', '--strict', '--config', f], { APP1_PW: 'x' });
  assert.equal(strict.code, ExitCode.USAGE);
});

test('config show: effective values, secrets redacted; unknown cluster is exit 2', () => {
  const f = write(GOOD);
  const r = heir(['config', 'show', '--config', f, '--cluster', 'app1'], { APP1_PW: 'secret-pw' });
  assert.equal(r.code, ExitCode.OK, r.stderr);
  assert.match(r.stdout, /interval_ms: 1000/);
  assert.match(r.stdout, /password: "?\[redacted\]"?/);
  for (const s of ['secret-pw', 'rpw-inline', 'XXXXXXXXXXXXXXXXXXXXXXXX']) assert.ok(!r.stdout.includes(s), s);
  assert.ok(!r.stdout.includes('app2'));
  const bad = heir(['config', 'show', '--config', f, '--cluster', 'app3'], { APP1_PW: 'x' });
  assert.equal(bad.code, ExitCode.USAGE);
  assert.match(bad.stderr, /no cluster named 'app3'.*clusters: app1, app2/);
  // A command that needs the config reports an invalid one with exit 2.
  const invalid = heir(['config', 'show', '--config', f]);
  assert.equal(invalid.code, ExitCode.USAGE);
  assert.match(invalid.stderr, /invalid configuration .* \(1 problem\):\n.*:5: clusters\[0\]\.mysql\.password: .*APP1_PW is not set/);
});

test('help lists the exit codes; version; bad usage is exit 2', () => {
  const help = heir(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit codes:\n\s+0\s+ok.*\n\s+1\s+failed.*\n\s+2\s+bad usage.*\n\s+3\s+refused.*\n\s+4\s+incomplete/);
  assert.match(help.stdout, /--config <file>/);
  const v = heir(['version']);
  assert.equal(v.code, 0);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(v.stdout.trim().split(' ')[1], pkg.version);
  assert.equal(JSON.parse(heir(['--json', 'version']).stdout).heir, pkg.version);
  assert.equal(heir(['no-such-command']).code, ExitCode.USAGE);
  assert.equal(heir(['config', 'validate', '--no-such-option']).code, ExitCode.USAGE);
  assert.equal(heir(['--log-level', 'loud', 'version']).code, ExitCode.USAGE);
  assert.equal(heir([]).code, ExitCode.USAGE);
});

test('tables: aligned columns, wide characters, no trailing blanks', () => {
  const t = renderTable(
    [
      { n: 'db1', role: 'master', lag: 0 },
      { n: '数据库2', role: 'replica', lag: 12 },
    ],
    [
      { header: 'node', key: 'n' },
      { header: 'lag', key: 'lag', align: 'right' },
      { header: 'role', key: 'role' },
    ],
  );
  assert.equal(t, ['NODE     LAG  ROLE', 'db1        0  master', '数据库2   12  replica'].join('\n'));
  assert.equal(displayWidth('数据'), 4);
  assert.equal(displayWidth('\x1b[31mred\x1b[0m'), 3);
  assert.equal(renderKeyValues([['cluster', 'app1'], ['nodes', ['db1', 'db2']], ['auto', true]]), 'cluster: app1\nnodes:   db1, db2\nauto:    yes');
});
