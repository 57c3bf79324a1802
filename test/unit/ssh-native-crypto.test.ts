import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { isSsh2Binding } from '../../src/ssh/no-native-crypto';

/** ssh2's native crypto binding aborts Node.js 24.19+ at garbage collection: heir's SSH module keeps it from loading. */

test('the guard names only ssh2\'s crypto binding', () => {
  assert.ok(isSsh2Binding('/opt/heir/node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'));
  assert.ok(isSsh2Binding('C:\\heir\\node_modules\\ssh2\\lib\\protocol\\crypto\\build\\Debug\\sshcrypto.node'));
  assert.ok(!isSsh2Binding('/opt/heir/node_modules/cpu-features/build/Release/cpufeatures.node'));
  assert.ok(!isSsh2Binding('/opt/heir/node_modules/other/lib/protocol/crypto/build/Release/sshcrypto.node'));
});

test('once heir\'s SSH module is loaded, ssh2 runs on Node\'s own crypto: its binding does not load, and collecting ciphers is safe', () => {
  const ssh = path.join(__dirname, '../../src/ssh');
  // A child process: the guard changes the module loader of the process that loads it.
  const script = `
    require(${JSON.stringify(ssh)});
    const c = require('ssh2/lib/protocol/crypto.js');
    let direct = 'loaded';
    try { require('ssh2/lib/protocol/crypto/build/Release/sshcrypto.node'); } catch (e) { direct = /is not loaded|Cannot find module/.test(e.message) ? 'refused' : e.message; }
    // Ciphers made and dropped, then collected: with the native binding this aborted the process.
    const crypto = require('node:crypto');
    for (let i = 0; i < 200; i++) crypto.createDecipheriv('aes-128-gcm', crypto.randomBytes(16), crypto.randomBytes(12));
    global.gc();
    process.stdout.write(JSON.stringify({ bindingAvailable: c.bindingAvailable, direct }));
  `;
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', script], { cwd: path.join(__dirname, '../..'), encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { bindingAvailable: false, direct: 'refused' });
});
