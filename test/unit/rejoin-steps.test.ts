import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterConfig } from '../../src/config/schema';
import type { NodeSnapshot, TopologySnapshot } from '../../src/mysql/types';
import { summarizeJournal, type JournalSummary } from '../../src/failover/journal';
import { Runner, type StepEvent } from '../../src/failover/runner';
import {
  journalDetail,
  rejoinSteps,
  rejoinVerdict,
  restoreFromJournal,
  type RejoinCtx,
  type RejoinIO,
  type RejoinLock,
} from '../../src/failover/rejoin-steps';
import { MemJournal, never } from '../support/mem-journal';

/** The rejoin's step list (rejoin-steps.ts) against an in-memory cluster: no MySQL here, the integration suites run the real one. */

const U1 = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const U3 = '5a5a5a5a-71ca-11e1-9e33-c80aa9429562';
const tick = () => new Promise((r) => setImmediate(r));

const NODES = ['db1', 'db2', 'db3'];
const port = (n: string) => 3301 + NODES.indexOf(n);

function cluster(semiSync = false): ClusterConfig {
  const c = ClusterConfig.parse({
    name: 'c1',
    mysql: { user: 'heir', password: 'x', replication_user: 'repl', replication_password: 'y' },
    nodes: NODES.map((n) => ({ name: n, host: '127.0.0.1', port: port(n) })),
  });
  return { ...c, failover: { ...c.failover, semi_sync: semiSync } };
}

interface World {
  writable: Record<string, boolean>;
  source: Record<string, string | null>;
  running: Record<string, boolean>;
  gtid: Record<string, string>;
  reachable: Record<string, boolean>;
}

/** db1 is back after a failover, writable and replicating from no one; db2 is the master, db3 its replica. */
const initial = (): World => ({
  writable: { db1: true, db2: true, db3: false },
  source: { db1: null, db2: null, db3: 'db2' },
  running: { db1: false, db2: false, db3: true },
  gtid: { db1: `${U1}:1-100`, db2: `${U1}:1-120`, db3: `${U1}:1-120` },
  reachable: { db1: true, db2: true, db3: true },
});
const rejoined = (): World => ({ ...initial(), writable: { db1: false, db2: true, db3: false }, source: { db1: 'db2', db2: null, db3: 'db2' }, running: { db1: true, db2: false, db3: true } });

class FakeIO implements RejoinIO {
  calls: string[] = [];
  lockHeld?: string;
  fail: Record<string, Error> = {};
  /** Called once the named call (its first word) has acted. */
  after: Record<string, () => void> = {};
  constructor(readonly world: World, readonly journal = new MemJournal()) {}

  private async act<T>(call: string, f: () => T): Promise<T> {
    if (this.journal.dead) return never();
    this.calls.push(call);
    await tick();
    if (this.journal.dead) return never();
    const k = call.split(' ')[0]!;
    if (this.fail[k]) throw this.fail[k];
    const v = f();
    this.after[k]?.();
    return v;
  }

