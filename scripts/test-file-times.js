'use strict';
// node:test reporter used by run-tests.js next to the TAP output: the wall time of each test
// file, from the moment the runner starts it to its last event, slowest first. Integration files
// run one at a time, so these are the figures to watch against CI's 90-minute limit (they include
// each file's lab start and teardown, which the per-test durations in the TAP output leave out).
const path = require('node:path');

module.exports = async function* fileTimes(source) {
  const start = new Map();
  const end = new Map();
  for await (const ev of source) {
    const d = ev.data;
    if (!d || !d.file) continue;
    const now = Date.now();
    if (ev.type === 'test:dequeue' && d.nesting === 0 && d.name === d.file && !start.has(d.file)) start.set(d.file, now);
    end.set(d.file, now);
  }
  // Only the files the runner started: tests declared in shared modules (failover-suite.js, ...)
  // carry that module's name but run inside, and count for, the file that imports it.
  const rows = [...start.keys()].map((f) => [f, (end.get(f) - start.get(f)) / 1000]);
  rows.sort((a, b) => b[1] - a[1]);
  yield '# file durations, slowest first:\n';
  for (const [f, s] of rows) yield `#   ${s.toFixed(1).padStart(7)} s  ${path.relative(process.cwd(), f)}\n`;
};
