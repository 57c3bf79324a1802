#!/usr/bin/env node
// Runs the built tests with node's test runner.
//   node scripts/run-tests.js [unit | integration | <substring of a file name>]
// Unit files run concurrently; integration files one at a time (--test-concurrency=1)
// so that labs do not compete for the machine. Exit code is non-zero when anything fails.
// A file whose process outlives its tests fails (scripts/test-exit-guard.js).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const repo = path.resolve(__dirname, '..');
const TIMEOUT_MS = Number(process.env.HEIR_TEST_TIMEOUT_MS || 600000);

function find(dir) {
  const out = [];
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...find(p));
    else if (e.isFile() && e.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const filter = process.argv[2];
let unit = find(path.join(repo, 'dist/test/unit'));
let integration = find(path.join(repo, 'dist/test/integration'));
if (filter === 'unit') integration = [];
else if (filter === 'integration') unit = [];
else if (filter) {
  const match = (f) => path.relative(repo, f).includes(filter);
  unit = unit.filter(match);
  integration = integration.filter(match);
}
if (unit.length + integration.length === 0) {
  console.error(`run-tests: no test files found${filter ? ` matching "${filter}"` : ''} under dist/test (build first: npx tsc -p .)`);
  process.exit(1);
}

const allowed = new Map(JSON.parse(fs.readFileSync(path.join(__dirname, 'allowed-skips.json'), 'utf8')).allowed.map((a) => [a.name, a.reason]));

/**
 * A run that skipped tests is not a pass: any skipped or todo test that
 * allowed-skips.json does not list fails it, and so does a run in which no test ran.
 */
function checkSkips(label, file) {
  let s;
  try { s = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { console.error(`run-tests: ${label}: no skip report (${e.message})`); return 1; }
  fs.rmSync(file, { force: true });
  const bad = s.skipped.filter((x) => !allowed.has(x.name));
  for (const x of s.skipped) {
    const ok = allowed.has(x.name);
    console.log(`# ${x.kind}${ok ? ' (allowed: ' + allowed.get(x.name) + ')' : ' NOT ALLOWED'}: ${x.file ?? ''} ${x.name}${x.reason ? ` — ${x.reason}` : ''}`);
  }
  if (s.ran === 0) { console.error(`run-tests: ${label}: no test ran`); return 1; }
  if (bad.length) { console.error(`run-tests: ${label}: ${bad.length} test(s) skipped or todo without an entry in scripts/allowed-skips.json`); return 1; }
  return 0;
}

function run(label, files, extra) {
  if (files.length === 0) return 0;
  console.log(`\n# ${label}: ${files.length} file(s), Node.js ${process.version} (${process.execPath})`);
  const skipsFile = path.join(require('node:os').tmpdir(), `heir-test-skips-${process.pid}-${label.replace(/\W+/g, '-')}.json`);
  const reporters = [
    '--test-reporter=tap', '--test-reporter-destination=stdout',
    `--test-reporter=${path.join(__dirname, 'test-summary.js')}`, '--test-reporter-destination=stdout',
  ];
  const guard = ['--require', path.join(__dirname, 'test-exit-guard.js')];
  const args = ['--test', `--test-timeout=${TIMEOUT_MS}`, ...guard, ...reporters, ...extra, ...files.map((f) => path.relative(repo, f))];
  const r = spawnSync(process.execPath, args, { cwd: repo, stdio: 'inherit', env: { ...process.env, HEIR_TEST_SKIPS_FILE: skipsFile } });
  if (r.error) { console.error(`run-tests: ${r.error.message}`); return 1; }
  if (r.signal) { console.error(`run-tests: ${label} tests killed by ${r.signal}`); return 1; }
  const skips = checkSkips(label, skipsFile);
  return (r.status ?? 1) || skips;
}

const u = run('unit tests', unit, []);
const i = run('integration tests', integration, ['--test-concurrency=1']);
console.log(`\n# unit: ${unit.length ? (u === 0 ? 'pass' : 'FAIL') : 'none'}; integration: ${integration.length ? (i === 0 ? 'pass' : 'FAIL') : 'none'}`);
process.exit(u !== 0 || i !== 0 ? 1 : 0);
