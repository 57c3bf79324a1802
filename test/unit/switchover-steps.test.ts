import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, TopologySnapshot } from '../../src/mysql/types';
import { summarizeJournal } from '../../src/failover/journal';
import { Runner, type StepEvent } from '../../src/failover/runner';
import type { ClusterLockHandle } from '../../src/failover/switchover-deps';
import type { SwitchoverFacts } from '../../src/failover/switchover-preflight';
import {
  journalDetail,
  restoreFromJournal,
  switchoverSteps,
  type SwitchoverCtx,
  type SwitchoverIO,
} from '../../src/failover/switchover-steps';
import type { SwitchoverReport } from '../../src/failover/switchover-types';
import { MemJournal, never } from '../support/mem-journal';

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const tick = () => new Promise((r) => setImmediate(r));

/** The switchover's step list (switchover-steps.ts) against an in-memory cluster: no MySQL here, the integration suites run the real one. */

const NODES = ['db1', 'db2', 'db3'];
const port = (n: string) => 3301 + NODES.indexOf(n);

function cluster(): ClusterConfig {
  return ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
    nodes: NODES.map((n) => ({ name: n, host: '127.0.0.1', port: port(n) })),
    address: { type: 'script', path: '/usr/local/bin/master_ip_failover', floating_ip: '10.0.0.100' },
  });
}

interface World {
  writable: Record<string, boolean>;
  source: Record<string, string | null>;
  address: string;
}

const initial = (): World => ({ writable: { db1: true, db2: false, db3: false }, source: { db1: null, db2: 'db1', db3: 'db1' }, address: 'db1' });
const switched: World = { writable: { db1: false, db2: true, db3: false }, source: { db1: 'db2', db2: null, db3: 'db2' }, address: 'db2' };

class FakeIO implements SwitchoverIO {
  calls: string[] = [];
  waitOk = true;
  promoteFails = false;
  slow: Record<string, number> = {};
  constructor(readonly world: World, private readonly journal?: MemJournal) {}

  private async act<T>(call: string, f: () => T): Promise<T> {
    if (this.journal?.dead) return never();
    this.calls.push(call);
    const ms = this.slow[call.split(' ')[0]!];
    if (ms) await new Promise((r) => setTimeout(r, ms));
    if (this.journal?.dead) return never();
    return f();
  }

  lockState = async () => ({ free: true });
  acquireLock = (): Promise<ClusterLockHandle> =>
    this.act('lock', () => ({
      openJournal: async (d: Record<string, unknown>) => (this.journal ?? new MemJournal()).writer(d),
      saveReport: async () => ({ warnings: [] }),
      release: async () => {},
    }));
  prepare = (lock: { free: boolean }) =>
    this.act('prepare', (): SwitchoverFacts => {
      const snap = (n: string): NodeSnapshot => ({
        name: n, host: '127.0.0.1', port: port(n), takenAt: 0, reachable: true,
        version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
        serverId: port(n), serverUuid: U1, readOnly: !this.world.writable[n], superReadOnly: !this.world.writable[n], logBin: true, logReplicaUpdates: true,
        gtidMode: 'ON', executedGtid: `${U1}:1-100`,
        replication: this.world.source[n]
          ? [{ channel: '', sourceHost: '127.0.0.1', sourcePort: port(this.world.source[n]!), ioState: 'Yes', sqlRunning: true, lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '', secondsBehind: 0, sourceServerId: 1, read: null, exec: null, retrievedGtidSet: '', gtidAutoPosition: true }]
          : [],
      });
      const topology: TopologySnapshot = { cluster: 'c1', takenAt: 0, nodes: NODES.map(snap) };
      return { topology, longTransactions: [], address: { kind: 'script', checks: [] }, lock };
    });
  ensureProbeTable = (n: string) => this.act(`probe-table ${n}`, () => undefined);
  finalPosition = (n: string) => this.act(`final-position ${n}`, () => `${U1}:1-100`);
  /** waitOk false: the target never gets the final set once writes stopped. */
  waitApplied = (n: string) => this.act(`wait ${n}`, () => this.waitOk || this.world.writable.db1!);
  setReadOnly = (n: string, on: boolean) => this.act(`read-only ${n} ${on ? 'on' : 'off'}`, () => void (this.world.writable[n] = !on));
  makeWritable = (n: string) => this.act(`writable ${n}`, () => void (this.world.writable[n] = true));
  killApplicationConnections = (n: string) => this.act(`kill ${n}`, () => ({ killed: [7], failed: [] }));
  promote = (n: string) =>
    this.act(`promote ${n}`, () => {
      if (this.promoteFails) throw new Error('read_only refused');
      this.world.writable[n] = true;
    });
  demote = (to: string, from: string) => this.act(`demote ${to}`, () => void ((this.world.writable[to] = false), (this.world.source[to] = from), (this.world.writable[from] = true)));
  probeWrite = (n: string) => this.act(`probe-write ${n}`, () => undefined);
  detach = (n: string) => this.act(`detach ${n}`, () => void (this.world.source[n] = null));
  repoint = (names: string[], to: string) =>
    this.act(`repoint ${names.join(',')}`, () => names.map((n) => ((this.world.source[n] = to), { node: n, ok: true, durationMs: 1, detail: `replicating from ${to}` })));
  semiSyncSource = (n: string) => this.act(`semi-sync ${n}`, () => undefined);
  attachFails = false;
  fenceAddress = (from: string) =>
    this.act(`fence ${from}`, () => {
      if (this.world.address === from) this.world.address = '';
      return { ok: true, action: 'fence', detail: `from ${from}`, durationMs: 1 };
    });
  attachAddress = (_from: string, to: string) =>
    this.act(`attach ${to}`, () => {
      if (this.attachFails) return { ok: false, action: 'failed', detail: `${to} did not announce`, durationMs: 1 };
      this.world.address = to;
      return { ok: true, action: 'attach', detail: `to ${to}`, durationMs: 1 };
    });
  probeThroughAddress = (a: string, n: string) => this.act(`address-probe ${a} ${n}`, () => undefined);
  isWritable = async (n: string) => this.world.writable[n]!;
  sourceOf = async (n: string) => this.world.source[n] ?? null;
}