  acquireLock = () =>
    this.act('lock', (): RejoinLock | { refused: string } =>
      this.lockHeld ? { refused: this.lockHeld } : { openJournal: async (d) => this.journal.writer(d, 'rejoin'), release: async () => {} });
  readTopology = () =>
    this.act('topology', (): TopologySnapshot => {
      const snap = (n: string): NodeSnapshot => ({
        name: n, host: '127.0.0.1', port: port(n), takenAt: 0, reachable: this.world.reachable[n]!,
        version: { flavor: 'mysql', major: 9, minor: 7, patch: 4, raw: '9.7.4' },
        readOnly: !this.world.writable[n], gtidMode: 'ON', executedGtid: this.world.gtid[n],
        replication: this.world.source[n]
          ? [{ channel: '', sourceHost: '127.0.0.1', sourcePort: port(this.world.source[n]!), ioState: this.world.running[n] ? 'Yes' : 'No', sqlRunning: this.world.running[n]!, lastIoErrno: 0, lastIoError: '', lastSqlErrno: 0, lastSqlError: '', secondsBehind: 0, sourceServerId: 2, read: null, exec: null, retrievedGtidSet: '', gtidAutoPosition: true }]
          : [],
      });
      return { cluster: 'c1', takenAt: 0, nodes: NODES.map(snap) };
    });
  writeExtra = (n: NodeSnapshot, m: NodeSnapshot, extra: string) => this.act(`write-extra ${n.name} ${m.name} ${extra}`, () => `/state/c1/rejoin-${n.name}.txt`);
  fileAnchor = () => this.act('anchor', () => 'no failover report found');
  setReadOnly = (n: string) => this.act(`read-only ${n}`, () => void (this.world.writable[n] = false));
  pointAt = (n: string, m: string) => this.act(`point ${n} ${m}`, () => void ((this.world.running[n] = false), (this.world.source[n] = m)));
  semiSyncReplica = (n: string) => this.act(`semi-sync ${n}`, () => undefined);
  startReplica = (n: string) => this.act(`start ${n}`, () => void (this.world.running[n] = true));
  stopReplica = (n: string) => this.act(`stop ${n}`, () => void (this.world.running[n] = false));
  verifyReplicating = (n: string) =>
    this.act(`verify ${n}`, () => {
      if (!this.world.running[n]) throw new Error(`${n}: replication is not running`);
    });
  isReadOnly = async (n: string) => !this.world.writable[n];
  sourceOf = async (n: string) => this.world.source[n] ?? null;
}

function ctxFor(io: FakeIO, o: Partial<RejoinCtx> = {}): RejoinCtx {
  return { cluster: cluster(), node: 'db1', trigger: 'manual', dryRun: false, verifyS: 30, io, steps: [], ...o };
}

async function runRejoin(c: RejoinCtx, o: { resume?: JournalSummary; signal?: AbortSignal } = {}) {
  const events: StepEvent[] = [];
  const runner = new Runner<RejoinCtx>({ operation: 'rejoin of db1', onEvent: (e) => events.push(e), openJournal: async () => c.lock?.openJournal(journalDetail(c)), signal: o.signal });
  const r = await runner.run(rejoinSteps(), c, o.resume);
  return { r, events, v: rejoinVerdict(c, r) };
}

const journalSteps = (j: MemJournal) => summarizeJournal('mem', j.records)?.steps.map((s) => `${s.step}:${s.outcome}`) ?? [];

