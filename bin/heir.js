#!/usr/bin/env node
'use strict';
// heir's command line: runs the compiled CLI from dist/.
const path = require('node:path');

// package.json's engines. commander 15 is an ES module, which the compiled CommonJS loads with
// require(): Node.js 22.12 does that without a flag but prints an ExperimentalWarning at every run;
// from 22.13 on it is quiet.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  process.stderr.write(`heir: Node.js 22.13 or newer is required, 24 LTS recommended (this is ${process.version})\n`);
  process.exit(2);
}

// The daemon is one long-lived process doing thousands of small round trips a second (1000
// clusters at 1 s pings). V8 lets its old generation grow to about 4 × what is live before a
// full collection; 1.5 × keeps the RSS near the live heap at a cost in CPU too small to measure
// (bench/daemon-footprint). This flag is read at every collection, so setting it here works; the
// young generation's size is fixed at start-up and is set by NODE_OPTIONS in deploy/heir.service.
// An operator's own value (NODE_OPTIONS or the node command line) wins.
if (process.argv[2] === 'daemon') {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS || '').split(/\s+/)].join(' ');
  if (!/--heap-growing-percent/.test(given)) require('node:v8').setFlagsFromString('--heap-growing-percent=50');
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
