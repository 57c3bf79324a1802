/** `heir import-mha` through the CLI: output, --out, --json, exit codes. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { main } from '../../src/cli/main';

const FIX = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'mha');
let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-mha-cli-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function heir(...args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'heir', ...args], {
    env: {},
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  return { code, out, err };
}

test('YAML on stdout, the notes on stderr, exit 0', async () => {
  const r = await heir('import-mha', path.join(FIX, 'app1.cnf'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^# heir configuration converted/);
  assert.match(r.out, /password: \$\{file:\/etc\/heir\/secrets\/app1\/mysql-password\}/);
  assert.match(r.err, /Secrets to provide/);
  assert.match(r.err, /Not carried over:\n(.*\n)*.*report_script/);
  assert.match(r.err, /The result validates/);
  assert.ok(!r.out.includes('MhaAdm1nPass!') && !r.err.includes('MhaAdm1nPass!'));
  assert.ok(!r.out.includes('R3plPass#9') && !r.err.includes('R3plPass#9'));
});

test('--out writes the file, refuses to overwrite without --force', async () => {
  const out = path.join(tmp, 'heir.yaml');
  const r = await heir('import-mha', path.join(FIX, 'app1.cnf'), '--out', out, '--global-conf', path.join(FIX, 'masterha_default.cnf'));
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, '');
  assert.match(fs.readFileSync(out, 'utf8'), /name: app1/);
  assert.equal(fs.statSync(out).mode & 0o777, 0o640);
  const again = await heir('import-mha', path.join(FIX, 'app1.cnf'), '--out', out);
  assert.equal(again.code, 2);
  assert.match(again.err, /exists.*--force/);
  assert.equal((await heir('import-mha', path.join(FIX, 'app1.cnf'), '--out', out, '--force', '--name', 'other')).code, 0);
  assert.match(fs.readFileSync(out, 'utf8'), /name: other/);
});

test('--json gives notes, secrets and problems', async () => {
  const r = await heir('--json', 'import-mha', path.join(FIX, 'app1.cnf'), '--secrets', 'env');
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.ok, true);
  assert.ok(j.notes.length > 10);
  assert.deepEqual(j.secrets.map((s: any) => s.ref), ['${env:HEIR_APP1_MYSQL_PASSWORD}', '${env:HEIR_APP1_REPLICATION_PASSWORD}']);
  assert.match(j.yaml, /name: app1/);
});

test('a result that does not validate exits 1 and says why', async () => {
  const r = await heir('import-mha', path.join(FIX, 'app4-single.cnf'));
  assert.equal(r.code, 1);
  assert.match(r.err, /does not validate yet/);
  assert.match(r.err, /clusters\[0\]\.nodes.*at least two nodes/);
});

test('unreadable or malformed MHA files exit 2 naming file and line', async () => {
  const bad = await heir('import-mha', path.join(FIX, 'bad-syntax.cnf'));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /bad-syntax\.cnf:3/);
  const missing = await heir('import-mha', path.join(tmp, 'nope.cnf'));
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read MHA configuration .*nope\.cnf: ENOENT/);
  assert.equal((await heir('import-mha', path.join(FIX, 'app1.cnf'), '--secrets', 'vault')).code, 2);
});
