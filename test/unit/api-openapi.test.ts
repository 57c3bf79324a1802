/**
 * The OpenAPI document (src/daemon/openapi.ts) is valid OpenAPI 3.1, lists every error code,
 * and the checker the integration test uses (test/support/openapi.ts) rejects answers that
 * do not match it. Real answers of a running daemon are checked in daemon-actions.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '../../src/daemon/api';
import { openApiDocument } from '../../src/daemon/openapi';
import { openApiChecker } from '../support/openapi';

test('the document is valid OpenAPI 3.1 and names every error code', async () => {
  const doc = openApiDocument('1.2.3');
  await openApiChecker(doc);
  assert.equal(doc.openapi, '3.1.0');
  assert.deepEqual((doc as any).components.schemas.Error.properties.code.enum, Object.keys(ERROR_CODES));
});

test('the checker rejects answers the document does not describe', async () => {
  const c = await openApiChecker(openApiDocument());
  c.check('GET', '/api/v1/clusters', 200, { clusters: [] });
  c.check('GET', '/clusters', 200, { clusters: [] }, 'application/json; charset=utf-8');
  assert.throws(() => c.check('GET', '/api/v1/clusters', 200, { clusters: [{ name: 'x' }] }), /does not match the document/);
  assert.throws(() => c.check('GET', '/api/v1/clusters', 500, { error: 'x', code: 'internal' }), /does not list/);
  assert.throws(() => c.check('GET', '/api/v1/nothing', 404, {}), /no such path/);
  assert.throws(() => c.check('DELETE', '/api/v1/clusters', 405, {}), /has no delete/);
  assert.throws(() => c.check('GET', '/api/v1/operations/x', 404, { error: 'gone', code: 'no_such_code' }), /does not match/);
  assert.throws(() => c.check('POST', '/api/v1/clusters/a/switchover', 202, { id: 'x', state: 'done' }), /does not match/);
  assert.ok(c.unexercised().includes('GET /api/v1/operations/{id}') === false, 'a checked 404 counts as exercised');
  assert.ok(c.unexercised().includes('GET /health'));
});

test('operations: a running step is replaced when it ends; the oldest finished ones are forgotten, running ones kept', async () => {
  const { OperationStore } = await import('../../src/daemon/operations');
  const s = new OperationStore();
  const first = s.create('switchover', 'app1', { to: 'db2' }, 'api test');
  s.step(first, { name: 'pause', outcome: 'running', node: 'db1', detail: 'writes stop' });
  s.step(first, { name: 'pause', outcome: 'ok', node: 'db1', durationMs: 4, detail: 'writes stopped' });
  s.step(first, { name: 'repoint', outcome: 'running', node: 'db3', detail: '' });
  assert.deepEqual(first.steps.map((x) => [x.name, x.outcome]), [['pause', 'ok'], ['repoint', 'running']]);
  const done = s.create('failover', 'app1', {}, 'api test');
  s.finish(done, { ok: true, message: 'promoted', report: { id: 'r1' } });
  assert.deepEqual([done.state, done.result, done.report], ['succeeded', { ok: true, message: 'promoted' }, { id: 'r1' }]);
  for (let i = 0; i < 250; i++) s.finish(s.create('failover', 'app1', {}, 'api test'), { ok: false, message: 'refused' });
  assert.equal(s.get(first.id)?.state, 'running', 'a running operation is never forgotten');
  assert.equal(s.get(done.id), undefined, 'the oldest finished one is');
});
