/**
 * The Docker playground, checked without Docker: docker-compose.yml parses and wires the services
 * together, config/docker.yaml validates with heir's loader using the environment compose gives the
 * heir container, and the emulator state, init script and config agree on names and ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument } from 'yaml';
import { validateConfigText } from '../../src/config/load';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

function compose(): any {
  const doc = parseDocument(read('docker-compose.yml'), { merge: true, uniqueKeys: true });
  assert.deepEqual(doc.errors.map((e) => e.message), []);
  return doc.toJS({ maxAliasCount: 100 });
}

test('docker-compose.yml: the services and their wiring', () => {
  const c = compose();
  assert.deepEqual(Object.keys(c.services).sort(), ['ecs-emulator', 'heir', 'mysql1', 'mysql2', 'mysql3']);
  for (const n of ['mysql1', 'mysql2', 'mysql3']) {
    const s = c.services[n];
    assert.equal(s.image, 'mysql:8.4', n);
    for (const flag of ['--gtid-mode=ON', '--enforce-gtid-consistency=ON', `--server-id=${n.slice(-1)}`]) assert.ok(s.command.includes(flag), `${n} ${flag}`);
    assert.ok(s.volumes.some((v: string) => v.startsWith('./docker/mysql/init:/docker-entrypoint-initdb.d')), n);
    assert.ok(s.healthcheck?.test, `${n} healthcheck`);
  }
  assert.equal(c.services.mysql1.environment.HEIR_ROLE, 'source');
  for (const n of ['mysql2', 'mysql3']) {
    assert.equal(c.services[n].environment.HEIR_ROLE, 'replica');
    assert.equal(c.services[n].environment.HEIR_SOURCE_HOST, 'mysql1');
    assert.equal(c.services[n].depends_on.mysql1.condition, 'service_healthy');
  }
  const emu = c.services['ecs-emulator'];
  assert.equal(emu.build.dockerfile, 'docker/Dockerfile');
  assert.ok(fs.existsSync(path.join(ROOT, emu.build.context, emu.build.dockerfile)));
  assert.deepEqual(emu.entrypoint, ['node', 'dist/test/ecs-emulator/main.js']);
  assert.ok(fs.existsSync(path.join(ROOT, 'test/ecs-emulator/main.ts')), 'the emulator entry point the compose file runs');
  const heir = c.services.heir;
  assert.equal(heir.image, emu.image, 'heir runs the image built for the emulator service');
  assert.deepEqual(heir.command, ['daemon', '--config', '/etc/heir/heir.yaml']);
  assert.ok(heir.volumes.includes('./config/docker.yaml:/etc/heir/heir.yaml:ro'));
  for (const p of heir.ports.concat(emu.ports)) assert.match(p, /^127\.0\.0\.1:/, `published only on the host's loopback: ${p}`);
  // Every bind-mounted file or folder exists in the repository.
  for (const s of Object.values<any>(c.services)) {
    for (const v of s.volumes ?? []) {
      const src = String(v).split(':')[0]!;
      if (src.startsWith('./')) assert.ok(fs.existsSync(path.join(ROOT, src)), `missing ${src}`);
    }
  }
});

test('config/docker.yaml validates with the loader, given the heir container\'s environment', () => {
  const c = compose();
  const env = c.services.heir.environment as Record<string, string>;
  const text = read('config/docker.yaml');
  for (const m of text.matchAll(/\$\{env:([A-Z0-9_]+)\}/g)) assert.ok(env[m[1]!] !== undefined, `compose does not set ${m[1]} for heir`);
  const v = validateConfigText(text, { env, sourceName: 'config/docker.yaml' });
  assert.deepEqual(v.warnings, []);
  const cluster = v.config.clusters[0]!;
  assert.deepEqual(cluster.nodes.map((n) => n.host), ['mysql1', 'mysql2', 'mysql3']);
  assert.equal(cluster.mysql.password, c.services.mysql1.environment.HEIR_MYSQL_PASSWORD, 'heir and the servers agree on the admin password');
  assert.equal(cluster.mysql.replication_password, c.services.mysql1.environment.HEIR_REPL_PASSWORD);
  assert.equal(v.config.heir.api.token, env.HEIR_API_TOKEN);
  assert.equal(v.config.heir.cloud?.endpoint, 'ecs-emulator:8443');
  assert.ok(c.services['ecs-emulator'].command.join(' ').includes('--port 8443'));
  assert.match(env.ALIBABA_CLOUD_CREDENTIALS_URI!, /^http:\/\/ecs-emulator:8444\/__credentials$/);
  assert.ok(c.services['ecs-emulator'].command.join(' ').includes('--control-port 8444'));
});

test('emulator state, init script and config agree', () => {
  const state = JSON.parse(read('docker/ecs-emulator/state.json'));
  const cfg = validateConfigText(read('config/docker.yaml'), { env: { HEIR_API_TOKEN: 't', HEIR_MYSQL_PASSWORD: 'p', HEIR_REPL_PASSWORD: 'r' } }).config;
  const cluster = cfg.clusters[0]!;
  assert.equal(state.region, cfg.heir.cloud?.region_id);
  assert.deepEqual(state.instances.map((i: any) => i.id).sort(), cluster.nodes.map((n) => n.instance_id).sort());
  assert.equal(cluster.address.type, 'eni');
  const eni = state.enis.find((e: any) => cluster.address.type === 'eni' && e.id === cluster.address.eni_id);
  assert.ok(eni, 'the configured ENI exists in the emulator');
  assert.equal(eni.instanceId, cluster.nodes.find((n) => n.name === 'mysql1')!.instance_id, 'the address starts on the first master');
  assert.equal(eni.privateIp, cluster.address.type === 'eni' ? cluster.address.floating_ip : '');
  const init = read('docker/mysql/init/10-heir.sh');
  assert.match(init, new RegExp(`CREATE USER '${cluster.mysql.user}'@'%'`));
  assert.match(init, new RegExp(`CREATE USER '${cluster.mysql.replication_user}'@'%'`));
  assert.match(init, /SOURCE_AUTO_POSITION = 1/);
  assert.ok((fs.statSync(path.join(ROOT, 'docker/mysql/init/10-heir.sh')).mode & 0o111) !== 0, 'init script is executable');
});
