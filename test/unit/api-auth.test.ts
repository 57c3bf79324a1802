/**
 * HTTP API: routing (/api/v1 and the unprefixed paths), bearer-token authorization of actions,
 * refusal without a token, error codes, long actions as operations. Loopback only.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer, tokenMatches, parseListen, ApiError, type ApiProvider, type ApiServer, type ActionContext } from '../../src/daemon/api';
import { HeirMetrics } from '../../src/daemon/metrics';

const TOKEN = 'tok-3f9a1c2e8b7d6a5f4e3d2c1b0a998877';

interface Call { action: string; cluster: string; req?: unknown; ctx: ActionContext }

/** A switchover to 'slow' waits for release(): under way (started, a step), then done. */
let release: (() => void) | undefined;

function fakeProvider(calls: Call[]): ApiProvider {
  const clusters = [
    { name: 'app1', master: 'db1', verdict: 'healthy', blocked: false },
    { name: 'app2', master: 'db4', verdict: 'healthy', blocked: true },
  ];
  return {
    listClusters: () => clusters,
    clusterStatus: (name) => (clusters.some((c) => c.name === name) ? { name, nodes: [{ name: 'db1', role: 'master' }] } : undefined),
    reports: (name) => (clusters.some((c) => c.name === name) ? { reports: [{ id: 'r1', kind: 'failover', result: 'success' }], warnings: [] } : undefined),
    async switchover(cluster, req, ctx) {
      calls.push({ action: 'switchover', cluster, req, ctx });
      if (req.to === 'busy') throw new ApiError(409, `cluster ${cluster} is locked by a failover in progress`);
      if (req.to === 'nonode') throw new ApiError(404, `${cluster} has no node "nonode"`, 'unknown_node');
      if (req.to === 'slow') {
        ctx.started?.();
        ctx.step?.({ name: 'pause', outcome: 'running', node: 'db1', detail: 'writes stop' });
        await new Promise<void>((r) => (release = r));
        ctx.step?.({ name: 'pause', outcome: 'ok', node: 'db1', durationMs: 3, detail: 'writes stopped' });
        ctx.step?.({ name: 'promote', outcome: 'ok', node: 'slow', durationMs: 2, detail: 'slow is writable' });
        return { ok: true, message: 'switched: slow is the master', outcome: 'switched', report: { kind: 'switchover', id: 'sw1', cluster, outcome: 'switched', summary: 'slow is the master' } };
      }
      if (req.to === 'crash') {
        ctx.started?.();
        throw new Error('the executor broke');
      }
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
    assert.equal(s.status, 202, 'a long action answers 202 with its operation');
    assert.equal(s.headers.get('location'), `/api/v1/operations/${s.json.id}`);
    assert.equal(s.json.state, 'succeeded', 'the provider had already ended');
    assert.equal(s.json.result.message, 'switched over to db2');
    assert.match(s.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.action, 'switchover');
    assert.equal(calls[0]!.cluster, 'app1');
    assert.deepEqual(calls[0]!.req, { to: 'db2' });
    assert.equal(calls[0]!.ctx.remote, '127.0.0.1');
    assert.equal(calls[0]!.ctx.requestId, s.headers.get('x-request-id'));

    const f = await call(api, 'POST', '/clusters/app2/failover', { auth: `bearer ${TOKEN}` });
    assert.equal(f.status, 202);
    assert.equal(f.json.state, 'failed', 'ok:false: a failed operation');
    assert.match(f.json.result.message, /master is alive/);
    assert.deepEqual(calls[1]!.req, {});

    const f2 = await call(api, 'POST', '/api/v1/clusters/app2/failover', { token: TOKEN, body: { to: 'db5' } });
    assert.deepEqual(calls[2]!.req, { to: 'db5' });
    assert.equal(f2.status, 202);
    assert.equal(f2.json.state, 'failed');

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
    assert.equal(busy.status, 409, 'refused before it started: an error, not an operation');
    assert.match(busy.json.error, /locked/);
    assert.equal(busy.json.code, 'busy');
    const nonode = await call(api, 'POST', '/api/v1/clusters/app1/switchover', { token: TOKEN, body: { to: 'nonode' } });
    assert.deepEqual([nonode.status, nonode.json.code], [404, 'unknown_node']);
    const unknown = await call(api, 'POST', '/clusters/zzz/ack', { token: TOKEN });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.code, 'unknown_cluster');
    assert.equal(calls.length, 2);
  });

  test('every error carries its code', async () => {
    const codes = async (method: string, path: string, o: Parameters<typeof call>[3] = {}) => {
      const r = await call(api, method, path, o);
      return [r.status, r.json?.code];
    };
    assert.deepEqual(await codes('GET', '/api/v1/nothing'), [404, 'not_found']);
    assert.deepEqual(await codes('GET', '/api/v1/clusters/nope'), [404, 'unknown_cluster']);
    assert.deepEqual(await codes('GET', '/api/v1/operations/nope'), [404, 'unknown_operation']);
    assert.deepEqual(await codes('DELETE', '/api/v1/clusters/app1'), [405, 'method_not_allowed']);
    assert.deepEqual(await codes('POST', '/api/v1/clusters/app1/ack'), [401, 'unauthorized']);
    assert.deepEqual(await codes('POST', '/api/v1/clusters/app1/switchover', { token: TOKEN, body: {} }), [400, 'bad_request']);
    assert.deepEqual(await codes('POST', '/api/v1/clusters/app1/switchover', { token: TOKEN, body: { to: 'x'.repeat(70_000) } }), [413, 'payload_too_large']);
  });

  test('a long action: 202 at once, then the operation shows its steps, and the report once done', async () => {
    release = undefined;
    const s = await call(api, 'POST', '/api/v1/clusters/app1/switchover', { token: TOKEN, body: { to: 'slow' } });
    assert.equal(s.status, 202);
    assert.equal(s.json.state, 'running');
    assert.equal(s.json.kind, 'switchover');
    assert.equal(s.json.cluster, 'app1');
    assert.deepEqual(s.json.request, { to: 'slow' });
    assert.match(s.json.requestedBy, /^api 127\.0\.0\.1 \(request [0-9a-f-]{36}\)$/);
    assert.deepEqual(s.json.steps.map((x: any) => [x.name, x.outcome]), [['pause', 'running']]);
    assert.equal(s.json.report, null);
    const loc = s.headers.get('location')!;
    const running = await call(api, 'GET', loc);
    assert.equal(running.json.state, 'running');
    const go = release as (() => void) | undefined;
    assert.ok(go, 'the provider waits');
    go();
    let done: any;
    for (let i = 0; i < 100; i++) {
      done = (await call(api, 'GET', loc)).json;
      if (done.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(done.state, 'succeeded');
    assert.deepEqual(done.steps.map((x: any) => [x.name, x.outcome]), [['pause', 'ok'], ['promote', 'ok']]);
    assert.equal(done.result.outcome, 'switched');
    assert.equal(done.result.report, undefined, 'the report is the operation\'s own field');
    assert.equal(done.report.id, 'sw1');
    assert.ok(done.finishedAt);
    // The unprefixed path serves the same operation.
    assert.equal((await call(api, 'GET', `/operations/${done.id}`)).json.state, 'succeeded');

    const c = await call(api, 'POST', '/api/v1/clusters/app1/switchover', { token: TOKEN, body: { to: 'crash' } });
    assert.equal(c.status, 202, 'it had started: the failure is the operation\'s');
    let crashed: any;
    for (let i = 0; i < 100; i++) {
      crashed = (await call(api, 'GET', c.headers.get('location')!)).json;
      if (crashed.state !== 'running') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(crashed.state, 'failed');
    assert.equal(crashed.error.code, 'internal');
    assert.match(crashed.error.message, /the executor broke/);
  });

  test('the OpenAPI document is served', async () => {
    const d = await call(api, 'GET', '/api/v1/openapi.json');
    assert.equal(d.status, 200);
    assert.equal(d.json.openapi, '3.1.0');
    assert.ok(d.json.paths['/api/v1/operations/{id}']);
    assert.ok(d.json.components.securitySchemes.bearer, 'not mangled by the redaction of secret-looking keys');
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
