'use strict';
// node:test reporter used by run-tests.js: every skipped or todo test, and the number of tests
// that ran. A skipped suite must not count as passed, so run-tests.js fails the run when this
// reports a skip or todo that scripts/allowed-skips.json does not list (by test name, with the
// reason), or when no test ran at all. The summary goes to the file named in HEIR_TEST_SKIPS_FILE.
const fs = require('node:fs');
const path = require('node:path');

module.exports = async function* skips(source) {
  const found = [];
  let ran = 0;
  for await (const ev of source) {
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const d = ev.data;
    if (!d || d.details?.type === 'suite') continue;
    if (d.skip !== undefined && d.skip !== false) found.push({ kind: 'skip', name: d.name, file: d.file && path.relative(process.cwd(), d.file), reason: d.skip === true ? '' : String(d.skip) });
    else if (d.todo !== undefined && d.todo !== false) found.push({ kind: 'todo', name: d.name, file: d.file && path.relative(process.cwd(), d.file), reason: d.todo === true ? '' : String(d.todo) });
    else ran++;
  }
  const out = process.env.HEIR_TEST_SKIPS_FILE;
  if (out) fs.writeFileSync(out, JSON.stringify({ ran, skipped: found }));
  yield '';
};
