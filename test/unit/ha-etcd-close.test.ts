/**
 * Closing the etcd client lets the process exit, also with a watch etcd never confirmed (etcd
 * unreachable): the client would otherwise keep reconnecting that watch, on a timer, forever
 * (a daemon that does not stop, a follower's watch left behind). No etcd here: the endpoint is
 * a loopback port nobody listens on.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { connectEtcd } from '../../src/ha/etcd';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

it('a client closed with a watch etcd never confirmed lets the process exit', async () => {
  const port = await freePort();
  const etcd = path.resolve(__dirname, '../../src/ha/etcd.js');
  const code = `
    const { connectEtcd } = require(${JSON.stringify(etcd)});
    const h = connectEtcd({ endpoints: ['127.0.0.1:${port}'], request_timeout_ms: 500 });
    const a = h.watch((b) => b.key('/heir/a'));
    const b = h.watch((b) => b.prefix('/heir/views/'));
    a.ready.then(() => console.log('confirmed?'), () => undefined);
    setTimeout(async () => { await h.close(); console.log('closed'); }, 2500);
  `;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = await new Promise<number | null | 'running'>((resolve) => {
    const t = setTimeout(() => resolve('running'), 10_000);
    child.on('exit', (c) => (clearTimeout(t), resolve(c)));
  });
  if (exited === 'running') child.kill('SIGKILL');
  assert.equal(exited, 0, `the process still ran 7.5 s after close (output: ${out})`);
  assert.match(out, /closed/);
  assert.doesNotMatch(out, /confirmed\?/);
});

it("a watch cancelled before etcd confirmed it: its ready promise rejects, so nothing waits on it forever", async () => {
  const port = await freePort();
  const h = connectEtcd({ endpoints: [`http://127.0.0.1:${port}`], request_timeout_ms: 500 } as never);
  try {
    const { watcher, ready } = h.watch((b) => b.prefix('/heir/views/'));
    await watcher.cancel().catch(() => undefined);
    await assert.rejects(ready, /cancelled before etcd confirmed it/);
  } finally {
    await h.close();
  }
});