function ctxFor(io: FakeIO, o: Partial<SwitchoverCtx> = {}): SwitchoverCtx {
  let t = 0;
  const report: SwitchoverReport = {
    kind: 'switchover', id: 'op1', cluster: 'c1', outcome: 'failed', to: 'db2', startedAt: '', finishedAt: '', durationMs: 0, summary: '', steps: [],
    writePause: { toNewMasterMs: null, toAddressMs: null, readOnlyMs: null, applyWaitMs: null }, repointed: [], errors: [],
  };
  return {
    cluster: cluster(), to: 'db2', dryRun: false, timeoutS: 10, limits: { maxLagS: 5, maxTransactionS: 5, force: false },
    io, report, now: () => (t += 1), info: () => {}, flavor: 'mysql', paused: false, pauseStart: 0, repointed: { others: [], old: [] }, ...o,
  };
}

async function runSwitchover(io: FakeIO, c: SwitchoverCtx, resume?: ReturnType<typeof summarizeJournal>) {
  const events: StepEvent[] = [];
  const runner = new Runner<SwitchoverCtx>({ operation: 'switchover op1', onEvent: (e) => events.push(e), openJournal: async () => c.lock?.openJournal(journalDetail(c)) });
  const r = await runner.run(switchoverSteps(), c, resume);
  return { r, events };
}

