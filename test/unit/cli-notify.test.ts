/** `heir notify test` end to end: the CLI process delivers to a receiver on 127.0.0.1 started here. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import { ExitCode } from '../../src/cli/exit';
import { runHeir, type CliResult } from '../support/cli';

const bodies: { url: string; body: string; sig?: string }[] = [];
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    bodies.push({ url: req.url!, body: Buffer.concat(chunks).toString(), sig: req.headers['x-heir-signature'] as string | undefined });
    res.statusCode = req.url!.startsWith('/bad') ? 400 : 200;
    res.end(req.url!.startsWith('/bad') ? 'nope' : '{"errcode":0,"errmsg":"ok"}');
  });
});
let port = 0;
before(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runHeir(args, { env });
}

function config(hooks: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-notify-cli-'));
  dirs.push(dir);
  const f = path.join(dir, 'heir.yaml');
  fs.writeFileSync(
    f,
    `clusters:
  - name: app1
    mysql: {user: u, password: p, replication_user: r, replication_password: rp}
    nodes: [{name: db1, host: 10.0.0.1}, {name: db2, host: 10.0.0.2}]
    webhooks:
${hooks}`,
  );
  return f;
}

test('notify test: delivers a signed test event to every webhook, exit 0', async () => {
  const f = config(`      - {type: generic, url: "http://127.0.0.1:${port}/good", secret: "\${env:HOOK_SECRET}"}
      - {type: dingtalk, url: "http://127.0.0.1:${port}/ding?access_token=t0ken", secret: s}
`);
  const r = await run(['notify', 'test', '--config', f], { HOOK_SECRET: 'hs' });
  assert.equal(r.code, ExitCode.OK, r.stderr + r.stdout);
  assert.match(r.stdout, /^app1\s+generic\s+http:\/\/127\.0\.0\.1:\d+\/good\s+delivered\s+1$/m);
  assert.match(r.stdout, /^app1\s+dingtalk\s+http:\/\/127\.0\.0\.1:\d+\/ding\?…\s+delivered\s+1$/m);
  assert.ok(!r.stdout.includes('t0ken'));
  const generic = bodies.find((b) => b.url === '/good')!;
  assert.equal(JSON.parse(generic.body).type, 'test');
  assert.equal(generic.sig, 'sha256=' + createHmac('sha256', 'hs').update(generic.body).digest('hex'));
});

test('notify test: a rejected webhook is exit 1 with the reason', async () => {
  const f = config(`      - {type: slack, url: "http://127.0.0.1:${port}/bad", max_attempts: 2}
`);
  const r = await run(['notify', 'test', '--json', '--config', f]);
  assert.equal(r.code, ExitCode.FAILED);
  const out = JSON.parse(r.stdout);
  assert.equal(out.ok, false);
  assert.equal(out.results[0].outcome, 'failed');
  assert.equal(out.results[0].error, 'HTTP 400: nope');
});
