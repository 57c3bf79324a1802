/**
 * Under heir.ha the CLI changes no cluster by itself: a failover, switchover, rejoin or address
 * move is journaled in etcd under the lease of the manager that leads the cluster, which a CLI
 * does not hold. Each is refused (exit 3) before anything is read or touched, naming the
 * cluster and where the action is taken instead; `heir ack` goes through the daemon's API
 * and needs heir.api.token. No etcd, no server: the refusal comes first.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ExitCode } from '../../src/cli/exit';
import { runHeir } from '../support/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-cli-ha-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = path.join(dir, 'heir.yaml');
fs.writeFileSync(
  config,
  [
    'heir:',
    `  state_dir: ${dir}/state`,
    '  ha:',
    '    manager_id: m1',
    '    etcd:',
    '      endpoints: [http://127.0.0.1:1]',
    'clusters:',
    '  - name: c1',
    '    mysql: { user: heir, password: pw, replication_user: repl, replication_password: rpw }',
    '    nodes:',
    '      - { name: db1, host: 127.0.0.1, port: 1 }',
    '      - { name: db2, host: 127.0.0.1, port: 2 }',
    '',
  ].join('\n'),
);

for (const [args, what, instead] of [
  [['failover', '--cluster', 'c1', '--master', 'db1'], 'a failover', /POST \/api\/v1\/clusters\/c1\/failover/],
  [['switchover', '--cluster', 'c1', '--to', 'db2'], 'a switchover', /POST \/api\/v1\/clusters\/c1\/switchover with \{"to": "db2"\}/],
  [['rejoin', '--cluster', 'c1', '--node', 'db1'], 'a rejoin of db1', /failover\.auto_rejoin/],
  [['eni', 'move', '--cluster', 'c1', '--to', 'db2', '--force'], 'an address move', /the leader daemon moves the address/],
] as const) {
  test(`heir ${args.slice(0, args[0] === 'eni' ? 2 : 1).join(' ')} under heir.ha: refused, nothing touched`, async () => {
    const r = await runHeir(['--config', config, ...args]);
    assert.equal(r.code, ExitCode.BLOCKED, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`heir\\.ha is set: ${what} of c1 is journaled in etcd under the lease of the manager that leads the cluster`));
    assert.match(r.stderr, instead);
    assert.equal(fs.existsSync(path.join(dir, 'state', 'c1')), false, 'nothing written to state_dir');
  });
}

test('heir ack under heir.ha without heir.api.token: refused, naming the token', async () => {
  const r = await runHeir(['--config', config, 'ack', '--cluster', 'c1']);
  assert.equal(r.code, ExitCode.FAILED, r.stdout + r.stderr);
  assert.match(r.stderr, /heir\.ha is set: the acknowledgement of c1 is recorded in etcd by the daemon that leads it, through its API, and heir\.api\.token is not set/);
  assert.equal(fs.existsSync(path.join(dir, 'state', 'c1')), false);
});
