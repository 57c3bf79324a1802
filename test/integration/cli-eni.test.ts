/**
 * `heir eni status|move` as an operator runs it: the real CLI, the real SDK
 * (credentials through the default chain's environment variables), the ECS
 * emulator, and real MySQL 9.7 servers for the read-only guard and the verify.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { startEcsEmulator, type EcsEmulator } from '../ecs-emulator/server';
import { cloudFor, labRegion, credentialEnv } from '../ecs-emulator/fixture';
import { startCluster, type LabCluster } from '../lab';
import { runHeir, type CliResult } from '../support/cli';
import { acquireLock } from '../../src/failover/lock';

let emu: EcsEmulator;
let lab: LabCluster;
let dir: string;
let configFile: string;

function heir(args: string[]): Promise<CliResult> {
  return runHeir(['--config', configFile, ...args], { env: credentialEnv(emu), timeoutMs: 90_000 });
}

async function holder(): Promise<string | undefined> {
  const r = await heir(['--json', 'eni', 'status']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return JSON.parse(r.stdout).holder;
}

before(async () => {
  emu = await startEcsEmulator({ state: labRegion({ eniOn: 'i-db1', instances: ['i-db1', 'i-db2'] }) });
  lab = await startCluster({ flavor: 'mysql', nodes: 2, name: 'clieni' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-cli-eni-'));
  const base = lab.clusterConfig() as unknown as Record<string, any>;
  const cluster = {
    ...base,
    nodes: base.nodes.map((n: Record<string, unknown>, i: number) => ({ ...n, instance_id: `i-db${i + 1}` })),
    // On loopback every server listens on 127.0.0.1 at its own port: the verify reaches the new holder there.
    address: { type: 'eni', eni_id: 'eni-floating', floating_ip: '127.0.0.1', verify: true },
  };
  configFile = path.join(dir, 'heir.yaml');
  fs.writeFileSync(configFile, stringify({ heir: { state_dir: path.join(dir, 'state'), cloud: cloudFor(emu) }, clusters: [cluster] }));
});

after(async () => {
  await lab?.teardown();
  await emu?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('status names the holder, the ENI and its state', async () => {
  const r = await heir(['eni', 'status']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /holder:\s+db1/);
  assert.match(r.stdout, /eni-floating/);
  assert.match(r.stdout, /InUse/);
});

test('move to a read-only replica is refused, and the ENI stays where it was', async () => {
  const r = await heir(['eni', 'move', '--to', 'db2']);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr + r.stdout, /db2 is read-only/);
  assert.equal(await holder(), 'db1');
});

test('move --force moves it, verified; moving it back to the writable master needs no force', async () => {
  const r = await heir(['eni', 'move', '--to', 'db2', '--force']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /moved: .* from db1 to db2/);
  assert.match(r.stdout, /verified/);
  assert.equal(await holder(), 'db2');
  const back = await heir(['--json', 'eni', 'move', '--to', 'db1']);
  assert.equal(back.code, 0, back.stdout + back.stderr);
  const j = JSON.parse(back.stdout);
  assert.equal(j.ok, true);
  assert.equal(j.from, 'db2');
  assert.equal(await holder(), 'db1');
});

test('move while another action holds the cluster lock is refused (exit 3), the ENI untouched', async () => {
  // This test process stands for a daemon in the middle of a failover.
  const lock = acquireLock(path.join(dir, 'state'), lab.clusterConfig().name as string, 'failover', 'db1 → db2');
  const mutations = () => emu.requests.filter((q) => q.action === 'DetachNetworkInterface' || q.action === 'AttachNetworkInterface').length;
  const before = mutations();
  try {
    const r = await heir(['eni', 'move', '--to', 'db2', '--force']);
    assert.equal(r.code, 3, r.stdout + r.stderr);
    assert.match(r.stderr, /locked by failover/);
    assert.equal(mutations(), before, 'no Detach or Attach was sent');
    assert.equal(await holder(), 'db1');
  } finally {
    lock.release();
  }
});

test('an unknown node is a usage error', async () => {
  const r = await heir(['eni', 'move', '--to', 'db9']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no node db9/);
});
