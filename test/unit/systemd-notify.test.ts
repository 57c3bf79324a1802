/**
 * The pure parts of heir's systemd integration: syslog priority prefixes for journald, the
 * JOURNAL_STREAM check, and which environment turns notifications and the watchdog on. The whole
 * is run under a real systemd in test/integration/systemd-run.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, silentLogger, stdoutIsJournal, syslogPriority, withPriorityPrefix } from '../../src/util/log';
import { SystemdNotify } from '../../src/daemon/sd-notify';

test('pino levels map to syslog priorities; lines get "<N>" from their level', () => {
  assert.deepEqual([10, 20, 30, 40, 50, 60].map(syslogPriority), [7, 7, 6, 4, 3, 2]);
  assert.equal(withPriorityPrefix('{"level":50,"msg":"x"}\n'), '<3>{"level":50,"msg":"x"}\n');
  assert.equal(withPriorityPrefix('not json\n'), 'not json\n');
});

test('a journal logger writes the prefix; a plain one does not', () => {
  const lines: string[] = [];
  const sink = new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) });
  const j = createLogger({ destination: sink, journal: true });
  j.error('bad');
  j.info('fine');
  j.warn('hm');
  assert.deepEqual(lines.map((l) => l.slice(0, 14)), ['<3>{"level":50', '<6>{"level":30', '<4>{"level":40']);
  lines.length = 0;
  createLogger({ destination: sink }).error('bad');
  assert.ok(lines[0]!.startsWith('{"level":50'));
});

test('stdoutIsJournal compares JOURNAL_STREAM with the descriptor (device:inode)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-journal-'));
  const fd = fs.openSync(path.join(dir, 'f'), 'w');
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    assert.equal(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd), true);
    assert.equal(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, fd), false);
    assert.equal(stdoutIsJournal({}, fd), false);
    assert.equal(stdoutIsJournal({ JOURNAL_STREAM: 'garbage' }, fd), false);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('notifications only with NOTIFY_SOCKET; the watchdog only with WATCHDOG_USEC for this process', () => {
  assert.equal(SystemdNotify.fromEnv({ env: {}, log: silentLogger }), null);
  const sd = (env: NodeJS.ProcessEnv) => SystemdNotify.fromEnv({ env: { NOTIFY_SOCKET: '/run/systemd/notify', ...env }, log: silentLogger })!;
  assert.equal(sd({}).watchdogMs(), null);
  assert.equal(sd({ WATCHDOG_USEC: '30000000' }).watchdogMs(), 30_000);
  assert.equal(sd({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) }).watchdogMs(), 30_000);
  assert.equal(sd({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid + 1) }).watchdogMs(), null, 'meant for another process');
  assert.equal(sd({ WATCHDOG_USEC: 'x' }).watchdogMs(), null);
});

test('a missing systemd-notify is one warning and false, never a crash', async () => {
  const lines: string[] = [];
  const log = createLogger({ destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const sd = SystemdNotify.fromEnv({ env: { NOTIFY_SOCKET: '/nonexistent' }, log, command: '/nonexistent/systemd-notify' })!;
  assert.equal(await sd.ready('1 clusters'), false);
  assert.equal(await sd.stopping('bye'), false);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /systemd notification failed .*NotifyAccess=all/);
});

test('the watchdog pings at once, then every half period (systemd counts from the exec, not from this call)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'heir-sd-ping-'));
  const out = path.join(dir, 'pings');
  const cmd = path.join(dir, 'notify');
  fs.writeFileSync(cmd, `#!/bin/sh\necho "$*" >> ${JSON.stringify(out)}\n`, { mode: 0o755 });
  const sd = SystemdNotify.fromEnv({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '10000000' }, log: silentLogger, command: cmd })!;
  try {
    const t0 = Date.now();
    sd.startWatchdog();
    const deadline = t0 + 3000;
    while (!fs.existsSync(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(fs.existsSync(out), 'a ping within 3 s, with a 10 s watchdog (the first interval would be 5 s)');
    assert.equal(fs.readFileSync(out, 'utf8').trim(), 'WATCHDOG=1');
  } finally {
    sd.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
