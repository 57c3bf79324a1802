#!/usr/bin/env node
'use strict';
// heir's command line: runs the compiled CLI from dist/.
const path = require('node:path');

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  process.stderr.write(`heir: Node.js 20 or newer is required (this is ${process.version})\n`);
  process.exit(2);
}

const root = path.join(__dirname, '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
let cli;
try {
  cli = require(entry);
} catch (e) {
  if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(entry)) {
    process.stderr.write(`heir: not built: ${entry} is missing. Run \`npm run build\` in ${root}.\n`);
    process.exit(2);
  }
  throw e;
}
cli.main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`heir: ${e && e.stack ? e.stack : e}\n`);
    process.exitCode = 1;
  },
);
