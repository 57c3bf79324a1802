/** HTTP API: routing, bearer-token authorization of actions, refusal without a token. Loopback only. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer, tokenMatches, parseListen, ApiError, type ApiProvider, type ApiServer, type ActionContext } from '../../src/daemon/api';
import { HeirMetrics } from '../../src/daemon/metrics';

const TOKEN = 'tok-3f9a1c2e8b7d6a5f4e3d2c1b0a998877';

interface Call { action: string; cluster: string; req?: unknown; ctx: ActionContext }

function fakeProvider(calls: Call[]): ApiProvider {
  const clusters = [
    { name: 'app1', master: 'db1', verdict: 'healthy', blocked: false },
    { name: 'app2', master: 'db4', verdict: 'healthy', blocked: true },
  ];
  return {
    listClusters: () => clusters,
    clusterStatus: (name) => (clusters.some((c) => c.name === name) ? { name, nodes: [{ name: 'db1', role: 'master' }] } : undefined),
    reports: (name) => (clusters.some((c) => c.name === name) ? [{ id: 'r1', kind: 'failover', result: 'success' }] : undefined),
    async switchover(cluster, req, ctx) {
      calls.push({ action: 'switchover', cluster, req, ctx });
      if (req.to === 'busy') throw new ApiError(409, `cluster ${cluster} is locked by a failover in progress`);
      return { ok: true, message: `switched over to ${req.to}` };
    },
    async failover(cluster, req, ctx) {
      calls.push({ action: 'failover', cluster, req, ctx });
      return { ok: false, message: 'master is alive: refusing a manual failover without force' };
    },
    async ack(cluster, ctx) {
      calls.push({ action: 'ack', cluster, ctx });
      return { ok: true, message: 'acknowledged' };
    },
  };
}

async function call(api: ApiServer, method: string, path: string, o: { token?: string; auth?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.auth !== undefined) headers.authorization = o.auth;
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${api.url}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

test('parseListen', () => {
  assert.deepEqual(parseListen('127.0.0.1:7878'), { host: '127.0.0.1', port: 7878 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListen('7878'), /heir\.api\.listen/);
  assert.throws(() => parseListen('127.0.0.1:70000'), /heir\.api\.listen/);
});

test('tokenMatches compares exactly', () => {
  assert.equal(tokenMatches(TOKEN, TOKEN), true);
  assert.equal(tokenMatches(TOKEN + 'x', TOKEN), false);
  assert.equal(tokenMatches(TOKEN.slice(0, -1), TOKEN), false);
  assert.equal(tokenMatches('', TOKEN), false);
});

describe('API with a token configured', () => {
  const calls: Call[] = [];
  let api: ApiServer;
  before(async () => {
    api = await startApiServer({ listen: '127.0.0.1:0', token: TOKEN, provider: fakeProvider(calls), metrics: new HeirMetrics({ defaultMetrics: false }) });
  });
  after(() => api?.close());

  test('binds to loopback', () => {
    assert.equal(api.host, '127.0.0.1');
    assert.ok(api.port > 0);
  });

  test('reads are open', async () => {
    const h = await call(api, 'GET', '/health');
    assert.equal(h.status, 200);
    assert.equal(h.json.status, 'ok');
    assert.equal(h.json.actions_enabled, true);
    const l = await call(api, 'GET', '/clusters');
    assert.equal(l.status, 200);
    assert.deepEqual(l.json.clusters.map((c: any) => c.name), ['app1', 'app2']);
    const c = await call(api, 'GET', '/clusters/app1');
    assert.equal(c.status, 200);
    assert.equal(c.json.name, 'app1');
    const r = await call(api, 'GET', '/clusters/app1/reports');
    assert.equal(r.status, 200);
    assert.equal(r.json.reports[0].id, 'r1');
    const m = await call(api, 'GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-type') ?? '', /text\/plain/);
  });

  test('unknown cluster and endpoint answer 404, wrong method 405', async () => {
    const c = await call(api, 'GET', '/clusters/nope');
    assert.equal(c.status, 404);
    assert.match(c.json.error, /unknown cluster "nope"; known: app1, app2/);
    assert.equal((await call(api, 'GET', '/clusters/nope/reports')).status, 404);
    assert.equal((await call(api, 'GET', '/nothing')).status, 404);
    const m = await call(api, 'GET', '/clusters/app1/switchover');
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'POST');
    assert.equal((await call(api, 'POST', '/clusters/app1', { token: TOKEN })).status, 405);
  });

  test('actions without a token are refused and the provider is not called', async () => {
    const before = calls.length;
    for (const [path, body] of [['/clusters/app1/switchover', { to: 'db2' }], ['/clusters/app1/failover', {}], ['/clusters/app1/ack', undefined]] as const) {
      const r = await call(api, 'POST', path, { body });
      assert.equal(r.status, 401, path);
      assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.match(r.json.error, /Authorization: Bearer/);
    }
    assert.equal(calls.length, before);
  });

  test('actions with a wrong or malformed token are refused', async () => {
    const before = calls.length;
    for (const auth of [`Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, 'Bearer ', `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, TOKEN]) {
      const r = await call(api, 'POST', '/clusters/app1/switchover', { auth, body: { to: 'db2' } });
      assert.equal(r.status, 401, auth);
      assert.ok(!r.text.includes(TOKEN), 'response echoes the token');
    }
    assert.equal(calls.length, before);
  });

  test('actions with the right token reach the provider', async () => {
    calls.length = 0;
    const s = await call(api, 'POST', '/clusters/app1/switchover', { token: TOKEN, body: { to: 'db2' } });
    assert.equal(s.status, 200);
    assert.equal(s.json.message, 'switched over to db2');
    assert.match(s.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.action, 'switchover');
    assert.equal(calls[0]!.cluster, 'app1');
    assert.deepEqual(calls[0]!.req, { to: 'db2' });
    assert.equal(calls[0]!.ctx.remote, '127.0.0.1');
    assert.equal(calls[0]!.ctx.requestId, s.headers.get('x-request-id'));

    const f = await call(api, 'POST', '/clusters/app2/failover', { auth: `bearer ${TOKEN}` });
    assert.equal(f.status, 409, 'ok:false maps to 409');
    assert.match(f.json.message, /master is alive/);
    assert.deepEqual(calls[1]!.req, {});

    const f2 = await call(api, 'POST', '/clusters/app2/failover', { token: TOKEN, body: { to: 'db5' } });
    assert.deepEqual(calls[2]!.req, { to: 'db5' });
    assert.equal(f2.status, 409);

    const a = await call(api, 'POST', '/clusters/app2/ack', { token: TOKEN });
    assert.equal(a.status, 200);
    assert.equal(calls[3]!.action, 'ack');
    assert.equal(calls.length, 4);
  });

  test('bad action bodies: 400; provider refusal keeps its status; unknown cluster 404', async () => {
    calls.length = 0;
    assert.equal((await call(api, 'POST', '/clusters/app1/switchover', { token: TOKEN, body: {} })).status, 400);
    assert.equal((await call(api, 'POST', '/clusters/app1/switchover', { token: TOKEN, body: { to: 3 } })).status, 400);
    assert.equal((await call(api, 'POST', '/clusters/app1/switchover', { token: TOKEN, body: { to: 'db2', force: true } })).status, 400);
    assert.equal((await call(api, 'POST', '/clusters/app1/switchover', { token: TOKEN, body: [1] })).status, 400);
    const bad = await fetch(`${api.url}/clusters/app1/failover`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{not json' });
    assert.equal(bad.status, 400);
    assert.equal(calls.length, 0);
    const busy = await call(api, 'POST', '/clusters/app1/switchover', { token: TOKEN, body: { to: 'busy' } });
    assert.equal(busy.status, 409);
    assert.match(busy.json.error, /locked/);
    const unknown = await call(api, 'POST', '/clusters/zzz/ack', { token: TOKEN });
    assert.equal(unknown.status, 404);
    assert.equal(calls.length, 1);
  });
});

describe('API without a token configured', () => {
  const calls: Call[] = [];
  let api: ApiServer;
  before(async () => {
    api = await startApiServer({ listen: '127.0.0.1:0', provider: fakeProvider(calls) });
  });
  after(() => api?.close());

  test('reads work, actions are disabled with a clear message', async () => {
    assert.equal((await call(api, 'GET', '/clusters')).status, 200);
    const h = await call(api, 'GET', '/health');
    assert.equal(h.json.actions_enabled, false);
    for (const auth of [undefined, 'Bearer anything', 'Bearer ']) {
      const r = await call(api, 'POST', '/clusters/app1/switchover', { auth, body: { to: 'db2' } });
      assert.equal(r.status, 403);
      assert.match(r.json.error, /no API token is configured; set heir\.api\.token/);
    }
    assert.equal(calls.length, 0);
    assert.equal((await call(api, 'GET', '/metrics')).status, 404, 'no metrics source given');
  });
});

test('a busy port is reported naming heir.api.listen', async () => {
  const first = await startApiServer({ listen: '127.0.0.1:0', provider: fakeProvider([]) });
  try {
    await assert.rejects(startApiServer({ listen: `127.0.0.1:${first.port}`, provider: fakeProvider([]) }), /EADDRINUSE.*heir\.api\.listen/);
  } finally {
    await first.close();
  }
});
