// Preloaded (--require) into every test file's process by scripts/run-tests.js: a file whose
// tests have all ended but whose process does not exit (a timer or socket left behind) fails
// after a grace, naming what is still open, instead of holding the whole run until CI's limit.
// The grace starts with the file's first root-level after hook and covers the others (labs
// being stopped). Only in the runner's child processes, not in the runner itself.
'use strict';
const { after } = require('node:test');

const GRACE_MS = Number(process.env.HEIR_TEST_EXIT_GRACE_MS || 120000);

if (process.env.NODE_TEST_CONTEXT) {
  after(() => {
    const t = setTimeout(() => {
      process.stderr.write(
        `test-exit-guard: the tests of this file ended ${GRACE_MS / 1000} s ago and its process is still running; open: ${JSON.stringify(process.getActiveResourcesInfo())}\n`,
      );
      process.exit(1);
    }, GRACE_MS);
    t.unref();
  });
}
