/** Pure parts of the probes: ping error classes, the greeting classifier, host-check output parsing; the ping deadline against a busy event loop (a loopback socket). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { classifyPingError, classifyGreeting, deadline } from '../../src/monitor/probes';
import { parseHostCheck, parseProbe, hostCheckCommand, probeCommand, shQuote } from '../../src/monitor/host-script';
import { hostFact } from '../../src/monitor/verdict';

test('ping errors by class and phase', () => {
  const cases: [object, 'connect' | 'query' | 'write', string][] = [
    [{ code: 'ER_CON_COUNT_ERROR', errno: 1040 }, 'connect', 'alive-error'],
    [{ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045 }, 'connect', 'alive-error'],
    [{ code: 'ER_HOST_IS_BLOCKED', errno: 1129 }, 'connect', 'alive-error'],
    [{ code: 'ER_OPTION_PREVENTS_STATEMENT', errno: 1290 }, 'write', 'alive-error'],
    [{ code: 'ER_SERVER_SHUTDOWN', errno: 1053 }, 'query', 'shutting-down'],
    [{ code: 'ECONNREFUSED', errno: -111 }, 'connect', 'refused'],
    [{ code: 'EHOSTUNREACH' }, 'connect', 'no-route'],
    [{ code: 'HEIR_CONNECT_TIMEOUT' }, 'connect', 'connect-timeout'],
    [{ code: 'HEIR_PING_DEADLINE' }, 'connect', 'connect-timeout'],
    [{ code: 'HEIR_QUERY_TIMEOUT' }, 'query', 'query-timeout'],
    [{ code: 'HEIR_PING_DEADLINE' }, 'write', 'write-timeout'],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'write', 'write-timeout'],
    [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205 }, 'query', 'alive-error'],
    [{ code: 'PROTOCOL_CONNECTION_LOST' }, 'query', 'lost'],
    [{ code: 'ECONNRESET' }, 'query', 'lost'],
    [{ code: 'SOMETHING_ELSE' }, 'query', 'error'],
  ];
  for (const [err, phase, want] of cases) assert.equal(classifyPingError(err, phase), want, `${JSON.stringify(err)} in ${phase}`);
});

test('greeting classifier: protocol 10 handshake, error packet, too short', () => {
  const hs = Buffer.concat([Buffer.from([0x4b, 0, 0, 0, 0x0a]), Buffer.from('9.7.4\0rest')]);
  assert.deepEqual(classifyGreeting(hs), { result: 'greeting', detail: 'server version 9.7.4' });
  const msg = Buffer.from('#08004Too many connections');
  const err = Buffer.concat([Buffer.from([3 + msg.length, 0, 0, 0, 0xff, 0x10, 0x04]), msg]);
  const e = classifyGreeting(err);
  assert.equal(e.result, 'error-greeting');
  assert.equal(e.errno, 1040);
  assert.equal(e.detail, 'Too many connections');
  assert.equal(classifyGreeting(Buffer.from([1, 0, 0])).result, 'silent');
});

test('host check output: running, stopped, gone, pid reused by another program, loader-run mysqld', () => {
  const out = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  const running = parseHostCheck(out({ listening: '1', pid: '42', state: 'S', comm: 'mysqld', cmd: '/usr/sbin/mysqld --x', probe: 'greeting', probe_bytes: '4b 00 00 00 0a' }));
  assert.deepEqual(running, { pid: 42, processState: 'S', comm: 'mysqld', listening: true, local: 'greeting', bytes: '4b 00 00 00 0a' });
  assert.equal(hostFact({ at: 0, ran: true, ...running }), 'mysqld-answers');

  const stopped = parseHostCheck(out({ listening: '1', pid: '42', state: 'T', comm: 'ld-linux-x86-64', cmd: '/x/ld-linux-x86-64.so.2 --library-path /x /x/usr/sbin/mysqld --datadir=/d', probe: 'silent' }));
  assert.equal(stopped.processState, 'T');
  assert.equal(hostFact({ at: 0, ran: true, ...stopped }), 'mysqld-stopped');

  const gone = parseHostCheck(out({ listening: '0', pid: '42', state: '', comm: '', cmd: '', probe: 'refused' }));
  assert.equal(gone.processState, null);
  assert.equal(hostFact({ at: 0, ran: true, ...gone }), 'mysqld-dead');

  const reused = parseHostCheck(out({ listening: '0', pid: '42', state: 'S', comm: 'bash', cmd: 'bash -l', probe: 'refused' }));
  assert.equal(reused.processState, null, 'a pid file naming another program is not mysqld');
  assert.equal(hostFact({ at: 0, ran: true, ...reused }), 'mysqld-dead');

  const wedged = parseHostCheck(out({ listening: '1', pid: '42', state: 'D', comm: 'mariadbd', cmd: '', probe: 'silent' }));
  assert.equal(hostFact({ at: 0, ran: true, ...wedged }), 'mysqld-unresponsive');
});

test('ssh failures as host facts', () => {
  assert.equal(hostFact(null), 'disabled');
  assert.equal(hostFact(undefined), 'not-run');
  assert.equal(hostFact({ at: 0, ran: false, sshError: { kind: 'timeout', message: '' } }), 'host-down');
  assert.equal(hostFact({ at: 0, ran: false, sshError: { kind: 'connect', code: 'EHOSTUNREACH', message: '' } }), 'host-down');
  assert.equal(hostFact({ at: 0, ran: false, sshError: { kind: 'connect', code: 'ECONNREFUSED', message: '' } }), 'host-up-unknown');
  assert.equal(hostFact({ at: 0, ran: false, sshError: { kind: 'auth', message: '' } }), 'host-up-unknown');
  assert.equal(hostFact({ at: 0, ran: false, sshError: { kind: 'hostkey', message: '' } }), 'host-up-unknown');
});

test('probe output parsing and command construction refuse odd input', () => {
  assert.deepEqual(parseProbe('probe=silent\nprobe_bytes=\n'), { result: 'silent', bytes: '' });
  assert.equal(parseProbe('garbage').result, null);
  assert.throws(() => probeCommand('10.0.0.1; rm -rf /', 3306, 1000), /unexpected characters/);
  assert.match(probeCommand('10.77.1.11', 3306, 1000), /\/dev\/tcp\/10\.77\.1\.11\/3306/);
  assert.equal(shQuote("a'b"), `'a'\\''b'`);
  const cmd = hostCheckCommand({ address: 'db1', port: 3306, pidFile: "/var/run/my'sql.pid", probeTimeoutMs: 1000 });
  assert.ok(cmd.includes(`PF='/var/run/my'\\''sql.pid'`));
  assert.ok(cmd.includes(':0CEA'), 'port 3306 in /proc/net/tcp hex');
});

test('an answer that arrived in time wins over the deadline when the manager was busy past it', async () => {
  // The answer is written into the socket at once (the peer's write reaches the kernel
  // synchronously), then the event loop is kept busy past the deadline: when it comes back,
  // the deadline's timer and the answer are both due.
  let peer: net.Socket | undefined;
  const server = net.createServer((s) => (peer = s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const sock = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await new Promise<void>((r) => sock.once('connect', () => r()));
  while (!peer) await new Promise((r) => setTimeout(r, 5));
  try {
    const answered = deadline(
      50,
      () =>
        new Promise<string>((resolve) => {
          sock.once('data', (d) => resolve(d.toString()));
          peer!.write('pong');
        }),
      () => undefined,
    );
    const until = Date.now() + 200;
    while (Date.now() < until) {
      /* the manager is busy: 4 deadlines long */
    }
    assert.equal(await answered, 'pong');
    // And a real silence still ends at the deadline.
    const silent = deadline(50, () => new Promise<never>(() => undefined), () => undefined);
    await assert.rejects(silent, (e: any) => e.code === 'HEIR_PING_DEADLINE');
  } finally {
    sock.destroy();
    peer?.destroy();
    await new Promise((r) => server.close(r));
  }
});
