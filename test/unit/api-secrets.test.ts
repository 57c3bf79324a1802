/** HTTP API: no password, token or secret ever leaves in a response. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer, redactSecrets, REDACTED, type ApiProvider, type ApiServer } from '../../src/daemon/api';

const TOKEN = 'api-token-5b1e0c7d9a8f6e4d3c2b1a00';
const ADMIN_PW = 'Adm1n-pa55word-42';
const REPL_PW = 'r3pl-S3cret-99';
const HOOK_SECRET = 'SECabcdef0123456789';

// A careless provider: hands out the whole cluster config and errors quoting secrets.
const clusterConfig = {
  name: 'app1',
  mysql: { user: 'heir', password: ADMIN_PW, replication_user: 'repl', replication_password: REPL_PW },
  ssh: { user: 'root', private_key: '/etc/heir/id_ed25519' },
  webhooks: [{ type: 'dingtalk', url: `https://oapi.dingtalk.com/robot/send?access_token=${HOOK_SECRET}`, secret: HOOK_SECRET }],
  nodes: [{ name: 'db1', host: '10.0.0.1', port: 3306, last_error: `Access denied for user 'heir' (using password: ${ADMIN_PW})` }],
};
const provider: ApiProvider = {
  listClusters: () => [{ name: 'app1', master: 'db1', verdict: 'healthy', blocked: false, config: clusterConfig }],
  clusterStatus: () => ({ config: clusterConfig, api: { token: TOKEN } }),
  reports: () => ({ reports: [{ id: 'r1', steps: [{ step: 'repoint db3', statement: `CHANGE REPLICATION SOURCE TO SOURCE_PASSWORD='${REPL_PW}'` }] }], warnings: [] }),
  switchover: async () => ({ ok: true, message: `done with ${REPL_PW}` }),
  failover: async () => {
    throw new Error(`connect failed with password ${ADMIN_PW}`);
  },
  ack: async () => ({ ok: true, message: 'ok', echo: TOKEN }),
  health: () => ({ ok: true, token: TOKEN }),
};

let api: ApiServer;
before(async () => {
  api = await startApiServer({ listen: '127.0.0.1:0', token: TOKEN, provider, secrets: () => [ADMIN_PW, REPL_PW, HOOK_SECRET] });
});
after(() => api?.close());

function assertClean(text: string, where: string): void {
  for (const s of [TOKEN, ADMIN_PW, REPL_PW, HOOK_SECRET]) assert.ok(!text.includes(s), `${where} leaks ${s}: ${text}`);
}

test('every endpoint answers without secrets', async () => {
  const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  const requests: [string, string, RequestInit][] = [
    ['GET', '/health', {}],
    ['GET', '/clusters', {}],
    ['GET', '/clusters/app1', {}],
    ['GET', '/clusters/app1/reports', {}],
    ['POST', '/clusters/app1/switchover', { headers: auth, body: JSON.stringify({ to: 'db2' }) }],
    ['POST', '/clusters/app1/failover', { headers: auth }],
    ['POST', '/clusters/app1/ack', { headers: auth }],
    ['POST', '/clusters/app1/ack', { headers: { authorization: `Bearer ${TOKEN}0` } }],
  ];
  for (const [method, path, init] of requests) {
    const res = await fetch(`${api.url}${path}`, { method, ...init });
    const text = await res.text();
    assert.ok(res.status < 600);
    assertClean(text, `${method} ${path}`);
  }
  const status: any = await (await fetch(`${api.url}/clusters/app1`)).json();
  assert.equal(status.config.mysql.password, REDACTED);
  assert.equal(status.config.mysql.replication_password, REDACTED);
  assert.equal(status.config.mysql.user, 'heir', 'non-secret fields stay');
  assert.equal(status.config.nodes[0].host, '10.0.0.1');
  assert.match(status.config.nodes[0].last_error, /Access denied for user 'heir' \(using password: \[redacted\]\)/);
  const failed = await fetch(`${api.url}/clusters/app1/failover`, { method: 'POST', headers: auth });
  assert.equal(failed.status, 500);
  assert.match(((await failed.json()) as any).error, /connect failed with password \[redacted\]/);
});

test('redactSecrets: keys and embedded values, without touching the input', () => {
  const input = { a: { password: 'x', nested: [{ secret_key: 'y', note: `has ${REPL_PW} inside` }] }, n: 3, when: new Date(0), list: new Set(['p']) };
  const out = redactSecrets(input, [REPL_PW, 'ab']);
  assert.deepEqual(out, {
    a: { password: REDACTED, nested: [{ secret_key: REDACTED, note: `has ${REDACTED} inside` }] },
    n: 3,
    when: '1970-01-01T00:00:00.000Z',
    list: ['p'],
  });
  assert.equal(input.a.password, 'x');
  const cyc: any = { name: 'c' };
  cyc.self = cyc;
  assert.deepEqual(redactSecrets(cyc), { name: 'c', self: '[circular]' });
});