describe('switchover step list', () => {
  it('runs in order: pause, final set, wait, promote, probe; then detach, repoint and the address in the background; semi-sync last', async () => {
    const io = new FakeIO(initial());
    io.slow = { detach: 20, fence: 10 };
    const c = ctxFor(io, { cluster: { ...cluster(), failover: { ...cluster().failover, semi_sync: true } } });
    const { r, events } = await runSwitchover(io, c);
    assert.equal(r.ok, true);
    assert.deepEqual(io.world, switched);
    assert.deepEqual(io.calls.slice(0, 9), ['lock', 'prepare', 'probe-table db1', 'final-position db1', 'wait db2', 'read-only db1 on', 'final-position db1', 'wait db2', 'promote db2']);
    assert.equal(io.calls[9], 'probe-write db2');
    // The background steps all started before the slow detach ended; the old master was
    // repointed only once the new master was detached; semi-sync came after all of them.
    const order = events.map((e) => `${e.phase} ${e.id}`);
    const at = (s: string) => order.indexOf(s);
    assert.ok(at('start repoint-others') < at('done detach') && at('start address-fence') < at('done detach'), order.join('\n'));
    assert.ok(at('done detach') < at('start repoint-old'));
    assert.ok(at('done address-fence') < at('start address-attach') && at('done address-attach') < at('start address-probe'));
    assert.equal(order.at(-1), 'done semi-sync');
    for (const id of ['repoint-others', 'repoint-old', 'address-probe']) assert.ok(at(`done ${id}`) < at('start semi-sync'));
  });

  it('with a HaVip the address is announced on the new master first and taken down on the old one after; a failed announcement leaves it where it was', async () => {
    const havip = (): ClusterConfig => ({
      ...cluster(),
      address: { type: 'havip', havip_id: 'havip-1', floating_ip: '10.0.0.100', interface: 'eth0', announce_count: 3, verify: true } as ClusterConfig['address'],
    });
    const io = new FakeIO(initial());
    io.slow = { attach: 10 };
    const { r, events } = await runSwitchover(io, ctxFor(io, { cluster: havip() }));
    assert.equal(r.ok, true);
    assert.deepEqual(io.world, switched);
    const order = events.map((e) => `${e.phase} ${e.id}`);
    const at = (s: string) => order.indexOf(s);
    assert.equal(at('start address-fence'), -1, order.join('\n'));
    assert.ok(at('start address-attach') >= 0 && at('done address-attach') < at('start address-fence-after'), order.join('\n'));
    assert.ok(at('done address-fence-after') > 0);
    assert.ok(io.calls.indexOf('attach db2') < io.calls.indexOf('fence db1'), io.calls.join(', '));

    const failing = new FakeIO(initial());
    failing.attachFails = true;
    const c = ctxFor(failing, { cluster: havip() });
    const f = await runSwitchover(failing, c);
    assert.equal(failing.world.address, 'db1', 'not announced on db2: the address stays on db1');
    assert.ok(!failing.calls.includes('fence db1'), failing.calls.join(', '));
    assert.ok(c.report.errors.some((e) => /attach: db2 did not announce/.test(e)), c.report.errors.join('; '));
    assert.equal(f.r.outcomes.get('address-fence-after'), 'skipped');
  });

  it('before the promotion a timeout undoes the pause; a failed promotion undoes itself and the pause at once', async () => {
    const io = new FakeIO(initial());
    io.waitOk = false;
    const c = ctxFor(io);
    const { r, events } = await runSwitchover(io, c);
    assert.equal(!r.ok && r.at, 'wait-applied');
    assert.deepEqual(io.world, initial());
    assert.deepEqual(events.filter((e) => e.name === 'rollback').map((e) => `${e.phase} ${e.node}`), ['start db1', 'done db1']);

    const io2 = new FakeIO(initial());
    io2.promoteFails = true;
    const { r: r2, events: ev2 } = await runSwitchover(io2, ctxFor(io2));
    assert.equal(!r2.ok && r2.at, 'promote');
    assert.deepEqual(io2.world, initial());
    // One rollback (the promotion's, which makes the old master writable too).
    assert.deepEqual(ev2.filter((e) => e.name === 'rollback' && e.phase === 'done').map((e) => e.node), ['db2']);
  });

  it('nothing is undone after the promotion', async () => {
    const io = new FakeIO(initial());
    io.probeWrite = () => Promise.reject(new Error('probe refused'));
    io.detach = () => Promise.reject(new Error('reset refused'));
    const c = ctxFor(io);
    const { r, events } = await runSwitchover(io, c);
    assert.equal(r.ok, true);
    assert.equal(io.world.writable.db2, true);
    assert.equal(io.world.writable.db1, false);
    assert.equal(events.some((e) => e.name === 'rollback'), false);
    // The old master is not pointed at a master that still replicates from it.
    assert.equal(io.world.source.db1, null);
    assert.equal(r.outcomes.get('repoint-old'), 'skipped');
    assert.deepEqual(c.report.errors.map((e) => e.split(':')[0]), ['probe write on db2', 'detach db2 from db1']);
  });

  it('resumes from every journal prefix to the same switched cluster, never redoing a step journaled done', async () => {
    const full = new MemJournal();
    const io0 = new FakeIO(initial(), full);
    await runSwitchover(io0, ctxFor(io0));
    assert.deepEqual(io0.world, switched);
    const total = full.records.length;
    assert.ok(total > 10, `journal records: ${total}`);
    for (let n = 1; n <= total; n++) {
      // Run until the n-th record is written, then "die": nothing more happens.
      const journal = new MemJournal(n);
      const world = initial();
      const dying = new FakeIO(world, journal);
      void runSwitchover(dying, ctxFor(dying));
      await journal.death;
      for (let i = 0; i < 5; i++) await tick();
      const j = summarizeJournal('mem', journal.records)!;
      assert.ok(j, `prefix ${n}`);
      const doneBefore = j.steps.filter((s) => s.outcome === 'ok').map((s) => s.params?.id);
      const io = new FakeIO(world);
      const c = ctxFor(io);
      restoreFromJournal(c, j);
      assert.equal(c.from, 'db1', `prefix ${n}`);
      const { r, events } = await runSwitchover(io, c, j);
      assert.equal(r.ok, true, `prefix ${n}: ${JSON.stringify(!r.ok && { at: r.at, why: r.why, error: String(r.error) })}`);
      assert.deepEqual(world, switched, `prefix ${n}`);
      const again = events.filter((e) => e.phase === 'start' && doneBefore.includes(e.id)).map((e) => e.id);
      assert.deepEqual(again, [], `prefix ${n}: steps journaled done ran again`);
    }
  });
});
