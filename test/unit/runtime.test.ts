/**
 * The Node.js heir runs on, named in several places that must agree: package.json's engines and
 * bin/heir.js's own check, the Node.js that scripts/setup.sh caches for the build, the tests and the
 * sandbox (scripts/node-env.sh), the Docker image, and the @types/node the build checks against.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..', '..', '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const pkg = JSON.parse(read('package.json'));

type Version = [number, number, number];
const parse = (v: string): Version => {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  assert.ok(m, `not a version: ${v}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
};
const atLeast = (v: Version, min: Version) => v[0] !== min[0] ? v[0] > min[0] : v[1] !== min[1] ? v[1] > min[1] : v[2] >= min[2];

function enginesMin(): Version {
  const m = /^>=\s*(\d+\.\d+\.\d+)$/.exec(pkg.engines.node);
  assert.ok(m, `engines.node is not of the form >=X.Y.Z: ${pkg.engines.node}`);
  return parse(m[1]!);
}

function setupNodeVersion(): Version {
  const m = /^HEIR_NODE_VERSION="\$\{HEIR_NODE_VERSION:-(\d+\.\d+\.\d+)\}"$/m.exec(read('scripts/node-env.sh'));
  assert.ok(m, 'scripts/node-env.sh sets no default HEIR_NODE_VERSION');
  return parse(m[1]!);
}

test('engines: Node.js 22.13 or newer, and this test runs on such a Node.js', () => {
  const min = enginesMin();
  // commander 15 needs 22.12; 22.12 warns on stderr at every run when require() loads it.
  assert.ok(atLeast(min, [22, 13, 0]), `engines.node ${pkg.engines.node}: heir needs 22.13`);
  assert.ok(atLeast(parse(process.version), min), `the tests run on ${process.version}, below engines ${pkg.engines.node}`);
});

test('bin/heir.js refuses exactly what engines refuses', () => {
  const [maj, min] = enginesMin();
  const src = read('bin/heir.js');
  assert.ok(src.includes(`major < ${maj} || (major === ${maj} && minor < ${min})`), `bin/heir.js's version check does not match engines ${pkg.engines.node}`);
});

test('setup.sh\'s Node.js, the Docker image and @types/node are one major, an even (LTS) one that engines admits', () => {
  const setup = setupNodeVersion();
  assert.ok(atLeast(setup, enginesMin()), `scripts/node-env.sh: ${setup.join('.')} is below engines ${pkg.engines.node}`);
  assert.equal(setup[0] % 2, 0, `Node.js ${setup[0]} never becomes an LTS line`);
  const froms = [...read('docker/Dockerfile').matchAll(/^FROM node:(\d+)-/gm)].map((m) => Number(m[1]));
  assert.ok(froms.length > 0, 'docker/Dockerfile has no FROM node:N-...');
  for (const f of froms) assert.equal(f, setup[0], `docker/Dockerfile FROM node:${f}, setup.sh caches Node.js ${setup[0]}`);
  const types = /^\^?(\d+)\./.exec(pkg.devDependencies['@types/node']);
  assert.equal(Number(types?.[1]), setup[0], `@types/node ${pkg.devDependencies['@types/node']}, setup.sh caches Node.js ${setup[0]}`);
});

test('bin/heir.js prints only its own output: no runtime warning on stderr', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'heir.js'), '--version'], { encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), pkg.version);
  assert.equal(r.stderr, '', `stderr of heir --version on ${process.version}`);
});
