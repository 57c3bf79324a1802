/**
 * known_hosts parsing and matching, checked against files and fingerprints that OpenSSH's
 * own ssh-keygen produces (keys are generated per run; hashing is done by `ssh-keygen -H`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import {
  parseKnownHosts,
  checkHostKey,
  fingerprint,
  lookupName,
  hostKeyAlgorithmsFor,
  keyBlobType,
} from '../../src/ssh/known-hosts';

let dir: string;
const keys: Record<'ed25519' | 'ecdsa' | 'rsa' | 'other', { type: string; b64: string; blob: Buffer; fp: string }> = {} as any;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'heir-kh-'));
  for (const t of ['ed25519', 'ecdsa', 'rsa', 'other'] as const) {
    const f = join(dir, `k_${t}`);
    execFileSync('ssh-keygen', ['-q', '-t', t === 'other' ? 'ed25519' : t, '-N', '', '-f', f]);
    const [type, b64] = readFileSync(`${f}.pub`, 'utf8').trim().split(/\s+/) as [string, string];
    const fp = execFileSync('ssh-keygen', ['-lf', `${f}.pub`], { encoding: 'utf8' }).split(/\s+/)[1]!;
    keys[t] = { type, b64, blob: Buffer.from(b64, 'base64'), fp };
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('fingerprint equals ssh-keygen -l output, and the blob names its type', () => {
  for (const k of Object.values(keys)) {
    assert.equal(fingerprint(k.blob), k.fp);
    assert.equal(keyBlobType(k.blob), k.type);
  }
  assert.equal(keys.ecdsa.type, 'ecdsa-sha2-nistp256');
  assert.equal(keys.rsa.type, 'ssh-rsa');
});

test('lookup name: plain on port 22, [host]:port otherwise, lowercased', () => {
  assert.equal(lookupName('DB1.example', 22), 'db1.example');
  assert.equal(lookupName('10.77.0.11', 2222), '[10.77.0.11]:2222');
});

test('plain entries: host lists, [host]:port, comments and blank lines', () => {
  const text = [
    '# comment',
    '',
    `db1,10.77.0.11 ${keys.ed25519.type} ${keys.ed25519.b64} root@db1`,
    `[10.77.0.12]:2222 ${keys.ecdsa.type} ${keys.ecdsa.b64}`,
    `db3 ${keys.rsa.type} ${keys.rsa.b64}`,
  ].join('\n');
  const { entries, invalid } = parseKnownHosts(text);
  assert.deepEqual(invalid, []);
  assert.equal(entries.length, 3);
  assert.equal(checkHostKey(entries, 'db1', 22, keys.ed25519.blob).status, 'match');
  assert.equal(checkHostKey(entries, '10.77.0.11', 22, keys.ed25519.blob).status, 'match');
  assert.equal(checkHostKey(entries, 'DB1', 22, keys.ed25519.blob).status, 'match');
  assert.equal(checkHostKey(entries, '10.77.0.12', 2222, keys.ecdsa.blob).status, 'match');
  // the same address on port 22 is a different entry: unknown
  assert.equal(checkHostKey(entries, '10.77.0.12', 22, keys.ecdsa.blob).status, 'unknown');
  // db1 on another port is not db1:22
  assert.equal(checkHostKey(entries, 'db1', 2200, keys.ed25519.blob).status, 'unknown');
  assert.equal(checkHostKey(entries, 'db3', 22, keys.rsa.blob).status, 'match');
});

test('a different key for a known host is a mismatch with the presented fingerprint', () => {
  const { entries } = parseKnownHosts(`db1 ${keys.ed25519.type} ${keys.ed25519.b64}\n`);
  const c = checkHostKey(entries, 'db1', 22, keys.other.blob);
  assert.equal(c.status, 'mismatch');
  assert.equal(c.fingerprint, keys.other.fp);
  assert.equal(c.keyType, 'ssh-ed25519');
  if (c.status === 'mismatch') assert.deepEqual(c.knownLines, [1]);
  const u = checkHostKey(entries, 'db9', 22, keys.other.blob);
  assert.equal(u.status, 'unknown');
  assert.equal(u.fingerprint, keys.other.fp);
});

test('hashed entries written by ssh-keygen -H match, also for [host]:port', () => {
  const f = join(dir, 'known_hosts_hashed');
  writeFileSync(
    f,
    [
      `db1 ${keys.ed25519.type} ${keys.ed25519.b64}`,
      `[10.77.0.12]:2222 ${keys.ecdsa.type} ${keys.ecdsa.b64}`,
      `10.77.0.13 ${keys.rsa.type} ${keys.rsa.b64}`,
    ].join('\n') + '\n',
  );
  execFileSync('ssh-keygen', ['-q', '-H', '-f', f], { stdio: 'ignore' });
  const text = readFileSync(f, 'utf8');
  // Every line starts with the hashed form (a plain 'db1' could also occur by chance inside the base64 of a hash).
  assert.ok(text.split('\n').filter(Boolean).every((l) => l.startsWith('|1|')), `ssh-keygen -H hashed the names: ${text}`);
  const { entries, invalid } = parseKnownHosts(text);
  assert.deepEqual(invalid, []);
  assert.equal(entries.length, 3);
  assert.ok(entries.every((e) => e.hashed));
  assert.equal(checkHostKey(entries, 'db1', 22, keys.ed25519.blob).status, 'match');
  assert.equal(checkHostKey(entries, '10.77.0.12', 2222, keys.ecdsa.blob).status, 'match');
  assert.equal(checkHostKey(entries, '10.77.0.13', 22, keys.rsa.blob).status, 'match');
  assert.equal(checkHostKey(entries, 'db2', 22, keys.ed25519.blob).status, 'unknown');
  assert.equal(checkHostKey(entries, 'db1', 22, keys.other.blob).status, 'mismatch');
});

test('hashed entry computed by hand (HMAC-SHA1 of the lookup name with the salt)', () => {
  const salt = Buffer.alloc(20, 7);
  const hash = createHmac('sha1', salt).update('[db2]:2022').digest();
  const line = `|1|${salt.toString('base64')}|${hash.toString('base64')} ${keys.ed25519.type} ${keys.ed25519.b64}`;
  const { entries } = parseKnownHosts(line);
  assert.equal(checkHostKey(entries, 'db2', 2022, keys.ed25519.blob).status, 'match');
  assert.equal(checkHostKey(entries, 'db2', 22, keys.ed25519.blob).status, 'unknown');
});

test('wildcards and negation', () => {
  const text = [`*.lab,!bad.lab ${keys.ed25519.type} ${keys.ed25519.b64}`, `10.77.0.? ${keys.rsa.type} ${keys.rsa.b64}`].join('\n');
  const { entries } = parseKnownHosts(text);
  assert.equal(checkHostKey(entries, 'db1.lab', 22, keys.ed25519.blob).status, 'match');
  assert.equal(checkHostKey(entries, 'bad.lab', 22, keys.ed25519.blob).status, 'unknown');
  assert.equal(checkHostKey(entries, '10.77.0.5', 22, keys.rsa.blob).status, 'match');
  assert.equal(checkHostKey(entries, '10.77.0.55', 22, keys.rsa.blob).status, 'unknown');
});

test('@revoked rejects the key everywhere; @cert-authority is not a host key', () => {
  const text = [
    `db1 ${keys.ed25519.type} ${keys.ed25519.b64}`,
    `@revoked * ${keys.ed25519.type} ${keys.ed25519.b64}`,
    `@cert-authority *.lab ${keys.rsa.type} ${keys.rsa.b64}`,
  ].join('\n');
  const { entries, invalid } = parseKnownHosts(text);
  assert.deepEqual(invalid, []);
  assert.equal(checkHostKey(entries, 'db1', 22, keys.ed25519.blob).status, 'revoked');
  assert.equal(checkHostKey(entries, 'x.lab', 22, keys.rsa.blob).status, 'unknown');
});

test('malformed lines are reported with their line number and skipped', () => {
  const text = [
    `db1 ${keys.ed25519.type}`,
    `db1 ${keys.ed25519.type} not*base64`,
    `db1 ssh-rsa ${keys.ed25519.b64}`,
    `|1|abc|def ${keys.ed25519.type} ${keys.ed25519.b64}`,
    `@weird db1 ${keys.ed25519.type} ${keys.ed25519.b64}`,
    `db2 ${keys.ed25519.type} ${keys.ed25519.b64}`,
  ].join('\n');
  const { entries, invalid } = parseKnownHosts(text);
  assert.deepEqual(
    invalid.map((i) => i.line),
    [1, 2, 3, 4, 5],
  );
  assert.equal(entries.length, 1);
  assert.equal(entries[0]!.line, 6);
});

test('host key algorithms offered follow the key types known for the host', () => {
  const text = [`db1 ${keys.rsa.type} ${keys.rsa.b64}`, `db2 ${keys.ecdsa.type} ${keys.ecdsa.b64}`, `db2 ${keys.ed25519.type} ${keys.ed25519.b64}`].join('\n');
  const { entries } = parseKnownHosts(text);
  assert.deepEqual(hostKeyAlgorithmsFor(entries, 'db1', 22), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  assert.deepEqual(hostKeyAlgorithmsFor(entries, 'db2', 22), ['ssh-ed25519', 'ecdsa-sha2-nistp256']);
  assert.equal(hostKeyAlgorithmsFor(entries, 'db3', 22), null);
});