describe('rejoin step list', () => {
  it('runs in order: lock, decide, read-only, source, semi-sync, start, verify; decide and verify are journaled with every change', async () => {
    const io = new FakeIO(initial());
    const c = ctxFor(io, { cluster: cluster(true), by: 'ops' });
    const { r, v } = await runRejoin(c);
    assert.equal(r.ok, true);
    assert.deepEqual(io.calls, ['lock', 'topology', 'read-only db1', 'point db1 db2', 'semi-sync db1', 'start db1', 'verify db1']);
    assert.deepEqual(io.world, rejoined());
    assert.deepEqual(journalSteps(io.journal), ['decide:ok', 'read-only:ok', 'source:ok', 'semi-sync:ok', 'start:ok', 'verify:ok']);
    assert.deepEqual(summarizeJournal('mem', io.journal.records)!.detail, { node: 'db1', trigger: 'manual', by: 'ops' });
    assert.deepEqual(c.steps, ['read-only', 'source db2', 'semi-sync replica', 'replicating']);
    assert.deepEqual(v, { outcome: 'rejoined', summary: 'db1 is a read-only replica of db2, both threads running' });
    // Without semi-sync, no such step.
    const io2 = new FakeIO(initial());
    await runRejoin(ctxFor(io2));
    assert.deepEqual(journalSteps(io2.journal), ['decide:ok', 'read-only:ok', 'source:ok', 'start:ok', 'verify:ok']);
  });

  it('a held lock refuses (transient) before anything is read or journaled', async () => {
    const io = new FakeIO(initial());
    io.lockHeld = 'cluster c1 is locked by switchover (to db3)';
    const { v } = await runRejoin(ctxFor(io));
    assert.deepEqual(v, { outcome: 'refused', summary: 'cluster c1 is locked by switchover (to db3)', transient: true });
    assert.deepEqual(io.calls, ['lock']);
    assert.deepEqual(io.journal.records, []);
  });

  it('transactions the master lacks refuse the rejoin, are written for a person, and nothing changes; a dry run writes nothing', async () => {
    const w = initial();
    w.gtid.db1 = `${U1}:1-100,${U3}:1-2`;
    const io = new FakeIO(w);
    const c = ctxFor(io);
    const { r, v } = await runRejoin(c);
    assert.equal(!r.ok && r.at, 'decide');
    assert.equal(v.outcome, 'refused');
    assert.equal(v.transient, undefined);
    assert.match(v.summary, new RegExp(`^db1 has transactions the master db2 lacks: ${U3}:1-2\\..*; written to /state/c1/rejoin-db1\\.txt$`));
    assert.deepEqual(io.calls, ['lock', 'topology', `write-extra db1 db2 ${U3}:1-2`]);
    assert.equal(c.file, '/state/c1/rejoin-db1.txt');
    assert.deepEqual(io.world.writable, initial().writable);
    assert.deepEqual(journalSteps(io.journal), ['decide:failed']);

    const dry = new FakeIO(structuredClone(w));
    const { v: dv } = await runRejoin(ctxFor(dry, { dryRun: true }));
    assert.equal(dv.outcome, 'refused');
    assert.deepEqual(dry.calls, ['topology']);
  });

  it('no single master, another master than expected, or a node that does not answer: refused, transient, nothing changes', async () => {
    const cases: [string, (w: World) => void, Partial<RejoinCtx>, RegExp][] = [
      ['no master', (w) => (w.writable.db2 = false), {}, /^no writable master found among the other nodes/],
      ['two masters', (w) => ((w.writable.db3 = true), (w.source.db3 = null)), {}, /^more than one writable master: db2, db3/],
      ['not the expected master', () => {}, { expectMaster: 'db3' }, /^the writable master is db2, not db3; db1 is left as it is$/],
      ['node down', (w) => (w.reachable.db1 = false), {}, /^db1 does not answer: start it first$/],
    ];
    for (const [name, change, o, re] of cases) {
      const w = initial();
      change(w);
      const io = new FakeIO(w);
      const { v } = await runRejoin(ctxFor(io, o));
      assert.equal(v.outcome, 'refused', name);
      assert.equal(v.transient, true, name);
      assert.match(v.summary, re, name);
      assert.deepEqual(io.calls, ['lock', 'topology'], name);
      assert.deepEqual(journalSteps(io.journal), ['decide:failed'], name);
    }
  });

  it('a dry run only decides: no lock, no journal, no change', async () => {
    const io = new FakeIO(initial());
    const { v } = await runRejoin(ctxFor(io, { dryRun: true }));
    assert.deepEqual(v, { outcome: 'dry-run', summary: 'db1 has nothing the master db2 lacks: it can rejoin as a read-only replica' });
    assert.deepEqual(io.calls, ['topology']);
    assert.deepEqual(io.journal.records, []);
    assert.deepEqual(io.world, initial());
  });

  it('a failed verify stops replication again (the undo of start); the node stays read-only', async () => {
    const io = new FakeIO(initial());
    io.fail.verify = new Error("Got fatal error 1236 from source: 'not in the master's binlog'");
    const { v } = await runRejoin(ctxFor(io));
    assert.equal(v.outcome, 'failed');
    assert.equal(v.summary, "db1 did not replicate from db2: Got fatal error 1236 from source: 'not in the master's binlog'; replication stopped, it stays read-only");
    assert.equal(v.error, undefined);
    assert.deepEqual(io.calls.slice(-2), ['verify db1', 'stop db1']);
    assert.deepEqual([io.world.writable.db1, io.world.source.db1, io.world.running.db1], [false, 'db2', false]);
    assert.deepEqual(journalSteps(io.journal), ['decide:ok', 'read-only:ok', 'source:ok', 'start:ok', 'verify:failed', 'stop:ok']);

    // The stop failing too is said.
    const io2 = new FakeIO(initial());
    io2.fail.verify = new Error('IO thread not running');
    io2.fail.stop = new Error('connection lost');
    const { v: v2 } = await runRejoin(ctxFor(io2));
    assert.match(v2.summary, /did not replicate from db2: IO thread not running; stopping replication failed too \(connection lost\), it stays read-only$/);
  });

  it('a step that fails otherwise stops the list (START REPLICA is undone in case it took effect) and its error is handed back', async () => {
    const io = new FakeIO(initial());
    const boom = new Error('ER_MASTER_INFO: could not initialize');
    io.fail.start = boom;
    const { v } = await runRejoin(ctxFor(io));
    assert.deepEqual(v, { outcome: 'failed', summary: 'db1: ER_MASTER_INFO: could not initialize', error: boom });
    assert.deepEqual(io.calls.slice(-2), ['start db1', 'stop db1']);

    const io2 = new FakeIO(initial());
    io2.fail.point = new Error('CHANGE REPLICATION SOURCE refused');
    const { v: v2 } = await runRejoin(ctxFor(io2));
    assert.equal(v2.summary, 'db1: CHANGE REPLICATION SOURCE refused');
    assert.deepEqual(io2.calls, ['lock', 'topology', 'read-only db1', 'point db1 db2']);
    assert.equal(io2.world.writable.db1, false);
  });

  it('an interrupt stops at the next step boundary: before start nothing is undone (the node stays read-only), after it replication is stopped', async () => {
    const stop = new AbortController();
    const io = new FakeIO(initial());
    io.after.point = () => stop.abort('heir is stopping');
    const { r, v } = await runRejoin(ctxFor(io), { signal: stop.signal });
    assert.equal(!r.ok && r.why, 'interrupted');
    assert.equal(!r.ok && r.at, 'start');
    assert.deepEqual(io.calls, ['lock', 'topology', 'read-only db1', 'point db1 db2']);
    assert.deepEqual([io.world.writable.db1, io.world.source.db1, io.world.running.db1], [false, 'db2', false]);
    assert.equal(v.outcome, 'failed');
    assert.equal(v.summary, 'db1: interrupted before step start: heir is stopping');

    const late = new AbortController();
    const io2 = new FakeIO(initial());
    io2.after.start = () => late.abort('heir is stopping');
    const { r: r2, v: v2 } = await runRejoin(ctxFor(io2), { signal: late.signal });
    assert.equal(!r2.ok && r2.at, 'verify');
    assert.deepEqual(io2.calls.slice(-2), ['start db1', 'stop db1']);
    assert.equal(io2.world.running.db1, false);
    assert.equal(v2.summary, 'db1: interrupted before step verify: heir is stopping; replication stopped');
  });

  it('resumes from every journal prefix to the same rejoined node, never redoing a step journaled done', async () => {
    const full = new FakeIO(initial());
    await runRejoin(ctxFor(full, { cluster: cluster(true) }));
    const total = full.journal.records.length;
    assert.ok(total >= 12, `journal records: ${total}`);
    for (let n = 1; n <= total; n++) {
      // Run until the n-th record is written, then "die": nothing more happens.
      const world = initial();
      const dying = new FakeIO(world, new MemJournal(n));
      void runRejoin(ctxFor(dying, { cluster: cluster(true) }));
      await dying.journal.death;
      for (let i = 0; i < 5; i++) await tick();
      const j = summarizeJournal('mem', dying.journal.records)!;
      assert.ok(j, `prefix ${n}`);
      const doneBefore = j.steps.filter((s) => s.outcome === 'ok').map((s) => s.params?.id);
      const io = new FakeIO(world);
      const c = ctxFor(io, { cluster: cluster(true) });
      restoreFromJournal(c, j);
      if (doneBefore.includes('decide')) assert.equal(c.master, 'db2', `prefix ${n}`);
      const { r, events, v } = await runRejoin(c, { resume: j });
      assert.equal(r.ok, true, `prefix ${n}: ${JSON.stringify(!r.ok && { at: r.at, why: r.why, error: String(r.error) })}`);
      assert.equal(v.outcome, 'rejoined', `prefix ${n}`);
      assert.deepEqual(world, rejoined(), `prefix ${n}`);
      const again = events.filter((e) => e.phase === 'start' && doneBefore.includes(e.id)).map((e) => e.id);
      assert.deepEqual(again, [], `prefix ${n}: steps journaled done ran again`);
    }
  });
});
