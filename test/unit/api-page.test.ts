/**
 * The topology page's files: served by the API from the package's web/ folder (found from
 * the compiled dist/), with a policy that runs only the page's own script; nothing else of the
 * folder or the package is reachable; the files ship with the package and the Docker image.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_WEB_ROOT, startApiServer, type ApiProvider, type ApiServer } from '../../src/daemon/api';

const ROOT = path.resolve(__dirname, '..', '..', '..');
let api: ApiServer;

const provider: ApiProvider = {
  listClusters: () => [{ name: 'app1', master: 'db1', verdict: 'Healthy', blocked: false }],
  clusterStatus: () => undefined,
  reports: (name, limit) => (name === 'app1' ? { reports: [{ id: 'r1' }, { id: 'r2' }, { id: 'r3' }].slice(0, limit ?? 50), warnings: [] } : undefined),
  switchover: async () => ({ ok: true, message: '' }),
  failover: async () => ({ ok: true, message: '' }),
  ack: async () => ({ ok: true, message: '' }),
};

before(async () => {
  api = await startApiServer({ listen: '127.0.0.1:0', provider });
});
after(async () => {
  await api.close();
});

test('the web root is the package\'s web/ folder, with the page\'s three files', () => {
  assert.equal(DEFAULT_WEB_ROOT, path.join(ROOT, 'web'));
  for (const f of ['index.html', 'app.js', 'style.css']) assert.ok(fs.existsSync(path.join(DEFAULT_WEB_ROOT, f)), `web/${f}`);
});

test('GET / is the page; its script and style under /ui/; a policy allows only them', async () => {
  const page = await fetch(`${api.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await page.text();
  assert.match(html, /src="\/ui\/app\.js"/);
  assert.match(html, /href="\/ui\/style\.css"/);
  assert.doesNotMatch(html, /<script>[^<]/, 'no inline script');
  const js = await fetch(`${api.url}/ui/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  assert.equal(await js.text(), fs.readFileSync(path.join(ROOT, 'web', 'app.js'), 'utf8'));
  const css = await fetch(`${api.url}/ui/style.css`);
  assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
});

test('nothing else is served from the web root or the package', async () => {
  for (const p of ['/ui/', '/ui/index.html', '/ui/../package.json', '/ui/%2e%2e/package.json', '/web/app.js', '/index.html', '/app.js']) {
    const r = await fetch(`${api.url}${p}`);
    assert.equal(r.status, 404, p);
    assert.match(r.headers.get('content-type') ?? '', /application\/json/, p);
  }
  const post = await fetch(`${api.url}/`, { method: 'POST' });
  assert.equal(post.status, 405);
});

test('a missing page file is a clear 500 naming the file', async () => {
  const other = await startApiServer({ listen: '127.0.0.1:0', provider, webRoot: '/nonexistent/heir-web' });
  try {
    const r = await fetch(`${other.url}/`);
    assert.equal(r.status, 500);
    assert.match(((await r.json()) as any).error, /\/nonexistent\/heir-web\/index\.html.*ENOENT/);
  } finally {
    await other.close();
  }
});

test('reports take a limit; a bad one is a 400 naming it', async () => {
  const r = (await (await fetch(`${api.url}/clusters/app1/reports?limit=2`)).json()) as any;
  assert.deepEqual(r.reports.map((x: { id: string }) => x.id), ['r1', 'r2']);
  for (const bad of ['0', '-1', 'x', '1.5']) {
    const b = await fetch(`${api.url}/clusters/app1/reports?limit=${bad}`);
    assert.equal(b.status, 400, bad);
    assert.match(((await b.json()) as any).error, /limit/);
  }
});

test('the page ships: package.json "files" and the Docker image carry web/', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.ok(pkg.files.includes('web/'), 'package.json files lists web/');
  assert.ok(pkg.files.includes('dist/src/') && pkg.files.includes('bin/'));
  const docker = fs.readFileSync(path.join(ROOT, 'docker', 'Dockerfile'), 'utf8');
  assert.match(docker, /COPY web \.\/web/);
  assert.match(docker, /COPY --from=build \/src\/web \.\/web/);
});
