'use strict';
// node:test reporter used by run-tests.js next to the TAP output (one reporter, so that the
// test runner's stream does not collect a listener per reporter and file):
//  - the wall time of each test file, from the moment the runner starts it to its last event,
//    slowest first. Integration files run one at a time, so these are the figures to watch
//    against CI's 90-minute limit (they include each file's lab start and teardown, which the
//    per-test durations in the TAP output leave out);
//  - every skipped or todo test and the number of tests that ran, written as JSON to the file
//    named in HEIR_TEST_SKIPS_FILE: a skipped suite must not count as passed, so run-tests.js
//    fails the run on a skip or todo that scripts/allowed-skips.json does not list, or when no
//    test ran at all.
const fs = require('node:fs');
const path = require('node:path');

module.exports = async function* summary(source) {
  const start = new Map();
  const end = new Map();
  const skipped = [];
  let ran = 0;
  for await (const ev of source) {
    const d = ev.data;
    if (!d) continue;
    if ((ev.type === 'test:pass' || ev.type === 'test:fail') && d.details?.type !== 'suite') {
      const file = d.file && path.relative(process.cwd(), d.file);
      if (d.skip !== undefined && d.skip !== false) skipped.push({ kind: 'skip', name: d.name, file, reason: d.skip === true ? '' : String(d.skip) });
      else if (d.todo !== undefined && d.todo !== false) skipped.push({ kind: 'todo', name: d.name, file, reason: d.todo === true ? '' : String(d.todo) });
      else ran++;
    }
    if (!d.file) continue;
    const now = Date.now();
    if (ev.type === 'test:dequeue' && d.nesting === 0 && d.name === d.file && !start.has(d.file)) start.set(d.file, now);
    end.set(d.file, now);
  }
  const out = process.env.HEIR_TEST_SKIPS_FILE;
  if (out) fs.writeFileSync(out, JSON.stringify({ ran, skipped }));
  // Only the files the runner started: tests declared in shared modules (failover-suite.js, ...)
  // carry that module's name but run inside, and count for, the file that imports it.
  const rows = [...start.keys()].map((f) => [f, (end.get(f) - start.get(f)) / 1000]);
  rows.sort((a, b) => b[1] - a[1]);
  yield '# file durations, slowest first:\n';
  for (const [f, s] of rows) yield `#   ${s.toFixed(1).padStart(7)} s  ${path.relative(process.cwd(), f)}\n`;
};
