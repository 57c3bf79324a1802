/**
 * The Docker playground, checked without a Docker engine: `docker compose config` (the plugin that
 * scripts/setup.sh caches) accepts docker-compose.yml, the file wires the services together,
 * config/docker.yaml validates with heir's loader using the environment compose gives the heir
 * container, and the emulator state, init script and config agree on names and ids.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { spawnSync } from 'node:child_process';
import { parseDocument } from 'yaml';
import { validateConfigText } from '../../src/config/load';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

function compose(): any {
  const doc = parseDocument(read('docker-compose.yml'), { merge: true, uniqueKeys: true });
  assert.deepEqual(doc.errors.map((e) => e.message), []);
  return doc.toJS({ maxAliasCount: 100 });
}

const COMPOSE = path.join(process.env.HEIR_LAB_CACHE || '/var/cache/heir-lab', 'docker-compose', 'cli-plugins', 'docker-compose');

/** `docker compose -f FILE config --format json`, with the project folder the repository's root. */
function composeConfig(file: string): { status: number | null; stdout: string; stderr: string } {
  assert.ok(fs.existsSync(COMPOSE), `${COMPOSE} is missing: run scripts/setup.sh (it caches the docker-compose plugin)`);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('COMPOSE_') && !k.startsWith('DOCKER_')) env[k] = v;
  const r = spawnSync(COMPOSE, ['-f', file, '--project-directory', ROOT, 'config', '--format', 'json'], { cwd: ROOT, env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.error, undefined, String(r.error));
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('docker compose config accepts docker-compose.yml, and rejects a broken copy of it', () => {
  const r = composeConfig(path.join(ROOT, 'docker-compose.yml'));
  assert.equal(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout);
  const heir = c.services.heir;
  const emu = c.services['ecs-emulator'];
  // heir's image is built here, never pulled: either its own build or pull_policy: build.
  assert.ok(heir.build || heir.pull_policy === 'build', 'heir has a build: or pull_policy: build');
  assert.equal(heir.build?.dockerfile, 'docker/Dockerfile');
  assert.equal(heir.image, emu.image);
  assert.equal(heir.environment.ALIBABA_CLOUD_ECS_METADATA_DISABLED, 'true');
  assert.ok(emu.healthcheck?.test?.length, 'the emulator has a healthcheck');
  for (const [dep, cond] of Object.entries<any>(heir.depends_on)) assert.equal(cond.condition, 'service_healthy', `heir waits for ${dep} to be healthy`);
  assert.deepEqual(Object.keys(heir.depends_on).sort(), ['ecs-emulator', 'mysql1', 'mysql2', 'mysql3']);
  // The validation is real: a misspelt key makes the same command fail and name it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-compose-'));
  try {
    const bad = path.join(dir, 'docker-compose.yml');
    fs.writeFileSync(bad, read('docker-compose.yml').replace(/^(\s+)healthcheck:/m, '$1healthchek:'));
    const b = composeConfig(bad);
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, /healthchek/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

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
  assert.equal(heir.image, emu.image, 'heir and the emulator run one image');
  assert.deepEqual(heir.build, emu.build, 'each service builds that image from the repository, so none pulls it');
  assert.equal(heir.environment.ALIBABA_CLOUD_ECS_METADATA_DISABLED, 'true', 'no real credentials from an ECS RAM role');
  assert.equal(heir.depends_on['ecs-emulator'].condition, 'service_healthy');
  assert.ok(emu.healthcheck?.test, 'ecs-emulator healthcheck');
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
